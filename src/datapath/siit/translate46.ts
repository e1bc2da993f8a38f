/**
 * IPv4 → IPv6 (RFC 7915 §4): header translation (§4.1), ICMPv4 → ICMPv6 (§4.2),
 * ICMP error inner packets (§4.3), transport checksums (§4.5).
 *
 * Pure function of (context config, input bytes) writing into a caller-owned
 * output buffer; no allocation, no exceptions.
 */
import { MAP_OK, MAP_SRC_FAIL } from "./addr/mapper.ts";
import { rfc6791Source } from "./addr/rfc6791.ts";
import { copyBytes } from "./bytes.ts";
import { finish, pseudoSum6, read16, sum16, write16, write32 } from "./checksum.ts";
import { FAIL_DROP, type XlatContext } from "./context.ts";
import { icmp4ErrorTo6, plateauBelow, pointer4to6 } from "./icmpTables.ts";
import { DropReason } from "./result.ts";
import { ExtensionLayout, layoutIcmpExtension, originalDatagramLength } from "./rfc4884.ts";
import { rewriteEcho, rewriteTcpUdp, writePorts } from "./transport.ts";
import * as I from "./wire/icmp.ts";
import * as V4 from "./wire/ipv4.ts";
import * as V6 from "./wire/ipv6.ts";

const extLayout = new ExtensionLayout();

/**
 * Translates the IPv4 packet at inp[io, io+ilen) into out[oo...].
 *
 * @param inner   the packet is the one quoted inside an ICMPv4 error (may be
 *                truncated; no TTL decrement, no length checks, RFC 7915 §4.3)
 * @param hairpin second leg of a hairpinned packet: the TTL was already decremented
 * @returns the number of bytes written, FAIL_DROP or FAIL_ICMP (see ctx)
 */
export function translate46(
  ctx: XlatContext,
  inp: Uint8Array,
  io: number,
  ilen: number,
  out: Uint8Array,
  oo: number,
  inner: boolean,
  hairpin: boolean,
): number {
  const cfg = ctx.cfg;
  if (!inner) {
    ctx.fragmentTo = 0;
    ctx.wroteFragHeader = false;
  }
  if (ilen < V4.IPV4_HDR_LEN) return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.Truncated);
  if (inp[io]! >>> 4 !== 4) return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.BadVersion);
  const ihl = V4.ihlBytes(inp, io);
  if (ihl < V4.IPV4_HDR_LEN || ihl > ilen)
    return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.BadHeaderLength);
  const totalLen = read16(inp, io + V4.OFF_TOTAL_LEN);
  let end: number;
  if (!inner) {
    if (totalLen < ihl || totalLen > ilen) return ctx.drop(DropReason.BadTotalLength);
    if (!V4.headerChecksumOk(inp, io, ihl)) return ctx.drop(DropReason.BadIpv4HeaderChecksum);
    end = io + totalLen; // trailing link padding is not part of the packet
  } else {
    if (totalLen < ihl) return ctx.drop(DropReason.BadInnerPacket);
    // A quoted packet is whatever the ICMP error carries (possibly truncated,
    // possibly followed by RFC 4884 padding): all of it is carried over.
    end = io + ilen;
  }
  const frag = V4.fragField(inp, io);
  const df = (frag & V4.FLAG_DF) !== 0;
  const mf = (frag & V4.FLAG_MF) !== 0;
  const fragOffset = (frag & V4.FRAG_OFFSET_MASK) << 3;
  const isFrag = mf || fragOffset !== 0;
  const firstFrag = fragOffset === 0;
  const proto = inp[io + V4.OFF_PROTO]!;
  const ttl = inp[io + V4.OFF_TTL]!;
  const l4 = io + ihl;
  const l4len = end - l4;

  // Transport view for the mapper, and ICMP classification.
  const flow = ctx.flow;
  flow.reset();
  flow.inner = inner;
  flow.hairpin = hairpin;
  flow.proto = proto;
  let icmpType = -1;
  let icmpError = false;
  if (firstFrag) {
    if ((proto === V6.NH_TCP || proto === V6.NH_UDP) && l4len >= 4) {
      flow.hasPorts = true;
      flow.srcPort = read16(inp, l4);
      flow.dstPort = read16(inp, l4 + 2);
    } else if (proto === V6.NH_ICMP4 && l4len >= 1) {
      icmpType = inp[l4]!;
      if ((icmpType === I.ICMP4_ECHO_REQUEST || icmpType === I.ICMP4_ECHO_REPLY) && l4len >= 6) {
        flow.hasPorts = true;
        flow.srcPort = flow.dstPort = read16(inp, l4 + 4);
      } else if (I.isIcmp4Error(icmpType)) {
        icmpError = true;
      }
    }
  } else if (proto === V6.NH_ICMP4) {
    icmpType = -2; // non-first fragment of an ICMP message: no header to translate
  }
  flow.icmpError = icmpError && !inner;
  const origSrcPort = flow.srcPort;
  const origDstPort = flow.dstPort;

  if (!inner) {
    // RFC 7915 §4.1: options are ignored, but an unexpired source route forbids translation.
    if (ihl > V4.IPV4_HDR_LEN && V4.hasUnexpiredSourceRoute(inp, io, ihl)) {
      return ctx.icmp(
        DropReason.UnexpiredSourceRoute,
        I.ICMP4_DEST_UNREACH,
        I.ICMP4_CODE_SOURCE_ROUTE_FAILED,
        0,
      );
    }
    // RFC 7915 §4.1 Hop Limit: TTL - 1; a packet that would leave with 0 gets Time Exceeded.
    if (!hairpin && ttl <= 1) return ctx.icmp(DropReason.HopLimitExceeded, I.ICMP4_TIME_EXCEEDED, 0, 0);
    if (icmpError && isFrag) return ctx.drop(DropReason.FragmentNotAllowed);
  } else if (icmpError) {
    // RFC 7915 §4.3 / RFC 1812 §4.3.2.7: no ICMP error inside an ICMP error.
    return ctx.drop(DropReason.BadInnerPacket);
  }

  // Sizes (RFC 7915 §4 and §6). ICMP errors are trimmed to 1280 below instead.
  let needFragHdr = isFrag;
  if (!inner && !icmpError) {
    const outLen = V6.IPV6_HDR_LEN + (isFrag ? V6.FRAG_HDR_LEN : 0) + l4len;
    if (df) {
      if (outLen > cfg.ipv6LinkMtu) {
        // RFC 7915 §6 (PMTUD): tell the IPv4 sender how much fits, the IPv6 header taken into account.
        return ctx.icmp(
          DropReason.PacketTooBig,
          I.ICMP4_DEST_UNREACH,
          I.ICMP4_CODE_FRAG_NEEDED,
          Math.max(576, cfg.ipv6LinkMtu - 20),
        );
      }
    } else {
      const mpl = Math.min(cfg.ipv6LinkMtu, cfg.lowestIpv6Mtu);
      if (outLen > mpl) {
        // RFC 7915 §4: DF clear and too big for lowest-ipv6-mtu: fragment (Fragment header on each piece).
        needFragHdr = true;
        ctx.fragmentTo = mpl;
      }
    }
  }

  // --- IPv6 header (RFC 7915 §4.1) ---
  V6.writeVersionTcFlow(out, oo, cfg.resetTrafficClass ? 0 : inp[io + V4.OFF_TOS]!);
  out[oo + V6.OFF_HOP_LIMIT] = inner || hairpin ? ttl : ttl - 1;
  const proto6 = proto === V6.NH_ICMP4 ? V6.NH_ICMP6 : proto;
  const r = ctx.mapper.map4to6(
    inp,
    io + V4.OFF_SRC,
    io + V4.OFF_DST,
    out,
    oo + V6.OFF_SRC,
    oo + V6.OFF_DST,
    flow,
  );
  if (r !== MAP_OK) {
    if (r !== MAP_SRC_FAIL || !flow.icmpError) return ctx.unmapped(r, false, inner);
    // RFC 6791 §3 / RFC 7915 §4.2: an ICMPv4 error from an untranslatable source
    // gets its IPv6 source from the RFC 6791 pool (else the translator's own address).
    const key = sum16(inp, io + V4.OFF_SRC, 4, 0);
    if (!rfc6791Source(cfg.rfc6791v6, cfg.ownIpv6, 16, key, out, oo + V6.OFF_SRC))
      return ctx.drop(DropReason.Untranslatable);
  }
  let ol4 = oo + V6.IPV6_HDR_LEN;
  if (needFragHdr) {
    // RFC 7915 §4.1: Fragment header with the IPv4 offset, MF and the ID zero-extended.
    out[oo + V6.OFF_NEXT_HDR] = V6.NH_FRAGMENT;
    out[ol4] = proto6;
    out[ol4 + 1] = 0;
    write16(out, ol4 + 2, fragOffset | (mf ? V6.FRAG_M : 0));
    out[ol4 + 4] = 0;
    out[ol4 + 5] = 0;
    out[ol4 + 6] = inp[io + V4.OFF_ID]!;
    out[ol4 + 7] = inp[io + V4.OFF_ID + 1]!;
    ol4 += V6.FRAG_HDR_LEN;
    if (!inner) ctx.wroteFragHeader = true;
  } else {
    out[oo + V6.OFF_NEXT_HDR] = proto6;
  }

  if (icmpError) {
    const n = translateIcmp4Error(ctx, inp, l4, l4len, out, oo, ol4, hairpin);
    if (n < 0) return n;
    write16(out, oo + V6.OFF_PAYLOAD_LEN, n - V6.IPV6_HDR_LEN);
    return n;
  }

  copyBytes(inp, l4, out, ol4, l4len);
  const written = ol4 + l4len - oo;
  // Payload length: for a quoted packet, what its own header claims (RFC 7915 §4.3).
  const payloadLen = inner ? totalLen - ihl + (needFragHdr ? V6.FRAG_HDR_LEN : 0) : written - V6.IPV6_HDR_LEN;
  write16(out, oo + V6.OFF_PAYLOAD_LEN, payloadLen & 0xffff);

  if (!firstFrag) return written; // no transport header in this fragment

  // --- Transport (RFC 7915 §4.5) ---
  if (proto === V6.NH_TCP || proto === V6.NH_UDP) {
    const udp = proto === V6.NH_UDP;
    const csumOff = udp ? 6 : 16;
    const old = l4len < csumOff + 2 ? -1 : read16(inp, l4 + csumOff);
    if (old < 0 || (udp && old === 0)) {
      writePorts(out, ol4, flow, origSrcPort, origDstPort);
      if (old < 0 || inner) return written; // a truncated quote: nothing to adjust
      // RFC 7915 §4.5: a zero UDP checksum is computed only for unfragmented
      // packets and only when configured; otherwise drop (ICMPv4 3/13, like Jool).
      if (isFrag || !cfg.amendUdpChecksumZero) {
        return ctx.icmp(DropReason.UdpChecksumZero, I.ICMP4_DEST_UNREACH, I.ICMP4_CODE_COMM_PROHIBITED, 0);
      }
      const s = pseudoSum6(out, oo, l4len, V6.NH_UDP) + sum16(out, ol4, l4len, 0);
      const c = finish(s);
      write16(out, ol4 + csumOff, c === 0 ? 0xffff : c);
      return written;
    }
    const oldSum = sum16(inp, io + V4.OFF_SRC, 8, 0);
    const newSum = sum16(out, oo + V6.OFF_SRC, 32, 0);
    rewriteTcpUdp(out, ol4, csumOff, udp, old, oldSum, newSum, flow, origSrcPort, origDstPort);
    return written;
  }
  if (proto === V6.NH_ICMP4) {
    if (icmpType === I.ICMP4_ECHO_REQUEST || icmpType === I.ICMP4_ECHO_REPLY) {
      if (l4len < 4 || inp[l4 + 1] !== 0)
        return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.IcmpUntranslatable);
      // RFC 7915 §4.2: echo 8/0 → 128/129, checksum now covers the IPv6 pseudo-header.
      const type6 = icmpType === I.ICMP4_ECHO_REQUEST ? I.ICMP6_ECHO_REQUEST : I.ICMP6_ECHO_REPLY;
      const icmpLen = inner ? totalLen - ihl : l4len;
      const newSum = (type6 << 8) + pseudoSum6(out, oo, icmpLen, V6.NH_ICMP6);
      rewriteEcho(out, ol4, l4len, type6, read16(inp, l4 + 2), icmpType << 8, newSum, flow, origSrcPort);
      return written;
    }
    if (icmpType === -1 && l4len === 0) return written;
    return ctx.drop(inner ? DropReason.BadInnerPacket : DropReason.IcmpUntranslatable);
  }
  return written; // other protocols are copied verbatim (RFC 7915 §4.1 Next Header)
}

/**
 * RFC 7915 §4.2/§4.3: ICMPv4 error → ICMPv6 error, quoted packet translated,
 * RFC 4884 extension kept, result capped at 1280 bytes (RFC 4443 §2.4(c)).
 * Returns the total length written from oo.
 */
function translateIcmp4Error(
  ctx: XlatContext,
  inp: Uint8Array,
  l4: number,
  l4len: number,
  out: Uint8Array,
  oo: number,
  ol4: number,
  hairpin: boolean,
): number {
  const cfg = ctx.cfg;
  if (l4len < I.ICMP_HDR_LEN) return ctx.drop(DropReason.Truncated);
  // The checksum is recomputed below: do not turn a corrupt error into a valid one.
  if (finish(sum16(inp, l4, l4len, 0)) !== 0) return ctx.drop(DropReason.IcmpBadChecksum);
  const type4 = inp[l4]!;
  const code4 = inp[l4 + 1]!;
  const m = icmp4ErrorTo6(type4, code4);
  if (m < 0) return ctx.drop(DropReason.IcmpUntranslatable);
  const type6 = m >>> 8;
  out[ol4] = type6;
  out[ol4 + 1] = m & 0xff;
  out[ol4 + 2] = 0;
  out[ol4 + 3] = 0;
  let rest = 0;
  const payloadLen = l4len - I.ICMP_HDR_LEN;
  const op = l4 + I.ICMP_HDR_LEN;
  if (type6 === I.ICMP6_PACKET_TOO_BIG) {
    // RFC 7915 §4.2: MTU + 20, bounded by both links, never below 1280 (RFC 8200 §5).
    let mtu = read16(inp, l4 + 6);
    if (mtu === 0 && payloadLen >= 4) mtu = plateauBelow(read16(inp, op + 2)); // RFC 1191 §5
    rest = Math.max(1280, Math.min(mtu + 20, cfg.ipv6LinkMtu, cfg.ipv4LinkMtu + 20));
  } else if (type6 === I.ICMP6_PARAM_PROBLEM) {
    if (type4 === I.ICMP4_DEST_UNREACH) {
      rest = V6.OFF_NEXT_HDR; // protocol unreachable: pointer to Next Header
    } else {
      const p = pointer4to6(inp[l4 + 4]!);
      if (p < 0) return ctx.drop(DropReason.IcmpUntranslatable);
      rest = p;
    }
  }
  write32(out, ol4 + 4, rest);

  // RFC 4884 §4.1: ICMPv4 length (32-bit words) in the second byte of the unused field.
  const ipl = originalDatagramLength(inp[l4 + 5]! << 2, payloadLen);
  if (ipl < 0) return ctx.drop(DropReason.BadIcmpExtension);
  const hasExt = ipl > 0;
  const opLenIn = hasExt ? ipl : payloadLen;
  const n = translate46(ctx, inp, op, opLenIn, out, ol4 + I.ICMP_HDR_LEN, true, hairpin);
  if (n < 0) {
    ctx.reason = DropReason.BadInnerPacket;
    return FAIL_DROP;
  }
  const hdrs = ol4 + I.ICMP_HDR_LEN - oo;
  // PTB and Parameter Problem have no length field in ICMPv6 (RFC 4884 §4.1): drop the extension.
  const forceRemove = type6 === I.ICMP6_PACKET_TOO_BIG || type6 === I.ICMP6_PARAM_PROBLEM;
  layoutIcmpExtension(
    extLayout,
    out,
    ol4 + I.ICMP_HDR_LEN,
    n,
    inp,
    op + ipl,
    payloadLen - ipl,
    hdrs,
    I.ICMP6_ERROR_MAX,
    3,
    hasExt,
    forceRemove,
  );
  if (type6 === I.ICMP6_DEST_UNREACH || type6 === I.ICMP6_TIME_EXCEEDED) out[ol4 + 4] = extLayout.lengthField; // RFC 4884 §4.5
  const icmpLen = I.ICMP_HDR_LEN + extLayout.bodyLen;
  const c = finish(pseudoSum6(out, oo, icmpLen, V6.NH_ICMP6) + sum16(out, ol4, icmpLen, 0));
  write16(out, ol4 + 2, c);
  return hdrs + extLayout.bodyLen;
}
