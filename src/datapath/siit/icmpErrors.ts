/**
 * ICMP errors the translator itself originates (RFC 7915 §4.1, §4.5, §5.1, §6):
 * Time Exceeded, Fragmentation Needed / Packet Too Big, Source Route Failed,
 * Parameter Problem, administratively prohibited.
 *
 * Sent from the translator's own address (or, with `hostErrorSource`, from the
 * unspecified address, for the host to fill in: {@link hostPicksSource}) to the
 * source of the offending packet, TTL/hop limit 64, TOS/traffic class 0, quoting as much of the
 * offending packet as fits in 576 (ICMPv4, RFC 1812 §4.3.2.3) or 1280 bytes
 * (ICMPv6, RFC 4443 §2.4(c)).
 */
import { copyBytes } from "./bytes.ts";
import { finish, pseudoSum6, sum16, write16, write32 } from "./checksum.ts";
import * as I from "./wire/icmp.ts";
import * as V4 from "./wire/ipv4.ts";
import * as V6 from "./wire/ipv6.ts";

/** TTL / hop limit of the errors it originates. */
export const ERROR_TTL = 64;

/**
 * Whether the IP packet at b[o] has the unspecified source address (0.0.0.0 or
 * ::, RFC 1122 §3.2.1.3, RFC 4291 §2.5.2): an error built for the host to send,
 * which picks its own address on the route back (SiitConfig.hostErrorSource).
 * For Verdict.IcmpReply outputs only (a translated packet may carry 0.0.0.0 on).
 */
export function hostPicksSource(b: Uint8Array, o: number): boolean {
  const from = o + (b[o]! >>> 4 === 4 ? V4.OFF_SRC : V6.OFF_SRC);
  const to = from + (b[o]! >>> 4 === 4 ? 4 : 16);
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** Builds an ICMPv4 error about inp[io, io+ilen) at out[oo]. Returns its length. */
export function buildIcmp4Error(
  own4: Uint8Array,
  type: number,
  code: number,
  rest: number,
  inp: Uint8Array,
  io: number,
  ilen: number,
  out: Uint8Array,
  oo: number,
): number {
  const len = Math.min(V4.IPV4_HDR_LEN + I.ICMP_HDR_LEN + ilen, I.ICMP4_ERROR_MAX);
  out[oo] = 0x45;
  out[oo + 1] = 0;
  write16(out, oo + V4.OFF_TOTAL_LEN, len);
  write16(out, oo + V4.OFF_ID, 0);
  write16(out, oo + V4.OFF_FRAG, 0);
  out[oo + V4.OFF_TTL] = ERROR_TTL;
  out[oo + V4.OFF_PROTO] = V6.NH_ICMP4;
  copyBytes(own4, 0, out, oo + V4.OFF_SRC, 4);
  copyBytes(inp, io + V4.OFF_SRC, out, oo + V4.OFF_DST, 4);
  V4.writeHeaderChecksum(out, oo, V4.IPV4_HDR_LEN);
  const ic = oo + V4.IPV4_HDR_LEN;
  out[ic] = type;
  out[ic + 1] = code;
  out[ic + 2] = 0;
  out[ic + 3] = 0;
  write32(out, ic + 4, rest);
  const q = len - V4.IPV4_HDR_LEN - I.ICMP_HDR_LEN;
  copyBytes(inp, io, out, ic + I.ICMP_HDR_LEN, q);
  write16(out, ic + 2, finish(sum16(out, ic, I.ICMP_HDR_LEN + q, 0)));
  return len;
}

/** Builds an ICMPv6 error about inp[io, io+ilen) at out[oo]. Returns its length. */
export function buildIcmp6Error(
  own6: Uint8Array,
  type: number,
  code: number,
  rest: number,
  inp: Uint8Array,
  io: number,
  ilen: number,
  out: Uint8Array,
  oo: number,
): number {
  const len = Math.min(V6.IPV6_HDR_LEN + I.ICMP_HDR_LEN + ilen, I.ICMP6_ERROR_MAX);
  V6.writeVersionTcFlow(out, oo, 0);
  write16(out, oo + V6.OFF_PAYLOAD_LEN, len - V6.IPV6_HDR_LEN);
  out[oo + V6.OFF_NEXT_HDR] = V6.NH_ICMP6;
  out[oo + V6.OFF_HOP_LIMIT] = ERROR_TTL;
  copyBytes(own6, 0, out, oo + V6.OFF_SRC, 16);
  copyBytes(inp, io + V6.OFF_SRC, out, oo + V6.OFF_DST, 16);
  const ic = oo + V6.IPV6_HDR_LEN;
  out[ic] = type;
  out[ic + 1] = code;
  out[ic + 2] = 0;
  out[ic + 3] = 0;
  write32(out, ic + 4, rest);
  const icmpLen = len - V6.IPV6_HDR_LEN;
  copyBytes(inp, io, out, ic + I.ICMP_HDR_LEN, icmpLen - I.ICMP_HDR_LEN);
  write16(out, ic + 2, finish(pseudoSum6(out, oo, icmpLen, V6.NH_ICMP6) + sum16(out, ic, icmpLen, 0)));
  return len;
}
