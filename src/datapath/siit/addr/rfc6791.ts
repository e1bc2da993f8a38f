/**
 * RFC 6791 §3 (RFC 7915 §4.2, §5.2): the source address of a translated ICMP
 * error whose own source has no mapping, e.g. a router on the path.
 */
import { copyBytes } from "../bytes.ts";
import { fold16 } from "../checksum.ts";

/**
 * Writes at out[o] one of the pool's addresses (`width` bytes each, 4 or 16),
 * chosen by `key`, the RFC 1071 sum of the offending source (folded here:
 * the same source always gets the same address), else the translator's own
 * address `own`. False when there is neither.
 */
export function rfc6791Source(
  pool: Uint8Array,
  own: Uint8Array | null,
  width: number,
  key: number,
  out: Uint8Array,
  o: number,
): boolean {
  const n = pool.length / width;
  if (n > 0) {
    copyBytes(pool, n === 1 ? 0 : (fold16(key) % n) * width, out, o, width);
    return true;
  }
  if (own === null) return false;
  copyBytes(own, 0, out, o, width);
  return true;
}
