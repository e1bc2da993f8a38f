/**
 * Fast path for the common case: an unfragmented TCP or UDP packet without
 * IPv4 options / IPv6 extension headers, inside the translator's own 4-aligned
 * buffer. It applies exactly the rules of translate64/translate46 (RFC 7915
 * §4.1, §4.5, §5.1, §5.5) with word-at-a-time copies and checksums, calling
 * only checksum.ts's small sums. fast64 and fast46 each write out their last
 * steps (payload copy, ports, checksum update; transport.ts in the general
 * path): with helpers for those, V8's inlining budget ran out and 64-byte
 * packets took about 5% longer (measured). Anything else, or any doubt,
 * returns NOT_FAST before the address mapper is called, and the general path
 * handles the packet.
 */
import { type Flow, MAP_OK } from "./addr/mapper.ts";
import { adjust, fold16 as fold, sum16, sumWords, swap16 } from "./checksum.ts";
import type { CompiledSiitConfig } from "./config.ts";
import type { XlatContext } from "./context.ts";

export const NOT_FAST = -3;

/** Length of the TCP (its data offset) or UDP (8) header at b[l4...]. */
function l4HeaderLen(b: Uint8Array, l4: number, proto: number): number {
  return proto === 6 ? (b[l4 + 12]! >>> 4) << 2 : 8;
}

/** Network-layer size of one segment of a super-packet: header + TCP or UDP header + gso payload. */
function segmentSize(b: Uint8Array, l4: number, proto: number, ipHdr: number, gso: number): number {
  return ipHdr + l4HeaderLen(b, l4, proto) + gso;
}

/**
 * Whether the IPv4 image of an IPv6 TCP or UDP super-packet (transport length l4len,
 * segments of `gso` payload bytes, the full ones `size` bytes in IPv4) can be
 * kept whole. RFC 7915 §5.1 sets DF on a translated packet of more than 1260
 * bytes only, but one IPv4 header serves every segment (the segmenter copies
 * its DF): a short last segment of <= 1260 bytes behind full ones of > 1260
 * would go out with DF set, unlike the same segment translated alone. Such
 * super-packets are refused: the TUN worker sends that last segment on its
 * own (tun/offload.ts shortTail), or cuts them in software. The total length must also fit
 * the IPv4 header's 16 bits (an IPv6 payload of up to 65535 bytes does not).
 */
function gso64Whole(
  b: Uint8Array,
  l4: number,
  proto: number,
  l4len: number,
  gso: number,
  size: number,
): boolean {
  if (l4len + 20 > 0xffff) return false;
  if (size <= 1260) return true;
  const thl = l4HeaderLen(b, l4, proto);
  const payload = l4len - thl;
  const last = payload <= 0 ? 0 : payload - (Math.ceil(payload / gso) - 1) * gso;
  return 20 + thl + last > 1260;
}

/**
 * Checksum offload (XlatContext.csumPartial): the input's field held the
 * pseudo-header sum only, so the output's holds the output's pseudo-header sum
 * (addresses, protocol, transport length; RFC 7915 §4.5 / §5.5 then hold once
 * the device completes it). Ports are in the covered range: written as they are.
 */
function partialOut(
  ctx: XlatContext,
  b: Uint8Array,
  w: Uint32Array,
  flow: Flow,
  sp: number,
  dp: number,
  ol4: number,
  csumOff: number,
  addrWord: number,
  addrWords: number,
  proto: number,
  l4len: number,
  ipHdr: number,
  outLen: number,
): number {
  if (flow.srcPort !== sp || flow.dstPort !== dp) {
    b[ol4] = flow.srcPort >>> 8;
    b[ol4 + 1] = flow.srcPort & 0xff;
    b[ol4 + 2] = flow.dstPort >>> 8;
    b[ol4 + 3] = flow.dstPort & 0xff;
  }
  let s = swap16(sumWords(w, addrWord, addrWords)) + proto + l4len;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  b[ol4 + csumOff] = s >>> 8;
  b[ol4 + csumOff + 1] = s & 0xff;
  ctx.csumStart = ipHdr;
  ctx.csumOffset = csumOff;
  return outLen;
}

const dst4 = new Uint8Array(4);

/**
 * Whether an IPv6 packet's IPv4 destination is one of the EAMT's (RFC 7757
 * Appendix B, intrinsic hairpinning): the translator sends it back in as IPv4
 * through the general path, which refuses super-packets. The destination is
 * mapped as SiitAddressMapper does (EAMT, then pool6). A NAT64 passes its own
 * mapper and "off" here; its hairpin leg takes super-packets through fast46.
 */
function hairpins(cfg: CompiledSiitConfig, b: Uint8Array, io: number): boolean {
  if (cfg.hairpinMode !== "intrinsic" || cfg.eamt.size === 0) return false;
  if (!cfg.eamt.map6to4(b, io + 24, dst4, 0) && !cfg.pool6?.extract(b, io + 24, dst4, 0)) return false;
  return cfg.eamt.has4(dst4, 0);
}

/**
 * A UDP super-packet's own length field must be its whole transport length:
 * the kernel's __udp_gso_segment derives each segment's checksum from the
 * super-packet's by swapping that field for the segment's length.
 */
function udpGsoLenOk(b: Uint8Array, l4: number, l4len: number): boolean {
  return ((b[l4 + 4]! << 8) | b[l4 + 5]!) === l4len;
}

/**
 * Whether a super-packet at b[io, io+len) of protocol `proto` (6 TCP, 17 UDP:
 * what the virtio_net_hdr's gso_type says; a packet of another protocol is
 * refused) with segments of `gso` payload bytes takes the fast path whole:
 * the fast path's own conditions, checked before any state is touched. Callers cut the others into segments
 * first (tun/offload.ts); one that slips through is refused (DropReason.Offload).
 */
export function gsoKeepsWhole(
  cfg: CompiledSiitConfig,
  b: Uint8Array,
  io: number,
  len: number,
  gso: number,
  proto: number,
): boolean {
  if (b[io]! >>> 4 === 6) {
    const nh = b[io + 6]!;
    if (nh !== proto) return false;
    const plen = (b[io + 4]! << 8) | b[io + 5]!;
    if ((nh !== 6 && nh !== 17) || b[io + 7]! <= 1 || plen + 40 > len || plen < (nh === 6 ? 20 : 8))
      return false;
    if (nh === 17 && !udpGsoLenOk(b, io + 40, plen)) return false;
    const size = segmentSize(b, io + 40, nh, 20, gso);
    return size <= cfg.ipv4LinkMtu && gso64Whole(b, io + 40, nh, plen, gso, size) && !hairpins(cfg, b, io);
  }
  if (b[io] !== 0x45 || b[io + 9] !== proto || (proto !== 6 && proto !== 17) || len < 28) return false;
  const total = (b[io + 2]! << 8) | b[io + 3]!;
  const frag = (b[io + 6]! << 8) | b[io + 7]!;
  if (total > len || total < (proto === 6 ? 40 : 28) || b[io + 8]! <= 1 || (frag & 0x3fff) !== 0)
    return false;
  if (fold(sum16(b, io, 20, 0)) !== 0xffff) return false;
  // An IPv4 UDP super-packet without checksum (0) needs one in IPv6: cut in software.
  if (proto === 17 && (!udpGsoLenOk(b, io + 20, total - 20) || (b[io + 26]! | b[io + 27]!) === 0))
    return false;
  const size = segmentSize(b, io + 20, proto, 40, gso);
  return size <= cfg.ipv6LinkMtu && ((frag & 0x4000) !== 0 || size <= cfg.lowestIpv6Mtu);
}

/** IPv6 → IPv4 for plain TCP/UDP (RFC 7915 §5.1, §5.5). b is the translator buffer, w its word view. */
export function fast64(
  ctx: XlatContext,
  b: Uint8Array,
  w: Uint32Array,
  io: number,
  ilen: number,
  oo: number,
): number {
  const nh = b[io + 6]!;
  if (nh !== 6 && nh !== 17) return NOT_FAST;
  const plen = (b[io + 4]! << 8) | b[io + 5]!;
  const hl = b[io + 7]!;
  if (plen + 40 > ilen || hl <= 1) return NOT_FAST;
  const csumOff = nh === 6 ? 16 : 6;
  if (plen < (nh === 6 ? 20 : 8)) return NOT_FAST;
  const cfg = ctx.cfg;
  const total = plen + 20;
  const l4 = io + 40;
  // A super-packet's size rules are those of its segments (see XlatContext.gsoSize).
  const size = ctx.gsoSize > 0 ? segmentSize(b, l4, nh, 20, ctx.gsoSize) : total;
  if (size > cfg.ipv4LinkMtu) return NOT_FAST;
  // Super-packets only when one IPv4 header fits all their segments (as gsoKeepsWhole).
  if (
    ctx.gsoSize > 0 &&
    (!gso64Whole(b, l4, nh, plen, ctx.gsoSize, size) || (nh === 17 && !udpGsoLenOk(b, l4, plen)))
  )
    return NOT_FAST;
  // A partial checksum kept as such must be this header's own (not, e.g., a tunnelled packet's).
  if (ctx.csumPartial && (ctx.csumStart !== 40 || ctx.csumOffset !== csumOff)) return NOT_FAST;
  const oldCs = (b[l4 + csumOff]! << 8) | b[l4 + csumOff + 1]!;
  if (nh === 17 && oldCs === 0) return NOT_FAST;

  const flow = ctx.flow;
  flow.proto = nh;
  flow.hasPorts = true;
  const sp = (b[l4]! << 8) | b[l4 + 1]!;
  const dp = (b[l4 + 2]! << 8) | b[l4 + 3]!;
  flow.srcPort = sp;
  flow.dstPort = dp;
  flow.inner = false;
  flow.icmpError = false;
  flow.hairpin = false;
  // From here on the packet is ours: the mapper (which may have side effects,
  // e.g. NAT64 session creation) is called exactly once.
  const r = ctx.mapper.map6to4(b, io + 8, io + 24, b, oo + 12, oo + 16, flow);
  if (r !== MAP_OK) return ctx.unmapped(r, true, false);
  ctx.fragmentTo4 = 0; // fits the IPv4 link (checked above)

  // IPv4 header (RFC 7915 §5.1)
  b[oo] = 0x45;
  b[oo + 1] = cfg.resetTrafficClass ? 0 : ((b[io]! & 0x0f) << 4) | (b[io + 1]! >>> 4);
  b[oo + 2] = total >>> 8;
  b[oo + 3] = total & 0xff;
  const df = size > 1260;
  const id = df ? 0 : ctx.nextIpv4Id() & 0xffff;
  // The segmenter numbers a super-packet's segments id, id+1, ... (inet_gso_segment): skip theirs.
  if (!df && ctx.gsoSize > 0) {
    const segs = Math.ceil((plen - l4HeaderLen(b, l4, nh)) / ctx.gsoSize);
    for (let k = 1; k < segs; k++) ctx.nextIpv4Id();
  }
  b[oo + 4] = id >>> 8;
  b[oo + 5] = id & 0xff;
  b[oo + 6] = df ? 0x40 : 0;
  b[oo + 7] = 0;
  b[oo + 8] = hl - 1;
  b[oo + 9] = nh;
  b[oo + 10] = 0;
  b[oo + 11] = 0;
  const ko = oo >>> 2;
  const hc = ~swap16(sumWords(w, ko, 5)) & 0xffff;
  b[oo + 10] = hc >>> 8;
  b[oo + 11] = hc & 0xff;

  // Payload
  const ol4 = oo + 20;
  if (plen >= 128) b.copyWithin(ol4, l4, l4 + plen);
  else {
    const ks = l4 >>> 2;
    const kd = ol4 >>> 2;
    const nw = plen >>> 2;
    for (let k = 0; k < nw; k++) w[kd + k] = w[ks + k]!;
    for (let i = nw << 2; i < plen; i++) b[ol4 + i] = b[l4 + i]!;
  }

  // Transport checksum: pseudo-header addresses (and ports, if the mapper changed them) (RFC 7915 §5.5).
  if (ctx.csumPartial)
    return partialOut(ctx, b, w, flow, sp, dp, ol4, csumOff, (oo + 12) >>> 2, 2, nh, plen, 20, total);
  let m = swap16(sumWords(w, (io + 8) >>> 2, 8));
  let m2 = swap16(sumWords(w, (oo + 12) >>> 2, 2));
  if (flow.srcPort !== sp || flow.dstPort !== dp) {
    m += sp + dp;
    m2 += flow.srcPort + flow.dstPort;
    b[ol4] = flow.srcPort >>> 8;
    b[ol4 + 1] = flow.srcPort & 0xff;
    b[ol4 + 2] = flow.dstPort >>> 8;
    b[ol4 + 3] = flow.dstPort & 0xff;
  }
  let c = adjust(oldCs, m, m2);
  if (nh === 17 && c === 0) c = 0xffff;
  b[ol4 + csumOff] = c >>> 8;
  b[ol4 + csumOff + 1] = c & 0xff;
  return total;
}

/** IPv4 → IPv6 for plain TCP/UDP (RFC 7915 §4.1, §4.5). */
export function fast46(
  ctx: XlatContext,
  b: Uint8Array,
  w: Uint32Array,
  io: number,
  ilen: number,
  oo: number,
): number {
  if (b[io] !== 0x45) return NOT_FAST; // no options
  const proto = b[io + 9]!;
  if (proto !== 6 && proto !== 17) return NOT_FAST;
  const total = (b[io + 2]! << 8) | b[io + 3]!;
  const ttl = b[io + 8]!;
  const frag = (b[io + 6]! << 8) | b[io + 7]!;
  if (total > ilen || total < 20 || ttl <= 1 || (frag & 0x3fff) !== 0) return NOT_FAST; // fragments: general path
  if (sumWords(w, io >>> 2, 5) !== 0xffff) return NOT_FAST; // header checksum must verify
  const plen = total - 20;
  const csumOff = proto === 6 ? 16 : 6;
  if (plen < (proto === 6 ? 20 : 8)) return NOT_FAST;
  const cfg = ctx.cfg;
  const outLen = 40 + plen;
  const l4 = io + 20;
  if (ctx.gsoSize > 0 && proto === 17 && !udpGsoLenOk(b, l4, plen)) return NOT_FAST; // as gsoKeepsWhole
  const size = ctx.gsoSize > 0 ? segmentSize(b, l4, proto, 40, ctx.gsoSize) : outLen;
  if (size > cfg.ipv6LinkMtu || ((frag & 0x4000) === 0 && size > cfg.lowestIpv6Mtu)) return NOT_FAST;
  if (ctx.csumPartial && (ctx.csumStart !== 20 || ctx.csumOffset !== csumOff)) return NOT_FAST; // as in fast64
  const oldCs = (b[l4 + csumOff]! << 8) | b[l4 + csumOff + 1]!;
  if (proto === 17 && oldCs === 0) return NOT_FAST;

  const flow = ctx.flow;
  flow.proto = proto;
  flow.hasPorts = true;
  const sp = (b[l4]! << 8) | b[l4 + 1]!;
  const dp = (b[l4 + 2]! << 8) | b[l4 + 3]!;
  flow.srcPort = sp;
  flow.dstPort = dp;
  flow.inner = false;
  flow.icmpError = false;
  flow.hairpin = false;
  const r = ctx.mapper.map4to6(b, io + 12, io + 16, b, oo + 8, oo + 24, flow);
  if (r !== MAP_OK) return ctx.unmapped(r, false, false);
  ctx.fragmentTo = 0; // fits: no fragmentation (state shared with translate46)
  ctx.wroteFragHeader = false;

  // IPv6 header (RFC 7915 §4.1)
  const tc = cfg.resetTrafficClass ? 0 : b[io + 1]!;
  b[oo] = 0x60 | (tc >>> 4);
  b[oo + 1] = (tc & 0x0f) << 4;
  b[oo + 2] = 0;
  b[oo + 3] = 0;
  b[oo + 4] = plen >>> 8;
  b[oo + 5] = plen & 0xff;
  b[oo + 6] = proto;
  b[oo + 7] = ttl - 1;

  const ol4 = oo + 40;
  if (plen >= 128) b.copyWithin(ol4, l4, l4 + plen);
  else {
    const ks = l4 >>> 2;
    const kd = ol4 >>> 2;
    const nw = plen >>> 2;
    for (let k = 0; k < nw; k++) w[kd + k] = w[ks + k]!;
    for (let i = nw << 2; i < plen; i++) b[ol4 + i] = b[l4 + i]!;
  }

  if (ctx.csumPartial)
    return partialOut(ctx, b, w, flow, sp, dp, ol4, csumOff, (oo + 8) >>> 2, 8, proto, plen, 40, outLen);
  let m = swap16(sumWords(w, (io + 12) >>> 2, 2));
  let m2 = swap16(sumWords(w, (oo + 8) >>> 2, 8));
  if (flow.srcPort !== sp || flow.dstPort !== dp) {
    m += sp + dp;
    m2 += flow.srcPort + flow.dstPort;
    b[ol4] = flow.srcPort >>> 8;
    b[ol4 + 1] = flow.srcPort & 0xff;
    b[ol4 + 2] = flow.dstPort >>> 8;
    b[ol4 + 3] = flow.dstPort & 0xff;
  }
  let c = adjust(oldCs, m, m2);
  if (proto === 17 && c === 0) c = 0xffff;
  b[ol4 + csumOff] = c >>> 8;
  b[ol4 + csumOff + 1] = c & 0xff;
  return outLen;
}
