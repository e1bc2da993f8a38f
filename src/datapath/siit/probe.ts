/**
 * The translator's self-test: a synthetic UDP datagram taken through the live
 * translator's own header and checksum code (RFC 7915 §5.1 and §5.5 on the way
 * to IPv4, §4.1 and §4.5 on the way back), with the live context: its compiled
 * configuration (MTUs, traffic class), its fast path and its general path. A
 * packet worker runs it once a second between packets and reports the outcome
 * with its heartbeat (tun/loop.ts); a failure makes the gateway unhealthy and
 * the RA and DNS64 that send clients to it stand down (agent/fatesharing.ts).
 *
 * What it proves: this worker's translator still turns a valid IPv6 packet
 * into a valid IPv4 one (header checksum, transport checksum over the new
 * pseudo-header, ports rewritten, payload intact) and back into the very
 * packet it started from, on the fast and the general path both ways.
 *
 * What it does not prove: the address mapping of live traffic (it maps with
 * its own fixed tuple, as a NAT64 session would), the NAT64's state (BIB and
 * session creation, pool4 ports: refusals there are counted drops by reason),
 * nor the TUN device's I/O: the loop turning (the heartbeat itself) covers
 * reads; failed writes are counted in writeErrors, and the worker's owner
 * judges those (services/nat64/workers.ts).
 *
 * It touches no live state: its own buffer, its own mapper and IPv4
 * Identification, no counter, no rate-limit token; the context's per-packet
 * fields it borrows are put back. Allocation-free unless it fails.
 */
import { type AddressMapper, type Flow, MAP_OK } from "./addr/mapper.ts";
import { fold16, read16, sum16 } from "./checksum.ts";
import type { XlatContext } from "./context.ts";
import { fast46, fast64, NOT_FAST } from "./fastpath.ts";
import { dropReasonName } from "./result.ts";
import { translate46 } from "./translate46.ts";
import { translate64 } from "./translate64.ts";

// Documentation addresses (RFC 3849, RFC 5737): never on the wire, the probe never leaves the worker.
const SRC6 = [0x2001, 0x0db8, 0xffff, 0, 0, 0, 0, 0x0001];
const DST6 = [0x2001, 0x0db8, 0xffff, 0, 0, 0, 0, 0x0002];
const SRC4 = [192, 0, 2, 1];
const DST4 = [198, 51, 100, 1];
const SPORT6 = 40001;
const DPORT6 = 40002;
/** The ports on the IPv4 side differ, so that the port rewrite and its checksum update run too. */
const SPORT4 = 50001;
const DPORT4 = 50002;
const HOP_LIMIT = 64;
const PAYLOAD = 24;
const LEN6 = 40 + 8 + PAYLOAD;
const LEN4 = 20 + 8 + PAYLOAD;
// Regions of the probe's own buffer (4-aligned, as the fast path's word view needs).
const ORIG = 0;
const IN = 128;
const MID = 256;
const BACK = 384;
const BYTES = 512;

/** The probe's fixed tuple, written as a NAT64 session's would be (see nat64/mapper.ts). */
class ProbeMapper implements AddressMapper {
  /** Test hook: map the way back to a wrong port, as a broken translator would. */
  fault = false;

  map6to4(
    _i: Uint8Array,
    _s: number,
    _d: number,
    out: Uint8Array,
    src4: number,
    dst4: number,
    flow: Flow,
  ): number {
    for (let k = 0; k < 4; k++) {
      out[src4 + k] = SRC4[k]!;
      out[dst4 + k] = DST4[k]!;
    }
    flow.srcPort = SPORT4;
    flow.dstPort = DPORT4;
    return MAP_OK;
  }

  map4to6(
    _i: Uint8Array,
    _s: number,
    _d: number,
    out: Uint8Array,
    src6: number,
    dst6: number,
    flow: Flow,
  ): number {
    write6(out, src6, SRC6);
    write6(out, dst6, DST6);
    flow.srcPort = this.fault ? SPORT6 + 1 : SPORT6;
    flow.dstPort = DPORT6;
    return MAP_OK;
  }

  isHairpin4(): boolean {
    return false;
  }
}

function write6(b: Uint8Array, o: number, groups: readonly number[]): void {
  for (let k = 0; k < 8; k++) {
    b[o + 2 * k] = groups[k]! >>> 8;
    b[o + 2 * k + 1] = groups[k]! & 0xff;
  }
}

/** Whether b[o, o+4) is the address a. */
function is4(b: Uint8Array, o: number, a: readonly number[]): boolean {
  return b[o] === a[0] && b[o + 1] === a[1] && b[o + 2] === a[2] && b[o + 3] === a[3];
}

/** What a translation function's result says, when it is not a length. */
function refused(ctx: XlatContext, n: number): string | null {
  if (n === NOT_FAST) return "the fast path declined a plain UDP datagram";
  if (n < 0) return `refused (${dropReasonName[ctx.reason] ?? ctx.reason})`;
  return null;
}

export class TranslatorProbe {
  private readonly b = new Uint8Array(BYTES);
  private readonly w = new Uint32Array(this.b.buffer);
  private readonly mapper = new ProbeMapper();
  private readonly probeId = () => 0x5eed;

  constructor() {
    // The IPv6/UDP datagram the probe starts from, with a correct checksum (RFC 8200 §8.1).
    const b = this.b;
    b[ORIG] = 0x60;
    b[ORIG + 5] = 8 + PAYLOAD;
    b[ORIG + 6] = 17;
    b[ORIG + 7] = HOP_LIMIT;
    write6(b, ORIG + 8, SRC6);
    write6(b, ORIG + 24, DST6);
    const u = ORIG + 40;
    b[u] = SPORT6 >>> 8;
    b[u + 1] = SPORT6 & 0xff;
    b[u + 2] = DPORT6 >>> 8;
    b[u + 3] = DPORT6 & 0xff;
    b[u + 5] = 8 + PAYLOAD;
    for (let i = 0; i < PAYLOAD; i++) b[u + 8 + i] = 0xa0 + i;
    const c = ~fold16(sum16(b, ORIG + 8, 32, 0) + 8 + PAYLOAD + 17 + sum16(b, u, 8 + PAYLOAD, 0)) & 0xffff;
    b[u + 6] = c >>> 8;
    b[u + 7] = c & 0xff;
  }

  /**
   * Two round trips through `ctx`'s translation code: IPv6 → IPv4 on the fast path and back on the
   * general path, then the other way round. Null when both came back as they left; otherwise what
   * went wrong. `fault` (tests only) breaks the way back. Never throws.
   */
  run(ctx: XlatContext, fault = false): string | null {
    // The context's per-packet fields the caller set (offload, tun/loop.ts) and its live mapping.
    const mapper = ctx.mapper;
    const nextId = ctx.nextIpv4Id;
    const partial = ctx.csumPartial;
    const start = ctx.csumStart;
    const offset = ctx.csumOffset;
    const gso = ctx.gsoSize;
    ctx.mapper = this.mapper;
    ctx.nextIpv4Id = this.probeId;
    ctx.csumPartial = false;
    ctx.gsoSize = 0;
    this.mapper.fault = fault;
    try {
      return this.roundTrip(ctx, true) ?? this.roundTrip(ctx, false);
    } catch (e) {
      return `the translator threw: ${(e as Error).message}`;
    } finally {
      ctx.mapper = mapper;
      ctx.nextIpv4Id = nextId;
      ctx.csumPartial = partial;
      ctx.csumStart = start;
      ctx.csumOffset = offset;
      ctx.gsoSize = gso;
    }
  }

  /** IPv6 → IPv4 (fast path if `fastOut`, else general) and back the other way; checks both results. */
  private roundTrip(ctx: XlatContext, fastOut: boolean): string | null {
    const b = this.b;
    b.copyWithin(IN, ORIG, ORIG + LEN6);
    const out = fastOut ? "6→4 (fast path)" : "6→4 (general path)";
    if (!fastOut) ctx.flow.reset();
    const n = fastOut ? fast64(ctx, b, this.w, IN, LEN6, MID) : translate64(ctx, b, IN, LEN6, b, MID, false);
    const bad4 = refused(ctx, n) ?? this.checkIpv4(n);
    if (bad4) return `${out}: ${bad4}`;
    const back = fastOut ? "4→6 (general path)" : "4→6 (fast path)";
    if (fastOut) ctx.flow.reset();
    const m = fastOut
      ? translate46(ctx, b, MID, n, b, BACK, false, false)
      : fast46(ctx, b, this.w, MID, n, BACK);
    const bad6 = refused(ctx, m) ?? this.checkIpv6(m);
    return bad6 ? `${back}: ${bad6}` : null;
  }

  /** The IPv4 datagram at MID: RFC 7915 §5.1 header, §5.5 checksum, the probe's tuple, the payload. */
  private checkIpv4(n: number): string | null {
    const b = this.b;
    if (n !== LEN4 || read16(b, MID + 2) !== LEN4) return `length ${n}, expected ${LEN4}`;
    if (b[MID] !== 0x45 || b[MID + 9] !== 17) return "not an IPv4 UDP header";
    if (b[MID + 8] !== HOP_LIMIT - 1) return `TTL ${b[MID + 8]}, expected ${HOP_LIMIT - 1}`;
    if (fold16(sum16(b, MID, 20, 0)) !== 0xffff) return "bad IPv4 header checksum";
    if (!is4(b, MID + 12, SRC4) || !is4(b, MID + 16, DST4)) return "wrong addresses";
    const u = MID + 20;
    if (read16(b, u) !== SPORT4 || read16(b, u + 2) !== DPORT4) return "wrong ports";
    // RFC 768: the sum over the pseudo-header and the datagram, checksum included, is all ones.
    if (fold16(sum16(b, MID + 12, 8, 0) + 17 + (8 + PAYLOAD) + sum16(b, u, 8 + PAYLOAD, 0)) !== 0xffff)
      return "bad UDP checksum";
    for (let i = 0; i < PAYLOAD; i++) if (b[u + 8 + i] !== b[ORIG + 48 + i]) return "payload changed";
    return null;
  }

  /** The IPv6 datagram at BACK: the original, byte for byte, one hop limit lower per translation. */
  private checkIpv6(n: number): string | null {
    const b = this.b;
    if (n !== LEN6) return `length ${n}, expected ${LEN6}`;
    if (b[BACK + 7] !== HOP_LIMIT - 2) return `hop limit ${b[BACK + 7]}, expected ${HOP_LIMIT - 2}`;
    for (let i = 0; i < LEN6; i++)
      if (i !== 7 && b[BACK + i] !== b[ORIG + i]) return `not the datagram it started from (byte ${i})`;
    return null;
  }
}
