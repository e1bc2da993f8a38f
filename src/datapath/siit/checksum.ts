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
      const k0 = off >>> 2;
      let lo = 0;
      let hi = 0;
      for (let k = k0; k < k0 + n; k++) {
        const x = w[k]!;
        lo += x & 0xffff;
        hi += x >>> 16;
      }
      let f = lo + hi;
      f = (f & 0xffff) + (f >>> 16);
      f = (f & 0xffff) + (f >>> 16);
      const swapped = ((f & 0xff) << 8) | (f >>> 8);
      const rest = len & 3;
      return rest === 0 ? acc + swapped : sumBytes(b, off + (n << 2), rest, acc + swapped);
    }
  }
  return sumBytes(b, off, len, acc);
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
  const s = (~oldCsum & 0xffff) + (~fold16(oldSum) & 0xffff) + fold16(newSum);
  return ~fold16(s) & 0xffff;
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
