/**
 * ICMP type/code and Parameter Problem pointer mappings of RFC 7915.
 * Results are encoded as (type << 8) | code, or -1 for "silently drop".
 */
import * as I from "./wire/icmp.ts";

/** RFC 7915 §4.2: ICMPv4 error → ICMPv6 error (informational messages are handled apart). */
export function icmp4ErrorTo6(type: number, code: number): number {
  switch (type) {
    case I.ICMP4_DEST_UNREACH:
      switch (code) {
        case 0: // net unreachable
        case 1: // host unreachable
        case 5: // source route failed
        case 6:
        case 7:
        case 8:
        case 11:
        case 12:
          return (I.ICMP6_DEST_UNREACH << 8) | I.ICMP6_CODE_NO_ROUTE;
        case 2: // protocol unreachable → Parameter Problem, unrecognized Next Header
          return (I.ICMP6_PARAM_PROBLEM << 8) | I.ICMP6_CODE_UNKNOWN_NEXT_HDR;
        case 3:
          return (I.ICMP6_DEST_UNREACH << 8) | I.ICMP6_CODE_PORT_UNREACH;
        case 4: // fragmentation needed → Packet Too Big
          return (I.ICMP6_PACKET_TOO_BIG << 8) | 0;
        case 9:
        case 10:
        case 13:
        case 15:
          return (I.ICMP6_DEST_UNREACH << 8) | I.ICMP6_CODE_ADMIN_PROHIBITED;
        default: // 14 (host precedence violation) and unknown codes
          return -1;
      }
    case I.ICMP4_TIME_EXCEEDED:
      return (I.ICMP6_TIME_EXCEEDED << 8) | code;
    case I.ICMP4_PARAM_PROBLEM:
      // code 0 (pointer) and 2 (bad length) → 4/0; code 1 (missing option) and others: drop.
      if (code === 0 || code === 2) return (I.ICMP6_PARAM_PROBLEM << 8) | I.ICMP6_CODE_HDR_FIELD;
      return -1;
    default: // source quench, redirect, and anything else
      return -1;
  }
}

/** RFC 7915 §5.2: ICMPv6 error → ICMPv4 error. */
export function icmp6ErrorTo4(type: number, code: number): number {
  switch (type) {
    case I.ICMP6_DEST_UNREACH:
      switch (code) {
        case 0: // no route
        case 2: // beyond scope
        case 3: // address unreachable
          return (I.ICMP4_DEST_UNREACH << 8) | I.ICMP4_CODE_HOST_UNREACH;
        case 1: // administratively prohibited
          return (I.ICMP4_DEST_UNREACH << 8) | I.ICMP4_CODE_ADMIN_PROHIBITED;
        case 4: // port unreachable
          return (I.ICMP4_DEST_UNREACH << 8) | I.ICMP4_CODE_PORT_UNREACH;
        default:
          return -1;
      }
    case I.ICMP6_PACKET_TOO_BIG:
      return (I.ICMP4_DEST_UNREACH << 8) | I.ICMP4_CODE_FRAG_NEEDED;
    case I.ICMP6_TIME_EXCEEDED:
      return (I.ICMP4_TIME_EXCEEDED << 8) | code;
    case I.ICMP6_PARAM_PROBLEM:
      if (code === 0) return (I.ICMP4_PARAM_PROBLEM << 8) | 0;
      if (code === 1) return (I.ICMP4_DEST_UNREACH << 8) | I.ICMP4_CODE_PROTO_UNREACH;
      return -1;
    default:
      return -1;
  }
}

/** RFC 7915 §4.2 Figure 3: IPv4 Parameter Problem pointer → IPv6 pointer (-1 = n/a, drop). */
const PTR_4TO6: readonly number[] = [0, 1, 4, 4, -1, -1, -1, -1, 7, 6, -1, -1, 8, 8, 8, 8, 24, 24, 24, 24];

export function pointer4to6(p: number): number {
  return p < PTR_4TO6.length ? PTR_4TO6[p]! : -1;
}

/** RFC 7915 §5.2 Figure 6: IPv6 Parameter Problem pointer → IPv4 pointer (-1 = n/a, drop). */
export function pointer6to4(p: number): number {
  if (p === 0) return 0; // version / traffic class → version/IHL
  if (p === 1) return 1; // traffic class / flow label → TOS
  if (p === 2 || p === 3) return -1; // flow label
  if (p === 4 || p === 5) return 2; // payload length → total length
  if (p === 6) return 9; // next header → protocol
  if (p === 7) return 8; // hop limit → TTL
  if (p >= 8 && p <= 23) return 12; // source
  if (p >= 24 && p <= 39) return 16; // destination
  return -1;
}

/** RFC 1191 §7 plateau table, for Fragmentation Needed with MTU 0 (RFC 7915 §4.2). */
const PLATEAUS: readonly number[] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

export function plateauBelow(totalLength: number): number {
  for (const p of PLATEAUS) if (p < totalLength) return p;
  return 68;
}
