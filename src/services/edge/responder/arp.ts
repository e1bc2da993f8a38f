// ARP for Ethernet and IPv4 (RFC 826): reading a request and building the reply that answers it.
// Pure: bytes in, a typed view or bytes out; never throws on what arrives.
//
// Packet (28 bytes after the Ethernet header):
//   ar$hrd 2 | ar$pro 2 | ar$hln 1 | ar$pln 1 | ar$op 2 | ar$sha 6 | ar$spa 4 | ar$tha 6 | ar$tpa 4

export const ARP_LENGTH = 28;
const HRD_ETHERNET = 1;
const PRO_IPV4 = 0x0800;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;

/** A request, as the fields the responder reads. */
export interface ArpRequest {
  /** ar$sha, the requester's hardware address */
  senderHardware: Uint8Array;
  /** ar$spa; 0 in an ARP Probe (RFC 5227 §2.1.1) */
  senderProtocol: number;
  /** ar$tpa, the address asked for */
  targetProtocol: number;
}

export type ArpDrop = "malformed" | "notRequest";
export type ArpRead = { ok: true; request: ArpRequest } | { ok: false; drop: ArpDrop };

/**
 * A request for an IPv4 address on Ethernet, or why not: RFC 826 "Packet Reception": the
 * hardware type must be ours (?Do I have the hardware type in ar$hrd?), the protocol type one we
 * speak (?Do I speak the protocol in ar$pro?), and only a request gets a reply (?Is the opcode
 * ares_op$REQUEST?). Lengths other than 6 and 4 are not Ethernet/IPv4 ARP. Frames may carry
 * Ethernet padding after the 28 bytes.
 */
export function readArpRequest(p: Uint8Array): ArpRead {
  if (p.length < ARP_LENGTH) return { ok: false, drop: "malformed" };
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (v.getUint16(0) !== HRD_ETHERNET || v.getUint16(2) !== PRO_IPV4 || p[4] !== 6 || p[5] !== 4)
    return { ok: false, drop: "malformed" };
  if (v.getUint16(6) !== ARPOP_REQUEST) return { ok: false, drop: "notRequest" };
  return {
    ok: true,
    request: {
      senderHardware: p.slice(8, 14),
      senderProtocol: v.getUint32(14),
      targetProtocol: v.getUint32(24),
    },
  };
}

/**
 * The reply (RFC 826): "swap hardware and protocol fields, putting the local hardware and
 * protocol addresses in the sender fields", opcode REPLY, sent to the requester's hardware address.
 * Here the "local" hardware address is the one we answer with (another box's, or ours), and the
 * local protocol address is the one asked for. A Probe's sender address is 0, so the reply's
 * target protocol address is 0 too, as Linux answers probes for its own addresses.
 */
export function arpReply(request: ArpRequest, hardware: Uint8Array): Uint8Array {
  const p = new Uint8Array(ARP_LENGTH);
  const v = new DataView(p.buffer);
  v.setUint16(0, HRD_ETHERNET);
  v.setUint16(2, PRO_IPV4);
  p[4] = 6;
  p[5] = 4;
  v.setUint16(6, ARPOP_REPLY);
  p.set(hardware, 8);
  v.setUint32(14, request.targetProtocol);
  p.set(request.senderHardware, 18);
  v.setUint32(24, request.senderProtocol);
  return p;
}
