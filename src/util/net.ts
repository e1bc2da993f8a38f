// The address library: addresses, prefixes and ranges as the resources write them, parsed with ip-address and held as
// bigints so that containment, overlap and size are exact for both families.
import { Address4, Address6 } from "ip-address";

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** first address of the prefix, host bits cleared */
  network: bigint;
  length: number;
  /** the text as the user wrote it, for messages */
  text: string;
}

/** An inclusive range of addresses of one family. */
export interface Range {
  family: Family;
  first: bigint;
  last: bigint;
  text: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const bits = (family: Family): number => (family === 4 ? 32 : 128);

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}
function fail<T>(error: string): Parsed<T> {
  return { ok: false, error };
}

/** A bare address (no length) of either family, or of the one asked for. */
export function parseAddress(text: string, want?: Family): Parsed<{ family: Family; value: bigint }> {
  const t = text.trim();
  if (t.includes("/")) return fail(`"${text}" is a prefix; an address without a length is expected here`);
  if (t.includes(":")) {
    if (want === 4) return fail(`"${text}" is an IPv6 address; an IPv4 address is expected here`);
    if (t.includes("%")) return fail(`"${text}" has a zone index; write the address without "%zone"`);
    if (!Address6.isValid(t)) return fail(`"${text}" is not a valid IPv6 address`);
    return ok({ family: 6, value: new Address6(t).bigInt() });
  }
  if (want === 6) {
    return Address4.isValid(t)
      ? fail(`"${text}" is an IPv4 address; an IPv6 address is expected here`)
      : fail(`"${text}" is not a valid IPv6 address`);
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(t) || !Address4.isValid(t)) {
    return fail(`"${text}" is not a valid IPv4 address (dotted quad such as 192.0.2.1)`);
  }
  return ok({ family: 4, value: new Address4(t).bigInt() });
}

/**
 * A prefix in CIDR notation. `strict` rejects host bits set below the length
 * (fd00:ff9b::1/96), which is almost always a typo for the network address.
 */
export function parsePrefix(text: string, want?: Family, strict = true): Parsed<Prefix> {
  const t = text.trim();
  const slash = t.indexOf("/");
  if (slash < 0)
    return fail(`"${text}" has no prefix length (write it as address/length, e.g. 2001:db8::/64)`);
  const addr = parseAddress(t.slice(0, slash), want);
  if (!addr.ok) return fail(addr.error.replace(/^"[^"]*"/, `"${text}"`));
  const lenText = t.slice(slash + 1);
  const family = addr.value.family;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > bits(family)) {
    return fail(`"${text}": prefix length must be 0 to ${bits(family)} for IPv${family}`);
  }
  const length = Number(lenText);
  const network = addr.value.value & maskOf(family, length);
  if (strict && network !== addr.value.value) {
    return fail(
      `"${text}" has host bits set below /${length}; did you mean ${format(family, network)}/${length}?`,
    );
  }
  return ok({ family, network, length, text: t });
}

/**
 * A pool entry: `first-last`, a CIDR, or a single address. Used by pool4 and DHCP ranges.
 */
export function parseRange(text: string, want?: Family): Parsed<Range> {
  const t = text.trim();
  const dash = t.indexOf("-");
  if (dash >= 0) {
    const a = parseAddress(t.slice(0, dash), want);
    if (!a.ok) return fail(`range "${text}": ${a.error}`);
    const b = parseAddress(t.slice(dash + 1), a.value.family);
    if (!b.ok) return fail(`range "${text}": ${b.error}`);
    if (b.value.value < a.value.value) return fail(`range "${text}" ends before it starts`);
    return ok({ family: a.value.family, first: a.value.value, last: b.value.value, text: t });
  }
  if (t.includes("/")) {
    const p = parsePrefix(t, want);
    if (!p.ok) return fail(p.error);
    return ok(prefixRange(p.value));
  }
  const a = parseAddress(t, want);
  if (!a.ok) return fail(a.error);
  return ok({ family: a.value.family, first: a.value.value, last: a.value.value, text: t });
}

export function maskOf(family: Family, length: number): bigint {
  const total = bits(family);
  const all = (1n << BigInt(total)) - 1n;
  return (all >> BigInt(total - length)) << BigInt(total - length);
}

export function prefixRange(p: Prefix): Range {
  const size = 1n << BigInt(bits(p.family) - p.length);
  return { family: p.family, first: p.network, last: p.network + size - 1n, text: p.text };
}

export function rangeSize(r: Range): bigint {
  return r.last - r.first + 1n;
}

export function contains(outer: Range, inner: Range): boolean {
  return outer.family === inner.family && outer.first <= inner.first && inner.last <= outer.last;
}

export function overlaps(a: Range, b: Range): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function inRange(r: Range, family: Family, value: bigint): boolean {
  return r.family === family && r.first <= value && value <= r.last;
}

/** Canonical text of an address (RFC 5952 for IPv6). */
export function format(family: Family, value: bigint): string {
  if (family === 4) return Address4.fromBigInt(value).correctForm();
  return Address6.fromBigInt(value).correctForm();
}

export function formatRange(r: Range): string {
  return r.first === r.last
    ? format(r.family, r.first)
    : `${format(r.family, r.first)}-${format(r.family, r.last)}`;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, with the host an IP literal. */
export interface Endpoint {
  family: Family;
  address: bigint;
  host: string;
  port: number;
}

export function parseEndpoint(text: string, defaultPort: number): Parsed<Endpoint> {
  const t = text.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if ((t.match(/:/g) ?? []).length > 1) {
    host = t; // a bare IPv6 address; a port needs brackets
  } else {
    const i = t.lastIndexOf(":");
    host = i >= 0 ? t.slice(0, i) : t;
    portText = i >= 0 ? t.slice(i + 1) : undefined;
  }
  const a = parseAddress(host);
  if (!a.ok) {
    const hint =
      /^[a-z]/i.test(host) && !host.includes(":")
        ? " (host names are not resolved here: give an IP address)"
        : "";
    return fail(`"${text}": ${a.error}${hint}`);
  }
  if (bracket && a.value.family === 4) return fail(`"${text}": brackets are for IPv6 addresses only`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return fail(`"${text}": port must be 1 to 65535`);
    }
    port = Number(portText);
  }
  return ok({
    family: a.value.family,
    address: a.value.value,
    host: format(a.value.family, a.value.value),
    port,
  });
}

export function isMulticast(family: Family, value: bigint): boolean {
  return family === 4 ? value >> 28n === 0xen : value >> 120n === 0xffn;
}

export function isUnspecified(_family: Family, value: bigint): boolean {
  return value === 0n;
}

export function isLinkLocal6(value: bigint): boolean {
  return value >> 118n === 0x3fan; // fe80::/10
}

/** A socket error in words, without the address Node repeats in its message ("send ENETUNREACH 192.0.2.1:53"). */
export function describeSocketError(e: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    ENETUNREACH: "network unreachable",
    EHOSTUNREACH: "host unreachable",
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ETIMEDOUT: "timed out",
    EADDRNOTAVAIL: "address not available on this host",
    EADDRINUSE: "address in use",
    EACCES: "permission denied",
    EPERM: "not permitted",
  };
  return e.code ? `${words[e.code] ?? e.code} (${e.code})` : e.message;
}
