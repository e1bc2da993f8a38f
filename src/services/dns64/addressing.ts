// Address work for DNS64: RFC 6052 synthesis of AAAA data from A data, the exclusion prefixes of
// RFC 6147 §5.1.4, and the reverse names (ip6.arpa / in-addr.arpa) of RFC 6147 §5.3.1.

import { Rfc6052Prefix } from "../../datapath/siit/addr/rfc6052.ts";
import type { PrefixData } from "../../util/net.ts";
import { concat, lowerName, nameEquals, textToName } from "./wire.ts";

export { Rfc6052Prefix };

function bigintToBytes(v: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Compiles a PREF64 ("64:ff9b::/96", any RFC 6052 length) or throws with the reason. */
export function compilePref64(p: PrefixData): Rfc6052Prefix {
  return new Rfc6052Prefix(bigintToBytes(p.network), p.length);
}

/** RFC 6052 §2.3: the IPv6 address embedding `v4` (4 bytes) under `prefix`. */
export function synthesizeAddress(prefix: Rfc6052Prefix, v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  prefix.embed(v4, 0, out, 0);
  return out;
}

/** An IPv6 prefix compiled for byte-wise matching. */
export interface Prefix6 {
  bytes: Uint8Array;
  length: number;
}

export function compilePrefix6(p: PrefixData): Prefix6 {
  return { bytes: bigintToBytes(p.network), length: p.length };
}

/** True when the 16 bytes at a[o] lie inside `p`. */
export function inPrefix6(p: Prefix6, a: Uint8Array, o = 0): boolean {
  const full = p.length >>> 3;
  for (let i = 0; i < full; i++) if (a[o + i] !== p.bytes[i]) return false;
  const rest = p.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[o + full]! & mask) === (p.bytes[full]! & mask);
}

const HEX = "0123456789abcdef";
const IP6_ARPA = textToName("ip6.arpa");
const IN_ADDR_ARPA = textToName("in-addr.arpa");

/**
 * The ip6.arpa zone of a PREF64 (RFC 3596 §2.5 nibble form): every RFC 6052 length is a multiple
 * of 4 bits, so the zone cut falls on a label boundary.
 */
export function reverseZone(prefix: Rfc6052Prefix): Uint8Array {
  const nibbles = prefix.len / 4;
  const labels: number[] = [];
  for (let i = nibbles - 1; i >= 0; i--) {
    const byte = prefix.bytes[i >>> 1]!;
    const nib = i % 2 === 0 ? byte >>> 4 : byte & 0xf;
    labels.push(1, HEX.charCodeAt(nib));
  }
  return concat(Uint8Array.from(labels), IP6_ARPA);
}

/**
 * The 16-byte address of a full 32-nibble ip6.arpa name, or undefined when the name is anything
 * else (fewer nibbles, a label that is not one hex digit, another zone).
 */
export function addressOfIp6Arpa(name: Uint8Array): Uint8Array | undefined {
  if (name.length !== 64 + IP6_ARPA.length) return undefined;
  const lower = lowerName(name);
  for (let i = 0; i < IP6_ARPA.length; i++) if (lower[64 + i] !== IP6_ARPA[i]) return undefined;
  const out = new Uint8Array(16);
  for (let k = 0; k < 32; k++) {
    if (lower[2 * k] !== 1) return undefined;
    const v = HEX.indexOf(String.fromCharCode(lower[2 * k + 1]!));
    if (v < 0) return undefined;
    // label k is nibble 31-k (least significant first)
    const nib = 31 - k;
    out[nib >>> 1]! |= nib % 2 === 0 ? v << 4 : v;
  }
  return out;
}

/**
 * True when `name` lies in the reverse zone of `prefix` (reverseZone) with fewer than the 32 nibble
 * labels of a whole address, each label one hex digit: a name of the zone's tree above the
 * addresses (the apex included), which exists but holds no PTR record.
 */
export function isPartialIp6Arpa(prefix: Rfc6052Prefix, name: Uint8Array): boolean {
  const zone = reverseZone(prefix);
  const extra = name.length - zone.length;
  if (extra < 0 || extra % 2 !== 0 || prefix.len / 4 + extra / 2 >= 32) return false;
  for (let i = 0; i < extra; i += 2) {
    const c = name[i + 1]!;
    const lower = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (name[i] !== 1 || HEX.indexOf(String.fromCharCode(lower)) < 0) return false;
  }
  return nameEquals(name.subarray(extra), zone);
}

/** d.c.b.a.in-addr.arpa for a.b.c.d (RFC 1035 §3.5). */
export function inAddrArpaName(v4: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 3; i >= 0; i--) parts.push(textToName(String(v4[i]!)).subarray(0, -1));
  return concat(...parts, IN_ADDR_ARPA);
}

export function formatV6(a: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((a[i]! << 8) | a[i + 1]!).toString(16));
  return groups.join(":");
}
