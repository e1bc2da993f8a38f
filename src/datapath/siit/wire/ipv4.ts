/**
 * IPv4 header (RFC 791 §3.1) as offsets and accessors over a byte buffer.
 *
 *  0      version/IHL   1 TOS   2-3 total length
 *  4-5    identification        6-7 flags (DF 0x4000, MF 0x2000) / fragment offset (8-byte units)
 *  8      TTL           9 protocol   10-11 header checksum
 *  12-15  source        16-19 destination   20.. options
 */
import { finish, read16, sum16, write16 } from "../checksum.ts";

export const IPV4_HDR_LEN = 20;
export const OFF_TOS = 1;
export const OFF_TOTAL_LEN = 2;
export const OFF_ID = 4;
export const OFF_FRAG = 6;
export const OFF_TTL = 8;
export const OFF_PROTO = 9;
export const OFF_CSUM = 10;
export const OFF_SRC = 12;
export const OFF_DST = 16;

export const FLAG_DF = 0x4000;
export const FLAG_MF = 0x2000;
export const FRAG_OFFSET_MASK = 0x1fff;

/** RFC 791 §3.1 option types used by RFC 7915 §4.1. */
export const OPT_END = 0;
export const OPT_NOP = 1;
export const OPT_LSRR = 131;
export const OPT_SSRR = 137;

export function ihlBytes(b: Uint8Array, o: number): number {
  return (b[o]! & 0x0f) << 2;
}

export function fragField(b: Uint8Array, o: number): number {
  return read16(b, o + OFF_FRAG);
}

export function isFragment(frag: number): boolean {
  return (frag & (FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
}

/** Computes and stores the header checksum (RFC 791 §3.1). */
export function writeHeaderChecksum(b: Uint8Array, o: number, hlen: number): void {
  b[o + OFF_CSUM] = 0;
  b[o + OFF_CSUM + 1] = 0;
  write16(b, o + OFF_CSUM, finish(sum16(b, o, hlen, 0)));
}

/** True when the header checksum verifies (sum of all words is 0xFFFF). */
export function headerChecksumOk(b: Uint8Array, o: number, hlen: number): boolean {
  return finish(sum16(b, o, hlen, 0)) === 0;
}

/**
 * RFC 7915 §4.1: an unexpired source route option (LSRR/SSRR whose pointer
 * has not passed the end of the option) forbids translation.
 */
export function hasUnexpiredSourceRoute(b: Uint8Array, o: number, hlen: number): boolean {
  let p = o + IPV4_HDR_LEN;
  const end = o + hlen;
  while (p < end) {
    const t = b[p]!;
    if (t === OPT_END) return false;
    if (t === OPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return false;
    const len = b[p + 1]!;
    if (t === OPT_LSRR || t === OPT_SSRR) {
      if (p + 2 >= end) return false;
      const ptr = b[p + 2]!;
      return ptr <= len;
    }
    if (len < 2) return false; // malformed option list: stop looking
    p += len;
  }
  return false;
}
