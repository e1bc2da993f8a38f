/**
 * The stateful part of NAT64 (RFC 6146 §3): the Binding Information Bases
 * (one per protocol: TCP, UDP, ICMP query) and the session tables, their
 * lifetimes, the pool4 allocator behind dynamic BIB entries, and the IPv4
 * SYNs held for simultaneous open (§3.5.2.2, TCP_INCOMING_SYN).
 *
 * Memory per flow is a goal (< 200 bytes for a BIB entry + its session +
 * indexes), so the tables are typed arrays: an entry is an index ("slot")
 * into them, and no JS object exists per entry. What a per-packet lookup
 * reads sits together in one record per slot (bRec, sRec: one cache line
 * per table for a flow whose entry is cold, as with many small flows); the
 * rest has an array per field. The arrays double when full; freed slots go
 * on a free list and are reused.
 *
 *   BIB slot b:     record: IPv6 address (4 words), IPv4 address, proto and
 *                   IPv6 port, IPv4 port, IPv6 chain link; static flag,
 *                   session count, client
 *   session slot s: record: BIB slot, remote IPv4 address, remote port,
 *                   chain link; TCP state, expiry time
 *
 * The three lookups of §3.5 are chained hash tables over slots (bucket heads
 * in one Int32Array, the chain link in the record or another), keyed by numbers hashed
 * straight from the packet bytes, so a lookup allocates nothing:
 *   BIB by IPv6 transport address:   proto, IPv6 address, port
 *   BIB by IPv4 transport address:   proto, IPv4 address, port
 *   session:                         BIB slot (= proto, local IPv4 transport address), remote IPv4, remote port
 * Sessions are also on a doubly linked list in creation order (the order the
 * expiry sweep and the /translations listing walk).
 *
 * Clients (RFC 6888 §3 REQ-4, REQ-5: limits per subscriber): a dynamic BIB
 * entry belongs to the client of its IPv6 source, the source aggregated to
 * {@link ClientLimits.prefixLength} bits, so that a host cannot dodge the
 * limits with more addresses of its /64. A client slot counts its dynamic
 * BIB entries (pool4 ports) and their sessions; it exists while it has a
 * BIB entry. Static BIB entries belong to no client.
 *
 * {@link BibEntry} and {@link Session} are views over a slot for tools, logs
 * and tests (made on demand, never on the packet path); they read the slot
 * live, so they are valid until the slot is freed and reused.
 */
import { read32 } from "../siit/checksum.ts";
import { Pool4, type Pool4Range, type PortShare, protoIndex } from "./pool4.ts";
import { TcpState, TcpTimer, tcpStateName, tcpTransition } from "./tcp.ts";

/** "No slot" (end of a chain or list, lookup miss). */
const NONE = -1;

/** A view of one BIB slot (RFC 6146 §3.1). */
export class BibEntry {
  constructor(
    readonly table: Nat64State,
    readonly slot: number,
  ) {}
  get proto(): number {
    return this.table.bibProto(this.slot);
  }
  get port6(): number {
    return this.table.bibPort6(this.slot);
  }
  get v4(): number {
    return this.table.bibV4(this.slot);
  }
  get port4(): number {
    return this.table.bibPort4(this.slot);
  }
  get isStatic(): boolean {
    return this.table.bibIsStatic(this.slot);
  }
  /** Sessions using this entry; the entry goes with the last one unless static. */
  get nSessions(): number {
    return this.table.bibSessions(this.slot);
  }
}

/** A view of one session slot (RFC 6146 §3.2). */
export class Session {
  constructor(
    readonly table: Nat64State,
    readonly slot: number,
  ) {}
  get bib(): BibEntry {
    return new BibEntry(this.table, this.table.sessionBib(this.slot));
  }
  get remote4(): number {
    return this.table.sessionRemote4(this.slot);
  }
  /** Remote port; 0 for ICMP (the identifier is the BIB's). */
  get rport(): number {
    return this.table.sessionRport(this.slot);
  }
  get state(): number {
    return this.table.sessionState(this.slot);
  }
  /** Expiry, in clock milliseconds. */
  get expires(): number {
    return this.table.sessionExpires(this.slot);
  }
}

/** The session table seen as a collection (tools and tests; the shape of the Map it replaced). */
class SessionList {
  constructor(private readonly st: Nat64State) {}
  get size(): number {
    return this.st.totalSessions();
  }
  *values(): IterableIterator<Session> {
    const st = this.st;
    for (let s = st.oldestSession(); s !== NONE; s = st.newerSession(s)) yield new Session(st, s);
  }
}

/** The BIB seen as a collection (tools and tests). */
class BibList {
  constructor(private readonly st: Nat64State) {}
  get size(): number {
    return this.st.totalBib();
  }
  *values(): IterableIterator<BibEntry> {
    const st = this.st;
    for (let b = 0; b < st.bibSlots(); b++) if (st.bibProto(b) !== 0) yield new BibEntry(st, b);
  }
}

/** Writes a BIB entry's IPv6 address (16 bytes) at out[o]. */
export function writeV6(b: BibEntry, out: Uint8Array, o: number): void {
  b.table.writeV6(b.slot, out, o);
}

/** A BIB entry's IPv6 address as a new array (tables, logs). */
export function bibV6(b: BibEntry): Uint8Array {
  const out = new Uint8Array(16);
  writeV6(b, out, 0);
  return out;
}

export interface StoredSyn {
  /** The IPv4 SYN (or, for a hairpinned SYN, the original IPv6 packet). */
  pkt: Uint8Array;
  fromV6: boolean;
  /** The pool4 address it was sent to (source of the ICMPv4 error). */
  dst4: number;
  expires: number;
}

export interface Nat64Timeouts {
  /** Seconds (RFC 6146 §4 defaults: UDP 300, ICMP 60, TCP_EST 7440, TCP_TRANS 240, TCP_INCOMING_SYN 6). */
  udp: number;
  icmp: number;
  tcpEstablished: number;
  tcpTransitory: number;
  tcpIncomingSyn: number;
}

export interface StaticBib {
  proto: "tcp" | "udp" | "icmp";
  ipv6: Uint8Array;
  port6: number;
  ipv4: number;
  port4: number;
}

export const PROTO_NUM = { tcp: 6, udp: 17, icmp: 1 } as const;

/** Limits per client (RFC 6888 §3 REQ-4 ports per subscriber, REQ-5 state per subscriber). */
export interface ClientLimits {
  /** A client is an IPv6 source aggregated to this many leading bits (64: one /64, 128: one address). */
  prefixLength: number;
  /** Dynamic BIB entries (pool4 ports or ICMP identifiers, all protocols) a client may hold. */
  ports: number;
  /** Sessions on a client's dynamic BIB entries (both directions) a client may hold. */
  sessions: number;
}

/** No limit per client. */
export const NO_CLIENT_LIMITS: ClientLimits = {
  prefixLength: 128,
  ports: 2 ** 31 - 1,
  sessions: 2 ** 31 - 1,
};

/** createBib / createSession refused because the client reached its limit (-1 is the pool or table limit). */
export const CLIENT_LIMIT = -2;

/** Key of the held-SYN table (few entries, so a string is fine there). */
export function sessionKey(
  proto: number,
  local4: number,
  lport: number,
  remote4: number,
  rport: number,
): string {
  return String.fromCharCode(
    proto,
    local4 >>> 16,
    local4 & 0xffff,
    lport,
    remote4 >>> 16,
    remote4 & 0xffff,
    rport,
  );
}

export type StateEvent =
  | { type: "bib-add" | "bib-remove"; bib: BibEntry }
  | { type: "session-add" | "session-remove" | "session-state"; session: Session; state: string };

// MurmurHash3 (32-bit) steps, seeded per table so remote hosts cannot aim at one chain.
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

type Slab = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array;
function grown<T extends Slab>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  (b as Uint8Array).set(a as Uint8Array);
  return b;
}

const INITIAL_SLOTS = 256;

/** A session record's words (Nat64State.sRec): BIB slot (-1: free), remote IPv4 address, remote port, chain link. */
const S_BIB = 0;
const S_REMOTE4 = 1;
const S_RPORT = 2;
const S_NEXT = 3;
const S_WORDS = 4;

/** A BIB record's words (Nat64State.bRec): IPv6 address (4), IPv4 address, proto << 16 | IPv6 port, IPv4 port, chain link. */
const B_V6 = 0;
const B_V4 = 4;
const B_KEY6 = 5;
const B_PORT4 = 6;
const B_NEXT6 = 7;
const B_WORDS = 8;

/** Session records for n slots, all free. */
function emptySessions(n: number): Int32Array {
  const r = new Int32Array(n * S_WORDS);
  for (let s = 0; s < n; s++) r[S_WORDS * s + S_BIB] = NONE;
  return r;
}
/** The smallest default session limit (a pool4 of a few ports still gets a usable table). */
const MIN_SESSIONS = 65_536;

export class Nat64State {
  readonly stored = new Map<string, StoredSyn>();
  readonly pool: Pool4;
  /** Sessions per protocol index (TCP, UDP, ICMP). */
  readonly sessionCount = [0, 0, 0];
  readonly bibCount = [0, 0, 0];
  /** Address-dependent filtering: sessions per (mapping, remote address); kept only when asked for. */
  private readonly remotes: Map<string, number> | null;
  private readonly ms: number[];
  private readonly seed = (Math.random() * 0x100000000) | 0;
  onEvent: ((e: StateEvent) => void) | null = null;

  // ---- BIB slots (proto 0 = free slot)
  private bCap = INITIAL_SLOTS;
  /**
   * What a lookup by IPv6 transport address reads and answers, one record of B_WORDS per slot
   * (B_V6 the IPv6 address as 4 big-endian words, B_V4, B_KEY6 = proto << 16 | IPv6 port,
   * B_PORT4, B_NEXT6): one cache line, where six arrays took six (see sRec). B_NEXT6 chains the
   * IPv6 index and the free list.
   */
  private bRec = new Int32Array(INITIAL_SLOTS * B_WORDS);
  private bStatic = new Uint8Array(INITIAL_SLOTS);
  private bRefs = new Int32Array(INITIAL_SLOTS);
  /** Chain link of the IPv4 index (the IPv6 index's is in the record). */
  private bNext4 = new Int32Array(INITIAL_SLOTS);
  private bHead6 = new Int32Array(INITIAL_SLOTS).fill(NONE);
  private bHead4 = new Int32Array(INITIAL_SLOTS).fill(NONE);
  /** The client slot of a dynamic entry; -1 for a static one. */
  private bClient = new Int32Array(INITIAL_SLOTS).fill(NONE);
  private bTop = 0;
  private bFree = NONE;
  private nBib = 0;

  // ---- session slots (bib -1 = free slot)
  private sCap = INITIAL_SLOTS;
  /**
   * What a lookup reads, one record of S_WORDS per slot (S_BIB, S_REMOTE4, S_RPORT, S_NEXT): one
   * cache line, where four arrays took four, for a flow whose record another flow's packets left
   * cold (bench:translate's many-flows rows). S_NEXT chains the session index and the free list.
   */
  private sRec = emptySessions(INITIAL_SLOTS);
  private sState = new Uint8Array(INITIAL_SLOTS);
  private sExpires = new Float64Array(INITIAL_SLOTS);
  private sHead = new Int32Array(INITIAL_SLOTS).fill(NONE);
  /** Creation-order list. */
  private sOlder = new Int32Array(INITIAL_SLOTS);
  private sNewer = new Int32Array(INITIAL_SLOTS);
  private sOldest = NONE;
  private sNewest = NONE;
  private sTop = 0;
  private sFree = NONE;
  private nSess = 0;

  // ---- client slots (ports 0 = free slot)
  private cCap = INITIAL_SLOTS;
  /** Client prefix (the IPv6 source masked to the client prefix length), 4 words per slot. */
  private cV6 = new Uint32Array(INITIAL_SLOTS * 4);
  private cPorts = new Int32Array(INITIAL_SLOTS);
  private cSessions = new Int32Array(INITIAL_SLOTS);
  /** Chain link of the client index; also links the free list. */
  private cNext = new Int32Array(INITIAL_SLOTS);
  private cHead = new Int32Array(INITIAL_SLOTS).fill(NONE);
  private cTop = 0;
  private cFree = NONE;
  private nClients = 0;
  /** The client prefix length as a mask per address word. */
  private readonly cMask = new Uint32Array(4);
  readonly limits: ClientLimits;
  /** The session table's limit: by default one session per pool4 port of each protocol. */
  readonly maxSessions: number;

  /** The session table as a read-only collection (size, values() oldest first). */
  readonly sessions = new SessionList(this);
  /** The BIB as a read-only collection (size, values()). */
  readonly bib6 = new BibList(this);
  /** Same entries as bib6 (every BIB entry is in both indexes). */
  readonly bib4 = this.bib6;

  constructor(
    pool4: Pool4Range[],
    readonly timeouts: Nat64Timeouts,
    maxSessions?: number,
    readonly maxStoredSyns = 4096,
    trackRemotes = false,
    share?: PortShare,
    limits: ClientLimits = NO_CLIENT_LIMITS,
  ) {
    this.remotes = trackRemotes ? new Map() : null;
    this.pool = new Pool4(pool4, share);
    // Ports x addresses x protocols (TCP, UDP, ICMP): one session per pool4 port, instead of a fixed
    // 1,000,000 a one-address pool never needs (issue 19); at least MIN_SESSIONS for tiny pools.
    this.maxSessions = maxSessions ?? Math.max(MIN_SESSIONS, this.pool.capacity() * 3);
    this.limits = limits;
    for (let i = 0; i < 4; i++) {
      const bits = Math.min(32, Math.max(0, limits.prefixLength - 32 * i));
      this.cMask[i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    }
    const t = timeouts;
    // Indexed by TcpTimer (Keep unused), then UDP, ICMP.
    this.ms = [
      0,
      t.tcpTransitory * 1000,
      t.tcpEstablished * 1000,
      t.tcpIncomingSyn * 1000,
      t.udp * 1000,
      t.icmp * 1000,
    ];
  }

  // ---------------------------------------------------------------- slot readers

  bibProto(b: number): number {
    return this.bRec[B_WORDS * b + B_KEY6]! >>> 16;
  }
  bibPort6(b: number): number {
    return this.bRec[B_WORDS * b + B_KEY6]! & 0xffff;
  }
  bibV4(b: number): number {
    return this.bRec[B_WORDS * b + B_V4]! >>> 0;
  }
  bibPort4(b: number): number {
    return this.bRec[B_WORDS * b + B_PORT4]!;
  }
  bibIsStatic(b: number): boolean {
    return this.bStatic[b] === 1;
  }
  /** Word k (0-3, big-endian) of BIB slot b's IPv6 address. */
  bibV6Word(b: number, k: number): number {
    return this.bRec[B_WORDS * b + B_V6 + k]! >>> 0;
  }
  bibSessions(b: number): number {
    return this.bRefs[b]!;
  }
  sessionBib(s: number): number {
    return this.sRec[S_WORDS * s + S_BIB]!;
  }
  sessionRemote4(s: number): number {
    return this.sRec[S_WORDS * s + S_REMOTE4]! >>> 0;
  }
  sessionRport(s: number): number {
    return this.sRec[S_WORDS * s + S_RPORT]!;
  }
  sessionState(s: number): number {
    return this.sState[s]!;
  }
  sessionExpires(s: number): number {
    return this.sExpires[s]!;
  }
  /** Walks sessions in creation order: oldestSession(), then newerSession(s) until -1. */
  oldestSession(): number {
    return this.sOldest;
  }
  newerSession(s: number): number {
    return this.sNewer[s]!;
  }
  /** BIB slots in use are below bibSlots(), those with a non-zero proto. */
  bibSlots(): number {
    return this.bTop;
  }
  totalBib(): number {
    return this.nBib;
  }

  /** Writes BIB slot b's IPv6 address (16 bytes) at out[o]. */
  writeV6(b: number, out: Uint8Array, o: number): void {
    const v = this.bRec;
    for (let i = 0; i < 4; i++) {
      const w = v[B_WORDS * b + B_V6 + i]!;
      out[o + 4 * i] = w >>> 24;
      out[o + 4 * i + 1] = (w >>> 16) & 0xff;
      out[o + 4 * i + 2] = (w >>> 8) & 0xff;
      out[o + 4 * i + 3] = w & 0xff;
    }
  }

  /** The key pool4 pairs addresses by (RFC 4787 REQ-2): the IPv6 host address (see {@link hostKey}). */
  private hostKeyOf(b: number): string {
    const v = this.bRec;
    const i = B_WORDS * b + B_V6;
    return String.fromCharCode(
      0,
      v[i]! >>> 16,
      v[i]! & 0xffff,
      v[i + 1]! >>> 16,
      v[i + 1]! & 0xffff,
      v[i + 2]! >>> 16,
      v[i + 2]! & 0xffff,
      v[i + 3]! >>> 16,
      v[i + 3]! & 0xffff,
      0,
    );
  }

  // ---------------------------------------------------------------- hashing

  private hash6(proto: number, w0: number, w1: number, w2: number, w3: number, port: number): number {
    let h = mix(this.seed, w0);
    h = mix(h, w1);
    h = mix(h, w2);
    h = mix(h, w3);
    h = mix(h, (proto << 16) | port);
    return fmix(h);
  }
  private hash4(proto: number, v4: number, port: number): number {
    return fmix(mix(mix(this.seed, v4), (proto << 16) | port));
  }
  private hashS(b: number, remote4: number, rport: number): number {
    return fmix(mix(mix(mix(this.seed, b), remote4), rport));
  }

  // ---------------------------------------------------------------- BIB (RFC 6146 §3.1)

  /** The BIB slot for an IPv6 transport address (address at a[o..o+16)), or -1. */
  findBib6(proto: number, a: Uint8Array, o: number, port: number): number {
    // As the record holds them: 32-bit words (signed) and proto << 16 | port.
    const w0 = read32(a, o) | 0;
    const w1 = read32(a, o + 4) | 0;
    const w2 = read32(a, o + 8) | 0;
    const w3 = read32(a, o + 12) | 0;
    const key = (proto << 16) | port;
    const r = this.bRec;
    let b = this.bHead6[this.hash6(proto, w0, w1, w2, w3, port) & (this.bCap - 1)]!;
    while (b !== NONE) {
      const i = B_WORDS * b;
      if (
        r[i + B_KEY6] === key &&
        r[i + B_V6] === w0 &&
        r[i + B_V6 + 1] === w1 &&
        r[i + B_V6 + 2] === w2 &&
        r[i + B_V6 + 3] === w3
      )
        return b;
      b = r[i + B_NEXT6]!;
    }
    return NONE;
  }

  /** The BIB slot for an IPv4 transport address, or -1. */
  findBib4(proto: number, v4: number, port: number): number {
    const r = this.bRec;
    const v = v4 | 0;
    let b = this.bHead4[this.hash4(proto, v4 >>> 0, port) & (this.bCap - 1)]!;
    while (b !== NONE) {
      const i = B_WORDS * b;
      if (r[i + B_PORT4] === port && r[i + B_V4] === v && r[i + B_KEY6]! >>> 16 === proto) return b;
      b = this.bNext4[b]!;
    }
    return NONE;
  }

  addStatic(s: StaticBib): number {
    const proto = PROTO_NUM[s.proto];
    const b = this.newBib(proto, s.ipv6, 0, s.port6, s.ipv4 >>> 0, s.port4, true);
    this.pool.reserve(proto, s.ipv4, s.port4);
    return b;
  }

  private growBib(): void {
    const n = this.bCap * 2;
    this.bRec = grown(this.bRec, n * B_WORDS);
    this.bStatic = grown(this.bStatic, n);
    this.bRefs = grown(this.bRefs, n);
    this.bClient = grown(this.bClient, n);
    this.bNext4 = new Int32Array(n);
    this.bHead6 = new Int32Array(n).fill(NONE);
    this.bHead4 = new Int32Array(n).fill(NONE);
    this.bCap = n;
    // Rehash every entry (the free list is empty: the table grows only when full).
    for (let b = 0; b < this.bTop; b++) this.linkBib(b);
  }

  /** Hashes BIB slot b into both indexes (its chain links are overwritten). */
  private linkBib(b: number): void {
    const h6 = this.bibHash6(b);
    this.bRec[B_WORDS * b + B_NEXT6] = this.bHead6[h6]!;
    this.bHead6[h6] = b;
    const h4 = this.bibHash4(b);
    this.bNext4[b] = this.bHead4[h4]!;
    this.bHead4[h4] = b;
  }

  /** BIB slot b's bucket in the IPv6 index. */
  private bibHash6(b: number): number {
    const r = this.bRec;
    const i = B_WORDS * b;
    const key = r[i + B_KEY6]!;
    return (
      this.hash6(
        key >>> 16,
        r[i + B_V6]!,
        r[i + B_V6 + 1]!,
        r[i + B_V6 + 2]!,
        r[i + B_V6 + 3]!,
        key & 0xffff,
      ) &
      (this.bCap - 1)
    );
  }

  /** BIB slot b's bucket in the IPv4 index. */
  private bibHash4(b: number): number {
    return this.hash4(this.bibProto(b), this.bibV4(b), this.bibPort4(b)) & (this.bCap - 1);
  }

  private newBib(
    proto: number,
    a: Uint8Array,
    o: number,
    port6: number,
    v4: number,
    port4: number,
    isStatic: boolean,
  ): number {
    let b = this.bFree;
    if (b !== NONE) this.bFree = this.bRec[B_WORDS * b + B_NEXT6]!;
    else {
      if (this.bTop === this.bCap) this.growBib();
      b = this.bTop++;
    }
    const r = this.bRec;
    const i = B_WORDS * b;
    for (let k = 0; k < 4; k++) r[i + B_V6 + k] = read32(a, o + 4 * k);
    r[i + B_V4] = v4;
    r[i + B_KEY6] = (proto << 16) | port6;
    r[i + B_PORT4] = port4;
    this.bStatic[b] = isStatic ? 1 : 0;
    this.bRefs[b] = 0;
    this.bClient[b] = NONE;
    this.linkBib(b);
    this.nBib++;
    this.bibCount[protoIndex(proto)]!++;
    this.onEvent?.({ type: "bib-add", bib: new BibEntry(this, b) });
    return b;
  }

  /**
   * RFC 6146 §3.5.1.1: a dynamic BIB entry's slot, or -1 when pool4 is exhausted for this host,
   * or CLIENT_LIMIT when the client of address a[o..o+16) holds its limit of ports. `want`
   * (address * 65536 + port) takes that pool4 transport address instead: a session handed over
   * from the previous translator (handover.ts); -1 when it is not this table's to give.
   */
  createBib(proto: number, a: Uint8Array, o: number, port6: number, want = -1): number {
    const m = this.cMask;
    const w0 = (read32(a, o) & m[0]!) >>> 0;
    const w1 = (read32(a, o + 4) & m[1]!) >>> 0;
    const w2 = (read32(a, o + 8) & m[2]!) >>> 0;
    const w3 = (read32(a, o + 12) & m[3]!) >>> 0;
    let c = this.findClient(w0, w1, w2, w3);
    // RFC 6888 §3 REQ-4: a limit of external ports per subscriber.
    if (c !== NONE && this.cPorts[c]! >= this.limits.ports) return CLIENT_LIMIT;
    const host = hostKey(a, o);
    const r = want < 0 ? this.pool.allocate(proto, host, port6) : this.pool.take(proto, host, want);
    if (r < 0) return NONE;
    if (c === NONE) c = this.newClient(w0, w1, w2, w3);
    const b = this.newBib(proto, a, o, port6, Math.floor(r / 65536) >>> 0, r % 65536, false);
    this.bClient[b] = c;
    this.cPorts[c]!++;
    return b;
  }

  /** Removes a dynamic BIB entry left without a session (a new one whose first session was refused). */
  releaseUnused(b: number): void {
    if (this.bRefs[b] === 0 && this.bStatic[b] === 0 && this.bibProto(b) !== 0) this.removeBib(b);
  }

  // ---------------------------------------------------------------- clients (RFC 6888 §3 REQ-4, REQ-5)

  private hashC(w0: number, w1: number, w2: number, w3: number): number {
    return fmix(mix(mix(mix(mix(this.seed, w0), w1), w2), w3));
  }

  /** The client slot of a client prefix (4 masked words), or -1. */
  private findClient(w0: number, w1: number, w2: number, w3: number): number {
    const v = this.cV6;
    let c = this.cHead[this.hashC(w0, w1, w2, w3) & (this.cCap - 1)]!;
    while (c !== NONE) {
      const i = 4 * c;
      if (v[i] === w0 && v[i + 1] === w1 && v[i + 2] === w2 && v[i + 3] === w3) return c;
      c = this.cNext[c]!;
    }
    return NONE;
  }

  private linkClient(c: number): void {
    const v = this.cV6;
    const i = 4 * c;
    const h = this.hashC(v[i]!, v[i + 1]!, v[i + 2]!, v[i + 3]!) & (this.cCap - 1);
    this.cNext[c] = this.cHead[h]!;
    this.cHead[h] = c;
  }

  private newClient(w0: number, w1: number, w2: number, w3: number): number {
    let c = this.cFree;
    if (c !== NONE) this.cFree = this.cNext[c]!;
    else {
      if (this.cTop === this.cCap) {
        const n = this.cCap * 2;
        this.cV6 = grown(this.cV6, n * 4);
        this.cPorts = grown(this.cPorts, n);
        this.cSessions = grown(this.cSessions, n);
        this.cNext = new Int32Array(n);
        this.cHead = new Int32Array(n).fill(NONE);
        this.cCap = n;
        // Rehash (the free list is empty: the table grows only when full).
        for (let k = 0; k < this.cTop; k++) this.linkClient(k);
      }
      c = this.cTop++;
    }
    const i = 4 * c;
    this.cV6[i] = w0;
    this.cV6[i + 1] = w1;
    this.cV6[i + 2] = w2;
    this.cV6[i + 3] = w3;
    this.cPorts[c] = 0;
    this.cSessions[c] = 0;
    this.linkClient(c);
    this.nClients++;
    return c;
  }

  private removeClient(c: number): void {
    const v = this.cV6;
    const i = 4 * c;
    const h = this.hashC(v[i]!, v[i + 1]!, v[i + 2]!, v[i + 3]!) & (this.cCap - 1);
    let p = this.cHead[h]!;
    if (p === c) this.cHead[h] = this.cNext[c]!;
    else {
      while (this.cNext[p] !== c) p = this.cNext[p]!;
      this.cNext[p] = this.cNext[c]!;
    }
    this.cNext[c] = this.cFree;
    this.cFree = c;
    this.nClients--;
  }

  /** Clients holding at least one dynamic BIB entry. */
  totalClients(): number {
    return this.nClients;
  }

  /** The ports and sessions the client of BIB slot b holds ([0, 0] for a static entry). */
  clientUsage(b: number): [ports: number, sessions: number] {
    const c = this.bClient[b]!;
    return c === NONE ? [0, 0] : [this.cPorts[c]!, this.cSessions[c]!];
  }

  private unlinkBib(b: number): void {
    const r = this.bRec;
    const h6 = this.bibHash6(b);
    let p = this.bHead6[h6]!;
    if (p === b) this.bHead6[h6] = r[B_WORDS * b + B_NEXT6]!;
    else {
      while (r[B_WORDS * p + B_NEXT6] !== b) p = r[B_WORDS * p + B_NEXT6]!;
      r[B_WORDS * p + B_NEXT6] = r[B_WORDS * b + B_NEXT6]!;
    }
    const h4 = this.bibHash4(b);
    p = this.bHead4[h4]!;
    if (p === b) this.bHead4[h4] = this.bNext4[b]!;
    else {
      while (this.bNext4[p] !== b) p = this.bNext4[p]!;
      this.bNext4[p] = this.bNext4[b]!;
    }
  }

  private removeBib(b: number): void {
    const proto = this.bibProto(b);
    this.unlinkBib(b);
    this.nBib--;
    this.bibCount[protoIndex(proto)]!--;
    this.pool.release(proto, this.hostKeyOf(b), this.bibV4(b), this.bibPort4(b));
    const c = this.bClient[b]!;
    if (c !== NONE && --this.cPorts[c]! === 0) this.removeClient(c);
    // The event sees the slot intact; it is freed after.
    this.onEvent?.({ type: "bib-remove", bib: new BibEntry(this, b) });
    this.bRec[B_WORDS * b + B_KEY6] = 0; // proto 0: a free slot
    this.bRec[B_WORDS * b + B_NEXT6] = this.bFree;
    this.bFree = b;
  }

  // ---------------------------------------------------------------- sessions (RFC 6146 §3.2)

  lifetime(timer: number, proto: number): number {
    if (proto === 17) return this.ms[4]!;
    if (proto === 6) return this.ms[timer]!;
    return this.ms[5]!;
  }

  totalSessions(): number {
    return this.nSess;
  }

  /** The session of BIB slot b with (remote4, rport), or -1. */
  findSession(b: number, remote4: number, rport: number): number {
    const r = this.sRec;
    const r4 = remote4 | 0;
    let s = this.sHead[this.hashS(b, remote4 >>> 0, rport) & (this.sCap - 1)]!;
    while (s !== NONE) {
      const i = S_WORDS * s;
      if (r[i + S_BIB] === b && r[i + S_REMOTE4] === r4 && r[i + S_RPORT] === rport) return s;
      s = r[i + S_NEXT]!;
    }
    return NONE;
  }

  private remoteKey(b: number, remote4: number): string {
    return String.fromCharCode(b >>> 16, b & 0xffff, remote4 >>> 16, remote4 & 0xffff);
  }

  /** RFC 4787 address-dependent filtering: has this mapping talked to that IPv4 address? */
  hasSessionWith(b: number, remote4: number): boolean {
    return (this.remotes?.get(this.remoteKey(b, remote4)) ?? 0) > 0;
  }

  private growSessions(): void {
    const n = this.sCap * 2;
    const rec = emptySessions(n);
    rec.set(this.sRec);
    this.sRec = rec;
    this.sState = grown(this.sState, n);
    this.sExpires = grown(this.sExpires, n);
    this.sOlder = grown(this.sOlder, n);
    this.sNewer = grown(this.sNewer, n);
    this.sHead = new Int32Array(n).fill(NONE);
    this.sCap = n;
    for (let s = 0; s < this.sTop; s++) this.linkSession(s);
  }

  /** Hashes session slot s into the index (its S_NEXT is overwritten). */
  private linkSession(s: number): void {
    const h = this.sessionHash(s);
    this.sRec[S_WORDS * s + S_NEXT] = this.sHead[h]!;
    this.sHead[h] = s;
  }

  /** Session slot s's bucket in the index. */
  private sessionHash(s: number): number {
    const i = S_WORDS * s;
    const r = this.sRec;
    return this.hashS(r[i + S_BIB]!, r[i + S_REMOTE4]! >>> 0, r[i + S_RPORT]!) & (this.sCap - 1);
  }

  /**
   * A new session slot of BIB slot b; -1 when the table's limit is reached, CLIENT_LIMIT when
   * the entry's client holds its limit of sessions.
   */
  createSession(b: number, remote4: number, rport: number, now: number): number {
    if (this.nSess >= this.maxSessions) return NONE;
    const c = this.bClient[b]!;
    // RFC 6888 §3 REQ-5: state per subscriber is limited.
    if (c !== NONE) {
      if (this.cSessions[c]! >= this.limits.sessions) return CLIENT_LIMIT;
      this.cSessions[c]!++;
    }
    let s = this.sFree;
    if (s !== NONE) this.sFree = this.sRec[S_WORDS * s + S_NEXT]!;
    else {
      if (this.sTop === this.sCap) this.growSessions();
      s = this.sTop++;
    }
    const proto = this.bibProto(b);
    const i = S_WORDS * s;
    this.sRec[i + S_BIB] = b;
    this.sRec[i + S_REMOTE4] = remote4;
    this.sRec[i + S_RPORT] = rport;
    this.sState[s] = TcpState.Closed;
    this.sExpires[s] = now + this.lifetime(TcpTimer.Trans, proto);
    this.linkSession(s);
    this.sOlder[s] = this.sNewest;
    this.sNewer[s] = NONE;
    if (this.sNewest !== NONE) this.sNewer[this.sNewest] = s;
    else this.sOldest = s;
    this.sNewest = s;
    this.nSess++;
    this.bRefs[b]!++;
    if (this.remotes) {
      const rk = this.remoteKey(b, remote4);
      this.remotes.set(rk, (this.remotes.get(rk) ?? 0) + 1);
    }
    this.sessionCount[protoIndex(proto)]!++;
    this.onEvent?.({
      type: "session-add",
      session: new Session(this, s),
      state: proto === 6 ? tcpStateName[TcpState.Closed]! : "",
    });
    return s;
  }

  /** Key of the held-SYN table for session slot s (same connection, §3.5.2.2). */
  sessionKeyOf(s: number): string {
    const b = this.sessionBib(s);
    return sessionKey(
      this.bibProto(b),
      this.bibV4(b),
      this.bibPort4(b),
      this.sessionRemote4(s),
      this.sessionRport(s),
    );
  }

  /** UDP/ICMP: refresh the lifetime (RFC 6146 §3.5.1, §3.5.3). */
  touch(s: number, now: number): void {
    this.sExpires[s] = now + this.lifetime(0, this.bibProto(this.sessionBib(s)));
  }

  /** TCP: runs the §3.5.2.2 state machine for one packet. */
  tcpPacket(s: number, fromV6: boolean, flags: number, now: number): void {
    const state = this.sState[s]!;
    const r = tcpTransition(state, fromV6, flags);
    const next = r & 0xff;
    const timer = r >>> 8;
    if (timer !== TcpTimer.Keep) this.sExpires[s] = now + this.ms[timer]!;
    if (next !== state) {
      this.sState[s] = next;
      this.onEvent?.({ type: "session-state", session: new Session(this, s), state: tcpStateName[next]! });
    }
  }

  removeSession(s: number): void {
    const r = this.sRec;
    const i = S_WORDS * s;
    const b = r[i + S_BIB]!;
    if (b === NONE) return;
    // Out of the index.
    const h = this.sessionHash(s);
    let p = this.sHead[h]!;
    if (p === s) this.sHead[h] = r[i + S_NEXT]!;
    else {
      while (r[S_WORDS * p + S_NEXT] !== s) p = r[S_WORDS * p + S_NEXT]!;
      r[S_WORDS * p + S_NEXT] = r[i + S_NEXT]!;
    }
    // Out of the creation-order list.
    const older = this.sOlder[s]!;
    const newer = this.sNewer[s]!;
    if (older !== NONE) this.sNewer[older] = newer;
    else this.sOldest = newer;
    if (newer !== NONE) this.sOlder[newer] = older;
    else this.sNewest = older;
    this.nSess--;
    const proto = this.bibProto(b);
    this.sessionCount[protoIndex(proto)]!--;
    this.bRefs[b]!--;
    const c = this.bClient[b]!;
    if (c !== NONE) this.cSessions[c]!--;
    if (this.remotes) {
      const rk = this.remoteKey(b, this.sessionRemote4(s));
      const n = (this.remotes.get(rk) ?? 1) - 1;
      if (n > 0) this.remotes.set(rk, n);
      else this.remotes.delete(rk);
    }
    // The event sees the slot intact; it is freed after.
    this.onEvent?.({
      type: "session-remove",
      session: new Session(this, s),
      state: proto === 6 ? tcpStateName[this.sState[s]!]! : "",
    });
    r[i + S_BIB] = NONE;
    r[i + S_NEXT] = this.sFree;
    this.sFree = s;
    if (this.bRefs[b] === 0 && this.bStatic[b] === 0) this.removeBib(b);
  }

  /** A handed-over session's TCP state and expiry (handover.ts), set after createSession. */
  restoreTimer(s: number, state: number, expires: number): void {
    this.sState[s] = state;
    this.sExpires[s] = expires;
  }

  /** Holds an unsolicited IPv4 SYN (RFC 6146 §3.5.2.2). False when the hold table is full. */
  storeSyn(key: string, syn: StoredSyn): boolean {
    if (this.stored.has(key)) return true;
    if (this.stored.size >= this.maxStoredSyns) return false;
    this.stored.set(key, syn);
    return true;
  }

  /**
   * Removes expired sessions (and dynamic BIB entries left without a session)
   * and returns the held SYNs whose TCP_INCOMING_SYN time ran out. Walks the
   * sessions oldest first.
   */
  expire(now: number): StoredSyn[] {
    const ex = this.sExpires;
    for (let s = this.sOldest; s !== NONE; ) {
      const next = this.sNewer[s]!;
      if (ex[s]! <= now) this.removeSession(s);
      s = next;
    }
    const out: StoredSyn[] = [];
    for (const [k, syn] of this.stored) {
      if (syn.expires <= now) {
        this.stored.delete(k);
        out.push(syn);
      }
    }
    return out;
  }

  /** Size of the tables: the slot arrays as allocated (including free slots), plus pool4's bitmaps. */
  approxBytes(): number {
    const arrays: Slab[] = [
      this.bRec,
      this.bStatic,
      this.bRefs,
      this.bNext4,
      this.bHead6,
      this.bHead4,
      this.bClient,
      this.cV6,
      this.cPorts,
      this.cSessions,
      this.cNext,
      this.cHead,
      this.sRec,
      this.sState,
      this.sExpires,
      this.sHead,
      this.sOlder,
      this.sNewer,
    ];
    let n = 0;
    for (const a of arrays) n += a.byteLength;
    for (const a of this.pool.addrs) for (const s of a.sets) if (s) n += s.bits.byteLength;
    return n + this.pool.addrs.length * 64;
  }
}

/**
 * pool4's pairing key for an IPv6 host (RFC 4787 REQ-2): its address as 8
 * code units between two zeros (pool4 hashes it to pick the host's address,
 * so the format is kept as it was).
 */
function hostKey(a: Uint8Array, o: number): string {
  return String.fromCharCode(
    0,
    (a[o]! << 8) | a[o + 1]!,
    (a[o + 2]! << 8) | a[o + 3]!,
    (a[o + 4]! << 8) | a[o + 5]!,
    (a[o + 6]! << 8) | a[o + 7]!,
    (a[o + 8]! << 8) | a[o + 9]!,
    (a[o + 10]! << 8) | a[o + 11]!,
    (a[o + 12]! << 8) | a[o + 13]!,
    (a[o + 14]! << 8) | a[o + 15]!,
    0,
  );
}
