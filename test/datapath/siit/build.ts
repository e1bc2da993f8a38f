/** Small builders for well-formed test packets (with valid checksums). */
import { addressOf, toBytes } from "../../../src/util/net.ts";

// Own copies of the checksum helpers, so building test packets does not feed
// the translator's functions with other kinds of arrays (keeps the bench honest).
function sum16(b: Uint8Array, off: number, len: number, acc: number): number {
  let s = acc;
  for (let i = off; i < off + len; i += 2) s += (b[i]! << 8) | (i + 1 < off + len ? b[i + 1]! : 0);
  return s;
}
function finish(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
function write16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

export function addr6(s: string): Uint8Array {
  return toBytes(6, addressOf(s, 6).value);
}
export function addr4(s: string): Uint8Array {
  return toBytes(4, addressOf(s, 4).value);
}

export interface L4Spec {
  proto: number; // 6, 17, 58 (ICMPv6) / 1 (ICMPv4), other
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpRest?: number;
  payload: Uint8Array;
}

function l4Bytes(spec: L4Spec): Uint8Array {
  const { proto, payload } = spec;
  if (proto === 17) {
    const b = new Uint8Array(8 + payload.length);
    write16(b, 0, spec.srcPort ?? 2000);
    write16(b, 2, spec.dstPort ?? 4000);
    write16(b, 4, b.length);
    b.set(payload, 8);
    return b;
  }
  if (proto === 6) {
    const b = new Uint8Array(20 + payload.length);
    write16(b, 0, spec.srcPort ?? 2000);
    write16(b, 2, spec.dstPort ?? 4000);
    b[12] = 0x50;
    b[13] = 0x18;
    write16(b, 14, 0xffff);
    b.set(payload, 20);
    return b;
  }
  if (proto === 1 || proto === 58) {
    const b = new Uint8Array(8 + payload.length);
    b[0] = spec.icmpType ?? (proto === 1 ? 8 : 128);
    b[1] = spec.icmpCode ?? 0;
    const r = spec.icmpRest ?? 0x12340001;
    b[4] = r >>> 24;
    b[5] = (r >>> 16) & 0xff;
    b[6] = (r >>> 8) & 0xff;
    b[7] = r & 0xff;
    b.set(payload, 8);
    return b;
  }
  return payload.slice();
}

const CSUM_OFF: Record<number, number> = { 6: 16, 17: 6, 1: 2, 58: 2 };

export function ipv6Packet(src: string, dst: string, spec: L4Spec, hopLimit = 64, tc = 0): Uint8Array {
  const l4 = l4Bytes(spec);
  const b = new Uint8Array(40 + l4.length);
  b[0] = 0x60 | (tc >>> 4);
  b[1] = (tc & 0xf) << 4;
  write16(b, 4, l4.length);
  b[6] = spec.proto;
  b[7] = hopLimit;
  b.set(addr6(src), 8);
  b.set(addr6(dst), 24);
  b.set(l4, 40);
  const co = CSUM_OFF[spec.proto];
  if (co !== undefined) {
    const s =
      sum16(b, 8, 32, 0) +
      (l4.length >>> 16) +
      (l4.length & 0xffff) +
      spec.proto +
      sum16(b, 40, l4.length, 0);
    write16(b, 40 + co, finish(s));
  }
  return b;
}

export function ipv4Packet(
  src: string,
  dst: string,
  spec: L4Spec,
  ttl = 64,
  df = true,
  tos = 0,
  id = 0x1234,
): Uint8Array {
  const l4 = l4Bytes(spec);
  const b = new Uint8Array(20 + l4.length);
  b[0] = 0x45;
  b[1] = tos;
  write16(b, 2, b.length);
  write16(b, 4, id);
  write16(b, 6, df ? 0x4000 : 0);
  b[8] = ttl;
  b[9] = spec.proto;
  b.set(addr4(src), 12);
  b.set(addr4(dst), 16);
  write16(b, 10, finish(sum16(b, 0, 20, 0)));
  b.set(l4, 20);
  const co = CSUM_OFF[spec.proto];
  if (co !== undefined) {
    const s =
      (spec.proto === 1 ? 0 : sum16(b, 12, 8, 0) + l4.length + spec.proto) + sum16(b, 20, l4.length, 0);
    write16(b, 20 + co, finish(s));
  }
  return b;
}

/** A copy backed by its own (off-heap) ArrayBuffer, like a packet read from a device. */
export function offHeap(p: Uint8Array): Uint8Array {
  const b = new Uint8Array(new ArrayBuffer(Math.max(p.length, 4096)), 0, p.length);
  b.set(p);
  return b;
}

export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}
