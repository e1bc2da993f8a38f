// The lease table in memory: bindings by address, by client and by hardware address, offers held
// for a short while, the pool allocator and the budget of new bindings. The server owns one; the
// policy reads it through `LeaseView` and says what to change; persistence is the store's job
// (store.ts).
//
// What a hostile neighbour can take from it (issue 19, docs/dhcp4.md "Hostile neighbours"):
// - an OFFER takes nothing lasting: it keeps its address from other DISCOVERs for `offerHold`
//   while the pool has addresses nobody holds; once it has none, the oldest unrequested offer is
//   reclaimed (RFC 2131 §4.3.1: the server need not reserve an offered address), and a REQUEST
//   wins over another client's offer of the same address. A DISCOVER flood blocks nobody.
// - a new binding takes a token of a per-interface budget (`maxLeasesPerMinute`): anyone may spend
//   its first half, only a client we turned away that comes back answering our OFFER the second
//   (a flood of new identities does not come back); a claim without our OFFER (INIT-REBOOT,
//   RENEWING or SELECTING for an address we did not offer that client) never takes the pool's
//   `reserve`.
// - one live binding per hardware address: a new client identifier behind a MAC that holds a
//   binding replaces it instead of adding one.
import { dynamic, type Scope } from "./scope.ts";

/** A binding as stored. Times are Unix seconds. */
export interface Lease {
  address: number;
  /** client key: "id:<hex of option 61>" or "hw:<htype>:<hex chaddr>" (RFC 2131 §4.2) */
  client: string;
  /** hardware address aa:bb:cc:dd:ee:ff, for people and reservations */
  hwaddr: string;
  /** bound: in use until `expires`; released (RFC 2131 §4.3.4); declined: quarantined (§4.3.3) */
  state: "bound" | "released" | "declined";
  expires: number;
  hostname?: string;
}

export interface Offer {
  address: number;
  until: number;
}

/** How a client asks for a new binding: by answering our OFFER, or by naming an address itself. */
export type Claim = "offered" | "blind";

/** What the policy may read (and the one token it may take). */
export interface LeaseView {
  byClient(client: string): Lease | undefined;
  byAddress(address: number): Lease | undefined;
  /** the last offer made to the client (kept until it lapses, even once its address was reclaimed) */
  offerFor(client: string): Offer | undefined;
  /** whether `address` may be bound to `client` now: no live binding or quarantine of another (offers do not count) */
  available(address: number, client: string, now: number): boolean;
  /** available, and not kept from other DISCOVERs by another client's unlapsed offer */
  offerable(address: number, client: string, now: number): boolean;
  /** an address to offer a client, or undefined when every address is bound or quarantined */
  allocate(client: string, now: number): number | undefined;
  /** leasable addresses neither bound nor quarantined (at most a second old) */
  free(now: number): number;
  /** takes one token of the interface's budget of new bindings; false when this client may not now */
  admit(claim: Claim, client: string, now: number): boolean;
}

export function liveBinding(l: Lease | undefined, now: number): boolean {
  return l !== undefined && l.state === "bound" && l.expires > now;
}

/** How long a client turned away for the budget counts as coming back, and how many are kept. */
const TURNED_AWAY_MEMORY = 300;
const TURNED_AWAY_KEPT = 65536;

function inUse(l: Lease, now: number): boolean {
  return l.expires > now && l.state !== "released";
}

export class LeaseTable implements LeaseView {
  private readonly addr = new Map<number, Lease>();
  private readonly clients = new Map<string, Lease>();
  /** the live binding of each hardware address */
  private readonly hardware = new Map<string, Lease>();
  private readonly offers = new Map<string, Offer>();
  /** address → the client whose offer holds it, oldest offer first (re-inserted on each offer) */
  private readonly offered = new Map<number, string>();
  private poolIndex = 0;
  private cursor: number;
  /** times of the new bindings admitted in the last minute, oldest first, from `admittedHead` */
  private admitted: number[] = [];
  private admittedHead = 0;
  /** the second in which a search found no address nobody holds (searched again the next second) */
  private exhaustedAt = -1;
  /** addresses bound or quarantined, counted at `usedAt` */
  private used = 0;
  private usedAt = -1;
  /** clients refused a new binding for the budget, and when (oldest first) */
  private readonly turnedAway = new Map<string, number>();
  /** offers whose address went to another DISCOVER before they lapsed */
  reclaimed = 0;

  constructor(private scope: Scope) {
    this.cursor = scope.pools[0]?.first ?? 0;
  }

  setScope(scope: Scope): void {
    this.scope = scope;
    this.poolIndex = 0;
    this.cursor = scope.pools[0]?.first ?? 0;
    this.exhaustedAt = -1;
    this.usedAt = -1;
  }

  byClient(client: string): Lease | undefined {
    return this.clients.get(client);
  }
  byAddress(address: number): Lease | undefined {
    return this.addr.get(address);
  }
  offerFor(client: string): Offer | undefined {
    return this.offers.get(client);
  }
  leases(): IterableIterator<Lease> {
    return this.addr.values();
  }
  get size(): number {
    return this.addr.size;
  }
  boundCount(now: number): number {
    let n = 0;
    for (const l of this.addr.values()) if (liveBinding(l, now)) n++;
    return n;
  }
  offerCount(): number {
    return this.offers.size;
  }

  /** Records a lease (from the store at start, or a decision). The latest record of an address wins. */
  put(l: Lease): void {
    const old = this.addr.get(l.address);
    if (old && old.client !== l.client && this.clients.get(old.client) === old)
      this.clients.delete(old.client);
    // a client holds one binding: its older address is free again (kept as a released record)
    const prior = this.clients.get(l.client);
    if (prior && prior.address !== l.address) this.retire(prior);
    let record = l;
    const other = l.state === "bound" && l.hwaddr ? this.hardware.get(l.hwaddr) : undefined;
    if (other && other.client !== l.client && this.addr.get(other.address) === other) {
      // One binding per hardware address: a client identifier that changes behind the same NIC
      // moves the binding instead of adding one. The later binding wins, whatever order the
      // store's records come back in.
      if (other.expires <= l.expires) this.retire(other);
      else record = { ...l, state: "released" };
    }
    this.addr.set(record.address, record);
    if (record.state !== "declined") this.clients.set(record.client, record);
    else if (this.clients.get(record.client)?.address === record.address) this.clients.delete(record.client);
    if (record.state === "bound" && record.hwaddr) this.hardware.set(record.hwaddr, record);
    this.clearOffer(l.client);
    // bound or quarantined: nobody's offer now (a client still holding an offer of it gets a NAK)
    this.offered.delete(l.address);
    this.exhaustedAt = -1;
    this.usedAt = -1;
  }

  /** A bound record becomes released (in memory: the store's replay reaches the same state). */
  private retire(l: Lease): void {
    if (this.addr.get(l.address) !== l || l.state !== "bound") return;
    const released: Lease = { ...l, state: "released" };
    this.addr.set(l.address, released);
    if (this.clients.get(l.client) === l) this.clients.set(l.client, released);
    if (this.hardware.get(l.hwaddr) === l) this.hardware.delete(l.hwaddr);
  }

  setOffer(client: string, address: number, until: number): void {
    this.clearOffer(client);
    this.offers.set(client, { address, until });
    // the address's holder is now this client (another's offer of it was reclaimed and lapses alone)
    if (this.offered.has(address)) this.offered.delete(address);
    this.offered.set(address, client);
    // memory stays bounded under a flood of new identities: the oldest offers go first
    const cap = Math.max(4096, 4 * this.scope.poolSize);
    if (this.offers.size > cap) this.clearOffer(this.offers.keys().next().value!);
  }

  clearOffer(client: string): void {
    const o = this.offers.get(client);
    if (!o) return;
    this.offers.delete(client);
    if (this.offered.get(o.address) === client) this.offered.delete(o.address);
  }

  /** Forgets offers past their time (called now and then by the server). */
  expireOffers(now: number): void {
    for (const [client, o] of this.offers) if (o.until <= now) this.clearOffer(client);
  }

  /** the client whose unlapsed offer keeps `address` from other DISCOVERs, if any */
  private offeredTo(address: number, now: number): string | undefined {
    const by = this.offered.get(address);
    if (by === undefined) return undefined;
    const o = this.offers.get(by);
    return o && o.address === address && o.until > now ? by : undefined;
  }

  available(address: number, client: string, now: number): boolean {
    const l = this.addr.get(address);
    if (!l) return true;
    if (l.state === "declined") return l.expires <= now;
    return l.client === client || !liveBinding(l, now);
  }

  offerable(address: number, client: string, now: number): boolean {
    const by = this.offeredTo(address, now);
    return (by === undefined || by === client) && this.available(address, client, now);
  }

  allocate(client: string, now: number): number | undefined {
    if (this.exhaustedAt !== now) {
      const a = this.unheld(client, now) ?? this.oldestEnded(client, now);
      if (a !== undefined) return a;
      this.exhaustedAt = now;
    }
    // Under pressure: the oldest unrequested offer gives its address up (RFC 2131 §4.3.1).
    for (const [a, holder] of this.offered) {
      if (holder === client || !dynamic(this.scope, a) || !this.available(a, client, now)) {
        if (holder !== client) this.offered.delete(a);
        continue;
      }
      if (this.offeredTo(a, now) !== undefined) this.reclaimed++;
      return a;
    }
    return undefined;
  }

  /**
   * Walk the pools from a cursor for an address nobody held (or this client's own): a returning
   * client can then often get its old address back, since ended records are reused last.
   */
  private unheld(client: string, now: number): number | undefined {
    const pools = this.scope.pools;
    if (pools.length === 0) return undefined;
    let total = 0;
    for (const p of pools) total += p.last - p.first + 1;
    for (let n = 0; n < total; n++) {
      const pool = pools[this.poolIndex]!;
      if (this.cursor < pool.first || this.cursor > pool.last) this.cursor = pool.first;
      const a = this.cursor;
      if (a >= pool.last) {
        this.poolIndex = (this.poolIndex + 1) % pools.length;
        this.cursor = pools[this.poolIndex]!.first;
      } else this.cursor = a + 1;
      if (!dynamic(this.scope, a)) continue;
      const l = this.addr.get(a);
      if (l && l.client !== client) continue;
      if (this.offerable(a, client, now)) return a;
    }
    return undefined;
  }

  /** The address of the oldest ended record of someone else. */
  private oldestEnded(client: string, now: number): number | undefined {
    let best: number | undefined;
    let bestExpiry = Number.POSITIVE_INFINITY;
    for (const [a, l] of this.addr) {
      if (l.expires >= bestExpiry || !dynamic(this.scope, a) || !this.offerable(a, client, now)) continue;
      best = a;
      bestExpiry = l.expires;
    }
    return best;
  }

  free(now: number): number {
    if (this.usedAt !== now) {
      this.used = 0;
      for (const [a, l] of this.addr) if (inUse(l, now) && dynamic(this.scope, a)) this.used++;
      this.usedAt = now;
    }
    return Math.max(0, this.scope.poolSize - this.used);
  }

  admit(claim: Claim, client: string, now: number): boolean {
    // RFC 2131 has no such limit; it is the interface's defence against starvation from many new
    // identities. Anyone may use the first half of the minute's budget; the second half is kept
    // for clients we turned away that come back answering our OFFER: a real device retries with
    // the same identity, a flood of new identities does not.
    while (this.admittedHead < this.admitted.length && this.admitted[this.admittedHead]! <= now - 60)
      this.admittedHead++;
    if (this.admittedHead > 1024 && this.admittedHead * 2 > this.admitted.length) {
      this.admitted = this.admitted.slice(this.admittedHead);
      this.admittedHead = 0;
    }
    const limit = this.scope.maxLeasesPerMinute;
    const since = this.turnedAway.get(client);
    const returning = claim === "offered" && since !== undefined && since > now - TURNED_AWAY_MEMORY;
    if (this.admitted.length - this.admittedHead >= (returning ? limit : Math.ceil(limit / 2))) {
      if (since === undefined) {
        this.turnedAway.set(client, now);
        if (this.turnedAway.size > TURNED_AWAY_KEPT)
          this.turnedAway.delete(this.turnedAway.keys().next().value!);
      }
      return false;
    }
    this.turnedAway.delete(client);
    this.admitted.push(now);
    return true;
  }
}
