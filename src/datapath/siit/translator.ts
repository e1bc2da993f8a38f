/**
 * The SIIT translator (RFC 7915 + RFC 6052 + RFC 7757 + RFC 6791): one
 * instance per configuration, owning preallocated output space. `translate()`
 * works on a packet in place-free, allocation-free fashion and reports the
 * outputs as (offset, length) pairs into `buf`.
 */
import { type AddressMapper, SiitAddressMapper } from "./addr/mapper.ts";
import { copyBytes } from "./bytes.ts";
import { completeChecksum } from "./checksum.ts";
import { type CompiledSiitConfig, compileSiitConfig, type SiitConfig } from "./config.ts";
import { FAIL_DROP, FAIL_ICMP, XlatContext } from "./context.ts";
import { fast46, fast64, NOT_FAST } from "./fastpath.ts";
import { fragment4, fragment6 } from "./fragment.ts";
import { buildIcmp4Error, buildIcmp6Error } from "./icmpErrors.ts";
import { IcmpRateLimit } from "./icmpRate.ts";
import { TranslatorProbe } from "./probe.ts";
import { DROP_REASON_COUNT, DropReason, Verdict } from "./result.ts";
import { translate46 } from "./translate46.ts";
import { translate64 } from "./translate64.ts";
import * as V4 from "./wire/ipv4.ts";
import * as V6 from "./wire/ipv6.ts";
import { LITTLE_ENDIAN } from "./words.ts";

/** Which side a packet is for. */
export const Side = { Ipv4: 4, Ipv6: 6 } as const;
export type Side = (typeof Side)[keyof typeof Side];

const REGION = 0x11000; // > 65535 + headers
/**
 * The input is copied here (or read here directly through `inputBuffer`), so
 * copies are memmoves. The HEADROOM bytes before it, and before MAIN, are
 * never written by the translator: a caller may put a per-packet prefix
 * there (a TUN device's virtio_net_hdr) and read or write prefix and packet
 * in one system call.
 */
const HEADROOM = 16;
const IN = HEADROOM;
const MAIN = REGION;
const SCRATCH = 2 * REGION;
const FRAGS = 3 * REGION;
const MAX_OUTPUTS = 64; // 65535 B at 1280 B per fragment needs 54
const BUF_SIZE = 4 * REGION + MAX_OUTPUTS * 64;
/** Largest packet accepted (IPv4 total length / IPv6 without jumbograms). */
const MAX_PACKET = 65535 + 40;

export interface TranslatorOptions {
  /** Address mapping step; default: SIIT (EAMT, then pool6). A NAT64 supplies its own. */
  mapper?: AddressMapper;
  /** IPv4 Identification for unfragmented 6→4 packets without DF. Default: a counter. */
  nextIpv4Id?: () => number;
  /** The rate limit of the ICMP errors it originates (RFC 4443 §2.4 f); a NAT64 shares its own. */
  icmpRate?: IcmpRateLimit;
  /** The clock the rate limit reads (ms); default Date.now. */
  clock?: () => number;
}

export class SiitTranslator {
  readonly cfg: CompiledSiitConfig;
  readonly ctx: XlatContext;
  /** Output space; outputs are buf[outOffset[i], outOffset[i] + outLength[i]). */
  readonly buf = new Uint8Array(BUF_SIZE);
  /** Native 32-bit words over buf (every header the translator handles sits 4-aligned in it). */
  private readonly w = new Uint32Array(this.buf.buffer);
  /**
   * Where a caller may read a packet directly (e.g. from a TUN device) before
   * calling {@link translateInput}: saves the one copy `translate()` makes.
   */
  readonly inputBuffer: Uint8Array = this.buf.subarray(IN, IN + MAX_PACKET);
  /** HEADROOM bytes then {@link inputBuffer}: read a prefixed packet here (prefix of up to HEADROOM bytes). */
  readonly inputWithHeadroom: Uint8Array = this.buf.subarray(0, IN + MAX_PACKET);
  /** HEADROOM bytes then the main output (where a single output lands): write a prefixed packet from here. */
  readonly outputWithHeadroom: Uint8Array = this.buf.subarray(MAIN - HEADROOM);
  static readonly HEADROOM = HEADROOM;
  readonly outOffset = new Int32Array(MAX_OUTPUTS);
  readonly outLength = new Int32Array(MAX_OUTPUTS);
  outCount = 0;
  /** Side the outputs of the last call go to. */
  outSide: Side = Side.Ipv4;
  /** Drop reason of the last call (also set, for information, when an ICMP error was sent). */
  lastReason: number = DropReason.None;
  /** Packets per drop reason (index = DropReason). */
  readonly dropCounters = new Float64Array(DROP_REASON_COUNT);
  translatedCount = 0;
  icmpErrorsSent = 0;
  /** RFC 4443 §2.4 (f): the token bucket every error this translator originates takes from. */
  readonly icmpRate: IcmpRateLimit;
  private readonly clock: () => number;
  private selfTest: TranslatorProbe | null = null;

  /** @param config user configuration (validated here: throws on bad configuration, never on packets) */
  constructor(config: SiitConfig, opts: TranslatorOptions = {}) {
    this.cfg = compileSiitConfig(config);
    let id = 0;
    const nextId = opts.nextIpv4Id ?? (() => (id = (id + 1) & 0xffff));
    const mapper =
      opts.mapper ??
      new SiitAddressMapper(this.cfg.pool6, this.cfg.eamt, this.cfg.hairpinMode === "intrinsic");
    this.ctx = new XlatContext(this.cfg, mapper, nextId);
    this.icmpRate = opts.icmpRate ?? new IcmpRateLimit();
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * Translates one packet (IPv4 or IPv6, told by its version nibble).
   * Never throws; never allocates.
   */
  translate(pkt: Uint8Array, len: number = pkt.length): Verdict {
    this.outCount = 0;
    this.lastReason = DropReason.None;
    if (len <= 0 || len > pkt.length) return this.fail(DropReason.Truncated);
    if (len > MAX_PACKET) return this.fail(DropReason.BadTotalLength);
    if (pkt !== this.inputBuffer) copyBytes(pkt, 0, this.buf, IN, len);
    return this.translateInput(len);
  }

  /** Translates the `len` bytes a caller wrote into {@link inputBuffer}. */
  translateInput(len: number): Verdict {
    this.outCount = 0;
    this.lastReason = DropReason.None;
    if (len <= 0 || len > MAX_PACKET) return this.fail(DropReason.Truncated);
    const v = this.buf[IN]! >>> 4;
    if (v === 6) return this.from6(this.buf, len);
    if (v === 4) return this.from4(this.buf, len);
    return this.fail(DropReason.BadVersion);
  }

  /**
   * The self-test of probe.ts through this translator's own code and configuration, off the live
   * buffers and counters: null when it passed, else what failed. `fault` (tests only) breaks it.
   */
  probe(fault = false): string | null {
    this.selfTest ??= new TranslatorProbe();
    return this.selfTest.run(this.ctx, fault);
  }

  /** Whether the HEADROOM bytes before buf[off] are free to write a prefix into (the main output). */
  hasHeadroom(off: number): boolean {
    return off === MAIN;
  }

  /**
   * The fast path declined the packet: a super-packet cannot take the general
   * path (it is refused, counted, and the caller segments it), and a partial
   * checksum is completed so that the general path sees an ordinary packet.
   */
  private offloadFallback(pkt: Uint8Array, len: number): boolean {
    const ctx = this.ctx;
    if (ctx.gsoSize > 0) return false;
    if (ctx.csumPartial) {
      ctx.csumPartial = false;
      // The sum ends where the IP header says the packet ends (RFC 791 Total Length, RFC 8200
      // Payload Length), not at bytes passed beyond it: the kernel trims an skb to its IP length
      // before the checksum is completed, and the fast path ignores such bytes too.
      const declared =
        pkt[IN]! >>> 4 === 6 ? 40 + ((pkt[IN + 4]! << 8) | pkt[IN + 5]!) : (pkt[IN + 2]! << 8) | pkt[IN + 3]!;
      completeChecksum(pkt, IN, Math.min(declared, len), ctx.csumStart, ctx.csumOffset);
    }
    return true;
  }

  /** Copies of the outputs of the last call (allocates; for tests and tools). */
  outputs(): Uint8Array[] {
    const r: Uint8Array[] = [];
    for (let i = 0; i < this.outCount; i++)
      r.push(this.buf.slice(this.outOffset[i]!, this.outOffset[i]! + this.outLength[i]!));
    return r;
  }

  private fail(reason: number): Verdict {
    this.lastReason = reason;
    this.dropCounters[reason]!++;
    return Verdict.Drop;
  }

  private emit1(side: Side, off: number, len: number): Verdict {
    this.outSide = side;
    this.outOffset[0] = off;
    this.outLength[0] = len;
    this.outCount = 1;
    this.translatedCount++;
    return Verdict.Translated;
  }

  private from6(pkt: Uint8Array, len: number): Verdict {
    const ctx = this.ctx;
    let n = LITTLE_ENDIAN ? fast64(ctx, pkt, this.w, IN, len, MAIN) : NOT_FAST;
    if (n === NOT_FAST) {
      if (!this.offloadFallback(pkt, len)) return this.fail(DropReason.Offload);
      ctx.flow.reset();
      n = translate64(ctx, pkt, IN, len, this.buf, MAIN, false);
    }
    if (n === FAIL_DROP) return this.fail(ctx.reason);
    if (n === FAIL_ICMP) return this.reply6(pkt, len);
    if (ctx.mapper.isHairpin4(this.buf, MAIN + V4.OFF_DST)) {
      // RFC 7757 Appendix B: the IPv4 destination is one of ours: translate back.
      // (The general path below takes neither super-packets nor partial checksums.)
      if (ctx.gsoSize > 0) return this.fail(DropReason.Offload);
      if (ctx.csumPartial) {
        ctx.csumPartial = false;
        completeChecksum(this.buf, MAIN, n, ctx.csumStart, ctx.csumOffset);
      }
      this.buf.copyWithin(SCRATCH, MAIN, MAIN + n);
      ctx.flow.reset();
      const m = translate46(ctx, this.buf, SCRATCH, n, this.buf, MAIN, false, true);
      if (m === FAIL_DROP) return this.fail(ctx.reason);
      if (m === FAIL_ICMP) return this.fail(DropReason.HairpinError);
      if (ctx.fragmentTo > 0) return this.fragmentOut(m);
      return this.emit1(Side.Ipv6, MAIN, m);
    }
    if (ctx.fragmentTo4 > 0) {
      const k = fragment4(
        this.buf,
        MAIN,
        n,
        ctx.fragmentTo4,
        this.buf,
        FRAGS,
        this.outOffset,
        this.outLength,
        MAX_OUTPUTS,
      );
      if (k < 0) return this.fail(DropReason.PacketTooBig);
      this.outSide = Side.Ipv4;
      this.outCount = k;
      this.translatedCount++;
      return Verdict.Translated;
    }
    return this.emit1(Side.Ipv4, MAIN, n);
  }

  private from4(pkt: Uint8Array, len: number): Verdict {
    const ctx = this.ctx;
    let n = LITTLE_ENDIAN ? fast46(ctx, pkt, this.w, IN, len, MAIN) : NOT_FAST;
    if (n === NOT_FAST) {
      if (!this.offloadFallback(pkt, len)) return this.fail(DropReason.Offload);
      ctx.flow.reset();
      n = translate46(ctx, pkt, IN, len, this.buf, MAIN, false, false);
    }
    if (n === FAIL_DROP) return this.fail(ctx.reason);
    if (n === FAIL_ICMP) return this.reply4(pkt, len);
    if (ctx.fragmentTo > 0) return this.fragmentOut(n);
    return this.emit1(Side.Ipv6, MAIN, n);
  }

  private fragmentOut(n: number): Verdict {
    const k = fragment6(
      this.buf,
      MAIN,
      n,
      this.ctx.fragmentTo,
      this.buf,
      FRAGS,
      this.outOffset,
      this.outLength,
      MAX_OUTPUTS,
    );
    if (k < 0) return this.fail(DropReason.PacketTooBig);
    this.outSide = Side.Ipv6;
    this.outCount = k;
    this.translatedCount++;
    return Verdict.Translated;
  }

  /** Sends ctx.err* back to an IPv6 sender (RFC 4443 §2.4(e): never about an ICMP error). */
  private reply6(pkt: Uint8Array, len: number): Verdict {
    const ctx = this.ctx;
    const reason = ctx.reason;
    const own = this.cfg.errorSource6;
    if (ctx.flow.icmpError || own === null) return this.fail(reason);
    const ilen = Math.min(len, V6.IPV6_HDR_LEN + ((pkt[IN + 4]! << 8) | pkt[IN + 5]!));
    const l = buildIcmp6Error(own, ctx.errType, ctx.errCode, ctx.errRest, pkt, IN, ilen, this.buf, MAIN);
    return this.replied(Side.Ipv6, l, reason);
  }

  /** Sends ctx.err* back to an IPv4 sender (RFC 1812 §4.3.2.7: not about errors or non-first fragments). */
  private reply4(pkt: Uint8Array, len: number): Verdict {
    const ctx = this.ctx;
    const reason = ctx.reason;
    const own = this.cfg.errorSource4;
    const fragOffset = ((pkt[IN + V4.OFF_FRAG]! << 8) | pkt[IN + V4.OFF_FRAG + 1]!) & V4.FRAG_OFFSET_MASK;
    if (ctx.flow.icmpError || own === null || fragOffset !== 0) return this.fail(reason);
    const ilen = Math.min(len, (pkt[IN + 2]! << 8) | pkt[IN + 3]!);
    const l = buildIcmp4Error(own, ctx.errType, ctx.errCode, ctx.errRest, pkt, IN, ilen, this.buf, MAIN);
    return this.replied(Side.Ipv4, l, reason);
  }

  private replied(side: Side, l: number, reason: number): Verdict {
    // RFC 4443 §2.4 (f): over the rate, the packet is only dropped (the bucket counts it).
    if (!this.icmpRate.take(this.clock())) return this.fail(reason);
    this.lastReason = reason;
    this.dropCounters[reason]!++;
    this.icmpErrorsSent++;
    this.outSide = side;
    this.outOffset[0] = MAIN;
    this.outLength[0] = l;
    this.outCount = 1;
    return Verdict.IcmpReply;
  }
}
