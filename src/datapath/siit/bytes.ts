import { words } from "./words.ts";

/**
 * Allocation-free byte copy (no subarray views on the packet path): native
 * set/copyWithin where possible, word or byte loops otherwise.
 */
export function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, d: number, n: number): void {
  if (n <= 0) return;
  if (src !== dst) {
    if (so === 0 && n === src.length) {
      dst.set(src, d); // whole source array: native copy, no view needed
      return;
    }
    for (let i = 0; i < n; i++) dst[d + i] = src[so + i]!;
    return;
  }
  if (n >= 128) {
    dst.copyWithin(d, so, so + n); // memmove inside one buffer
    return;
  }
  if (((so | d) & 3) === 0 && (d <= so || d >= so + n)) {
    const w = words(src);
    if (w !== null) {
      // 4-aligned inside one buffer, forward-safe: a word loop beats the native call for small sizes.
      const ks = so >>> 2;
      const kd = d >>> 2;
      const nw = n >>> 2;
      for (let k = 0; k < nw; k++) w[kd + k] = w[ks + k]!;
      for (let i = nw << 2; i < n; i++) dst[d + i] = src[so + i]!;
      return;
    }
  }
  if (d > so && d < so + n) {
    for (let i = n - 1; i >= 0; i--) dst[d + i] = src[so + i]!;
    return;
  }
  for (let i = 0; i < n; i++) dst[d + i] = src[so + i]!;
}
