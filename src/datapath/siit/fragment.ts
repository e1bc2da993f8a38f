/**
 * IPv6 output fragmentation for translated IPv4 packets without DF
 * (RFC 7915 §4 and §4.1: packets larger than lowest-ipv6-mtu / the IPv6 link
 * MTU are fragmented by the translator, keeping the IPv4 Identification).
 */
import { copyBytes } from "./bytes.ts";
import { read16, write16 } from "./checksum.ts";
import * as V4 from "./wire/ipv4.ts";
import * as V6 from "./wire/ipv6.ts";

const HDRS = V6.IPV6_HDR_LEN + V6.FRAG_HDR_LEN;

/**
 * Splits the datagram at src[so, so+len) — an IPv6 header immediately
 * followed by a Fragment header — into pieces of at most `mtu` bytes written
 * consecutively from dst[d]. Offsets/lengths of the pieces go to offs/lens.
 * Returns the number of pieces, or -1 if `maxPieces` would be exceeded.
 */
export function fragment6(
  src: Uint8Array,
  so: number,
  len: number,
  mtu: number,
  dst: Uint8Array,
  d: number,
  offs: Int32Array,
  lens: Int32Array,
  maxPieces: number,
): number {
  const per = (mtu - HDRS) & ~7; // RFC 8200 §4.5: all but the last fragment carry multiples of 8
  if (per <= 0) return -1;
  const f = read16(src, so + V6.IPV6_HDR_LEN + 2);
  const baseOffset = f & V6.FRAG_OFFSET_MASK;
  const lastMore = f & V6.FRAG_M;
  let left = len - HDRS;
  let consumed = 0;
  let n = 0;
  let o = d;
  while (left > 0) {
    if (n >= maxPieces) return -1;
    const chunk = Math.min(left, per);
    copyBytes(src, so, dst, o, HDRS);
    copyBytes(src, so + HDRS + consumed, dst, o + HDRS, chunk);
    write16(dst, o + V6.OFF_PAYLOAD_LEN, V6.FRAG_HDR_LEN + chunk);
    left -= chunk;
    write16(
      dst,
      o + V6.IPV6_HDR_LEN + 2,
      ((baseOffset + consumed) & V6.FRAG_OFFSET_MASK) | (left > 0 ? V6.FRAG_M : lastMore),
    );
    offs[n] = o;
    lens[n] = HDRS + chunk;
    n++;
    o += HDRS + chunk;
    consumed += chunk;
  }
  return n;
}

/**
 * RFC 791 §3.2 fragmentation of a translated, DF-clear, unfragmented IPv4
 * datagram at src[so, so+len) (20-byte header, as the translator writes it)
 * into pieces of at most `mtu` bytes. Same conventions as {@link fragment6}.
 */
export function fragment4(
  src: Uint8Array,
  so: number,
  len: number,
  mtu: number,
  dst: Uint8Array,
  d: number,
  offs: Int32Array,
  lens: Int32Array,
  maxPieces: number,
): number {
  const H = V4.IPV4_HDR_LEN;
  const per = (mtu - H) & ~7;
  if (per <= 0) return -1;
  let left = len - H;
  let consumed = 0;
  let n = 0;
  let o = d;
  while (left > 0) {
    if (n >= maxPieces) return -1;
    const chunk = Math.min(left, per);
    copyBytes(src, so, dst, o, H);
    copyBytes(src, so + H + consumed, dst, o + H, chunk);
    left -= chunk;
    write16(dst, o + V4.OFF_TOTAL_LEN, H + chunk);
    write16(dst, o + V4.OFF_FRAG, (left > 0 ? V4.FLAG_MF : 0) | (consumed >>> 3));
    V4.writeHeaderChecksum(dst, o, H);
    offs[n] = o;
    lens[n] = H + chunk;
    n++;
    o += H + chunk;
    consumed += chunk;
  }
  return n;
}
