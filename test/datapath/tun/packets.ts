/**
 * Packet builders and checks for the TUN datapath tests (offload, the packet
 * loop): IPv4/IPv6 with TCP or UDP, every checksum computed here with this
 * file's own helpers (never the code under test), partial-checksum seeds as
 * the kernel writes them (CHECKSUM_PARTIAL), and documentation addresses.
 */
import type { SiitConfig } from "../../../src/datapath/siit/index.ts";
import { addressOf, prefixOf } from "../../../src/util/net.ts";
import { ipv4Packet } from "../siit/build.ts";

/** A stateless translator for these packets: 64:ff9b::/96, links of 1500 bytes. */
export const SIIT_CFG: SiitConfig = {
  pool6: prefixOf("64:ff9b::/96"),
  ownIpv4: addressOf("192.0.2.1"),
  ownIpv6: addressOf("2001:db8:ffff::1"),
  ipv4LinkMtu: 1500,
  ipv6LinkMtu: 1500,
  hairpinMode: "off",
};
export function sum(b: Uint8Array, o: number, n: number, acc = 0): number {
  let s = acc;
  for (let i = 0; i < n; i += 2) s += (b[o + i]! << 8) | (i + 1 < n ? b[o + i + 1]! : 0);
  return s;
}
export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
export function fin(s: number): number {
  return ~fold(s) & 0xffff;
}
export function r16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function r32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function w32(b: Uint8Array, o: number, v: number): void {
  w16(b, o, v >>> 16);
  w16(b, o + 2, v & 0xffff);
}
/** Deterministic filler (xorshift32), so large payloads do not go through fast-check's shrinker. */
export function fill(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
/** An IPv4 packet in hex with its Identification and header checksum zeroed. */
export function maskId(b: Uint8Array): string {
  const c = b.slice();
  c.fill(0, 4, 6);
  c.fill(0, 10, 12);
  return hex(c);
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_CWR = 0x80;

export interface Ip {
  v: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  /** IPv4 options (multiple of 4 bytes, NOPs) or, for IPv6, a Destination Options header of this many bytes (8k). */
  opt?: number;
}

/** IPv4 / IPv6 header + transport bytes, lengths and checksums filled in (UDP length too). */
export function ipPacket(h: Ip, proto: number, l4: Uint8Array): Uint8Array {
  const opt = h.opt ?? 0;
  const ihl = (h.v === 4 ? 20 : 40) + opt;
  const b = new Uint8Array(ihl + l4.length);
  const tos = h.tos ?? 0;
  if (h.v === 4) {
    b[0] = 0x40 | (ihl >>> 2);
    b[1] = tos;
    w16(b, 2, b.length);
    w16(b, 4, h.id ?? 0);
    w16(b, 6, h.df ? 0x4000 : 0);
    b[8] = h.ttl ?? 64;
    b[9] = proto;
    b.set(h.src, 12);
    b.set(h.dst, 16);
    b.fill(1, 20, ihl); // NOP options
    w16(b, 10, fin(sum(b, 0, ihl)));
  } else {
    b[0] = 0x60 | (tos >>> 4);
    b[1] = (tos & 0x0f) << 4;
    w16(b, 4, b.length - 40);
    b[6] = opt > 0 ? 60 : proto;
    b[7] = h.ttl ?? 64;
    b.set(h.src, 8);
    b.set(h.dst, 24);
    if (opt > 0) {
      b[40] = proto;
      b[41] = (opt >>> 3) - 1;
      b[42] = 1; // PadN
      b[43] = opt - 4;
    }
  }
  b.set(l4, ihl);
  if (proto === 17) w16(b, ihl + 4, l4.length);
  if (proto === 6 || proto === 17) {
    const co = ihl + (proto === 6 ? 16 : 6);
    w16(b, co, 0);
    let c = fin(sum(b, ihl, l4.length, pseudo(b)));
    if (proto === 17 && c === 0) c = 0xffff; // RFC 768
    w16(b, co, c);
  }
  return b;
}

/** Offset of the transport header (after IPv4 options / the IPv6 extension header this file builds). */
export function l4Of(b: Uint8Array): number {
  if (b[0]! >>> 4 === 4) return (b[0]! & 0x0f) << 2;
  return b[6] === 60 ? 40 + ((b[41]! + 1) << 3) : 40;
}
export function protoOf(b: Uint8Array): number {
  return b[0]! >>> 4 === 4 ? b[9]! : b[6] === 60 ? b[40]! : b[6]!;
}
/** Unfolded pseudo-header sum (RFC 793 §3.1 / RFC 8200 §8.1): addresses, protocol, transport length. */
export function pseudo(b: Uint8Array): number {
  const l4 = l4Of(b);
  if (b[0]! >>> 4 === 4) return sum(b, 12, 8) + b[9]! + (r16(b, 2) - l4);
  return sum(b, 8, 32) + protoOf(b) + (40 + r16(b, 4) - l4);
}
export function csumField(b: Uint8Array): number {
  return l4Of(b) + (protoOf(b) === 6 ? 16 : 6);
}
/** The kernel's CHECKSUM_PARTIAL seed: the folded, NOT complemented, pseudo-header sum. */
export function seedOf(b: Uint8Array): number {
  return fold(pseudo(b));
}
/** A copy of b with its transport checksum replaced by the pseudo-header seed. */
export function partialOf(b: Uint8Array): Uint8Array {
  const p = b.slice();
  w16(p, csumField(p), seedOf(p));
  return p;
}
/** A device completing a partial checksum (RFC 1071; UDP 0 → 0xffff, RFC 768). */
export function deviceComplete(b: Uint8Array, start: number, offset: number, proto: number): void {
  let c = fin(sum(b, start, b.length - start));
  if (proto === 17 && c === 0) c = 0xffff;
  w16(b, start + offset, c);
}
export function ipv4HeaderOk(b: Uint8Array): boolean {
  return fin(sum(b, 0, (b[0]! & 0x0f) << 2)) === 0;
}
/** Transport checksum of a whole (unfragmented) TCP/UDP packet verifies. */
export function l4Ok(b: Uint8Array): boolean {
  const l4 = l4Of(b);
  return fin(sum(b, l4, b.length - l4, pseudo(b))) === 0;
}

export function tcpBytes(t: {
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  opts?: number;
  payload: Uint8Array;
}): Uint8Array {
  const opts = t.opts ?? 0;
  const b = new Uint8Array(20 + opts + t.payload.length);
  w16(b, 0, t.sport);
  w16(b, 2, t.dport);
  w32(b, 4, t.seq >>> 0);
  w32(b, 8, (t.ack ?? 0x01020304) >>> 0);
  b[12] = ((20 + opts) >>> 2) << 4;
  b[13] = t.flags;
  w16(b, 14, 0xfaf0);
  w16(b, 18, 0);
  b.fill(1, 20, 20 + opts); // NOP options
  b.set(t.payload, 20 + opts);
  return b;
}
export function udpBytes(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  w16(b, 0, sport);
  w16(b, 2, dport);
  b.set(payload, 8);
  return b;
}

export const v4 = (a: number, b: number, c: number, d: number) => new Uint8Array([a, b, c, d]);
/** 64:ff9b::/96 + an IPv4 address (RFC 6052 §2.2). */
export function wkp(a4: Uint8Array): Uint8Array {
  const b = new Uint8Array(16);
  b[1] = 0x64;
  b[2] = 0xff;
  b[3] = 0x9b;
  b.set(a4, 12);
  return b;
}
/** 2001:db8:64::/96 + an IPv4 address (the NAT64's pool6 here). */
export function nat64Addr(a4: Uint8Array): Uint8Array {
  const b = new Uint8Array(16);
  b.set([0x20, 0x01, 0x0d, 0xb8, 0x00, 0x64], 0);
  b.set(a4, 12);
  return b;
}
/** A client in 2001:db8:1::/64. */
export function client6(x: number): Uint8Array {
  const b = new Uint8Array(16);
  b.set([0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01], 0);
  w32(b, 12, x >>> 0);
  return b;
}

/**
 * The Fragmentation Needed (ICMPv4 3/4, next-hop MTU `mtu`) a translator originates about `quoted`:
 * TTL 64, TOS 0, DF clear, Identification 0, at most 576 bytes (RFC 1812 §4.3.2.3).
 */
export function fragNeeded(src: string, dst: string, mtu: number, quoted: Uint8Array): Uint8Array {
  const payload = quoted.subarray(0, 576 - 28);
  return ipv4Packet(
    src,
    dst,
    { proto: 1, icmpType: 3, icmpCode: 4, icmpRest: mtu, payload },
    64,
    false,
    0,
    0,
  );
}
