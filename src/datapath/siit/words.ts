/**
 * Native 32-bit word views over packet buffers, for word-at-a-time compares,
 * copies and checksums on 4-aligned offsets. A view is created once per buffer
 * (the last one cached, all remembered weakly), so steady-state use allocates
 * nothing, even with several translators; unaligned or small arrays use byte loops.
 */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let viewOf: Uint8Array | null = null;
let view32: Uint32Array | null = null;
/** Views of every buffer seen, so that several translators in one thread do not re-create them. */
const known = new WeakMap<Uint8Array, Uint32Array | null>();

/** The Uint32Array over b (word k = bytes 4k..4k+3 of b), or null if b is unaligned or small. */
export function words(b: Uint8Array): Uint32Array | null {
  if (b === viewOf) return view32;
  let v = known.get(b);
  if (v === undefined) {
    v =
      (b.byteOffset & 3) === 0 && b.byteLength >= 256
        ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2)
        : null;
    known.set(b, v);
  }
  viewOf = b;
  view32 = v;
  return v;
}

/** Native-order words of a 16-byte (or 4-byte) constant such as a prefix or a mask. */
export function constWords(bytes: Uint8Array): Uint32Array {
  const c = new Uint8Array(bytes.length);
  c.set(bytes);
  return new Uint32Array(c.buffer);
}

/** Byte mask with the first `len` bits set, `n` bytes long. */
export function prefixMask(len: number, n: number): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    m[i] = (0xff << (8 - bits)) & 0xff;
  }
  return m;
}
