import { words } from './words.ts';

/**
 * Allocation-free byte copy (no subarray views on the packet path). Inside one
 * buffer it is a native memmove (copyWithin); across buffers a JS loop.
 */
export function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, d: number, n: number): void {
  if (n >= 128) {
    // memmove inside one buffer: no allocation, native speed.
    if (src === dst) {
      dst.copyWithin(d, so, so + n);
      return;
    }
    if (so === 0 && n === src.length) {
      dst.set(src, d);
      return;
    }
  }
  if (src === dst && ((so | d) & 3) === 0 && (d <= so || d >= so + n)) {
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
  if (src === dst && d > so && d < so + n) {
    for (let i = n - 1; i >= 0; i--) dst[d + i] = src[so + i]!;
    return;
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[d + i] = src[so + i]!;
    dst[d + i + 1] = src[so + i + 1]!;
    dst[d + i + 2] = src[so + i + 2]!;
    dst[d + i + 3] = src[so + i + 3]!;
  }
  for (; i < n; i++) dst[d + i] = src[so + i]!;
}
