import { constWords, prefixMask, words } from "../words.ts";

/**
 * Explicit Address Mapping Table (RFC 7757 §3). Each entry maps an IPv6 prefix
 * to an IPv4 prefix; the IPv4 suffix bits (32 - len4) are carried right after
 * the IPv6 prefix (bits len6 .. len6 + 32 - len4), the remaining IPv6 bits are
 * zero. Lookups are longest-prefix match (RFC 7757 §3.2).
 */

function getBit(a: Uint8Array, o: number, bit: number): number {
  return (a[o + (bit >>> 3)]! >>> (7 - (bit & 7))) & 1;
}

function prefixMatches(a: Uint8Array, o: number, p: Uint8Array, len: number): boolean {
  const full = len >>> 3;
  for (let i = 0; i < full; i++) if (a[o + i] !== p[i]) return false;
  const rem = len & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((a[o + full]! ^ p[full]!) & mask) === 0;
}

export interface EamtEntryBytes {
  v6: Uint8Array; // 16 bytes, host bits zero
  len6: number;
  v4: Uint8Array; // 4 bytes, host bits zero
  len4: number;
}

interface Entry extends EamtEntryBytes {
  /** Both prefix lengths are multiples of 8: suffixes move as whole bytes. */
  aligned: boolean;
  /** Prefixes and masks as native words for word-at-a-time matching. */
  v6w: Uint32Array;
  m6w: Uint32Array;
  n6w: number;
  v4w: number;
  m4w: number;
}

/** Byte swap of a 32-bit value (native little-endian word ⇄ big-endian value). */
function bswap(x: number): number {
  return ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

function beWord(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Word-at-a-time prefix test on a 4-aligned address (see words.ts). */
function matchWords(aw: Uint32Array, k: number, pw: Uint32Array, mw: Uint32Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (((aw[k + i]! ^ pw[i]!) & mw[i]!) !== 0) return false;
  return true;
}

export class Eamt {
  /** Sorted by decreasing IPv6 prefix length. */
  private readonly by6: Entry[];
  /** Sorted by decreasing IPv4 prefix length. */
  private readonly by4: Entry[];

  constructor(entries: EamtEntryBytes[]) {
    for (const e of entries) {
      if (e.len4 < 0 || e.len4 > 32 || e.len6 < 0 || e.len6 > 128) throw new Error("EAMT: bad prefix length");
      if (128 - e.len6 < 32 - e.len4)
        throw new Error("RFC 7757 §3.2: the IPv6 suffix must hold the IPv4 suffix");
    }
    const all: Entry[] = entries.map((e) => ({
      ...e,
      aligned: e.len6 % 8 === 0 && e.len4 % 8 === 0,
      v6w: constWords(e.v6),
      m6w: constWords(prefixMask(e.len6, 16)),
      n6w: (e.len6 + 31) >>> 5,
      v4w: constWords(e.v4)[0]!,
      m4w: constWords(prefixMask(e.len4, 4))[0]!,
    }));
    this.by6 = [...all].sort((a, b) => b.len6 - a.len6);
    this.by4 = [...all].sort((a, b) => b.len4 - a.len4);
    // Flat copies for the word paths (no object loads per packet).
    const n = all.length;
    this.f6 = new Uint32Array(n * 8); // by6 order: 4 prefix words then 4 mask words (native order)
    this.f6meta = new Int32Array(n * 3); // len6, len4, words to compare
    this.f6p4 = new Uint32Array(n); // IPv4 prefix, big-endian value
    this.by6.forEach((e, i) => {
      this.f6.set(e.v6w, 8 * i);
      this.f6.set(e.m6w, 8 * i + 4);
      this.f6meta.set([e.len6, e.len4, e.n6w], 3 * i);
      this.f6p4[i] = beWord(e.v4, 0);
    });
    this.f4 = new Uint32Array(n * 2); // by4 order: prefix word, mask word (native order)
    this.f4meta = new Int32Array(n * 2); // len6, len4
    this.f4p6 = new Uint32Array(n * 4); // IPv6 prefix, big-endian values
    this.by4.forEach((e, i) => {
      this.f4[2 * i] = e.v4w;
      this.f4[2 * i + 1] = e.m4w;
      this.f4meta.set([e.len6, e.len4], 2 * i);
      for (let j = 0; j < 4; j++) this.f4p6[4 * i + j] = beWord(e.v6, 4 * j);
    });
  }

  private readonly f6: Uint32Array;
  private readonly f6meta: Int32Array;
  private readonly f6p4: Uint32Array;
  private readonly f4: Uint32Array;
  private readonly f4meta: Int32Array;
  private readonly f4p6: Uint32Array;
  private readonly t = new Uint32Array(4);

  /**
   * Word path of {@link map6to4} (little-endian hosts): the IPv6 address is the
   * 4 native words w[k..k+3], the IPv4 result goes to w[ko].
   */
  map6to4W(w: Uint32Array, k: number, ko: number): boolean {
    const f = this.f6;
    const meta = this.f6meta;
    const n = this.f6p4.length;
    for (let e = 0; e < n; e++) {
      const nw = meta[3 * e + 2]!;
      let i = 0;
      for (; i < nw; i++) if (((w[k + i]! ^ f[8 * e + i]!) & f[8 * e + 4 + i]!) !== 0) break;
      if (i < nw) continue;
      const len6 = meta[3 * e]!;
      const bits = 32 - meta[3 * e + 1]!;
      let val = 0;
      if (bits > 0) {
        const wi = len6 >>> 5;
        const r = len6 & 31;
        const hi = bswap(w[k + wi]!);
        const x = r === 0 ? hi : ((hi << r) | (r + bits > 32 ? bswap(w[k + wi + 1]!) >>> (32 - r) : 0)) >>> 0;
        val = bits === 32 ? x : x >>> (32 - bits);
      }
      w[ko] = bswap((this.f6p4[e]! | val) >>> 0);
      return true;
    }
    return false;
  }

  /** Word path of {@link map4to6}: IPv4 address in w[k], IPv6 result to w[ko..ko+3]. */
  map4to6W(w: Uint32Array, k: number, ko: number): boolean {
    const f = this.f4;
    const meta = this.f4meta;
    const n = meta.length >>> 1;
    const a = w[k]!;
    for (let e = 0; e < n; e++) {
      if (((a ^ f[2 * e]!) & f[2 * e + 1]!) !== 0) continue;
      const t = this.t;
      const p = this.f4p6;
      t[0] = p[4 * e]!;
      t[1] = p[4 * e + 1]!;
      t[2] = p[4 * e + 2]!;
      t[3] = p[4 * e + 3]!;
      const len6 = meta[2 * e]!;
      const bits = 32 - meta[2 * e + 1]!;
      if (bits > 0) {
        const be = bswap(a);
        const suffix = bits === 32 ? be : (be & ((1 << bits) - 1)) >>> 0;
        const wi = len6 >>> 5;
        const r = len6 & 31;
        if (r + bits <= 32) t[wi] = t[wi]! | (suffix << (32 - r - bits));
        else {
          t[wi] = t[wi]! | (suffix >>> (r + bits - 32));
          t[wi + 1] = t[wi + 1]! | (suffix << (64 - r - bits));
        }
      }
      w[ko] = bswap(t[0]!);
      w[ko + 1] = bswap(t[1]!);
      w[ko + 2] = bswap(t[2]!);
      w[ko + 3] = bswap(t[3]!);
      return true;
    }
    return false;
  }

  get size(): number {
    return this.by6.length;
  }

  /** True when the IPv4 address at a[o] is covered by some entry (RFC 7757 Appendix B hairpin test). */
  has4(a: Uint8Array, o: number): boolean {
    const t = this.by4;
    const aw = (o & 3) === 0 ? words(a) : null;
    for (let i = 0; i < t.length; i++) {
      const e = t[i]!;
      if (aw !== null ? ((aw[o >>> 2]! ^ e.v4w) & e.m4w) === 0 : prefixMatches(a, o, e.v4, e.len4))
        return true;
    }
    return false;
  }

  /** RFC 7757 §3.2 IPv6→IPv4. */
  map6to4(a: Uint8Array, o: number, out: Uint8Array, oo: number): boolean {
    const t = this.by6;
    const aw = (o & 3) === 0 ? words(a) : null;
    for (let i = 0; i < t.length; i++) {
      const e = t[i]!;
      if (aw !== null ? !matchWords(aw, o >>> 2, e.v6w, e.m6w, e.n6w) : !prefixMatches(a, o, e.v6, e.len6))
        continue;
      if (e.aligned) {
        const k4 = e.len4 >>> 3;
        const k6 = e.len6 >>> 3;
        for (let j = 0; j < k4; j++) out[oo + j] = e.v4[j]!;
        for (let j = k4; j < 4; j++) out[oo + j] = a[o + k6 + j - k4]!;
        return true;
      }
      const n = 32 - e.len4;
      let v = 0;
      for (let k = 0; k < n; k++) v = (v << 1) | getBit(a, o, e.len6 + k);
      const p = e.v4;
      const pv = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
      const r = n === 32 ? v >>> 0 : (pv | v) >>> 0;
      out[oo] = r >>> 24;
      out[oo + 1] = (r >>> 16) & 0xff;
      out[oo + 2] = (r >>> 8) & 0xff;
      out[oo + 3] = r & 0xff;
      return true;
    }
    return false;
  }

  /** RFC 7757 §3.2 IPv4→IPv6. */
  map4to6(a: Uint8Array, o: number, out: Uint8Array, oo: number): boolean {
    const t = this.by4;
    const aw = (o & 3) === 0 ? words(a) : null;
    for (let ti = 0; ti < t.length; ti++) {
      const e = t[ti]!;
      if (aw !== null ? ((aw[o >>> 2]! ^ e.v4w) & e.m4w) !== 0 : !prefixMatches(a, o, e.v4, e.len4)) continue;
      const p = e.v6;
      for (let i = 0; i < 16; i++) out[oo + i] = p[i]!;
      if (e.aligned) {
        const k4 = e.len4 >>> 3;
        const k6 = e.len6 >>> 3;
        for (let j = k4; j < 4; j++) out[oo + k6 + j - k4] = a[o + j]!;
        return true;
      }
      const n = 32 - e.len4;
      for (let k = 0; k < n; k++) {
        if (getBit(a, o, e.len4 + k) === 0) continue;
        const bit = e.len6 + k;
        const idx = oo + (bit >>> 3);
        out[idx] = out[idx]! | (0x80 >>> (bit & 7));
      }
      return true;
    }
    return false;
  }
}
