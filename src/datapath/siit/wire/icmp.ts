/** ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) message types and codes used by RFC 7915. */

export const ICMP_HDR_LEN = 8;

// ICMPv4
export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_SOURCE_QUENCH = 4;
export const ICMP4_REDIRECT = 5;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_PARAM_PROBLEM = 12;

export const ICMP4_CODE_NET_UNREACH = 0;
export const ICMP4_CODE_HOST_UNREACH = 1;
export const ICMP4_CODE_PROTO_UNREACH = 2;
export const ICMP4_CODE_PORT_UNREACH = 3;
export const ICMP4_CODE_FRAG_NEEDED = 4;
export const ICMP4_CODE_SOURCE_ROUTE_FAILED = 5;
export const ICMP4_CODE_ADMIN_PROHIBITED = 10;
export const ICMP4_CODE_COMM_PROHIBITED = 13;

// ICMPv6
export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

export const ICMP6_CODE_NO_ROUTE = 0;
export const ICMP6_CODE_ADMIN_PROHIBITED = 1;
export const ICMP6_CODE_BEYOND_SCOPE = 2;
export const ICMP6_CODE_ADDR_UNREACH = 3;
export const ICMP6_CODE_PORT_UNREACH = 4;
export const ICMP6_CODE_HDR_FIELD = 0;
export const ICMP6_CODE_UNKNOWN_NEXT_HDR = 1;

export function isIcmp4Error(type: number): boolean {
  return (
    type === ICMP4_DEST_UNREACH ||
    type === ICMP4_TIME_EXCEEDED ||
    type === ICMP4_PARAM_PROBLEM ||
    type === ICMP4_SOURCE_QUENCH ||
    type === ICMP4_REDIRECT
  );
}

/** RFC 4443 §2.1: types 0-127 are errors. */
export function isIcmp6Error(type: number): boolean {
  return type < 128;
}

/** Largest ICMP error sizes (RFC 1812 §4.3.2.3 for IPv4, RFC 4443 §2.4(c) for IPv6). */
export const ICMP4_ERROR_MAX = 576;
export const ICMP6_ERROR_MAX = 1280;
