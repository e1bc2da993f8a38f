/**
 * The address rewrite of the live conformance run (live-siit.ts). Jool's SIIT packets use a few
 * addresses outside the ranges a test of ours may put on a wire (its EAMT's 1.0.0.0/24 and
 * 10.0.0.0/24, the untranslatable 4000::1, ...). Before the live run, every input and expected
 * packet goes through rewritePacket with LIVE_MAP, and the service's configuration through
 * LIVE_MAP.prefix: each foreign prefix becomes a documentation one of the same length, the host
 * bits kept. The pure runner (jool-suite.ts) keeps Jool's bytes verbatim.
 *
 * rewritePacket rewrites the source and destination of the IP header and of the packet quoted in
 * an ICMPv4 / ICMPv6 error (possibly truncated: a field is rewritten when it is there in full),
 * and updates every checksum covering a rewritten word incrementally (RFC 1624 §3 eqn. 3), so a
 * valid checksum stays valid, a wrong one stays wrong by the same amount and a zero UDP checksum
 * (none sent) stays zero: the IPv4 header checksum, the TCP / UDP / ICMPv6 checksums through their
 * pseudo-header (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1), and the ICMPv4 / ICMPv6 checksum over the
 * quoted packet, whose own header and transport checksums change too. A later fragment (IPv4
 * fragment offset or IPv6 Fragment header offset not zero) carries no transport header: only its
 * IP header changes. Addresses inside IPv4 options and IPv6 routing headers are left alone (the
 * suite's are documentation addresses; the routing headers have Segments Left 0).
 *
 * A parser at the test's boundary: bytes it cannot follow are left as they are, it never throws.
 */
import { adjust, read16, sum16, write16 } from "../../src/datapath/siit/checksum.ts";
import {
  addressOf,
  type Family,
  format,
  fromBytes,
  maskOf,
  overlaps,
  type Prefix,
  prefixOf,
  prefixRange,
  toBytes,
} from "../../src/util/net.ts";

/** Gives the replacement of an address (4 or 16 bytes, network order), or undefined to keep it. */
export interface AddressMapper {
  map(a: Uint8Array): Uint8Array | undefined;
}

/** A map from prefixes to prefixes of the same family and length: host bits are kept. */
export class AddressMap implements AddressMapper {
  private readonly pairs: readonly { from: Prefix; to: Prefix }[];

  /** Throws when a pair mixes families or lengths, or when two prefixes of the map overlap. */
  constructor(pairs: readonly (readonly [from: string, to: string])[]) {
    this.pairs = pairs.map(([f, t]) => {
      const from = prefixOf(f);
      const to = prefixOf(t);
      if (from.family !== to.family || from.length !== to.length)
        throw new Error(`address map: ${f} and ${t} differ in family or length`);
      return { from, to };
    });
    const all = this.pairs.flatMap((p) => [p.from, p.to]);
    for (let i = 0; i < all.length; i++)
      for (let k = i + 1; k < all.length; k++)
        if (overlaps(prefixRange(all[i]!), prefixRange(all[k]!)))
          throw new Error(`address map: ${all[i]} overlaps ${all[k]}`);
  }

  /** The map back (to → from). */
  inverse(): AddressMap {
    return new AddressMap(this.pairs.map((p) => [p.to.text, p.from.text] as const));
  }

  /** The prefixes it maps from. */
  get sources(): readonly Prefix[] {
    return this.pairs.map((p) => p.from);
  }

  /** The prefixes it maps to. */
  get targets(): readonly Prefix[] {
    return this.pairs.map((p) => p.to);
  }

  map(a: Uint8Array): Uint8Array | undefined {
    const family: Family = a.length === 4 ? 4 : 6;
    const v = this.value(family, fromBytes(a));
    return v === undefined ? undefined : toBytes(family, v);
  }

  /**
   * A prefix of a configuration (text) through the map: one inside a mapped prefix moves with it;
   * one that holds a mapped prefix and its target (pool6 holds both images) or none stays; one
   * that holds a mapped prefix but not its target throws.
   */
  prefix(text: string): string {
    const p = prefixOf(text);
    const r = prefixRange(p);
    for (const { from, to } of this.pairs) {
      if (!overlaps(r, prefixRange(from))) continue;
      if (p.length >= from.length) return `${format(p.family, this.value(p.family, p.network)!)}/${p.length}`;
      if (!overlaps(r, prefixRange(to)))
        throw new Error(`address map: ${text} holds the mapped ${from} but not its target ${to}`);
    }
    return text;
  }

  /** An address of a configuration (text) through the map. */
  address(text: string): string {
    const a = addressOf(text);
    const v = this.value(a.family, a.value);
    return v === undefined ? text : format(a.family, v);
  }

  /** An address's value through the map, or undefined when no prefix holds it. */
  private value(family: Family, v: bigint): bigint | undefined {
    for (const { from, to } of this.pairs) {
      if (from.family !== family) continue;
      const mask = maskOf(family, from.length);
      if ((v & mask) === from.network)
        return to.network | (v & ~mask & maskOf(family, family === 4 ? 32 : 128));
    }
    return undefined;
  }
}

/**
 * The RFC 6052 §2.2 image under a /40 pool6 of an IPv4 /24: the prefix's 5 bytes, the /24's 3,
 * then the u octet (zero): a /64, whose byte 9 is the IPv4 host byte.
 */
export function image40(pool6: string, v4: string): string {
  const p6 = prefixOf(pool6, 6);
  const p4 = prefixOf(v4, 4);
  if (p6.length !== 40 || p4.length !== 24) throw new Error(`image40: ${pool6} must be a /40, ${v4} a /24`);
  return `${format(6, p6.network | ((p4.network >> 8n) << 64n))}/64`;
}

/** The SIIT suite's pool6 (MANIFEST §3). */
const POOL6 = "2001:db8:100::/40";

/** The IPv4 prefixes of the suite outside the allowed ranges, each with its replacement. */
const V4: readonly (readonly [string, string])[] = [
  ["1.0.0.0/24", "198.18.1.0/24"], // EAMT 2001:db8:3::/120
  ["10.0.0.0/24", "198.18.10.0/24"], // EAMT 2001:db8:2::/120
  ["2.0.0.0/24", "198.18.2.0/24"], // 6791v46's source 2.0.0.2
];

/**
 * The live run's map: the suite's foreign IPv4 prefixes, their images under pool6 (the hairpin and
 * RFC 6791 cases address them as such: 2001:db8:101:0:9:: is 1.0.0.9), and the foreign IPv6
 * addresses (6791v64's untranslatable source 4000::1, 6791v46's RFC 6791 pool 2::2), into
 * 198.18.0.0/15 and 2001:db8::/32 where the suite uses no address (rewrite.test.ts checks it).
 * The bogus sources 127.0.0.1 and 0.0.0.0 of `ha1`/`ha2` stay: they are what those cases test,
 * and the kernel drops them before the TUN device, so the live run never sends them.
 */
export const LIVE_MAP = new AddressMap([
  ...V4,
  ...V4.map(([f, t]) => [image40(POOL6, f), image40(POOL6, t)] as const),
  ["4000::/64", "2001:db8:4000::/64"],
  ["2::/64", "2001:db8:6791::/64"],
]);

/** The ranges a test may put on an interface, a route or a packet (brief-common.md). */
export const ALLOWED: readonly Prefix[] = [
  "2001:db8::/32",
  "fc00::/7",
  "192.0.2.0/24",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "198.18.0.0/15",
].map((t) => prefixOf(t));

/** Whether an address (4 or 16 bytes) lies in ALLOWED. */
export function allowed(a: Uint8Array): boolean {
  const family: Family = a.length === 4 ? 4 : 6;
  const v = fromBytes(a);
  return ALLOWED.some((p) => p.family === family && (v & maskOf(family, p.length)) === p.network);
}

/** A rewritten copy of an IP packet (from its IP header on). */
export function rewritePacket(p: Uint8Array, m: AddressMapper): Uint8Array {
  const out = p.slice();
  rewriteIp(out, 0, m, true);
  return out;
}

/** Every address rewritePacket would consider, in packet order (outer header, then quoted). */
export function addressesOf(p: Uint8Array): Uint8Array[] {
  const seen: Uint8Array[] = [];
  rewritePacket(p, {
    map: (a) => {
      seen.push(a.slice());
      return undefined;
    },
  });
  return seen;
}

/** ICMPv4 error types (RFC 792): Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem. */
const ICMP4_ERRORS = new Set([3, 4, 5, 11, 12]);

/** The transport checksum's offset in its header, for the protocols whose checksum covers a pseudo-header. */
const PSEUDO_CSUM: Readonly<Record<number, number>> = { 6: 16, 17: 6, 58: 2 };

/**
 * Rewrites the IP packet at b[o..] (to the end of b) in place: its addresses, then the checksums
 * over them. A quoted packet (`outer` false) is not followed into an ICMP error it may carry
 * (RFC 1122 §3.2.2 and RFC 4443 §2.4 (e): no error answers an error).
 */
function rewriteIp(b: Uint8Array, o: number, m: AddressMapper, outer: boolean): void {
  const end = b.length;
  if (o >= end) return;
  const version = b[o]! >>> 4;
  if (version !== 4 && version !== 6) return;
  const four = version === 4;
  const size = four ? 4 : 16;
  const src = o + (four ? 12 : 8);
  // the sums of the old and of the new address words: the pseudo-header's change
  let oldSum = 0;
  let newSum = 0;
  for (const at of [src, src + size]) {
    if (at + size > end) break;
    const to = m.map(b.subarray(at, at + size));
    if (!to) continue;
    oldSum += sum16(b, at, size, 0);
    b.set(to, at);
    newSum += sum16(b, at, size, 0);
  }
  const changed = oldSum !== newSum;
  let l4: number;
  let proto: number;
  if (four) {
    // RFC 791 §3.1: the header checksum covers the addresses
    if (changed && o + 12 <= end) write16(b, o + 10, adjust(read16(b, o + 10), oldSum, newSum));
    const ihl = (b[o]! & 0x0f) << 2;
    if (ihl < 20 || o + ihl > end || (read16(b, o + 6) & 0x1fff) !== 0) return;
    l4 = o + ihl;
    proto = b[o + 9]!;
  } else {
    const at = transport6(b, o);
    if (!at) return;
    [l4, proto] = at;
  }
  const csumOff = PSEUDO_CSUM[proto];
  const hasPseudo = csumOff !== undefined && !(four && proto === 58);
  const csum = l4 + (hasPseudo ? csumOff : 2);
  if (csum + 2 > end) return;
  let fromSum = hasPseudo ? oldSum : 0;
  let toSum = hasPseudo ? newSum : 0;
  const icmpError =
    outer &&
    l4 + 8 <= end &&
    ((four && proto === 1 && ICMP4_ERRORS.has(b[l4]!)) || (!four && proto === 58 && b[l4]! < 128));
  if (icmpError) {
    // the ICMP checksum covers the quoted packet (RFC 792, RFC 4443 §2.3)
    const q = l4 + 8;
    fromSum += sum16(b, q, end - q, 0);
    rewriteIp(b, q, m, false);
    toSum += sum16(b, q, end - q, 0);
  } else if (!hasPseudo) return;
  if (fromSum === toSum) return;
  const was = read16(b, csum);
  // RFC 768: a zero UDP checksum means none was computed (an IPv6 one is invalid, and stays so)
  if (proto === 17 && was === 0) return;
  const c = adjust(was, fromSum, toSum);
  write16(b, csum, proto === 17 && c === 0 ? 0xffff : c);
}

/**
 * The transport header of the IPv6 packet at b[o..]: past Hop-by-Hop, Routing and Destination
 * Options headers (RFC 8200 §4) and a first fragment's Fragment header; none in a later fragment.
 */
function transport6(b: Uint8Array, o: number): [at: number, proto: number] | undefined {
  if (o + 40 > b.length) return undefined;
  let nh = b[o + 6]!;
  let at = o + 40;
  for (;;) {
    if (nh !== 0 && nh !== 43 && nh !== 60 && nh !== 44) return [at, nh];
    if (at + 8 > b.length) return undefined;
    // RFC 8200 §4.5: the transport header is in the fragment of offset 0 only
    if (nh === 44 && (read16(b, at + 2) & 0xfff8) !== 0) return undefined;
    const next = b[at]!;
    at += nh === 44 ? 8 : (b[at + 1]! + 1) << 3;
    nh = next;
  }
}
