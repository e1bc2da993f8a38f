// Sending an IP packet as the host's own, with the source address left to the kernel: what a TUN
// translator needs for the ICMP errors it originates (RFC 4443 §2.2 (c): the source is chosen as
// for any packet the node originates to that destination; RFC 1812 §4.3.2.4: an address of the
// interface the error leaves by). Jool, in the kernel, calls icmp_send / icmpv6_send, which do the
// same route lookup.
//
// IPv4: socket(AF_INET, SOCK_RAW, IPPROTO_RAW), which implies IP_HDRINCL and never receives: the
// packet goes out as written except the fields raw(7) fills in, the source address and the
// Identification when zero, the total length and the header checksum.
// IPv6: socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6) with the header left to the kernel (an IPv6
// raw socket does not fill in a source it is given): the ICMPv6 message is sent, the kernel picks
// the source, computes the checksum (RFC 3542 §3.1), and writes hop limit `hopLimit`, traffic
// class 0 and flow label 0 (IPV6_AUTOFLOWLABEL off). ICMP6_FILTER blocks every type, so the
// socket queues nothing.
//
// No route lookups here and nothing cached: the kernel routes each packet as it is sent, so a
// route change applies to the next error. Both sockets are non-blocking: a send never holds the
// packet loop.
import {
  AF_INET,
  AF_INET6,
  check,
  close,
  errno,
  ICMP6_FILTER,
  IPPROTO_ICMPV6,
  IPPROTO_IPV6,
  IPV6_UNICAST_HOPS,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  sendto,
  setIntOption,
  setsockopt,
  sockaddrIn,
  sockaddrIn6,
  socket,
} from "./libc.ts";

const IPPROTO_RAW = 255;
const IPV6_AUTOFLOWLABEL = 70;
const ENETUNREACH = 101;
const EHOSTUNREACH = 113;
const EADDRNOTAVAIL = 99;

/** Whether a send failed because the host has no route (or no source address) to the destination. */
export function isNoRoute(err: number): boolean {
  return err === ENETUNREACH || err === EHOSTUNREACH || err === EADDRNOTAVAIL;
}

export class HostSender {
  private fd4 = -1;
  private fd6 = -1;
  private readonly sa4 = sockaddrIn(new Uint8Array(4));
  private readonly sa6 = sockaddrIn6(new Uint8Array(16));

  /** Opens both sockets (CAP_NET_RAW); throws a SysError naming the call that failed. */
  constructor(hopLimit: number) {
    try {
      this.fd4 = check(
        socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW),
        "socket(AF_INET, SOCK_RAW, IPPROTO_RAW)",
      );
      this.fd6 = check(
        socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6),
        "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)",
      );
      const blockAll = new Uint8Array(32).fill(0xff);
      check(setsockopt(this.fd6, IPPROTO_ICMPV6, ICMP6_FILTER, blockAll, 32), "setsockopt(ICMP6_FILTER)");
      setIntOption(this.fd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, hopLimit, "IPV6_UNICAST_HOPS");
      setIntOption(this.fd6, IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, 0, "IPV6_AUTOFLOWLABEL");
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Sends the IPv4 or IPv6 packet b[off, off+len) with the source the kernel picks (the packet's
   * own source is ignored). Returns the bytes sent, or -errno (see {@link isNoRoute}).
   */
  send(b: Uint8Array, off: number, len: number): number {
    let r: number;
    if (b[off]! >>> 4 === 4) {
      this.sa4.set(b.subarray(off + 16, off + 20), 4);
      r = sendto(this.fd4, b.subarray(off, off + len), len, 0, this.sa4, 16);
    } else {
      this.sa6.set(b.subarray(off + 24, off + 40), 8);
      r = sendto(this.fd6, b.subarray(off + 40, off + len), len - 40, 0, this.sa6, 28);
    }
    return r < 0 ? -errno() : r;
  }

  close(): void {
    if (this.fd4 >= 0) close(this.fd4);
    if (this.fd6 >= 0) close(this.fd6);
    this.fd4 = this.fd6 = -1;
  }
}
