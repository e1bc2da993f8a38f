/** Packet builders for the NAT64 unit tests (valid checksums, documentation addresses). */
import type { Nat64Config } from "../../../src/datapath/nat64/translator.ts";
import { addressOf, format, fromBytes, prefixOf, toBytes } from "../../../src/util/net.ts";

export function a6(s: string): Uint8Array {
  return toBytes(6, addressOf(s, 6).value);
}
export function a4(s: string): Uint8Array {
  return new Uint8Array(s.split(".").map(Number));
}
export function n4(s: string): number {
  return s.split(".").reduce((a, b) => a * 256 + Number(b), 0) >>> 0;
}
export function str4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}
export function str6(b: Uint8Array, o: number): string {
  return format(6, fromBytes(b.subarray(o, o + 16)));
}

function sum(b: Uint8Array, o: number, n: number, acc = 0): number {
  let s = acc;
  for (let i = 0; i < n; i += 2) s += (b[o + i]! << 8) | (i + 1 < n ? b[o + i + 1]! : 0);
  return s;
}
function fin(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

export const TCP = { FIN: 1, SYN: 2, RST: 4, ACK: 16 };

/** IPv6 + TCP/UDP/ICMPv6 echo. For ICMP, sport is the identifier and dport ignored. */
export function pkt6(
  proto: "tcp" | "udp" | "icmp",
  src: string,
  sport: number,
  dst: string,
  dport: number,
  opts: { flags?: number; hop?: number; payload?: number; type?: number } = {},
): Uint8Array {
  const l4len = (proto === "tcp" ? 20 : 8) + (opts.payload ?? 4);
  const b = new Uint8Array(40 + l4len);
  b[0] = 0x60;
  w16(b, 4, l4len);
  b[6] = proto === "tcp" ? 6 : proto === "udp" ? 17 : 58;
  b[7] = opts.hop ?? 64;
  b.set(a6(src), 8);
  b.set(a6(dst), 24);
  const l = 40;
  if (proto === "icmp") {
    b[l] = opts.type ?? 128;
    w16(b, l + 4, sport);
    w16(b, l + 6, 1);
  } else {
    w16(b, l, sport);
    w16(b, l + 2, dport);
    if (proto === "tcp") {
      b[l + 12] = 0x50;
      b[l + 13] = opts.flags ?? TCP.SYN;
      w16(b, l + 14, 65535);
    } else w16(b, l + 4, l4len);
  }
  for (let i = l + (proto === "tcp" ? 20 : 8); i < b.length; i++) b[i] = i & 0xff;
  const ps = sum(b, 8, 32, l4len + b[6]!);
  const co = proto === "tcp" ? 16 : proto === "udp" ? 6 : 2;
  w16(b, l + co, fin(sum(b, l, l4len, ps)));
  return b;
}

/** IPv4 + TCP/UDP/ICMP echo. */
export function pkt4(
  proto: "tcp" | "udp" | "icmp",
  src: string,
  sport: number,
  dst: string,
  dport: number,
  opts: { flags?: number; ttl?: number; payload?: number; type?: number } = {},
): Uint8Array {
  const l4len = (proto === "tcp" ? 20 : 8) + (opts.payload ?? 4);
  const b = new Uint8Array(20 + l4len);
  b[0] = 0x45;
  w16(b, 2, b.length);
  w16(b, 6, 0x4000);
  b[8] = opts.ttl ?? 64;
  b[9] = proto === "tcp" ? 6 : proto === "udp" ? 17 : 1;
  b.set(a4(src), 12);
  b.set(a4(dst), 16);
  w16(b, 10, fin(sum(b, 0, 20)));
  const l = 20;
  if (proto === "icmp") {
    b[l] = opts.type ?? 0;
    w16(b, l + 4, dport);
    w16(b, l + 6, 1);
  } else {
    w16(b, l, sport);
    w16(b, l + 2, dport);
    if (proto === "tcp") {
      b[l + 12] = 0x50;
      b[l + 13] = opts.flags ?? TCP.SYN | TCP.ACK;
      w16(b, l + 14, 65535);
    } else w16(b, l + 4, l4len);
  }
  for (let i = l + (proto === "tcp" ? 20 : 8); i < b.length; i++) b[i] = i & 0xff;
  const co = proto === "tcp" ? 16 : proto === "udp" ? 6 : 2;
  const ps = proto === "icmp" ? 0 : sum(b, 12, 8, l4len + b[9]!);
  w16(b, l + co, fin(sum(b, l, l4len, ps)));
  return b;
}

/** True when the IPv4 header checksum and the TCP/UDP/ICMP checksum verify. */
export function checksumsOk4(b: Uint8Array): boolean {
  if (fin(sum(b, 0, 20)) !== 0) return false;
  const len = ((b[2]! << 8) | b[3]!) - 20;
  const ps = b[9] === 1 ? 0 : sum(b, 12, 8, len + b[9]!);
  return fin(sum(b, 20, len, ps)) === 0;
}
export function checksumsOk6(b: Uint8Array): boolean {
  const len = (b[4]! << 8) | b[5]!;
  return fin(sum(b, 40, len, sum(b, 8, 32, len + b[6]!))) === 0;
}

/** The unit tests' NAT64: 2001:db8:64::/96, pool4 198.51.100.1-8, clients in 2001:db8:1::/48. */
export function nat64Config(over: Partial<Nat64Config> = {}): Nat64Config {
  return {
    pool6: prefixOf("2001:db8:64::/96"),
    pool4: [{ first: n4("198.51.100.1"), last: n4("198.51.100.8"), portMin: 1024, portMax: 65535 }],
    allowedSources: [prefixOf("2001:db8:1::/48")],
    timeouts: { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 },
    siit: { ownIpv4: addressOf("198.51.100.1"), ownIpv6: addressOf("2001:db8:64::c633:6401") },
    ...over,
  };
}
