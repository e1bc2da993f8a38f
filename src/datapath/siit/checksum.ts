/**
 * Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept as plain (non-negative) JS numbers that are folded to 16 bits
 * only when needed; a 64 KiB buffer sums to < 2^32, far below 2^53.
 */

/** Adds the 16-bit big-endian words of b[off, off+len) to acc (RFC 1071 §4.1). */
export function sum16(b: Uint8Array, off: number, len: number, acc: number): number {
  let s = acc;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8; // odd trailing byte padded with zero
  return s;
}

/** Folds a sum to 16 bits with end-around carry. */
export function fold16(s: number): number {
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
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
