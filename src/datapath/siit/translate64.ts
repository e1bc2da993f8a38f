/**
 * IPv6 → IPv4 (RFC 7915 §5): header translation (§5.1, §5.1.1 fragments),
 * ICMPv6 → ICMPv4 (§5.2), ICMP error inner packets (§5.3), checksums (§5.5).
 *
 * Pure function of (context config, input bytes) writing into a caller-owned
 * output buffer; no allocation, no exceptions.
 */
import { MAP_OK, MAP_SRC_FAIL } from "./addr/mapper.ts";
import { rfc6791Source } from "./addr/rfc6791.ts";
import { copyBytes } from "./bytes.ts";
import { finish, pseudoSum6, read16, read32, sum16, write16, write32 } from "./checksum.ts";
import { FAIL_DROP, type XlatContext } from "./context.ts";
import { icmp6ErrorTo4, pointer6to4 } from "./icmpTables.ts";
import { DropReason } from "./result.ts";
import { ExtensionLayout, layoutIcmpExtension, originalDatagramLength } from "./rfc4884.ts";
import { rewriteEcho, rewriteTcpUdp, writePorts } from "./transport.ts";
import * as I from "./wire/icmp.ts";
import * as V4 from "./wire/ipv4.ts";
import * as V6 from "./wire/ipv6.ts";

const extLayout = new ExtensionLayout();

/** RFC 7915 §5.1: above this IPv4 size DF is set when the IPv6 packet had no Fragment header. */
const DF_THRESHOLD = 1260;

/**
 * Translates the IPv6 packet at inp[io, io+ilen) into out[oo...].
 *
 * @param inner the packet is the one quoted inside an ICMPv6 error (may be
 *              truncated; hop limit kept, RFC 7915 §5.3)
 * @returns the number of bytes written, FAIL_DROP or FAIL_ICMP (see ctx)
 */
export function translate64(
  ctx: XlatContext,
  inp: Uint8Array,
  io: number,
  ilen: number,
  out: Uint8Array,
  oo: number,
  inner: boolean,
): number {
  const cfg = ctx.cfg;
  if (!inner) ctx.fragmentTo4 = 0;
  const bad = inner ? DropReason.BadInnerPacket : DropReason.Truncated;
  if (ilen < V6.IPV6_HDR_LEN) return ctx.drop(bad);
  if (inp[io]! >>> 4 !== 6) return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.BadVersion);
  const payloadLen = read16(inp, io + V6.OFF_PAYLOAD_LEN);
  let end: number;
  if (!inner) {
    // Payload length 0 would be a jumbogram (RFC 2675): not translatable to IPv4.
    if (
      V6.IPV6_HDR_LEN + payloadLen > ilen ||
      (payloadLen === 0 && inp[io + V6.OFF_NEXT_HDR] === V6.NH_HOP_BY_HOP)
    ) {
      return ctx.drop(DropReason.BadTotalLength);
    }
    end = io + V6.IPV6_HDR_LEN + payloadLen;
  } else {
    // A quoted packet is whatever the ICMP error carries (possibly truncated,
    // possibly followed by RFC 4884 padding): all of it is carried over.
    end = io + ilen;
  }

  // Walk the extension headers (RFC 7915 §5.1: HbH, Destination Options and
  // Routing headers with Segments Left 0 are skipped; Fragment header is translated).
  let nh = inp[io + V6.OFF_NEXT_HDR]!;
  let p = io + V6.IPV6_HDR_LEN;
  let fragHdr = -1;
  while (V6.isExtensionHeader(nh)) {
    if (fragHdr >= 0) {
      // An extension header after the Fragment header cannot be translated into
      // IPv4 fields; like Jool, refuse it with ICMPv6 1/1 (administratively prohibited).
      if (inner) return ctx.drop(DropReason.BadInnerPacket);
      return ctx.icmp(
        DropReason.ExtensionAfterFragment,
        I.ICMP6_DEST_UNREACH,
        I.ICMP6_CODE_ADMIN_PROHIBITED,
        0,
      );
    }
    if (p + 8 > end) return ctx.drop(bad);
    if (nh === V6.NH_FRAGMENT) {
      fragHdr = p;
      nh = inp[p]!;
      p += V6.FRAG_HDR_LEN;
      continue;
    }
    if (nh === V6.NH_ROUTING && inp[p + 3] !== 0 && !inner) {
      // RFC 7915 §5.1: Routing header with Segments Left != 0 → Parameter
      // Problem 4/0 pointing at the Segments Left field.
      return ctx.icmp(
        DropReason.UnexpiredRoutingHeader,
        I.ICMP6_PARAM_PROBLEM,
        I.ICMP6_CODE_HDR_FIELD,
        p - io + 3,
      );
    }
    const hl = (inp[p + 1]! + 1) << 3;
    nh = inp[p]!;
    p += hl;
  }
  if (p > end) return ctx.drop(bad);
  const l4 = p;
  const l4len = end - l4;
  const proto = nh;
  let fragOffset = 0;
  let more = false;
  if (fragHdr >= 0) {
    const f = read16(inp, fragHdr + 2);
    fragOffset = f & V6.FRAG_OFFSET_MASK;
    more = (f & V6.FRAG_M) !== 0;
  }
  const isFrag = fragHdr >= 0;
  const firstFrag = fragOffset === 0;
  const hopLimit = inp[io + V6.OFF_HOP_LIMIT]!;

  const flow = ctx.flow;
  flow.reset();
  flow.inner = inner;
  flow.proto = proto;
  let icmpType = -1;
  let icmpError = false;
  if (firstFrag) {
    if ((proto === V6.NH_TCP || proto === V6.NH_UDP) && l4len >= 4) {
      flow.hasPorts = true;
      flow.srcPort = read16(inp, l4);
      flow.dstPort = read16(inp, l4 + 2);
    } else if (proto === V6.NH_ICMP6 && l4len >= 1) {
      icmpType = inp[l4]!;
      if ((icmpType === I.ICMP6_ECHO_REQUEST || icmpType === I.ICMP6_ECHO_REPLY) && l4len >= 6) {
        flow.hasPorts = true;
        flow.srcPort = flow.dstPort = read16(inp, l4 + 4);
      } else if (I.isIcmp6Error(icmpType)) {
        icmpError = true;
      }
    }
  }
  flow.icmpError = icmpError && !inner;
  const origSrcPort = flow.srcPort;
  const origDstPort = flow.dstPort;

  if (!inner) {
    // RFC 7915 §5.1 TTL: hop limit - 1; 0 → ICMPv6 Time Exceeded to the sender.
    if (hopLimit <= 1) return ctx.icmp(DropReason.HopLimitExceeded, I.ICMP6_TIME_EXCEEDED, 0, 0);
    if (icmpError && isFrag && !(fragOffset === 0 && !more)) return ctx.drop(DropReason.FragmentNotAllowed);
    const total4 = V4.IPV4_HDR_LEN + l4len;
    if (!icmpError && total4 > cfg.ipv4LinkMtu && !isFrag && total4 <= DF_THRESHOLD) {
      // DF will be clear (RFC 7915 §5.1): the IPv6 sender cannot go below 1280,
      // so an IPv4 link smaller than that gets IPv4 fragments from us (RFC 791 §3.2).
      ctx.fragmentTo4 = cfg.ipv4LinkMtu;
    } else if (!icmpError && total4 > cfg.ipv4LinkMtu) {
      // RFC 7915 §5.1 / §6: too big for the IPv4 link → Packet Too Big, MTU
      // expressed for IPv6 (IPv4 MTU + 20), never below the IPv6 minimum 1280.
      return ctx.icmp(
        DropReason.PacketTooBig,
        I.ICMP6_PACKET_TOO_BIG,
        0,
        Math.max(1280, cfg.ipv4LinkMtu + 20),
      );
    }
  } else if (icmpError) {
    return ctx.drop(DropReason.BadInnerPacket); // RFC 7915 §5.3: no error inside an error
  }
  if (
    proto === V6.NH_ICMP6 &&
    firstFrag &&
    !icmpError &&
    icmpType !== I.ICMP6_ECHO_REQUEST &&
    icmpType !== I.ICMP6_ECHO_REPLY
  ) {
    // RFC 7915 §5.2: MLD, ND and other informational messages are single-hop: silently drop.
    return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.IcmpUntranslatable);
  }

  // --- IPv4 header (RFC 7915 §5.1) ---
  out[oo] = 0x45;
  out[oo + V4.OFF_TOS] = cfg.resetTrafficClass ? 0 : V6.trafficClass(inp, io);
  out[oo + V4.OFF_TTL] = inner ? hopLimit : hopLimit - 1;
  out[oo + V4.OFF_PROTO] = proto === V6.NH_ICMP6 ? V6.NH_ICMP4 : proto;
  const r = ctx.mapper.map6to4(
    inp,
    io + V6.OFF_SRC,
    io + V6.OFF_DST,
    out,
    oo + V4.OFF_SRC,
    oo + V4.OFF_DST,
    flow,
  );
  if (r !== MAP_OK) {
    if (r !== MAP_SRC_FAIL || !flow.icmpError) return ctx.unmapped(r, true, inner);
    // RFC 6791 §3 / RFC 7915 §5.2: source of an ICMPv6 error without a mapping.
    const key = sum16(inp, io + V6.OFF_SRC, 16, 0);
    if (!rfc6791Source(cfg.rfc6791v4, cfg.ownIpv4, 4, key, out, oo + V4.OFF_SRC))
      return ctx.drop(DropReason.Untranslatable);
  }
  const ol4 = oo + V4.IPV4_HDR_LEN;

  let total: number;
  if (icmpError) {
    const n = translateIcmp6Error(ctx, inp, io, l4, l4len, out, oo, ol4);
    if (n < 0) return n;
    total = n;
  } else {
    copyBytes(inp, l4, out, ol4, l4len);
    total = V4.IPV4_HDR_LEN + l4len;
  }
  // Total length: for a quoted packet, what its own header claims (RFC 7915 §5.3).
  const declared = inner ? V4.IPV4_HDR_LEN + payloadLen - (l4 - io - V6.IPV6_HDR_LEN) : total;
  write16(out, oo + V4.OFF_TOTAL_LEN, declared & 0xffff);
  if (isFrag) {
    // RFC 7915 §5.1.1: ID from the low 16 bits of the fragment ID, DF 0, MF and offset copied.
    out[oo + V4.OFF_ID] = inp[fragHdr + 6]!;
    out[oo + V4.OFF_ID + 1] = inp[fragHdr + 7]!;
    write16(out, oo + V4.OFF_FRAG, (more ? V4.FLAG_MF : 0) | (fragOffset >>> 3));
  } else {
    // RFC 7915 §5.1: DF set when the packet is bigger than 1260 bytes (so that
    // the IPv6 sender learns about smaller MTUs); otherwise an ID is needed.
    const df = declared > DF_THRESHOLD;
    const id = df || inner ? 0 : ctx.nextIpv4Id() & 0xffff;
    write16(out, oo + V4.OFF_ID, id);
    write16(out, oo + V4.OFF_FRAG, df ? V4.FLAG_DF : 0);
  }
  V4.writeHeaderChecksum(out, oo, V4.IPV4_HDR_LEN);

  if (!firstFrag || icmpError) return total;

  // --- Transport (RFC 7915 §5.5) ---
  if (proto === V6.NH_TCP || proto === V6.NH_UDP) {
    const udp = proto === V6.NH_UDP;
    const csumOff = udp ? 6 : 16;
    const old = l4len < csumOff + 2 ? -1 : read16(inp, l4 + csumOff);
    // A quote too short for the checksum, or UDP without one (invalid in IPv6; "none" in IPv4): ports only.
    if (old < 0 || (udp && old === 0)) writePorts(out, ol4, flow, origSrcPort, origDstPort);
    else {
      const oldSum = sum16(inp, io + V6.OFF_SRC, 32, 0);
      const newSum = sum16(out, oo + V4.OFF_SRC, 8, 0);
      rewriteTcpUdp(out, ol4, csumOff, udp, old, oldSum, newSum, flow, origSrcPort, origDstPort);
    }
    return total;
  }
  if (proto === V6.NH_ICMP6 && (icmpType === I.ICMP6_ECHO_REQUEST || icmpType === I.ICMP6_ECHO_REPLY)) {
    if (l4len < 4 || inp[l4 + 1] !== 0)
      return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.IcmpUntranslatable);
    // RFC 7915 §5.2: 128/129 → 8/0; the ICMPv4 checksum has no pseudo-header.
    const type4 = icmpType === I.ICMP6_ECHO_REQUEST ? I.ICMP4_ECHO_REQUEST : I.ICMP4_ECHO_REPLY;
    const icmpLen = inner ? payloadLen - (l4 - io - V6.IPV6_HDR_LEN) : l4len;
    const oldSum = (icmpType << 8) + pseudoSum6(inp, io, icmpLen, V6.NH_ICMP6);
    rewriteEcho(out, ol4, l4len, type4, read16(inp, l4 + 2), oldSum, type4 << 8, flow, origSrcPort);
  }
  return total; // other protocols are copied verbatim (RFC 7915 §5.1 Protocol)
}

/**
 * RFC 7915 §5.2/§5.3: ICMPv6 error → ICMPv4 error, quoted packet translated,
 * RFC 4884 extension kept, result capped at 576 bytes (RFC 1812 §4.3.2.3).
 * Returns the total IPv4 length.
 */
function translateIcmp6Error(
  ctx: XlatContext,
  inp: Uint8Array,
  io: number,
  l4: number,
  l4len: number,
  out: Uint8Array,
  oo: number,
  ol4: number,
): number {
  const cfg = ctx.cfg;
  if (l4len < I.ICMP_HDR_LEN) return ctx.drop(DropReason.Truncated);
  // The checksum is recomputed below: do not turn a corrupt error into a valid one.
  if (finish(pseudoSum6(inp, io, l4len, V6.NH_ICMP6) + sum16(inp, l4, l4len, 0)) !== 0) {
    return ctx.drop(DropReason.IcmpBadChecksum);
  }
  const type6 = inp[l4]!;
  const m = icmp6ErrorTo4(type6, inp[l4 + 1]!);
  if (m < 0) return ctx.drop(DropReason.IcmpUntranslatable);
  const type4 = m >>> 8;
  out[ol4] = type4;
  out[ol4 + 1] = m & 0xff;
  out[ol4 + 2] = 0;
  out[ol4 + 3] = 0;
  let rest = 0;
  if (type6 === I.ICMP6_PACKET_TOO_BIG) {
    // RFC 7915 §5.2: min(advertised MTU - 20, IPv4 next-hop MTU, IPv6 MTU - 20).
    const mtu6 = read32(inp, l4 + 4);
    const mtu = Math.max(0, Math.min(mtu6 - 20, cfg.ipv4LinkMtu, cfg.ipv6LinkMtu - 20, 0xffff));
    rest = mtu;
  } else if (type6 === I.ICMP6_PARAM_PROBLEM && type4 === I.ICMP4_PARAM_PROBLEM) {
    const ptr = read32(inp, l4 + 4);
    const p4 = ptr > 39 ? -1 : pointer6to4(ptr);
    if (p4 < 0) return ctx.drop(DropReason.IcmpUntranslatable);
    rest = p4 << 24;
  }
  write32(out, ol4 + 4, rest);

  const payloadLen = l4len - I.ICMP_HDR_LEN;
  const op = l4 + I.ICMP_HDR_LEN;
  // RFC 4884 §4.5: ICMPv6 length (64-bit words) in the first byte after the
  // checksum, defined for Destination Unreachable and Time Exceeded.
  const field = type6 === I.ICMP6_DEST_UNREACH || type6 === I.ICMP6_TIME_EXCEEDED ? inp[l4 + 4]! << 3 : 0;
  const ipl = originalDatagramLength(field, payloadLen);
  if (ipl < 0) return ctx.drop(DropReason.BadIcmpExtension);
  const hasExt = ipl > 0;
  const n = translate64(ctx, inp, op, hasExt ? ipl : payloadLen, out, ol4 + I.ICMP_HDR_LEN, true);
  if (n < 0) {
    ctx.reason = DropReason.BadInnerPacket;
    return FAIL_DROP;
  }
  const hdrs = ol4 + I.ICMP_HDR_LEN - oo;
  layoutIcmpExtension(
    extLayout,
    out,
    ol4 + I.ICMP_HDR_LEN,
    n,
    inp,
    op + ipl,
    payloadLen - ipl,
    hdrs,
    I.ICMP4_ERROR_MAX,
    2,
    hasExt,
    false,
  );
  if (type4 === I.ICMP4_DEST_UNREACH || type4 === I.ICMP4_TIME_EXCEEDED) out[ol4 + 5] = extLayout.lengthField; // RFC 4884 §4.1
  const icmpLen = I.ICMP_HDR_LEN + extLayout.bodyLen;
  write16(out, ol4 + 2, finish(sum16(out, ol4, icmpLen, 0)));
  return hdrs + extLayout.bodyLen;
}
