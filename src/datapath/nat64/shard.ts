/**
 * Stateful NAT64 on several packet workers (a multi-queue TUN device, one
 * worker per queue) without sharing a table between threads: every worker
 * owns a share of the port space of every pool4 address, and with it the BIB
 * entries and sessions (RFC 6146 §3.1–3.2) whose ports fall in that share.
 *
 * The owner of a packet is decided by its "inside" port, the one that names
 * its BIB entry on the side it arrives from:
 * - from IPv6: the source port (ICMPv6 echo: the identifier), which pool4
 *   preserves when it can (RFC 6146 §3.5.1.1), and always maps to a port of
 *   the same owner;
 * - from IPv4: the destination port (ICMP echo: the identifier), a pool4 port;
 * - ICMP errors (RFC 6146 §3.5.1.1, §3.5.3): the port of the packet they quote,
 *   on the side it was sent from (the IPv6 host's port / the pool4 port).
 * Non-first fragments carry no port: their owner is whichever worker saw the
 * first fragment (the caller asks the workers in turn).
 *
 * A worker that reads a packet it does not own hands it to the owner. The
 * kernel learns where flows are handled (the TUN device's flow table records
 * the queue each flow is written from and queues the flow's next packets
 * there), so handing over is rare once a flow has started.
 */

import { read16 } from "../siit/checksum.ts";

/** Which worker owns a port (or ICMP identifier): pairs of ports, so both parities stay with each owner. */
export function portOwner(port: number, workers: number): number {
  return (port >>> 1) % workers;
}

/** Owner of a non-first fragment: not known from the packet. */
export const OWNER_FRAGMENT = -1;

/** Index of the L4 header after IPv6 extension headers; -1 truncated, -2 non-first fragment. */
function l4Of6(b: Uint8Array, o: number, len: number): { nh: number; at: number } | number {
  let nh = b[o + 6]!;
  let p = o + 40;
  const end = o + len;
  while (nh === 0 || nh === 43 || nh === 60 || nh === 44) {
    if (p + 8 > end) return -1;
    if (nh === 44) {
      if ((read16(b, p + 2) & 0xfff8) !== 0) return -2;
      nh = b[p]!;
      p += 8;
    } else {
      nh = b[p]!;
      p += (b[p + 1]! + 1) << 3;
    }
  }
  return { nh, at: p };
}

/**
 * The worker (0..workers-1) that owns the BIB entry this packet uses, or
 * OWNER_FRAGMENT. Anything unparseable goes to worker 0, which counts the drop.
 */
export function packetOwner(b: Uint8Array, o: number, len: number, workers: number): number {
  if (workers <= 1 || len < 20) return 0;
  const end = o + len;
  const v = b[o]! >>> 4;
  if (v === 6) {
    if (len < 40) return 0;
    const l = l4Of6(b, o, len);
    if (l === -2) return OWNER_FRAGMENT;
    if (typeof l === "number") return 0;
    const { nh, at } = l;
    if ((nh === 6 || nh === 17) && at + 4 <= end) return portOwner(read16(b, at), workers);
    if (nh === 58 && at + 8 <= end) {
      const type = b[at]!;
      if (type === 128 || type === 129) return portOwner(read16(b, at + 4), workers);
      if (type < 128 && at + 48 <= end) {
        // The quoted packet went IPv4 → IPv6 to our host: its destination port is the host's.
        const q = l4Of6(b, at + 8, end - at - 8);
        if (typeof q === "number") return 0;
        if ((q.nh === 6 || q.nh === 17) && q.at + 4 <= end) return portOwner(read16(b, q.at + 2), workers);
        if (q.nh === 58 && q.at + 6 <= end) return portOwner(read16(b, q.at + 4), workers);
      }
    }
    return 0;
  }
  if (v !== 4) return 0;
  const ihl = (b[o]! & 0x0f) << 2;
  if (ihl < 20 || ihl > len) return 0;
  if ((read16(b, o + 6) & 0x1fff) !== 0) return OWNER_FRAGMENT;
  const proto = b[o + 9]!;
  const at = o + ihl;
  if ((proto === 6 || proto === 17) && at + 4 <= end) return portOwner(read16(b, at + 2), workers);
  if (proto === 1 && at + 8 <= end) {
    const type = b[at]!;
    if (type === 0 || type === 8) return portOwner(read16(b, at + 4), workers);
    if ((type === 3 || type === 11 || type === 12) && at + 28 <= end) {
      // The quoted packet went IPv6 → IPv4 from a pool4 address: its source port is ours.
      const q = at + 8;
      const qihl = (b[q]! & 0x0f) << 2;
      const ql4 = q + qihl;
      if (qihl < 20 || ql4 + 6 > end) return 0;
      const qp = b[q + 9]!;
      if (qp === 6 || qp === 17) return portOwner(read16(b, ql4), workers);
      if (qp === 1) return portOwner(read16(b, ql4 + 4), workers);
    }
  }
  return 0;
}
