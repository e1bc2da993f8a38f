/**
 * pool4: the IPv4 transport addresses a stateful NAT64 hands out (RFC 6146
 * §3.5.1.1), with the RFC 4787 rules it follows:
 * - REQ-2 paired address pooling: every BIB entry of one IPv6 host gets the
 *   same IPv4 address while that host has any entry;
 * - port preservation when the port is free, else a port of the same parity
 *   (RFC 4787 REQ-4 / RFC 6146 §3.5.1.1), always inside the configured range.
 * Ports in use are kept in one bitmap (8 KiB) per address and protocol, made
 * on first use. With several packet workers each hands out only its share of
 * the ports (shard.ts).
 */
import { portOwner } from "./shard.ts";

export interface Pool4Range {
  /** First and last IPv4 address, as unsigned 32-bit numbers. */
  first: number;
  last: number;
  /** Port (or ICMP identifier) range handed out, inclusive. */
  portMin: number;
  portMax: number;
}

class PortSet {
  readonly bits = new Uint32Array(2048);
  used = 0;
  has(p: number): boolean {
    return (this.bits[p >>> 5]! & (1 << (p & 31))) !== 0;
  }
  add(p: number): void {
    this.bits[p >>> 5]! |= 1 << (p & 31);
    this.used++;
  }
  delete(p: number): void {
    if (!this.has(p)) return;
    this.bits[p >>> 5]! &= ~(1 << (p & 31));
    this.used--;
  }
}

interface AddrInfo {
  addr: number;
  portMin: number;
  portMax: number;
  /** Ports of [portMin, portMax] this worker hands out (all of them with one worker). */
  size: number;
  /** Per protocol index (0 TCP, 1 UDP, 2 ICMP). */
  sets: (PortSet | null)[];
}

export function protoIndex(proto: number): number {
  return proto === 6 ? 0 : proto === 17 ? 1 : 2;
}

/**
 * A worker's share of the ports when several workers split the NAT64 (see
 * shard.ts): the ports p with portOwner(p, count) === index, of every address.
 */
export interface PortShare {
  index: number;
  count: number;
}

export class Pool4 {
  readonly addrs: AddrInfo[] = [];
  private readonly byAddr = new Map<number, AddrInfo>();
  /** RFC 4787 REQ-2: IPv6 host → its IPv4 address, with a count of its BIB entries. */
  private readonly paired = new Map<string, { addr: number; refs: number }>();
  private seed = 0x9e3779b1;
  private readonly share: PortShare | null;
  /** Lowest and highest address (static entries included). */
  private lo = 0xffffffff;
  private hi = 0;

  constructor(ranges: Pool4Range[], share?: PortShare) {
    this.share = share && share.count > 1 ? share : null;
    for (const r of ranges) {
      for (let a = r.first; a <= r.last; a++) {
        const addr = a >>> 0;
        if (this.byAddr.has(addr)) continue;
        const info: AddrInfo = {
          addr,
          portMin: r.portMin,
          portMax: r.portMax,
          size: 0,
          sets: [null, null, null],
        };
        info.size = this.countMine(info);
        this.addrs.push(info);
        this.byAddr.set(addr, info);
        this.widen(addr);
      }
    }
  }

  has(addr: number): boolean {
    const a = addr >>> 0;
    // A range test first: asked for every packet (hairpinning), the answer is nearly always no.
    return a >= this.lo && a <= this.hi && this.byAddr.has(a);
  }

  private widen(a: number): void {
    if (a < this.lo) this.lo = a;
    if (a > this.hi) this.hi = a;
  }

  /** Total ports (identifiers) per protocol over all addresses (this worker's share of them). */
  capacity(): number {
    let n = 0;
    for (const a of this.addrs) n += this.sizeOf(a);
    return n;
  }

  /** Whether port p is this worker's to hand out. */
  private mine(p: number): boolean {
    const sh = this.share;
    return sh === null || portOwner(p, sh.count) === sh.index;
  }

  private sizeOf(a: AddrInfo): number {
    return a.size;
  }

  /** Ports of an address this worker hands out. */
  private countMine(a: AddrInfo): number {
    if (a.portMax < a.portMin) return 0;
    if (this.share === null) return a.portMax - a.portMin + 1;
    let n = 0;
    for (let p = a.portMin; p <= a.portMax; p++) if (this.mine(p)) n++;
    return n;
  }

  /** Ports in use for a protocol index. */
  used(pi: number): number {
    let n = 0;
    for (const a of this.addrs) n += a.sets[pi]?.used ?? 0;
    return n;
  }

  private set(info: AddrInfo, pi: number): PortSet {
    let s = info.sets[pi];
    if (!s) {
      s = new PortSet();
      info.sets[pi] = s;
    }
    return s;
  }

  /** Marks a port of a static BIB entry as taken (it may lie outside the dynamic range). */
  reserve(proto: number, addr: number, port: number): void {
    let info = this.byAddr.get(addr >>> 0);
    if (!info) {
      info = { addr: addr >>> 0, portMin: 1, portMax: 0, size: 0, sets: [null, null, null] };
      this.byAddr.set(info.addr, info);
      this.widen(info.addr);
    }
    const s = this.set(info, protoIndex(proto));
    if (!s.has(port)) s.add(port);
  }

  private hash(host: string): number {
    let h = 2166136261;
    for (let i = 0; i < host.length; i++) h = Math.imul(h ^ host.charCodeAt(i), 16777619);
    return h >>> 0;
  }

  /**
   * Allocates (address, port) for a new dynamic BIB entry of `host` (IPv6
   * address key) whose IPv6 port is `port6`. Returns addr * 65536 + port, or
   * -1 when the host's paired address has no free port left (exhaustion).
   */
  allocate(proto: number, host: string, port6: number): number {
    if (this.addrs.length === 0) return -1;
    const pi = protoIndex(proto);
    const pair = this.paired.get(host);
    let info: AddrInfo | undefined;
    if (pair) info = this.byAddr.get(pair.addr);
    else {
      const start = this.hash(host) % this.addrs.length;
      for (let k = 0; k < this.addrs.length; k++) {
        const cand = this.addrs[(start + k) % this.addrs.length]!;
        const size = this.sizeOf(cand);
        if (size > 0 && (cand.sets[pi]?.used ?? 0) < size) {
          info = cand;
          break;
        }
      }
    }
    if (!info) return -1;
    const port = this.pickPort(info, pi, proto, port6);
    if (port < 0) return -1;
    return this.bind(info, pi, port, host);
  }

  /** Marks the port taken and pairs the host with the address (or counts one more entry of it). */
  private bind(info: AddrInfo, pi: number, port: number, host: string): number {
    this.set(info, pi).add(port);
    const pair = this.paired.get(host);
    if (pair) pair.refs++;
    else this.paired.set(host, { addr: info.addr, refs: 1 });
    return info.addr * 65536 + port;
  }

  /**
   * Allocates one given transport address (addr * 65536 + port) to `host`, for a BIB entry handed
   * over from the previous translator: the address in the pool, the port in its range, this
   * worker's and free, and the host not paired with another address (RFC 4787 REQ-2). Returns
   * `want`, or -1.
   */
  take(proto: number, host: string, want: number): number {
    const addr = Math.floor(want / 65536) >>> 0;
    const port = want % 65536;
    const info = this.byAddr.get(addr);
    const pair = this.paired.get(host);
    if (!info || info.size === 0 || port < info.portMin || port > info.portMax || !this.mine(port)) return -1;
    if (pair && pair.addr !== addr) return -1;
    const pi = protoIndex(proto);
    if (this.set(info, pi).has(port)) return -1;
    return this.bind(info, pi, port, host);
  }

  private pickPort(info: AddrInfo, pi: number, proto: number, want: number): number {
    const s = this.set(info, pi);
    const lo = info.portMin;
    const hi = info.portMax;
    if (hi < lo) return -1;
    // Port preservation (RFC 6146 §3.5.1.1).
    if (want >= lo && want <= hi && !s.has(want) && this.mine(want)) return want;
    const size = hi - lo + 1;
    if (s.used >= this.sizeOf(info)) return -1;
    // Same parity for TCP/UDP (RFC 4787 REQ-4 "port parity"), then any.
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    const start = lo + (this.seed % size);
    if (proto !== 1 && proto !== 58) {
      const parity = want & 1;
      for (let k = 0; k < size; k++) {
        const p = lo + ((start - lo + k) % size);
        if ((p & 1) === parity && !s.has(p) && this.mine(p)) return p;
      }
    }
    for (let k = 0; k < size; k++) {
      const p = lo + ((start - lo + k) % size);
      if (!s.has(p) && this.mine(p)) return p;
    }
    return -1;
  }

  /** Returns a dynamic BIB entry's port and drops the host's pairing with its last entry. */
  release(proto: number, host: string, addr: number, port: number): void {
    const info = this.byAddr.get(addr >>> 0);
    info?.sets[protoIndex(proto)]?.delete(port);
    const pair = this.paired.get(host);
    if (pair && --pair.refs <= 0) this.paired.delete(host);
  }
}
