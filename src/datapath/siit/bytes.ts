/** Allocation-free byte copy (no subarray views on the packet path). */
export function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, d: number, n: number): void {
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
