/**
 * Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept as plain (non-negative) JS numbers that are folded to 16 bits
 * only when needed; a 64 KiB buffer sums to < 2^32, far below 2^53.
 */

import { LITTLE_ENDIAN, words } from "./words.ts";

// Word-at-a-time summing (RFC 1071 §2(B), byte-order independence): the
// native (little-endian) 32-bit words of a 4-aligned region are summed as
// 16-bit halves, folded, and byte-swapped once at the end.
/** Adds the 16-bit big-endian words of b[off, off+len) to acc (RFC 1071 §4.1). */
export function sum16(b: Uint8Array, off: number, len: number, acc: number): number {
  if (LITTLE_ENDIAN && (off & 3) === 0 && len >= 8) {
    const w = words(b);
    if (w !== null) {
      const n = len >>> 2;
      const swapped = swap16(sumWords(w, off >>> 2, n));
      const rest = len & 3;
      return rest === 0 ? acc + swapped : sumBytes(b, off + (n << 2), rest, acc + swapped);
    }
  }
  return sumBytes(b, off, len, acc);
}

/**
 * The folded ones' complement sum of the n native 32-bit words w[k, k+n), in
 * native byte order: swap16 of it is the RFC 1071 sum of those bytes.
 */
export function sumWords(w: Uint32Array, k: number, n: number): number {
  let lo = 0;
  let hi = 0;
  for (let i = k; i < k + n; i++) {
    const x = w[i]!;
    lo += x & 0xffff;
    hi += x >>> 16;
  }
  let f = lo + hi;
  f = (f & 0xffff) + (f >>> 16);
  return (f & 0xffff) + (f >>> 16);
}

/** The two bytes of a 16-bit value swapped. */
export function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

function sumBytes(b: Uint8Array, off: number, len: number, acc: number): number {
  let s = acc;
  const end = off + len;
  let i = off;
  for (; i + 3 < end; i += 4) s += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!);
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8; // odd trailing byte padded with zero
  return s;
}

/** Folds a sum to 16 bits with end-around carry. */
export function fold16(s: number): number {
  // Sums stay below 2^32 (a 64 KiB buffer sums to < 2^31), so 32-bit ops are exact.
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum field value for a sum: ones' complement of the folded sum. */
export function finish(s: number): number {
  return ~fold16(s) & 0xffff;
}

/**
 * RFC 1624 §3, eqn. 3: HC' = ~(~HC + ~m + m'), where m is the (folded) sum of
 * the old values of the changed fields and m' the sum of the new ones.
 * This keeps a wrong checksum exactly as wrong as it was (never "fixes" it).
 */
export function adjust(oldCsum: number, oldSum: number, newSum: number): number {
  // The folds written out (not fold16 calls): the fast path inlines this, within V8's inlining budget.
  let m = (oldSum & 0xffff) + (oldSum >>> 16);
  m = (m & 0xffff) + (m >>> 16);
  let m2 = (newSum & 0xffff) + (newSum >>> 16);
  m2 = (m2 & 0xffff) + (m2 >>> 16);
  let s = (~oldCsum & 0xffff) + (~m & 0xffff) + m2;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for the IPv6 header at b[o]: addresses, length, next header. */
export function pseudoSum6(b: Uint8Array, o: number, upperLen: number, nh: number): number {
  return sum16(b, o + 8, 32, 0) + (upperLen >>> 16) + (upperLen & 0xffff) + nh;
}

export function read16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function write16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

export function read32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function write32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/**
 * Completes a partial checksum (the kernel's CHECKSUM_PARTIAL, what a NIC
 * does on transmit): the ones' complement of the sum of b[pkt+start, pkt+len),
 * the pseudo-header seed in the field included, stored at pkt+start+offset.
 * False (nothing written) if the offsets do not fit the packet.
 */
export function completeChecksum(
  b: Uint8Array,
  pkt: number,
  len: number,
  start: number,
  offset: number,
): boolean {
  if (start < 0 || offset < 0 || start + offset + 2 > len) return false;
  const c = finish(sum16(b, pkt + start, len - start, 0));
  // A computed zero goes out as 0xffff (the same value in ones' complement; 0 means "none" for UDP).
  write16(b, pkt + start + offset, c === 0 ? 0xffff : c);
  return true;
}
