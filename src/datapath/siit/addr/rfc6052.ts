/**
 * RFC 6052 §2.2: IPv4-embedded IPv6 addresses for prefix lengths
 * 32, 40, 48, 56, 64 and 96. Bits 64-71 (the "u" octet, byte 8) are skipped
 * and written as zero; the suffix after the IPv4 bytes is zero.
 */

export const RFC6052_LENGTHS: readonly number[] = [32, 40, 48, 56, 64, 96];

export function isValidRfc6052Length(len: number): boolean {
  return RFC6052_LENGTHS.includes(len);
}

/** A compiled RFC 6052 prefix. */
export class Rfc6052Prefix {
  readonly bytes: Uint8Array; // 16 bytes, bits after `len` zero
  readonly len: number;
  readonly lenBytes: number;

  constructor(bytes: Uint8Array, len: number) {
    if (!isValidRfc6052Length(len)) throw new Error(`RFC 6052 prefix length must be one of ${RFC6052_LENGTHS.join(', ')}, got /${len}`);
    if (len < 96 && bytes[8] !== 0) throw new Error('RFC 6052 §2.2: bits 64-71 of the prefix must be zero');
    this.bytes = new Uint8Array(16);
    this.bytes.set(bytes.subarray(0, len >>> 3));
    this.len = len;
    this.lenBytes = len >>> 3;
  }

  /** True when the 16 bytes at a[o] start with this prefix. */
  matches(a: Uint8Array, o: number): boolean {
    const p = this.bytes;
    for (let i = 0; i < this.lenBytes; i++) if (a[o + i] !== p[i]) return false;
    return true;
  }

  /** RFC 6052 §2.3: writes the IPv6 address embedding v4[vo..vo+4) at out[o..o+16). */
  embed(v4: Uint8Array, vo: number, out: Uint8Array, o: number): void {
    const p = this.bytes;
    let i = 0;
    for (; i < this.lenBytes; i++) out[o + i] = p[i]!;
    for (; i < 16; i++) out[o + i] = 0;
    let pos = this.lenBytes;
    for (let k = 0; k < 4; k++) {
      if (pos === 8) pos++; // skip the u octet (bits 64-71)
      out[o + pos] = v4[vo + k]!;
      pos++;
    }
  }

  /** RFC 6052 §2.3: extracts the embedded IPv4 address. Returns false if the prefix does not match. */
  extract(a: Uint8Array, o: number, out: Uint8Array, oo: number): boolean {
    if (!this.matches(a, o)) return false;
    let pos = this.lenBytes;
    for (let k = 0; k < 4; k++) {
      if (pos === 8) pos++;
      out[oo + k] = a[o + pos]!;
      pos++;
    }
    return true;
  }
}
