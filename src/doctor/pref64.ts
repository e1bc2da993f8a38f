// NAT64 prefix arithmetic for the doctor (pure): RFC 6052 §2.2 embedding and extraction, and
// RFC 7050 §3 discovery of the prefix from the AAAA records of ipv4only.arpa.

import { RFC6052_LENGTHS, Rfc6052Prefix } from "../datapath/siit/addr/rfc6052.ts";
import { format, parseAddress, parsePrefix } from "../util/net.ts";

/** RFC 7050 §2.2 / RFC 8880: the well-known IPv4-only addresses of ipv4only.arpa. */
export const WKA = ["192.0.0.170", "192.0.0.171"] as const;

function bytes6(v: bigint): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

function bigint6(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function v4bytes(text: string): Uint8Array | undefined {
  const a = parseAddress(text, 4);
  if (!a.ok) return undefined;
  const n = Number(a.value.value);
  return new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

function compile(prefix: string): Rfc6052Prefix | undefined {
  const p = parsePrefix(prefix, 6, false);
  if (!p.ok || !RFC6052_LENGTHS.includes(p.value.length)) return undefined;
  try {
    return new Rfc6052Prefix(bytes6(p.value.network), p.value.length);
  } catch {
    return undefined; // a "u" octet that is not zero (RFC 6052 §2.2)
  }
}

/** The IPv6 address that stands for `v4` under `prefix` (RFC 6052 §2.2), or undefined. */
export function embed(prefix: string, v4: string): string | undefined {
  const p = compile(prefix);
  const b = v4bytes(v4);
  if (!p || !b) return undefined;
  const out = new Uint8Array(16);
  p.embed(b, 0, out, 0);
  return format(6, bigint6(out));
}

/** The IPv4 address inside `v6` when it is under `prefix`, or undefined. */
export function extract(prefix: string, v6: string): string | undefined {
  const p = compile(prefix);
  const a = parseAddress(v6, 6);
  if (!p || !a.ok) return undefined;
  const b = bytes6(a.value.value);
  if (!p.matches(b, 0)) return undefined;
  const out = new Uint8Array(4);
  if (!p.extract(b, 0, out, 0)) return undefined;
  return out.join(".");
}

/** true when `v6` lies inside `prefix` (any length) */
export function within(prefix: string, v6: string): boolean {
  const p = parsePrefix(prefix, 6, false);
  const a = parseAddress(v6, 6);
  if (!p.ok || !a.ok) return false;
  const shift = BigInt(128 - p.value.length);
  return a.value.value >> shift === p.value.network >> shift;
}

/**
 * RFC 7050 §3: for each AAAA of ipv4only.arpa, the prefix lengths at which one of the well-known
 * addresses appears; the prefix is what precedes it. Returns "prefix/len" texts, deduplicated.
 * (§3 also says a WKA found at more than one length is ambiguous: the longest match is kept.)
 */
export function prefixesFromIpv4onlyArpa(aaaa: string[]): string[] {
  const out: string[] = [];
  for (const text of aaaa) {
    const a = parseAddress(text, 6);
    if (!a.ok) continue;
    const b = bytes6(a.value.value);
    for (const len of [...RFC6052_LENGTHS].sort((x, y) => y - x)) {
      const mask = ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
      const net = a.value.value & mask;
      const p = compile(`${format(6, net)}/${len}`);
      const v4 = new Uint8Array(4);
      if (!p?.extract(b, 0, v4, 0)) continue;
      if ((WKA as readonly string[]).includes(v4.join("."))) {
        const t = `${format(6, net)}/${len}`;
        if (!out.includes(t)) out.push(t);
        break;
      }
    }
  }
  return out;
}
