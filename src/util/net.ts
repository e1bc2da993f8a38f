// The address library: addresses, prefixes, ranges and endpoints as the resources write them,
// parsed once (at the boundary: the resource schemas in src/api/fields.ts parse with these
// functions) into values held as bigints, so that containment, overlap and size are exact for both
// families. Each value keeps the text the user wrote: it prints as that text (toString) and
// serializes as it (toJSON), so messages, logs, JSON output and the wire form of assignments show
// what the user wrote, and parsing the JSON again gives the same value.
import { Address4, Address6 } from "ip-address";

export type Family = 4 | 6;

/** Text for humans and JSON: what the user wrote. */
abstract class Written {
  abstract readonly text: string;
  toString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

/** One address. */
export class Address extends Written {
  constructor(
    readonly family: Family,
    readonly value: bigint,
    readonly text: string,
  ) {
    super();
  }
}

export class Prefix extends Written {
  constructor(
    readonly family: Family,
    /** first address of the prefix, host bits cleared */
    readonly network: bigint,
    readonly length: number,
    readonly text: string,
  ) {
    super();
  }
}

/** An inclusive range of addresses of one family. */
export class Range extends Written {
  constructor(
    readonly family: Family,
    readonly first: bigint,
    readonly last: bigint,
    readonly text: string,
  ) {
    super();
  }
}

/** An inclusive span of addresses for arithmetic (a Range is one, with the user's text). */
export interface Span {
  family: Family;
  first: bigint;
  last: bigint;
}

/** A span as a Range whose text is its canonical form (first-last, or one address). */
export function rangeOf(s: Span): Range {
  return new Range(s.family, s.first, s.last, formatRange(s));
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
export function parseAddress(text: string, want?: Family): Parsed<Address> {
  const t = text.trim();
  if (t.includes("/")) return fail(`"${text}" is a prefix; an address without a length is expected here`);
  if (t.includes(":")) {
    if (want === 4) return fail(`"${text}" is an IPv6 address; an IPv4 address is expected here`);
    if (t.includes("%")) return fail(`"${text}" has a zone index; write the address without "%zone"`);
    if (!Address6.isValid(t)) return fail(`"${text}" is not a valid IPv6 address`);
    return ok(new Address(6, new Address6(t).bigInt(), t));
  }
  if (want === 6) {
    return Address4.isValid(t)
      ? fail(`"${text}" is an IPv4 address; an IPv6 address is expected here`)
      : fail(`"${text}" is not a valid IPv6 address`);
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(t) || !Address4.isValid(t)) {
    return fail(`"${text}" is not a valid IPv4 address (dotted quad such as 192.0.2.1)`);
  }
  return ok(new Address(4, new Address4(t).bigInt(), t));
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
  return ok(new Prefix(family, network, length, t));
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
    return ok(new Range(a.value.family, a.value.value, b.value.value, t));
  }
  if (t.includes("/")) {
    const p = parsePrefix(t, want);
    if (!p.ok) return fail(p.error);
    return ok(prefixRange(p.value));
  }
  const a = parseAddress(t, want);
  if (!a.ok) return fail(a.error);
  return ok(new Range(a.value.family, a.value.value, a.value.value, t));
}

export function maskOf(family: Family, length: number): bigint {
  const total = bits(family);
  const all = (1n << BigInt(total)) - 1n;
  return (all >> BigInt(total - length)) << BigInt(total - length);
}

export function prefixRange(p: Prefix): Range {
  const size = 1n << BigInt(bits(p.family) - p.length);
  return new Range(p.family, p.network, p.network + size - 1n, p.text);
}

export function rangeSize(r: Span): bigint {
  return r.last - r.first + 1n;
}

export function contains(outer: Span, inner: Span): boolean {
  return outer.family === inner.family && outer.first <= inner.first && inner.last <= outer.last;
}

export function overlaps(a: Span, b: Span): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function inRange(r: Span, family: Family, value: bigint): boolean {
  return r.family === family && r.first <= value && value <= r.last;
}

/** Canonical text of an address (RFC 5952 for IPv6). */
export function format(family: Family, value: bigint): string {
  if (family === 4) return Address4.fromBigInt(value).correctForm();
  return Address6.fromBigInt(value).correctForm();
}

export function formatRange(r: Span): string {
  return r.first === r.last
    ? format(r.family, r.first)
    : `${format(r.family, r.first)}-${format(r.family, r.last)}`;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, with the host an IP literal. */
export class Endpoint extends Written {
  constructor(
    readonly family: Family,
    readonly address: bigint,
    /** the address in canonical text (RFC 5952), without brackets */
    readonly host: string,
    readonly port: number,
    readonly text: string,
  ) {
    super();
  }

  /** host:port, [v6]:port */
  get socket(): string {
    return this.family === 6 ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }
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
  return ok(new Endpoint(a.value.family, a.value.value, format(a.value.family, a.value.value), port, t));
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

/** Parsed or thrown: for literals the program itself writes (defaults, tests), never for user input. */
function must<T>(r: Parsed<T>): T {
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
export const prefixOf = (text: string, family?: Family): Prefix => must(parsePrefix(text, family));
export const rangeFrom = (text: string, family?: Family): Range => must(parseRange(text, family));
export const addressOf = (text: string, family?: Family): Address => must(parseAddress(text, family));
export const endpointOf = (text: string, defaultPort: number): Endpoint =>
  must(parseEndpoint(text, defaultPort));

/**
 * An address's data without its text and methods: what the packet datapath takes, and all that a
 * structured clone (workerData, postMessage) keeps of an Address. An Address is one as it is.
 */
export type AddressData = Pick<Address, "family" | "value">;
/** A prefix's data without its text and methods (see AddressData). A Prefix is one as it is. */
export type PrefixData = Pick<Prefix, "family" | "network" | "length">;

/** The address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
export function toBytes(family: Family, value: bigint): Uint8Array {
  const out = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** The address held by bytes in network byte order (4 bytes: IPv4, 16: IPv6). */
export function fromBytes(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}
