/**
 * RFC 6052 §2.2: IPv4-embedded IPv6 addresses for prefix lengths
 * 32, 40, 48, 56, 64 and 96. Bits 64-71 (the "u" octet, byte 8) are skipped
 * and written as zero; the suffix after the IPv4 bytes is zero.
 */
import { constWords, words } from "../words.ts";

export const RFC6052_LENGTHS: readonly number[] = [32, 40, 48, 56, 64, 96];

export function isValidRfc6052Length(len: number): boolean {
  return RFC6052_LENGTHS.includes(len);
}

/** A compiled RFC 6052 prefix. */
export class Rfc6052Prefix {
  readonly bytes: Uint8Array; // 16 bytes, bits after `len` zero
  readonly len: number;
  readonly lenBytes: number;
  /** The prefix as native 32-bit words, for the word-aligned /32 and /96 fast paths. */
  private readonly w: Uint32Array;

  constructor(bytes: Uint8Array, len: number) {
    if (!isValidRfc6052Length(len))
      throw new Error(`RFC 6052 prefix length must be one of ${RFC6052_LENGTHS.join(", ")}, got /${len}`);
    if (len < 96 && bytes[8] !== 0) throw new Error("RFC 6052 §2.2: bits 64-71 of the prefix must be zero");
    this.bytes = new Uint8Array(16);
    this.bytes.set(bytes.subarray(0, len >>> 3));
    this.len = len;
    this.lenBytes = len >>> 3;
    this.w = constWords(this.bytes);
  }

  /** True when the 16 bytes at a[o] start with this prefix. */
  matches(a: Uint8Array, o: number): boolean {
    if ((this.len & 31) === 0 && (o & 3) === 0) {
      const aw = words(a);
      if (aw !== null) {
        const k = o >>> 2;
        const n = this.len >>> 5;
        for (let i = 0; i < n; i++) if (aw[k + i] !== this.w[i]) return false;
        return true;
      }
    }
    const p = this.bytes;
    for (let i = 0; i < this.lenBytes; i++) if (a[o + i] !== p[i]) return false;
    return true;
  }

  /** RFC 6052 §2.3: writes the IPv6 address embedding v4[vo..vo+4) at out[o..o+16). */
  embed(v4: Uint8Array, vo: number, out: Uint8Array, o: number): void {
    if (this.len === 96 && ((o | vo) & 3) === 0 && v4 === out) {
      const w = words(out);
      if (w !== null) {
        const k = o >>> 2;
        w[k] = this.w[0]!;
        w[k + 1] = this.w[1]!;
        w[k + 2] = this.w[2]!;
        w[k + 3] = w[vo >>> 2]!;
        return;
      }
    }
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
    if (this.len === 96 && a === out && ((o | oo) & 3) === 0) {
      const w = words(a);
      if (w !== null) {
        w[oo >>> 2] = w[(o >>> 2) + 3]!;
        return true;
      }
    }
    let pos = this.lenBytes;
    for (let k = 0; k < 4; k++) {
      if (pos === 8) pos++;
      out[oo + k] = a[o + pos]!;
      pos++;
    }
    return true;
  }
}
