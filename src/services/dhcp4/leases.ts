// The lease table in memory: bindings by address and by client, offers held for a short while,
// the pool allocator and the new-client rate limit. The server owns one; the policy reads it
// through `LeaseView` and says what to change; persistence is the store's job (store.ts).
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

/** What the policy may read (and the one token it may take). */
export interface LeaseView {
  byClient(client: string): Lease | undefined;
  byAddress(address: number): Lease | undefined;
  offerFor(client: string): Offer | undefined;
  /** whether `address` may be given to `client` now (no live binding or offer of someone else) */
  available(address: number, client: string, now: number): boolean;
  /** a free dynamic address for a client, or undefined when the pool is exhausted */
  allocate(client: string, now: number): number | undefined;
  /** takes one token of the per-scope new-client limit; false when the limit is reached */
  admitNewClient(now: number): boolean;
}

export function liveBinding(l: Lease | undefined, now: number): boolean {
  return l !== undefined && l.state === "bound" && l.expires > now;
}

export class LeaseTable implements LeaseView {
  private readonly addr = new Map<number, Lease>();
  private readonly clients = new Map<string, Lease>();
  private readonly offers = new Map<string, Offer>();
  private readonly offered = new Map<number, string>();
  private poolIndex = 0;
  private cursor: number;
  /** start times of admitted new clients within the last minute (a ring) */
  private readonly admitted: number[] = [];
  private admittedHead = 0;

  constructor(private scope: Scope) {
    this.cursor = scope.pools[0]?.first ?? 0;
  }

  setScope(scope: Scope): void {
    this.scope = scope;
    this.poolIndex = 0;
    this.cursor = scope.pools[0]?.first ?? 0;
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
    const prior = this.clients.get(l.client);
    if (prior && prior.address !== l.address && this.addr.get(prior.address) === prior) {
      // a client holds one binding: its older address is free again (kept as a released record)
      if (prior.state === "bound") this.addr.set(prior.address, { ...prior, state: "released" });
    }
    this.addr.set(l.address, l);
    if (l.state !== "declined") this.clients.set(l.client, l);
    else if (this.clients.get(l.client)?.address === l.address) this.clients.delete(l.client);
    this.clearOffer(l.client);
  }

  setOffer(client: string, address: number, until: number): void {
    this.clearOffer(client);
    this.offers.set(client, { address, until });
    this.offered.set(address, client);
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

  available(address: number, client: string, now: number): boolean {
    const l = this.addr.get(address);
    if (l && l.client !== client) {
      if (l.state === "declined" ? l.expires > now : liveBinding(l, now)) return false;
    }
    if (l && l.client === client && l.state === "declined" && l.expires > now) return false;
    const by = this.offered.get(address);
    if (by !== undefined && by !== client) {
      const o = this.offers.get(by);
      if (o && o.until > now) return false;
    }
    return true;
  }

  allocate(client: string, now: number): number | undefined {
    const pools = this.scope.pools;
    if (pools.length === 0) return undefined;
    // Walk the pools from a cursor: fresh addresses first, wrapping to reuse expired ones.
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
      // Prefer addresses nobody held; an expired or released one of another client only on a
      // second pass (below), so a returning client can often get its old address back.
      if (l && l.client !== client) continue;
      if (this.available(a, client, now)) return a;
    }
    // Second pass: the oldest expired binding of someone else.
    let best: number | undefined;
    let bestExpiry = Number.POSITIVE_INFINITY;
    for (const [a, l] of this.addr) {
      if (!dynamic(this.scope, a) || !this.available(a, client, now)) continue;
      if (l.expires < bestExpiry) {
        best = a;
        bestExpiry = l.expires;
      }
    }
    return best;
  }

  admitNewClient(now: number): boolean {
    const limit = this.scope.maxLeasesPerMinute;
    // RFC 2131 has no such limit; it is the scope's defence against pool starvation from many MACs.
    if (this.admitted.length < limit) {
      this.admitted.push(now);
      return true;
    }
    const oldest = this.admitted[this.admittedHead]!;
    if (now - oldest < 60) return false;
    this.admitted[this.admittedHead] = now;
    this.admittedHead = (this.admittedHead + 1) % this.admitted.length;
    return true;
  }
}
