/**
 * The transport header across a translation, the same in both directions:
 * the ports (or ICMP echo identifier) the address mapper sees and may change,
 * and the checksum carried over by incremental update (RFC 1624) from the old
 * pseudo-header to the new one (RFC 7915 §4.5, §5.5; echo: §4.2, §5.2). The
 * caller sums the addresses of each side (their widths differ), this module
 * adds the ports. Used by translate46 and translate64 (the fast path writes
 * the same steps out, see fastpath.ts).
 */
import type { Flow } from "./addr/mapper.ts";
import { adjust, write16 } from "./checksum.ts";

/** Writes the flow's ports at out[ol4] where the mapper changed them from the input's (sp, dp). */
export function writePorts(out: Uint8Array, ol4: number, flow: Flow, sp: number, dp: number): void {
  if (flow.srcPort === sp && flow.dstPort === dp) return;
  write16(out, ol4, flow.srcPort);
  write16(out, ol4 + 2, flow.dstPort);
}

/**
 * RFC 7915 §4.5 / §5.5: completes the TCP or UDP header at out[ol4]: the
 * flow's ports where the mapper changed them from the input's (sp, dp), and
 * the input's checksum `old` updated from oldSum, the sum of the input's
 * pseudo-header addresses, to newSum, the output's, ports included. A UDP
 * checksum that comes out 0 is sent as 0xffff (RFC 768).
 */
export function rewriteTcpUdp(
  out: Uint8Array,
  ol4: number,
  csumOff: number,
  udp: boolean,
  old: number,
  oldSum: number,
  newSum: number,
  flow: Flow,
  sp: number,
  dp: number,
): void {
  if (flow.srcPort !== sp || flow.dstPort !== dp) {
    write16(out, ol4, flow.srcPort);
    write16(out, ol4 + 2, flow.dstPort);
    oldSum += sp + dp;
    newSum += flow.srcPort + flow.dstPort;
  }
  const c = adjust(old, oldSum, newSum);
  write16(out, ol4 + csumOff, udp && c === 0 ? 0xffff : c);
}

/**
 * RFC 7915 §4.2 / §5.2: an echo request or reply at out[ol4] (l4len bytes)
 * gets the other version's `type` and code 0, the flow's identifier where the
 * mapper changed `id`, and its checksum `old` updated from oldSum to newSum
 * (the type words and, on the ICMPv6 side, the pseudo-header).
 */
export function rewriteEcho(
  out: Uint8Array,
  ol4: number,
  l4len: number,
  type: number,
  old: number,
  oldSum: number,
  newSum: number,
  flow: Flow,
  id: number,
): void {
  out[ol4] = type;
  out[ol4 + 1] = 0;
  if (flow.hasPorts && flow.srcPort !== id) {
    if (l4len >= 6) write16(out, ol4 + 4, flow.srcPort);
    oldSum += id;
    newSum += flow.srcPort;
  }
  write16(out, ol4 + 2, adjust(old, oldSum, newSum));
}
