/**
 * The stateful part of NAT64 (RFC 6146 §3): the Binding Information Bases
 * (one per protocol: TCP, UDP, ICMP query) and the session tables, their
 * lifetimes, the pool4 allocator behind dynamic BIB entries, and the IPv4
 * SYNs held for simultaneous open (§3.5.2.2, TCP_INCOMING_SYN).
 *
 * Keys are short strings of 16-bit code units (cheap to build, hashed by V8):
 *   BIB by IPv6 transport address:   proto, 8 address words, port
 *   BIB by IPv4 transport address:   proto, 2 address words, port
 *   session:                         proto, local IPv4 (2), local port, remote IPv4 (2), remote port
 */
import { Pool4, type Pool4Range, protoIndex } from "./pool4.ts";
import { TcpState, TcpTimer, tcpStateName, tcpTransition } from "./tcp.ts";

/**
 * A BIB entry. Kept small (memory per flow is a goal): the IPv6 address lives
 * only in `key6` (its code units 1..8 are the address's 16-bit words; see
 * {@link writeV6}); the IPv4 key and the host key are rebuilt when needed.
 */
export interface BibEntry {
  proto: number;
  port6: number;
  v4: number;
  port4: number;
  isStatic: boolean;
  /** Sessions using this entry; the entry goes with the last one unless static. */
  nSessions: number;
  key6: string;
}

export interface Session {
  bib: BibEntry;
  remote4: number;
  /** Remote port; 0 for ICMP (the identifier is the BIB's). */
  rport: number;
  state: number;
  /** Expiry, in clock milliseconds. */
  expires: number;
}

/** Writes a BIB entry's IPv6 address (16 bytes) at out[o]. */
export function writeV6(b: BibEntry, out: Uint8Array, o: number): void {
  const k = b.key6;
  for (let i = 0; i < 8; i++) {
    const w = k.charCodeAt(1 + i);
    out[o + 2 * i] = w >>> 8;
    out[o + 2 * i + 1] = w & 0xff;
  }
}

/** A BIB entry's IPv6 address as a new array (tables, logs). */
export function bibV6(b: BibEntry): Uint8Array {
  const out = new Uint8Array(16);
  writeV6(b, out, 0);
  return out;
}

function hostOf(b: BibEntry): string {
  return `\0${b.key6.slice(1, 9)}\0`;
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

export function key6(proto: number, a: Uint8Array, o: number, port: number): string {
  return String.fromCharCode(
    proto,
    (a[o]! << 8) | a[o + 1]!,
    (a[o + 2]! << 8) | a[o + 3]!,
    (a[o + 4]! << 8) | a[o + 5]!,
    (a[o + 6]! << 8) | a[o + 7]!,
    (a[o + 8]! << 8) | a[o + 9]!,
    (a[o + 10]! << 8) | a[o + 11]!,
    (a[o + 12]! << 8) | a[o + 13]!,
    (a[o + 14]! << 8) | a[o + 15]!,
    port,
  );
}

export function key4(proto: number, addr: number, port: number): string {
  return String.fromCharCode(proto, addr >>> 16, addr & 0xffff, port);
}

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

function hostKey(a: Uint8Array, o: number): string {
  return key6(0, a, o, 0);
}

function remoteKey(b: BibEntry, remote4: number): string {
  return String.fromCharCode(b.proto, b.v4 >>> 16, b.v4 & 0xffff, b.port4, remote4 >>> 16, remote4 & 0xffff);
}

export function sessionKeyOf(s: Session): string {
  const b = s.bib;
  return sessionKey(b.proto, b.v4, b.port4, s.remote4, s.rport);
}

export type StateEvent =
  | { type: "bib-add" | "bib-remove"; bib: BibEntry }
  | { type: "session-add" | "session-remove" | "session-state"; session: Session; state: string };

export class Nat64State {
  readonly bib6 = new Map<string, BibEntry>();
  readonly bib4 = new Map<string, BibEntry>();
  readonly sessions = new Map<string, Session>();
  readonly stored = new Map<string, StoredSyn>();
  readonly pool: Pool4;
  /** Sessions per protocol index (TCP, UDP, ICMP). */
  readonly sessionCount = [0, 0, 0];
  readonly bibCount = [0, 0, 0];
  /** Address-dependent filtering: sessions per (mapping, remote address); kept only when asked for. */
  private readonly remotes: Map<string, number> | null;
  private readonly ms: number[];
  onEvent: ((e: StateEvent) => void) | null = null;

  constructor(
    pool4: Pool4Range[],
    readonly timeouts: Nat64Timeouts,
    readonly maxSessions = 1_000_000,
    readonly maxStoredSyns = 4096,
    trackRemotes = false,
  ) {
    this.remotes = trackRemotes ? new Map() : null;
    this.pool = new Pool4(pool4);
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

  addStatic(s: StaticBib): BibEntry {
    const proto = PROTO_NUM[s.proto];
    const b = this.newBib(proto, s.ipv6, 0, s.port6, s.ipv4 >>> 0, s.port4, true);
    this.pool.reserve(proto, s.ipv4, s.port4);
    return b;
  }

  private newBib(
    proto: number,
    a: Uint8Array,
    o: number,
    port6: number,
    v4: number,
    port4: number,
    isStatic: boolean,
  ): BibEntry {
    const b: BibEntry = { proto, port6, v4, port4, isStatic, nSessions: 0, key6: key6(proto, a, o, port6) };
    this.bib6.set(b.key6, b);
    this.bib4.set(key4(proto, v4, port4), b);
    this.bibCount[protoIndex(proto)]!++;
    this.onEvent?.({ type: "bib-add", bib: b });
    return b;
  }

  /** RFC 6146 §3.5.1.1: a dynamic BIB entry, or null when pool4 is exhausted for this host. */
  createBib(proto: number, a: Uint8Array, o: number, port6: number): BibEntry | null {
    const host = hostKey(a, o);
    const r = this.pool.allocate(proto, host, port6);
    if (r < 0) return null;
    return this.newBib(proto, a, o, port6, Math.floor(r / 65536) >>> 0, r % 65536, false);
  }

  lifetime(timer: number, proto: number): number {
    if (proto === 17) return this.ms[4]!;
    if (proto === 6) return this.ms[timer]!;
    return this.ms[5]!;
  }

  totalSessions(): number {
    return this.sessions.size;
  }

  findSession(bib: BibEntry, remote4: number, rport: number): Session | undefined {
    return this.sessions.get(sessionKey(bib.proto, bib.v4, bib.port4, remote4, rport));
  }

  /** RFC 4787 address-dependent filtering: has this mapping talked to that IPv4 address? */
  hasSessionWith(bib: BibEntry, remote4: number): boolean {
    return (this.remotes?.get(remoteKey(bib, remote4)) ?? 0) > 0;
  }

  /** Null when the session limit is reached. */
  createSession(bib: BibEntry, remote4: number, rport: number, now: number): Session | null {
    if (this.sessions.size >= this.maxSessions) return null;
    const key = sessionKey(bib.proto, bib.v4, bib.port4, remote4, rport);
    const s: Session = {
      bib,
      remote4,
      rport,
      state: TcpState.Closed,
      expires: now + this.lifetime(TcpTimer.Trans, bib.proto),
    };
    this.sessions.set(key, s);
    bib.nSessions++;
    if (this.remotes) {
      const rk = remoteKey(bib, remote4);
      this.remotes.set(rk, (this.remotes.get(rk) ?? 0) + 1);
    }
    this.sessionCount[protoIndex(bib.proto)]!++;
    this.onEvent?.({ type: "session-add", session: s, state: bib.proto === 6 ? tcpStateName[s.state]! : "" });
    return s;
  }

  /** UDP/ICMP: refresh the lifetime (RFC 6146 §3.5.1, §3.5.3). */
  touch(s: Session, now: number): void {
    s.expires = now + this.lifetime(0, s.bib.proto);
  }

  /** TCP: runs the §3.5.2.2 state machine for one packet. */
  tcpPacket(s: Session, fromV6: boolean, flags: number, now: number): void {
    const r = tcpTransition(s.state, fromV6, flags);
    const next = r & 0xff;
    const timer = r >>> 8;
    if (timer !== TcpTimer.Keep) s.expires = now + this.ms[timer]!;
    if (next !== s.state) {
      s.state = next;
      this.onEvent?.({ type: "session-state", session: s, state: tcpStateName[next]! });
    }
  }

  removeSession(s: Session): void {
    if (!this.sessions.delete(sessionKeyOf(s))) return;
    this.sessionCount[protoIndex(s.bib.proto)]!--;
    s.bib.nSessions--;
    if (this.remotes) {
      const rk = remoteKey(s.bib, s.remote4);
      const n = (this.remotes.get(rk) ?? 1) - 1;
      if (n > 0) this.remotes.set(rk, n);
      else this.remotes.delete(rk);
    }
    this.onEvent?.({
      type: "session-remove",
      session: s,
      state: s.bib.proto === 6 ? tcpStateName[s.state]! : "",
    });
    if (s.bib.nSessions === 0 && !s.bib.isStatic) this.removeBib(s.bib);
  }

  private removeBib(b: BibEntry): void {
    this.bib6.delete(b.key6);
    this.bib4.delete(key4(b.proto, b.v4, b.port4));
    this.bibCount[protoIndex(b.proto)]!--;
    this.pool.release(b.proto, hostOf(b), b.v4, b.port4);
    this.onEvent?.({ type: "bib-remove", bib: b });
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
   * and returns the held SYNs whose TCP_INCOMING_SYN time ran out.
   */
  expire(now: number): StoredSyn[] {
    for (const s of this.sessions.values()) if (s.expires <= now) this.removeSession(s);
    const out: StoredSyn[] = [];
    for (const [k, syn] of this.stored) {
      if (syn.expires <= now) {
        this.stored.delete(k);
        out.push(syn);
      }
    }
    return out;
  }

  /** Rough resident size of the tables, for the memory gauge (measured per entry by bench). */
  approxBytes(): number {
    // Measured by bench:nat64 (heap delta over 100k UDP flows, one session per BIB entry):
    // about 400 bytes per flow, split roughly evenly.
    return this.sessions.size * 180 + this.bib6.size * 220 + this.pool.addrs.length * 64;
  }
}
