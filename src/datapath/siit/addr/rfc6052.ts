/**
 * RFC 6052 §2.2: IPv4-embedded IPv6 addresses for prefix lengths
 * 32, 40, 48, 56, 64 and 96. Bits 64-71 (the "u" octet, byte 8) are skipped
 * and written as zero; the suffix after the IPv4 bytes is zero.
 */
import { constWords, words } from "../words.ts";

/** The Well-Known Prefix 64:ff9b::/96 (RFC 6052 §2.1), its first bytes (the rest are zero). */
const WELL_KNOWN = [0x00, 0x64, 0xff, 0x9b];

export const RFC6052_LENGTHS: readonly number[] = [32, 40, 48, 56, 64, 96];

export function isValidRfc6052Length(len: number): boolean {
  return RFC6052_LENGTHS.includes(len);
}

/**
 * RFC 6052 §3.1: whether the IPv4 address `a` (a 32-bit number) is one the Well-Known Prefix never
 * embeds (non-global: RFC 6890's registry marks it not globally reachable). One branch on the
 * first octet, as it runs for every packet under 64:ff9b::/96:
 *   0/8 "this network", 10/8 and 172.16/12 and 192.168/16 private (RFC 1918), 100.64/10 shared
 *   (RFC 6598), 127/8 loopback, 169.254/16 link local (RFC 3927), 224/4 multicast, 240/4
 *   reserved with 255.255.255.255.
 * Documentation (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and benchmarking (198.18.0.0/15)
 * space are left out on purpose: they never reach the Internet, and test labs use them behind
 * 64:ff9b::/96. So is 192.0.0.0/24, which holds global anycast addresses.
 */
export function isNonGlobal4(a: number): boolean {
  const o1 = a >>> 24;
  const o2 = (a >>> 16) & 0xff;
  switch (o1) {
    case 0:
    case 10:
    case 127:
      return true;
    case 100:
      return (o2 & 0xc0) === 64;
    case 169:
      return o2 === 254;
    case 172:
      return (o2 & 0xf0) === 16;
    case 192:
      return o2 === 168;
    default:
      return o1 >= 224;
  }
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
    this.wellKnown = len === 96 && this.bytes.every((b, i) => b === (WELL_KNOWN[i] ?? 0));
  }

  /**
   * RFC 6052 §2.1: this is the Well-Known Prefix 64:ff9b::/96, which §3.1 forbids to embed
   * non-global IPv4 addresses: a translator drops such packets.
   */
  readonly wellKnown: boolean;

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

  /**
   * RFC 6052 §2.3: the IPv4 address embedded in the 16 bytes at a[o], as an unsigned number, for
   * an address the caller knows {@link matches} (a stateful NAT64's per-packet lookup key).
   */
  embedded4(a: Uint8Array, o: number): number {
    let p = o + this.lenBytes;
    if (this.len === 96) return ((a[p]! << 24) | (a[p + 1]! << 16) | (a[p + 2]! << 8) | a[p + 3]!) >>> 0;
    let v = 0;
    for (let k = 0; k < 4; k++, p++) {
      if (p - o === 8) p++; // skip the u octet (bits 64-71)
      v = (v << 8) | a[p]!;
    }
    return v >>> 0;
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
