// IPv4 UDP sockets bound to one interface, and a packet socket to send a UDP datagram to a
// hardware address (a DHCP client that has no IPv4 address yet cannot answer ARP: RFC 2131 §4.1).
// Builds on libc.ts; the socket is handed to Node's dgram (bind({ fd })) so that receiving stays
// on the event loop.
import {
  AF_INET,
  AF_PACKET,
  bind,
  bindToDevice,
  check,
  close,
  SO_BROADCAST,
  SO_RCVBUF,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  sendto,
  setIntOption,
  sockaddrIn,
  socket,
} from "./libc.ts";

/** <linux/if_ether.h> */
export const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;

/**
 * A UDP socket on 0.0.0.0:port that sees and sends traffic of `ifname` only (SO_BINDTODEVICE),
 * may send to 255.255.255.255 (SO_BROADCAST), and may share the port with the same kind of socket
 * on other interfaces (SO_REUSEADDR). Returns the file descriptor; the caller owns it.
 */
export function udp4SocketOnDevice(ifname: string, port: number, rcvbuf = 1 << 20): number {
  const fd = check(
    socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
    "socket(AF_INET, SOCK_DGRAM)",
  );
  try {
    setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    setIntOption(fd, SOL_SOCKET, SO_BROADCAST, 1, "SO_BROADCAST");
    setIntOption(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
    bindToDevice(fd, ifname);
    const any = sockaddrIn(new Uint8Array(4), port);
    check(bind(fd, any, any.length), `bind(0.0.0.0:${port})`);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** struct sockaddr_ll (20 bytes) to send on a packet socket to `hwaddr` on interface `ifindex`. */
export function sockaddrLl(ifindex: number, protocol: number, hwaddr: Uint8Array): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, protocol, false);
  v.setInt32(4, ifindex, true);
  v.setUint16(8, ARPHRD_ETHER, true);
  const n = Math.min(hwaddr.length, 8);
  b[11] = n;
  b.set(hwaddr.subarray(0, n), 12);
  return b;
}

function sum16(b: Uint8Array, off: number, len: number, acc: number): number {
  let s = acc;
  const end = off + len;
  for (let i = off; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** An IPv4 + UDP datagram (RFC 791, RFC 768) around `payload`, with both checksums. */
export function ipv4UdpDatagram(
  src: number,
  dst: number,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  ttl = 64,
): Uint8Array {
  const udpLen = 8 + payload.length;
  const b = new Uint8Array(20 + udpLen);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, b.length);
  v.setUint16(6, 0x4000); // DF
  v.setUint8(8, ttl);
  v.setUint8(9, 17);
  v.setUint32(12, src >>> 0);
  v.setUint32(16, dst >>> 0);
  v.setUint16(10, fold(sum16(b, 0, 20, 0)));
  v.setUint16(20, srcPort);
  v.setUint16(22, dstPort);
  v.setUint16(24, udpLen);
  b.set(payload, 28);
  // pseudo-header: src, dst, zero, protocol, UDP length
  let s = sum16(b, 12, 8, 0) + 17 + udpLen;
  s = sum16(b, 20, udpLen, s);
  const c = fold(s);
  v.setUint16(26, c === 0 ? 0xffff : c);
  return b;
}

/** A packet socket that only sends (protocol 0: it receives nothing). */
export class LinkSender {
  readonly fd: number;
  constructor(readonly ifindex: number) {
    this.fd = check(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket(AF_PACKET)");
  }
  /** Sends an IPv4 datagram (or another `protocol`'s payload) to `hwaddr`; the kernel adds the Ethernet header. */
  send(datagram: Uint8Array, hwaddr: Uint8Array, protocol = ETH_P_IP): void {
    const to = sockaddrLl(this.ifindex, protocol, hwaddr);
    check(sendto(this.fd, datagram, datagram.length, 0, to, to.length), "sendto(AF_PACKET)");
  }
  close(): void {
    close(this.fd);
  }
}
