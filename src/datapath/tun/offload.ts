/**
 * Segmentation and checksum offload on a TUN device (IFF_VNET_HDR +
 * TUNSETOFFLOAD). Every packet read or written is preceded by a
 * struct virtio_net_hdr (linux/virtio_net.h, native byte order):
 *
 *   u8 flags; u8 gso_type; u16 hdr_len; u16 gso_size; u16 csum_start; u16 csum_offset
 *
 * With TUN_F_CSUM the kernel may hand over a packet whose transport checksum
 * is left to the "device" (VIRTIO_NET_HDR_F_NEEDS_CSUM, the kernel's
 * CHECKSUM_PARTIAL): the checksum field holds only the pseudo-header sum, and
 * the real checksum is the ones' complement sum of [csum_start, end) stored at
 * csum_start + csum_offset. With TUN_F_TSO4/TSO6 a TCP "super-packet" of up
 * to 64 KiB arrives whole (gso_type TCPV4/TCPV6, gso_size = MSS): the kernel
 * cuts it into segments only after we write it back, or never, when the next
 * device takes super-packets too (veth, most NICs). With TUN_F_USO4/USO6
 * (Linux 6.2+) the same holds for UDP (gso_type UDP_L4, gso_size = datagram
 * payload): the kernel's GRO, with `rx-udp-gro-forwarding` on the ingress
 * device, coalesces a flow's forwarded datagrams into one super-packet whose
 * UDP length and checksum seed cover all of them (udp_gro_complete); the
 * kernel's __udp_gso_segment gives each segment its own length and checksum.
 *
 * This module holds the pure parts: the header's layout, completing a partial
 * checksum, and software segmentation for the rare super-packet the
 * translator's fast path cannot keep whole (what the kernel's
 * tcp_gso_segment and __udp_gso_segment do).
 */
import { finish, read16, read32, sum16, write16, write32 } from "../siit/checksum.ts";

export { completeChecksum } from "../siit/checksum.ts";

export const VNET_HDR_LEN = 10;

/** virtio_net_hdr.flags */
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

/** virtio_net_hdr.gso_type */
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

/** TUNSETOFFLOAD flags (linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** UDP segmentation offload (Linux 6.2+); the kernel takes both or neither. */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** Writes a virtio_net_hdr at b[o..o+10) (little-endian, as on x86-64 and arm64). */
export function writeVnetHdr(
  b: Uint8Array,
  o: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  b[o] = flags;
  b[o + 1] = gsoType;
  b[o + 2] = hdrLen & 0xff;
  b[o + 3] = hdrLen >>> 8;
  b[o + 4] = gsoSize & 0xff;
  b[o + 5] = gsoSize >>> 8;
  b[o + 6] = csumStart & 0xff;
  b[o + 7] = csumStart >>> 8;
  b[o + 8] = csumOffset & 0xff;
  b[o + 9] = csumOffset >>> 8;
}

/** A little-endian u16 of a virtio_net_hdr. */
export function hdr16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/**
 * Where the transport header (`proto`: 6 TCP, 17 UDP) of a super-packet
 * starts (offset from pkt), or -1: IPv4 with its options, or IPv6 with it
 * right after the fixed header or after Hop-by-Hop / Routing / Destination
 * Options headers. The whole minimal header (TCP 20, UDP 8 bytes) must fit.
 */
export function l4Offset(b: Uint8Array, pkt: number, len: number, proto: number): number {
  const min = proto === 6 ? 20 : 8;
  const v = b[pkt]! >>> 4;
  if (v === 4) {
    const ihl = (b[pkt]! & 0x0f) << 2;
    return ihl >= 20 && b[pkt + 9] === proto && ihl + min <= len ? ihl : -1;
  }
  if (v !== 6 || len < 40 + min) return -1;
  let nh = b[pkt + 6]!;
  let p = 40;
  while (nh === 0 || nh === 43 || nh === 60) {
    if (p + 8 > len) return -1;
    nh = b[pkt + p]!;
    p += (b[pkt + p + 1]! + 1) << 3;
  }
  return nh === proto && p + min <= len ? p : -1;
}

/** l4Offset for TCP. */
export function tcpOffset(b: Uint8Array, pkt: number, len: number): number {
  return l4Offset(b, pkt, len, 6);
}

/**
 * How many segments a super-packet of `len` bytes (transport header `proto`
 * at pkt+l4, segments of `gso` payload bytes) stands for: the packets the
 * kernel will cut it into, and those the counters count.
 */
export function gsoSegments(
  b: Uint8Array,
  pkt: number,
  len: number,
  l4: number,
  proto: number,
  gso: number,
): number {
  const payload = len - l4 - (proto === 6 ? (b[pkt + l4 + 12]! >>> 4) << 2 : 8);
  return gso > 0 && payload > gso ? Math.ceil(payload / gso) : 1;
}

/**
 * Software segmentation of a TCP super-packet (as the kernel's tcp_gso_segment
 * does): b[pkt, pkt+len) with its TCP header at pkt+l4 is cut into segments
 * of at most `mss` payload bytes. Each one is a whole packet with its own IP
 * length, IPv4 Identification (+1 each) and header checksum, sequence number,
 * FIN/PSH on the last segment only, CWR on the first only, and a complete TCP
 * checksum (the input's checksum field is not read: partial or not, it is
 * recomputed). Segments are written one after another, 4-aligned, into out
 * from offset 0; offs/lens receive their places. Returns the number of
 * segments, or -1 if the packet is malformed or they do not fit.
 */
export function segmentTcp(
  b: Uint8Array,
  pkt: number,
  len: number,
  l4: number,
  mss: number,
  out: Uint8Array,
  offs: Int32Array,
  lens: Int32Array,
): number {
  if (mss <= 0 || l4 + 20 > len) return -1;
  const thl = (b[pkt + l4 + 12]! >>> 4) << 2;
  const hdr = l4 + thl;
  if (thl < 20 || hdr > len) return -1;
  const v4 = b[pkt]! >>> 4 === 4;
  const payload = len - hdr;
  const n = Math.max(1, Math.ceil(payload / mss));
  if (n > offs.length) return -1;
  const seq = read32(b, pkt + l4 + 4);
  const flags = b[pkt + l4 + 13]!;
  const id = v4 ? read16(b, pkt + 4) : 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const chunk = Math.min(mss, payload - i * mss);
    const segLen = hdr + Math.max(0, chunk);
    if (o + segLen > out.length) return -1;
    out.set(b.subarray(pkt, pkt + hdr), o);
    if (chunk > 0) out.set(b.subarray(pkt + hdr + i * mss, pkt + hdr + i * mss + chunk), o + hdr);
    const t = o + l4;
    write32(out, t + 4, (seq + i * mss) >>> 0);
    let f = flags;
    if (i < n - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= ~TCP_CWR;
    out[t + 13] = f;
    const tcpLen = segLen - l4;
    const pseudo = ipFields(out, o, segLen, v4, id + i) + 6 + tcpLen;
    write16(out, t + 16, 0);
    const c = finish(sum16(out, t, tcpLen, pseudo));
    write16(out, t + 16, c);
    offs[i] = o;
    lens[i] = segLen;
    o = (o + segLen + 3) & ~3;
  }
  return n;
}

/**
 * Software segmentation of a UDP super-packet (VIRTIO_NET_HDR_GSO_UDP_L4), as
 * the kernel's __udp_gso_segment and inet_gso_segment do: b[pkt, pkt+len)
 * with its UDP header at pkt+l4 is cut into datagrams of at most `gso`
 * payload bytes, each a whole packet with its own IP length, IPv4
 * Identification (+1 each) and header checksum, UDP length, and a complete
 * UDP checksum (RFC 768: 0 is sent as 0xffff; the input's field is not read).
 * Placed as segmentTcp places its segments; returns their number, or -1 if
 * the packet is malformed or they do not fit.
 */
export function segmentUdp(
  b: Uint8Array,
  pkt: number,
  len: number,
  l4: number,
  gso: number,
  out: Uint8Array,
  offs: Int32Array,
  lens: Int32Array,
): number {
  const hdr = l4 + 8;
  if (gso <= 0 || hdr > len) return -1;
  const v4 = b[pkt]! >>> 4 === 4;
  const payload = len - hdr;
  const n = Math.max(1, Math.ceil(payload / gso));
  if (n > offs.length) return -1;
  const id = v4 ? read16(b, pkt + 4) : 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const chunk = Math.max(0, Math.min(gso, payload - i * gso));
    const segLen = hdr + chunk;
    if (o + segLen > out.length) return -1;
    out.set(b.subarray(pkt, pkt + hdr), o);
    if (chunk > 0) out.set(b.subarray(pkt + hdr + i * gso, pkt + hdr + i * gso + chunk), o + hdr);
    const u = o + l4;
    const udpLen = segLen - l4;
    write16(out, u + 4, udpLen);
    const pseudo = ipFields(out, o, segLen, v4, id + i) + 17 + udpLen;
    write16(out, u + 6, 0);
    write16(out, u + 6, finish(sum16(out, u, udpLen, pseudo)) || 0xffff);
    offs[i] = o;
    lens[i] = segLen;
    o = (o + segLen + 3) & ~3;
  }
  return n;
}

/**
 * A segment's IP header at out[o...]: its length (and for IPv4 its
 * Identification and header checksum); returns the sum of its pseudo-header
 * addresses.
 */
function ipFields(out: Uint8Array, o: number, segLen: number, v4: boolean, id: number): number {
  if (!v4) {
    write16(out, o + 4, segLen - 40);
    return sum16(out, o + 8, 32, 0);
  }
  const ihl = (out[o]! & 0x0f) << 2;
  write16(out, o + 2, segLen);
  write16(out, o + 4, id & 0xffff);
  write16(out, o + 10, 0);
  write16(out, o + 10, finish(sum16(out, o, ihl, 0)));
  return sum16(out, o + 12, 8, 0);
}

/**
 * RFC 7915 §5.1 sets DF on a translated IPv4 packet only above 1260 bytes,
 * and the one header of a super-packet serves all its segments. For an IPv6
 * super-packet (TCP at pkt+l4, segments of mss) whose full segments are over
 * 1260 bytes once translated and whose last one is not, returns the last
 * segment's payload length (to be cut off and sent on its own); else 0.
 */
export function shortTail(b: Uint8Array, pkt: number, len: number, l4: number, mss: number): number {
  if (mss <= 0 || b[pkt]! >>> 4 !== 6 || l4 + 20 > len) return 0;
  const thl = (b[pkt + l4 + 12]! >>> 4) << 2;
  const payload = len - l4 - thl;
  if (thl < 20 || payload <= mss) return 0;
  const r = payload % mss;
  // The IPv4 image has no extension headers: 20 + TCP header + payload.
  return r > 0 && 20 + thl + mss > 1260 && 20 + thl + r <= 1260 ? r : 0;
}

/**
 * Cuts the last `tail` payload bytes off an IPv6 TCP super-packet with a
 * partial checksum (b[pkt, pkt+len), TCP at pkt+l4): they become one packet
 * in out[0...] (headers copied, sequence advanced, CWR cleared, FIN/PSH
 * kept), the super-packet keeps the rest (payload length, FIN/PSH cleared).
 * Both keep a partial checksum: their fields get their own pseudo-header sums.
 * Returns the tail packet's length; the head is len - tail bytes long.
 */
export function splitTail(
  b: Uint8Array,
  pkt: number,
  len: number,
  l4: number,
  tail: number,
  out: Uint8Array,
): number {
  const thl = (b[pkt + l4 + 12]! >>> 4) << 2;
  const hdr = l4 + thl;
  const headLen = len - tail;
  const tailLen = hdr + tail;
  if (tail <= 0 || headLen <= hdr || tailLen > out.length) return -1;
  out.set(b.subarray(pkt, pkt + hdr), 0);
  out.set(b.subarray(pkt + headLen, pkt + len), hdr);
  write32(out, l4 + 4, (read32(b, pkt + l4 + 4) + (headLen - hdr)) >>> 0);
  out[l4 + 13] = out[l4 + 13]! & ~TCP_CWR;
  b[pkt + l4 + 13] = b[pkt + l4 + 13]! & ~(TCP_FIN | TCP_PSH);
  write16(out, 4, tailLen - 40);
  write16(b, pkt + 4, headLen - 40);
  seed6(out, 0, l4, tailLen - l4);
  seed6(b, pkt, l4, headLen - l4);
  return tailLen;
}

/** The pseudo-header sum of an IPv6 TCP packet (the partial checksum's seed), into its checksum field. */
function seed6(b: Uint8Array, pkt: number, l4: number, tcpLen: number): void {
  let s = sum16(b, pkt + 8, 32, 0) + 6 + tcpLen;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  write16(b, pkt + l4 + 16, s);
}
