// ARP announcements (RFC 5227 §3, after RFC 826 and RFC 5944 §4.6 "gratuitous ARP"): how a node
// that has just taken an IPv4 address over tells the link, so that neighbours replace the old
// owner's hardware address in their caches at once instead of when the entry goes stale.
// Sent on a packet socket (AF_PACKET, SOCK_DGRAM: the kernel writes the Ethernet header).
import { ETH_P_IP, LinkSender } from "./udp4.ts";

/** <linux/if_ether.h> */
export const ETH_P_ARP = 0x0806;
const ARPOP_REQUEST = 1;
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * An ARP Announcement (RFC 5227 §3): an ARP Request whose sender and target protocol addresses
 * are both the announced address, the target hardware address zero, sent to the broadcast address.
 * RFC 826 receivers that already hold an entry for the sender's protocol address update it with
 * the sender's hardware address ("merge flag"), which is what moves the address.
 */
export function arpAnnouncement(mac: Uint8Array, ipv4: Uint8Array): Uint8Array {
  if (mac.length !== 6 || ipv4.length !== 4) throw new Error("ARP for Ethernet and IPv4 only");
  const p = new Uint8Array(28);
  const v = new DataView(p.buffer);
  v.setUint16(0, 1); // hardware type: Ethernet
  v.setUint16(2, ETH_P_IP); // protocol type: IPv4
  p[4] = 6; // hardware address length
  p[5] = 4; // protocol address length
  v.setUint16(6, ARPOP_REQUEST);
  p.set(mac, 8); // sender hardware address
  p.set(ipv4, 14); // sender protocol address
  // target hardware address: zero (bytes 18-23)
  p.set(ipv4, 24); // target protocol address
  return p;
}

/** What an ARP packet says, or undefined when it is not Ethernet/IPv4 ARP (for tests and tools). */
export function parseArp(
  p: Uint8Array,
): { op: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string } | undefined {
  if (p.length < 28) return undefined;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (v.getUint16(0) !== 1 || v.getUint16(2) !== ETH_P_IP || p[4] !== 6 || p[5] !== 4) return undefined;
  const mac = (o: number) => [...p.subarray(o, o + 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
  const ip = (o: number) => [...p.subarray(o, o + 4)].join(".");
  return { op: v.getUint16(6), senderMac: mac(8), senderIp: ip(14), targetMac: mac(18), targetIp: ip(24) };
}

/** Sends ARP packets on one interface (a send-only packet socket; it receives nothing). */
export class ArpSender {
  private readonly link: LinkSender;
  constructor(ifindex: number) {
    this.link = new LinkSender(ifindex);
  }
  /** Broadcast an ARP packet on the interface. */
  broadcast(packet: Uint8Array): void {
    this.link.send(packet, BROADCAST_MAC, ETH_P_ARP);
  }
  close(): void {
    this.link.close();
  }
}
