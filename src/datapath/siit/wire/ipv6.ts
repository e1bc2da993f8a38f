/**
 * IPv6 header (RFC 8200 §3) and the extension headers RFC 7915 cares about.
 *
 *  0-3  version / traffic class / flow label   4-5 payload length
 *  6    next header   7 hop limit   8-23 source   24-39 destination
 */
export const IPV6_HDR_LEN = 40;
export const OFF_PAYLOAD_LEN = 4;
export const OFF_NEXT_HDR = 6;
export const OFF_HOP_LIMIT = 7;
export const OFF_SRC = 8;
export const OFF_DST = 24;

/** Extension header / protocol numbers (IANA). */
export const NH_HOP_BY_HOP = 0;
export const NH_ICMP4 = 1;
export const NH_TCP = 6;
export const NH_UDP = 17;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ICMP6 = 58;
export const NH_NONE = 59;
export const NH_DEST_OPTS = 60;

/** Fragment header (RFC 8200 §4.5): next header, reserved, offset|res|M, identification. */
export const FRAG_HDR_LEN = 8;
export const FRAG_M = 0x0001;
export const FRAG_OFFSET_MASK = 0xfff8;

export function trafficClass(b: Uint8Array, o: number): number {
  return ((b[o]! & 0x0f) << 4) | (b[o + 1]! >>> 4);
}

/** Writes version 6, the traffic class and a zero flow label (RFC 7915 §4.1). */
export function writeVersionTcFlow(b: Uint8Array, o: number, tc: number): void {
  b[o] = 0x60 | (tc >>> 4);
  b[o + 1] = (tc & 0x0f) << 4;
  b[o + 2] = 0;
  b[o + 3] = 0;
}

export function isExtensionHeader(nh: number): boolean {
  return nh === NH_HOP_BY_HOP || nh === NH_ROUTING || nh === NH_DEST_OPTS || nh === NH_FRAGMENT;
}
