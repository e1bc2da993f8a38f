/**
 * Stateful NAT64 (RFC 6146) on top of the SIIT core (RFC 7915).
 *
 * For each packet: determine the incoming tuple (§3.4), filter and update the
 * BIB and session tables (§3.5), compute the outgoing tuple (§3.6), then let
 * the SIIT translator rewrite the headers (§3.7) through {@link Nat64Mapper}.
 * Hairpinning (§3.8) feeds a packet whose IPv4 destination is ours back in as
 * an incoming IPv4 packet. ICMP errors find their session through the packet
 * they quote (§3.5, §3.6).
 *
 * Never throws on packet input; every refusal is a counted reason.
 */
import type { PrefixData } from "../../util/net.ts";
import { adjust, read16, read32, write16, write32 } from "../siit/checksum.ts";
import { buildIcmp4Error, buildIcmp6Error } from "../siit/icmpErrors.ts";
import { type IcmpRate, IcmpRateLimit } from "../siit/icmpRate.ts";
import {
  compileSiitConfig,
  dropReasonName,
  isNonGlobal4,
  prefixBytes,
  type Rfc6052Prefix,
  type SiitConfig,
  SiitTranslator,
  Verdict,
} from "../siit/index.ts";
import { NAT64_DROP_COUNT, Nat64Drop, namedDrops } from "./drops.ts";
import { Nat64Mapper } from "./mapper.ts";
import type { Pool4Range, PortShare } from "./pool4.ts";
import { packetOwner } from "./shard.ts";
import {
  type BibEntry,
  CLIENT_LIMIT,
  type ClientLimits,
  Nat64State,
  type Nat64Timeouts,
  type StaticBib,
  sessionKey,
} from "./state.ts";
import { TCP_RST, TCP_SYN } from "./tcp.ts";

export { Verdict };

export interface Nat64Config {
  /** RFC 6052 prefix (pool6). */
  pool6: PrefixData;
  pool4: Pool4Range[];
  staticBib?: StaticBib[];
  /** IPv6 prefixes allowed to use the NAT64. Empty = everyone (tests only). */
  allowedSources?: PrefixData[];
  /** RFC 4787: 'endpointIndependent' (default) or 'addressDependent'. */
  filtering?: "endpointIndependent" | "addressDependent";
  timeouts: Nat64Timeouts;
  /** The session table's limit; default one session per pool4 port and protocol (state.ts). */
  maxSessions?: number;
  /** Limits per client (RFC 6888 §3 REQ-4, REQ-5); default none. */
  limits?: ClientLimits;
  /** Rate of the ICMP errors it originates (RFC 4443 §2.4 f); default 1000/s, bursts of 50 (icmpRate.ts). */
  icmpRate?: IcmpRate;
  /** Jool's source-icmpv6-errors-better: source translated ICMPv6 errors from the IPv4 router that sent them. Default true. */
  sourceIcmpv6ErrorsBetter?: boolean;
  /**
   * 'translator' (RFC 7915: the translator decrements TTL / hop limit once) or
   * 'tun' (the translator sits between two kernel forwards that each decrement;
   * it writes input + 1, capped at 255, so the host nets one decrement).
   */
  hopLimitMode?: "translator" | "tun";
  /** Header-translation settings handed to the SIIT core (pool6 and eamt are set here). */
  siit?: Omit<SiitConfig, "pool6" | "eamt" | "hairpinMode">;
  /** IPv4 Identification generator (tests pin it to 0). */
  nextIpv4Id?: () => number;
  /**
   * This translator is worker `index` of `count` splitting the NAT64 (shard.ts):
   * it hands out only its share of pool4's ports, and hairpins in place only the
   * packets whose BIB entry it owns (others go back to the kernel, which routes
   * them into the device again, to their owner). No static BIB entries then.
   */
  share?: PortShare;
}

/** Whether the address at a[o..o+16) lies in prefix p. */
export function prefixMatch(a: Uint8Array, o: number, p: { bytes: Uint8Array; len: number }): boolean {
  const full = p.len >>> 3;
  for (let i = 0; i < full; i++) if (a[o + i] !== p.bytes[i]) return false;
  const rem = p.len & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((a[o + full]! ^ p.bytes[full]!) & mask) === 0;
}

/** The mapping a fragmented datagram's first fragment used. */
interface FragmentFlow {
  v4: number;
  /** The IPv6 address, 4 big-endian words. */
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  expires: number;
}

const NH_HOP = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_DSTOPTS = 60;

/** Output side of a packet. */
export const Side = { Ipv4: 4, Ipv6: 6 } as const;

export class Nat64Translator {
  readonly state: Nat64State;
  readonly mapper = new Nat64Mapper();
  siit: SiitTranslator;
  readonly pool6: Rfc6052Prefix;
  /** Packets per NAT64 drop reason (index = Nat64Drop). */
  readonly drops = new Float64Array(NAT64_DROP_COUNT);
  /** Outputs of the last call: outBuf[outOffset[i], +outLength[i]), all for outSide. */
  outBuf: Uint8Array;
  outOffset: Int32Array;
  outLength: Int32Array;
  outCount = 0;
  outSide = 4;
  packets6to4 = 0;
  packets4to6 = 0;
  bytes6to4 = 0;
  bytes4to6 = 0;
  icmpErrorsSent = 0;
  /** RFC 4443 §2.4 (f): every ICMP error it originates, its own and its SIIT core's, takes a token. */
  readonly icmpRate: IcmpRateLimit;
  /** Exceptions caught on the packet path (a bug if ever non-zero). */
  internalErrors = 0;
  /** The packet was refused by the SIIT core for this reason (if lastDrop = Translation). */
  lastDrop = -1;

  private readonly cfg: Nat64Config;
  private readonly share: PortShare | null;
  private readonly allowed: { bytes: Uint8Array; len: number }[];
  private readonly adf: boolean;
  private better: boolean;
  private readonly tunTtl: boolean;
  private readonly errBuf = new Uint8Array(2048);
  private readonly errOffset = new Int32Array([0]);
  private readonly errLength = new Int32Array([0]);
  private readonly hairBuf = new Uint8Array(65536 + 64);
  private readonly tmp16 = new Uint8Array(16);
  /** Source of the ICMPv6 errors it originates (unspecified: the host picks it; see SiitConfig.hostErrorSource). */
  private errorSource6: Uint8Array | null;
  private now = 0;
  /** The BIB slots the last outbound / inbound packet used (for the fragments that follow). */
  private outBib = -1;
  private inBib = -1;
  /**
   * Fragmented datagrams in flight: their mapping (IPv4 address, IPv6 address
   * as 4 words; a copy, so it outlives the BIB entry as before), keyed by
   * fragment identity.
   */
  private readonly fragments = new Map<string, FragmentFlow>();

  constructor(cfg: Nat64Config) {
    this.cfg = cfg;
    this.icmpRate = new IcmpRateLimit(cfg.icmpRate);
    if (cfg.share && cfg.share.count > 1 && (cfg.staticBib?.length ?? 0) > 0)
      throw new Error("static BIB entries need a single packet worker");
    this.state = new Nat64State(
      cfg.pool4,
      cfg.timeouts,
      cfg.maxSessions,
      4096,
      cfg.filtering === "addressDependent",
      cfg.share,
      cfg.limits,
    );
    this.share = cfg.share && cfg.share.count > 1 ? cfg.share : null;
    for (const s of cfg.staticBib ?? []) this.state.addStatic(s);
    this.allowed = (cfg.allowedSources ?? []).map((p) => prefixBytes(p, 6, "allowedSources"));
    this.adf = cfg.filtering === "addressDependent";
    this.better = cfg.sourceIcmpv6ErrorsBetter ?? true;
    this.tunTtl = cfg.hopLimitMode === "tun";
    this.siit = this.buildSiit(cfg.siit ?? {});
    this.pool6 = this.siit.cfg.pool6!;
    this.errorSource6 = this.siit.cfg.errorSource6;
    this.outBuf = this.siit.buf;
    this.outOffset = this.siit.outOffset;
    this.outLength = this.siit.outLength;
  }

  private buildSiit(s: Omit<SiitConfig, "pool6" | "eamt" | "hairpinMode">): SiitTranslator {
    const full: SiitConfig = { ...s, pool6: this.cfg.pool6, eamt: [], hairpinMode: "off" };
    if (!compileSiitConfig(full).pool6) throw new Error("NAT64 needs pool6");
    return new SiitTranslator(full, {
      mapper: this.mapper,
      nextIpv4Id: this.cfg.nextIpv4Id,
      icmpRate: this.icmpRate,
      clock: () => this.now,
    });
  }

  /** Changes header-translation settings (MTUs, traffic class...) keeping all state. */
  reconfigureSiit(s: Omit<SiitConfig, "pool6" | "eamt" | "hairpinMode">): void {
    this.siit = this.buildSiit(s);
    this.errorSource6 = this.siit.cfg.errorSource6;
  }

  setSourceIcmpv6ErrorsBetter(on: boolean): void {
    this.better = on;
  }

  /** Copies of the outputs of the last call (for tests and tools). */
  outputs(): Uint8Array[] {
    const r: Uint8Array[] = [];
    for (let i = 0; i < this.outCount; i++)
      r.push(this.outBuf.slice(this.outOffset[i]!, this.outOffset[i]! + this.outLength[i]!));
    return r;
  }

  /** Translates one packet at clock time `now` (milliseconds). Never throws. */
  translate(pkt: Uint8Array, len: number = pkt.length, now: number = Date.now()): Verdict {
    this.now = now;
    this.outCount = 0;
    this.lastDrop = -1;
    if (len < 20 || len > pkt.length) return this.drop(Nat64Drop.Truncated);
    const v = pkt[0]! >>> 4;
    try {
      if (v === 6) return this.from6(pkt, len);
      if (v === 4) return this.from4(pkt, len, null, 0);
    } catch {
      // A bug must not take the datapath down: count it (the fuzz tests require 0).
      this.internalErrors++;
      return this.drop(Nat64Drop.Translation);
    }
    return this.drop(Nat64Drop.Truncated);
  }

  private drop(reason: number): Verdict {
    this.drops[reason]!++;
    this.lastDrop = reason;
    this.outCount = 0;
    return Verdict.Drop;
  }

  /** An ICMP error the NAT64 itself generates, back to the sender (at the rate RFC 4443 §2.4 f allows). */
  private replyErr(side: number, len: number): Verdict {
    if (!this.icmpRate.take(this.now)) {
      this.outCount = 0;
      return Verdict.Drop;
    }
    this.errOffset[0] = 0;
    this.errLength[0] = len;
    this.outBuf = this.errBuf;
    this.outOffset = this.errOffset;
    this.outLength = this.errLength;
    this.outCount = 1;
    this.outSide = side;
    this.icmpErrorsSent++;
    return Verdict.IcmpReply;
  }

  private error6(pkt: Uint8Array, len: number, type: number, code: number, reason: number): Verdict {
    this.drops[reason]!++;
    this.lastDrop = reason;
    // RFC 4443 §2.4(e): never an error about an ICMPv6 error.
    if (this.errorSource6 === null || (pkt[6] === 58 && len > 40 && pkt[40]! < 128)) return Verdict.Drop;
    const plen = Math.min(len, 40 + read16(pkt, 4));
    return this.replyErr(
      Side.Ipv6,
      buildIcmp6Error(this.errorSource6, type, code, 0, pkt, 0, plen, this.errBuf, 0),
    );
  }

  private error4(pkt: Uint8Array, len: number, src4: Uint8Array, type: number, code: number): Verdict {
    const tl = Math.min(len, read16(pkt, 2));
    return this.replyErr(Side.Ipv4, buildIcmp4Error(src4, type, code, 0, pkt, 0, tl, this.errBuf, 0));
  }

  /** Runs the SIIT core on the prepared tuple and adopts its outputs. */
  private runSiit(pkt: Uint8Array, len: number): Verdict {
    const s = this.siit;
    const v = s.translate(pkt, len);
    this.outBuf = s.buf;
    this.outOffset = s.outOffset;
    this.outLength = s.outLength;
    this.outCount = s.outCount;
    this.outSide = s.outSide;
    if (v === Verdict.Drop) {
      this.drops[Nat64Drop.Translation]!++;
      this.lastDrop = Nat64Drop.Translation;
    } else if (v === Verdict.IcmpReply) this.icmpErrorsSent++;
    return v;
  }

  /** The SIIT core's reason for its last refusal. */
  siitReason(): string {
    return dropReasonName[this.siit.lastReason] ?? String(this.siit.lastReason);
  }

  // ---------------------------------------------------------------- IPv6 → IPv4

  private from6(pkt: Uint8Array, len: number): Verdict {
    if (len < 40) return this.drop(Nat64Drop.Truncated);
    if (!this.pool6.matches(pkt, 24)) return this.drop(Nat64Drop.NotOurs);
    if (this.allowed.length > 0) {
      let ok = false;
      for (const p of this.allowed) if (prefixMatch(pkt, 8, p)) ok = true;
      // Not an open relay: others get ICMPv6 1/1 (administratively prohibited).
      if (!ok) return this.error6(pkt, len, 1, 1, Nat64Drop.SourceNotAllowed);
    }
    // Walk extension headers (HbH, Routing, Destination Options, Fragment).
    let nh = pkt[6]!;
    let p = 40;
    let firstFrag = -1;
    while (nh === NH_HOP || nh === NH_ROUTING || nh === NH_DSTOPTS || nh === NH_FRAGMENT) {
      if (p + 8 > len) return this.drop(Nat64Drop.Truncated);
      if (nh === NH_FRAGMENT) {
        // No reassembly: the first fragment carries the ports and leaves its mapping for the others.
        const f = read16(pkt, p + 2);
        if ((f & 0xfff8) !== 0) return this.fragment6(pkt, len, p);
        if ((f & 1) !== 0) firstFrag = p;
        nh = pkt[p]!;
        p += 8;
      } else {
        nh = pkt[p]!;
        p += (pkt[p + 1]! + 1) << 3;
      }
    }
    const l4 = p;
    const dst4 = this.pool6.embedded4(pkt, 24);
    // RFC 6052 §3.1: the Well-Known Prefix never carries a non-global IPv4 address: drop.
    if (this.pool6.wellKnown && isNonGlobal4(dst4)) return this.drop(Nat64Drop.NonGlobalIpv4);
    if (nh === 6 || nh === 17) {
      if (l4 + (nh === 6 ? 14 : 8) > len) return this.drop(Nat64Drop.Truncated);
      const sport = read16(pkt, l4);
      const dport = read16(pkt, l4 + 2);
      const flags = nh === 6 ? pkt[l4 + 13]! : 0;
      const v = this.outbound(pkt, len, nh, sport, dport, dst4, flags);
      if (firstFrag >= 0 && v === Verdict.Translated)
        this.rememberFragment(this.outBib, fragKey6(pkt, firstFrag, dst4));
      return v;
    }
    if (nh === 58) {
      if (l4 + 8 > len) return this.drop(Nat64Drop.Truncated);
      const type = pkt[l4]!;
      if (type === 128 || type === 129)
        return this.outbound(pkt, len, 1, read16(pkt, l4 + 4), read16(pkt, l4 + 4), dst4, type);
      if (type < 128) return this.error6to4(pkt, len, l4, dst4);
      // Other informational messages (ND, MLD...) are single-hop: let the SIIT rules drop them.
      return this.drop(Nat64Drop.UnsupportedProtocol);
    }
    return this.drop(Nat64Drop.UnsupportedProtocol);
  }

  /**
   * RFC 6146 §3.5.1 (UDP), §3.5.2 (TCP), §3.5.3 (ICMP query): an outbound
   * packet. `proto` is 6, 17 or 1 (ICMP, sport = dport = identifier);
   * `flags` is the TCP flags byte (or the ICMPv6 type).
   */
  private outbound(
    pkt: Uint8Array,
    len: number,
    proto: number,
    sport: number,
    dport: number,
    dst4: number,
    flags: number,
  ): Verdict {
    const st = this.state;
    const now = this.now;
    const isTcp = proto === 6;
    const syn = isTcp && (flags & (TCP_SYN | TCP_RST)) === TCP_SYN;
    let bib = st.findBib6(proto, pkt, 8, sport);
    if (bib < 0) {
      // Only a SYN (TCP) or a request (ICMP) opens a mapping from the IPv6 side.
      if ((isTcp && !syn) || (proto === 1 && flags !== 128)) return this.drop(Nat64Drop.NoState);
      if (st.totalSessions() >= st.maxSessions) return this.error6(pkt, len, 1, 3, Nat64Drop.SessionLimit);
      const b = st.createBib(proto, pkt, 8, sport);
      // A policy limit (RFC 6888 §3 REQ-4): ICMPv6 1/1, administratively prohibited.
      if (b === CLIENT_LIMIT) return this.error6(pkt, len, 1, 1, Nat64Drop.ClientPortLimit);
      // RFC 6146 §3.5.1.1: no transport address left → ICMPv6 1/3 (address unreachable).
      if (b < 0) return this.error6(pkt, len, 1, 3, Nat64Drop.PoolExhausted);
      bib = b;
    }
    const rport = proto === 1 ? 0 : dport;
    let s = st.findSession(bib, dst4, rport);
    if (s < 0) {
      if (isTcp && !syn) return this.drop(Nat64Drop.NoState);
      s = st.createSession(bib, dst4, rport, now);
      if (s < 0) {
        // A BIB entry made for this packet goes again: no session, no port held.
        st.releaseUnused(bib);
        if (s === CLIENT_LIMIT) return this.error6(pkt, len, 1, 1, Nat64Drop.ClientSessionLimit);
        return this.error6(pkt, len, 1, 3, Nat64Drop.SessionLimit);
      }
      // A held IPv4 SYN for this very connection: simultaneous open (RFC 6146
      // §3.5.2.2): the IPv6 SYN is translated, the held one silently dropped.
      if (isTcp && st.stored.size > 0) st.stored.delete(st.sessionKeyOf(s));
    }
    if (isTcp) st.tcpPacket(s, true, flags, now);
    else st.touch(s, now);

    const m = this.mapper.outer4;
    const port4 = st.bibPort4(bib);
    m.setSrc(st.bibV4(bib));
    m.setDst(dst4);
    m.sport = port4;
    m.dport = proto === 1 ? port4 : dport;
    this.outBib = bib;
    return this.finish64(pkt, len, dst4);
  }

  /** ICMPv6 error: the session is the one of the quoted (reversed) packet. */
  private error6to4(pkt: Uint8Array, len: number, l4: number, dst4: number): Verdict {
    const q = l4 + 8;
    if (q + 40 > len) return this.drop(Nat64Drop.Truncated);
    let nh = pkt[q + 6]!;
    let p = q + 40;
    while (nh === NH_HOP || nh === NH_ROUTING || nh === NH_DSTOPTS || nh === NH_FRAGMENT) {
      if (p + 8 > len) return this.drop(Nat64Drop.Truncated);
      const next = pkt[p]!;
      p += nh === NH_FRAGMENT ? 8 : (pkt[p + 1]! + 1) << 3;
      nh = next;
    }
    if (p + 8 > len) return this.drop(Nat64Drop.Truncated);
    let proto: number;
    let innerSport: number;
    let innerDport: number;
    if (nh === 6 || nh === 17) {
      proto = nh;
      innerSport = read16(pkt, p);
      innerDport = read16(pkt, p + 2);
    } else if (nh === 58 && (pkt[p] === 128 || pkt[p] === 129)) {
      proto = 1;
      innerSport = innerDport = read16(pkt, p + 4);
    } else return this.drop(Nat64Drop.UnsupportedProtocol);
    if (!this.pool6.matches(pkt, q + 8)) return this.drop(Nat64Drop.NotOurs);
    // The quoted packet went IPv4 → IPv6: its destination is our IPv6 host.
    const st = this.state;
    const bib = st.findBib6(proto, pkt, q + 24, innerDport);
    if (bib < 0) return this.drop(Nat64Drop.NoState);
    const remote4 = this.pool6.embedded4(pkt, q + 8);
    const v4 = st.bibV4(bib);
    const port4 = st.bibPort4(bib);
    const o = this.mapper.outer4;
    o.setSrc(v4);
    o.setDst(dst4);
    const i = this.mapper.inner4;
    i.setSrc(remote4);
    i.setDst(v4);
    i.sport = proto === 1 ? port4 : innerSport;
    i.dport = port4;
    return this.finish64(pkt, len, dst4);
  }

  private finish64(pkt: Uint8Array, len: number, dst4: number): Verdict {
    if (this.tunTtl) bumpHopLimit6(pkt, 0);
    const v = this.runSiit(pkt, len);
    if (v === Verdict.Translated) {
      this.packets6to4++;
      this.bytes6to4 += len;
      if (this.outSide === Side.Ipv4 && this.state.pool.has(dst4) && this.ownsOutput())
        return this.hairpin(pkt, len);
      if (this.tunTtl) for (let k = 0; k < this.outCount; k++) bumpTtl4(this.outBuf, this.outOffset[k]!);
    }
    return v;
  }

  /** Whether this worker owns the BIB entry of the (IPv4) output, which is about to come back in. */
  private ownsOutput(): boolean {
    const sh = this.share;
    if (sh === null) return true;
    return packetOwner(this.outBuf, this.outOffset[0]!, this.outLength[0]!, sh.count) === sh.index;
  }

  /**
   * Whether a non-first fragment belongs to a datagram whose first fragment
   * this translator saw (and so mapped), for a worker deciding who gets it.
   */
  knowsFragment(pkt: Uint8Array, len: number): boolean {
    if (len < 20) return false;
    if (pkt[0]! >>> 4 === 4) return this.fragments.has(fragKey4(pkt, read32(pkt, 12), read32(pkt, 16)));
    if (len < 48 || !this.pool6.matches(pkt, 24)) return false;
    let nh = pkt[6]!;
    let p = 40;
    while (nh === NH_HOP || nh === NH_ROUTING || nh === NH_DSTOPTS) {
      if (p + 8 > len) return false;
      nh = pkt[p]!;
      p += (pkt[p + 1]! + 1) << 3;
    }
    return (
      nh === NH_FRAGMENT &&
      p + 8 <= len &&
      this.fragments.has(fragKey6(pkt, p, this.pool6.embedded4(pkt, 24)))
    );
  }

  /** RFC 6146 §3.8: the IPv4 destination is one of our pool4 addresses: back in, as incoming IPv4. */
  private hairpin(orig: Uint8Array, origLen: number): Verdict {
    const n = this.outLength[0]!;
    const hb = this.hairBuf;
    hb.set(this.outBuf.subarray(this.outOffset[0]!, this.outOffset[0]! + n), 0);
    // The box counts as one hop: undo the decrement of the first leg.
    if (!this.tunTtl) bumpTtl4(hb, 0);
    const origCopy = orig.subarray(0, origLen);
    const v = this.from4(hb, n, origCopy, origLen);
    if (v === Verdict.IcmpReply && this.outSide === Side.Ipv4) return this.drop(Nat64Drop.Translation);
    return v;
  }

  // ---------------------------------------------------------------- IPv4 → IPv6

  /** `orig` is the IPv6 packet when this is the second leg of a hairpin. */
  private from4(pkt: Uint8Array, len: number, orig: Uint8Array | null, origLen: number): Verdict {
    const ihl = (pkt[0]! & 0x0f) << 2;
    if (ihl < 20 || len < ihl) return this.drop(Nat64Drop.Truncated);
    const dst4 = read32(pkt, 16);
    if (!this.state.pool.has(dst4)) return this.drop(Nat64Drop.NotOurs);
    const proto = pkt[9]!;
    const l4 = ihl;
    const src4 = read32(pkt, 12);
    // RFC 6052 §3.1: a non-global source cannot be written with the Well-Known Prefix: drop (ICMP
    // errors from such routers too, as TAYGA does; a network-specific prefix carries them).
    if (this.pool6.wellKnown && isNonGlobal4(src4)) return this.drop(Nat64Drop.NonGlobalIpv4);
    // No reassembly: the first fragment carries the ports and leaves its mapping for the others.
    const frag = read16(pkt, 6);
    if ((frag & 0x1fff) !== 0) return this.fragment4(pkt, len, src4, dst4);
    if ((frag & 0x2000) !== 0 && (proto === 6 || proto === 17)) {
      const v = this.transport4(pkt, len, proto, src4, dst4, orig, origLen);
      if (v === Verdict.Translated) this.rememberFragment(this.inBib, fragKey4(pkt, src4, dst4));
      return v;
    }
    if (proto === 6 || proto === 17) return this.transport4(pkt, len, proto, src4, dst4, orig, origLen);
    if (proto === 1) {
      if (l4 + 8 > len) return this.drop(Nat64Drop.Truncated);
      const type = pkt[l4]!;
      if (type === 8 || type === 0) {
        const id = read16(pkt, l4 + 4);
        return this.inbound(pkt, len, 1, id, id, src4, dst4, type, orig, origLen);
      }
      if (type === 3 || type === 11 || type === 12) return this.error4to6(pkt, len, l4, src4);
      return this.drop(Nat64Drop.UnsupportedProtocol);
    }
    return this.drop(Nat64Drop.UnsupportedProtocol);
  }

  private inbound(
    pkt: Uint8Array,
    len: number,
    proto: number,
    sport: number,
    dport: number,
    src4: number,
    dst4: number,
    flags: number,
    orig: Uint8Array | null,
    origLen: number,
  ): Verdict {
    const st = this.state;
    const now = this.now;
    const isTcp = proto === 6;
    const syn = isTcp && (flags & (TCP_SYN | TCP_RST)) === TCP_SYN;
    const bib = st.findBib4(proto, dst4, dport);
    if (bib < 0) {
      if (isTcp && syn) {
        // RFC 6146 §3.5.2.2: an unsolicited IPv4 SYN is held TCP_INCOMING_SYN
        // seconds, waiting for the IPv6 SYN of a simultaneous open; then ICMP 3/3.
        const ok = st.storeSyn(sessionKey(6, dst4, dport, src4, sport), {
          pkt: orig ? orig.slice(0, origLen) : pkt.slice(0, len),
          fromV6: orig !== null,
          dst4,
          expires: now + st.timeouts.tcpIncomingSyn * 1000,
        });
        return this.drop(ok ? Nat64Drop.SynHeld : Nat64Drop.SynHoldFull);
      }
      if (proto === 17) {
        // No mapping: port unreachable (from the address it was sent to).
        this.drops[Nat64Drop.NoState]!++;
        this.lastDrop = Nat64Drop.NoState;
        if (orig) return this.error6(orig, origLen, 1, 4, Nat64Drop.NoState);
        return this.error4(pkt, len, pkt.subarray(16, 20), 3, 3);
      }
      return this.drop(Nat64Drop.NoState);
    }
    const rport = proto === 1 ? 0 : sport;
    let s = st.findSession(bib, src4, rport);
    if (s < 0) {
      if (isTcp && !syn) return this.drop(Nat64Drop.NoState);
      if (proto === 1 && flags !== 8) return this.drop(Nat64Drop.NoState);
      // RFC 4787 §5 address-dependent filtering: only hosts the mapping has talked to.
      if (this.adf && !st.hasSessionWith(bib, src4)) return this.drop(Nat64Drop.Filtered);
      s = st.createSession(bib, src4, rport, now);
      if (s < 0) return this.drop(s === CLIENT_LIMIT ? Nat64Drop.ClientSessionLimit : Nat64Drop.SessionLimit);
    }
    if (isTcp) st.tcpPacket(s, false, flags, now);
    else st.touch(s, now);

    const m = this.mapper.outer6;
    this.pool6.embed(pkt, 12, m.src, 0);
    st.writeV6(bib, m.dst, 0);
    const port6 = st.bibPort6(bib);
    m.sport = proto === 1 ? port6 : sport;
    m.dport = port6;
    this.inBib = bib;
    return this.finish46(pkt, len);
  }

  /** ICMPv4 error: the session is the one of the quoted packet (which went IPv6 → IPv4). */
  private error4to6(pkt: Uint8Array, len: number, l4: number, src4: number): Verdict {
    const q = l4 + 8;
    if (q + 20 > len) return this.drop(Nat64Drop.Truncated);
    const ihl = (pkt[q]! & 0x0f) << 2;
    if (ihl < 20 || q + ihl + 8 > len) return this.drop(Nat64Drop.Truncated);
    const ip = pkt[q + 9]!;
    const il4 = q + ihl;
    let proto: number;
    let sport: number;
    let dport: number;
    if (ip === 6 || ip === 17) {
      proto = ip;
      sport = read16(pkt, il4);
      dport = read16(pkt, il4 + 2);
    } else if (ip === 1 && (pkt[il4] === 8 || pkt[il4] === 0)) {
      proto = 1;
      sport = dport = read16(pkt, il4 + 4);
    } else return this.drop(Nat64Drop.UnsupportedProtocol);
    const inSrc4 = read32(pkt, q + 12);
    const st = this.state;
    const bib = st.findBib4(proto, inSrc4, sport);
    if (bib < 0) return this.drop(Nat64Drop.NoState);
    const port6 = st.bibPort6(bib);
    const m = this.mapper.outer6;
    st.writeV6(bib, m.dst, 0);
    // Jool's source-icmpv6-errors-better: the router that sent the error, not the inner destination.
    if (this.better) this.pool6.embed(pkt, 12, m.src, 0);
    else this.pool6.embed(pkt, q + 16, m.src, 0);
    void src4;
    const i = this.mapper.inner6;
    st.writeV6(bib, i.src, 0);
    i.sport = port6;
    this.pool6.embed(pkt, q + 16, i.dst, 0);
    i.dport = proto === 1 ? port6 : dport;
    return this.finish46(pkt, len);
  }

  private finish46(pkt: Uint8Array, len: number): Verdict {
    if (this.tunTtl) bumpTtl4(pkt, 0);
    const v = this.runSiit(pkt, len);
    if (v === Verdict.Translated) {
      this.packets4to6++;
      this.bytes4to6 += len;
      if (this.tunTtl) for (let k = 0; k < this.outCount; k++) bumpHopLimit6(this.outBuf, this.outOffset[k]!);
    }
    return v;
  }

  // ---------------------------------------------------------------- fragments

  /** TCP or UDP from IPv4: a whole packet, or a first fragment (translated as usual). */
  private transport4(
    pkt: Uint8Array,
    len: number,
    proto: number,
    src4: number,
    dst4: number,
    orig: Uint8Array | null,
    origLen: number,
  ): Verdict {
    const l4 = (pkt[0]! & 0x0f) << 2;
    if (l4 + (proto === 6 ? 14 : 8) > len) return this.drop(Nat64Drop.Truncated);
    const flags = proto === 6 ? pkt[l4 + 13]! : 0;
    return this.inbound(
      pkt,
      len,
      proto,
      read16(pkt, l4),
      read16(pkt, l4 + 2),
      src4,
      dst4,
      flags,
      orig,
      origLen,
    );
  }

  /** The mapping the first fragment used, for the fragments that follow it (a few seconds). */
  private rememberFragment(bib: number, key: string): void {
    if (bib < 0) return;
    const f = this.fragments;
    if (f.size >= MAX_FRAGMENT_FLOWS) {
      const oldest = f.keys().next().value;
      if (oldest !== undefined) f.delete(oldest);
    }
    const st = this.state;
    const a = this.tmp16;
    st.writeV6(bib, a, 0);
    f.set(key, {
      v4: st.bibV4(bib),
      w0: read32(a, 0),
      w1: read32(a, 4),
      w2: read32(a, 8),
      w3: read32(a, 12),
      expires: this.now + FRAGMENT_FLOW_MS,
    });
  }

  private fragment6(pkt: Uint8Array, len: number, fh: number): Verdict {
    const dst4 = this.pool6.embedded4(pkt, 24);
    const e = this.fragments.get(fragKey6(pkt, fh, dst4));
    if (!e || e.expires < this.now) return this.drop(Nat64Drop.Fragment);
    const m = this.mapper.outer4;
    m.setSrc(e.v4);
    m.setDst(dst4);
    return this.finish64(pkt, len, dst4);
  }

  private fragment4(pkt: Uint8Array, len: number, src4: number, dst4: number): Verdict {
    const e = this.fragments.get(fragKey4(pkt, src4, dst4));
    if (!e || e.expires < this.now) return this.drop(Nat64Drop.Fragment);
    const m = this.mapper.outer6;
    this.pool6.embed(pkt, 12, m.src, 0);
    write32(m.dst, 0, e.w0);
    write32(m.dst, 4, e.w1);
    write32(m.dst, 8, e.w2);
    write32(m.dst, 12, e.w3);
    return this.finish46(pkt, len);
  }

  // ---------------------------------------------------------------- timers

  /**
   * Expires sessions and BIB entries (RFC 6146 §3.5) and answers the IPv4
   * SYNs held longer than TCP_INCOMING_SYN with ICMP port unreachable.
   * Returns the packets to send, with their side.
   */
  tick(now: number): { side: number; pkt: Uint8Array }[] {
    const out: { side: number; pkt: Uint8Array }[] = [];
    for (const [k, f] of this.fragments) if (f.expires < now) this.fragments.delete(k);
    for (const syn of this.state.expire(now)) {
      if (!this.icmpRate.take(now)) continue;
      const p = syn.pkt;
      if (syn.fromV6) {
        if (this.errorSource6 === null) continue;
        const n = buildIcmp6Error(
          this.errorSource6,
          1,
          4,
          0,
          p,
          0,
          Math.min(p.length, 40 + read16(p, 4)),
          this.errBuf,
          0,
        );
        out.push({ side: Side.Ipv6, pkt: this.errBuf.slice(0, n) });
      } else {
        const a = new Uint8Array([
          syn.dst4 >>> 24,
          (syn.dst4 >>> 16) & 0xff,
          (syn.dst4 >>> 8) & 0xff,
          syn.dst4 & 0xff,
        ]);
        const n = buildIcmp4Error(a, 3, 3, 0, p, 0, Math.min(p.length, read16(p, 2)), this.errBuf, 0);
        out.push({ side: Side.Ipv4, pkt: this.errBuf.slice(0, n) });
      }
      this.icmpErrorsSent++;
    }
    return out;
  }

  /** The non-zero drop counters by name, the NAT64's own and the SIIT core's (see drops.ts). */
  dropCounts(): Record<string, number> {
    const all = namedDrops([...this.drops, ...this.siit.dropCounters]);
    return Object.fromEntries(Object.entries(all).filter(([, n]) => n > 0));
  }
}

const MAX_FRAGMENT_FLOWS = 4096;
const FRAGMENT_FLOW_MS = 5000;

/** IPv6 fragment identity: source, destination (its IPv4 image), identification. */
function fragKey6(pkt: Uint8Array, fh: number, dst4: number): string {
  return String.fromCharCode(
    6,
    (pkt[8]! << 8) | pkt[9]!,
    (pkt[10]! << 8) | pkt[11]!,
    (pkt[12]! << 8) | pkt[13]!,
    (pkt[14]! << 8) | pkt[15]!,
    (pkt[16]! << 8) | pkt[17]!,
    (pkt[18]! << 8) | pkt[19]!,
    (pkt[20]! << 8) | pkt[21]!,
    (pkt[22]! << 8) | pkt[23]!,
    dst4 >>> 16,
    dst4 & 0xffff,
    (pkt[fh + 4]! << 8) | pkt[fh + 5]!,
    (pkt[fh + 6]! << 8) | pkt[fh + 7]!,
  );
}

/** IPv4 fragment identity (RFC 791): source, destination, protocol, identification. */
function fragKey4(pkt: Uint8Array, src4: number, dst4: number): string {
  return String.fromCharCode(
    4,
    src4 >>> 16,
    src4 & 0xffff,
    dst4 >>> 16,
    dst4 & 0xffff,
    pkt[9]!,
    (pkt[4]! << 8) | pkt[5]!,
  );
}

/** TTL + 1 (capped at 255) with the RFC 1624 header checksum update. */
export function bumpTtl4(b: Uint8Array, o: number): void {
  const ttl = b[o + 8]!;
  if (ttl >= 255) return;
  b[o + 8] = ttl + 1;
  // The TTL is the high byte of the 16-bit word at offset 8: that word grows by 0x0100.
  const word = (ttl << 8) | b[o + 9]!;
  write16(b, o + 10, adjust(read16(b, o + 10), word, word + 0x0100));
}

/** Hop limit + 1 (capped at 255) of the IPv6 header at b[o]; IPv6 has no header checksum. */
export function bumpHopLimit6(b: Uint8Array, o: number): void {
  if (b[o + 7]! < 255) b[o + 7] = b[o + 7]! + 1;
}

export type { BibEntry, ClientLimits, Nat64Timeouts, Pool4Range, StaticBib };
