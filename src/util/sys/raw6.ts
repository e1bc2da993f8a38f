// A raw ICMPv6 socket bound to one interface: what Neighbor Discovery speakers (RA sender, `ra
// listen`) need and Node does not offer. socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6) through koffi.
//
// The kernel computes the ICMPv6 checksum on send and verifies it on receive for raw ICMPv6
// sockets (RFC 3542 §3.1), so messages are handled here without it.
//
// Reading without blocking the event loop: the socket is non-blocking and polled by a timer
// (every `pollMs`, default 20 ms) that drains what is queued with recvmsg(MSG_DONTWAIT), at most
// `burst` datagrams per tick. Each poll is one system call that returns EAGAIN at once when the
// queue is empty (a few microseconds), so the loop is never held; Neighbor Discovery traffic is a
// few packets a minute and its deadlines are hundreds of milliseconds (MAX_RA_DELAY_TIME 0.5 s), so
// 20 ms of added latency costs nothing. The alternatives were worse here: a koffi `.async` blocking
// recvmsg occupies one of libuv's four shared threadpool threads forever (file system and DNS calls
// queue behind it), and a worker thread per socket costs a V8 isolate (~10 MB) for this trickle.
// test/services/ra/service.test.ts ("hostile traffic") measures the event-loop delay of the RA service while
// a flood of solicitations arrives, next to an idle baseline.
import {
  AF_INET6,
  bind,
  bindToDevice,
  check,
  close,
  errno,
  ICMP6_FILTER,
  IPPROTO_ICMPV6,
  IPPROTO_IPV6,
  IPV6_ADD_MEMBERSHIP,
  IPV6_HOPLIMIT,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_PKTINFO,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVPKTINFO,
  IPV6_UNICAST_HOPS,
  interfaceIndex,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SysError,
  sendto,
  setIntOption,
  setsockopt,
  sockaddrIn6,
  socket,
} from "./libc.ts";
import { MessageBuffer } from "./msghdr.ts";

export interface Icmp6SocketOptions {
  ifname: string;
  /** ICMPv6 types to let through (ICMP6_FILTER); everything else is dropped in the kernel */
  types: readonly number[];
  /** multicast groups to join on the interface (16-byte addresses), e.g. ff02::2 for a router */
  groups?: readonly Uint8Array[];
  /** hop limit of sent packets, unicast and multicast; Neighbor Discovery needs 255 */
  hopLimit?: number;
  /** receive our own multicast packets (default false) */
  multicastLoop?: boolean;
  /** bind to this source address (e.g. the interface's link-local), scoped to the interface */
  source?: Uint8Array;
}

export interface Icmp6Packet {
  /** the ICMPv6 message, type byte first */
  data: Uint8Array;
  source: Uint8Array;
  /** the interface the kernel received it on (IPV6_PKTINFO) */
  ifindex?: number;
  /** the IPv6 destination (IPV6_PKTINFO) */
  destination?: Uint8Array;
  /** the IPv6 Hop Limit it arrived with (IPV6_HOPLIMIT), for RFC 4861 §6.1 validation */
  hopLimit?: number;
  truncated: boolean;
}

export class Icmp6Socket {
  readonly ifindex: number;
  private fd: number;
  private buffer = new MessageBuffer(65536);

  private constructor(
    fd: number,
    readonly ifname: string,
    ifindex: number,
  ) {
    this.fd = fd;
    this.ifindex = ifindex;
  }

  static open(o: Icmp6SocketOptions): Icmp6Socket {
    const ifindex = interfaceIndex(o.ifname);
    const fd = check(
      socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6),
      "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)",
    );
    try {
      bindToDevice(fd, o.ifname);
      // struct icmp6_filter: 256 bits, a set bit BLOCKS that type (Linux, RFC 3542 §3.2).
      const filter = new Uint8Array(32).fill(0xff);
      const fv = new DataView(filter.buffer);
      for (const t of o.types) {
        const word = t >> 5;
        fv.setUint32(word * 4, fv.getUint32(word * 4, true) & (~(1 << (t & 31)) >>> 0), true);
      }
      check(setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, filter, 32), "setsockopt(ICMP6_FILTER)");
      const hops = o.hopLimit ?? 255;
      setIntOption(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, hops, "IPV6_UNICAST_HOPS");
      setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops, "IPV6_MULTICAST_HOPS");
      setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, "IPV6_MULTICAST_IF");
      setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, o.multicastLoop ? 1 : 0, "IPV6_MULTICAST_LOOP");
      setIntOption(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
      setIntOption(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
      if (o.source) {
        const addr = sockaddrIn6(o.source, ifindex);
        check(bind(fd, addr, addr.length), "bind");
      }
      for (const g of o.groups ?? []) {
        // struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; int ipv6mr_interface; }
        const mreq = new Uint8Array(20);
        mreq.set(g, 0);
        new DataView(mreq.buffer).setInt32(16, ifindex, true);
        check(setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, 20), "setsockopt(IPV6_ADD_MEMBERSHIP)");
      }
    } catch (e) {
      close(fd);
      throw e;
    }
    return new Icmp6Socket(fd, o.ifname, ifindex);
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  /** Send one ICMPv6 message (checksum field left 0: the kernel fills it) to `destination` on our interface. */
  send(destination: Uint8Array, message: Uint8Array): void {
    if (this.fd < 0) throw new Error("socket closed");
    const addr = sockaddrIn6(destination, this.ifindex);
    const n = sendto(this.fd, message, message.length, 0, addr, addr.length);
    if (n < 0) throw new SysError("sendto", errno());
  }

  /** One queued packet, or undefined. Never blocks. */
  receive(): Icmp6Packet | undefined {
    if (this.fd < 0) return undefined;
    const r = this.buffer.receive(this.fd);
    if (!r) return undefined;
    const p: Icmp6Packet = { data: r.data, source: r.name.slice(8, 24), truncated: (r.flags & 0x20) !== 0 };
    for (const c of r.control) {
      if (c.level !== IPPROTO_IPV6) continue;
      const v = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength);
      if (c.type === IPV6_HOPLIMIT && c.data.length >= 4) p.hopLimit = v.getInt32(0, true);
      // struct in6_pktinfo { struct in6_addr ipi6_addr; int ipi6_ifindex; }
      if (c.type === IPV6_PKTINFO && c.data.length >= 20) {
        p.destination = c.data.slice(0, 16);
        p.ifindex = v.getInt32(16, true);
      }
    }
    return p;
  }

  close(): void {
    if (this.fd >= 0) {
      close(this.fd);
      this.fd = -1;
      this.buffer.free();
    }
  }
}

export interface Poller {
  stop(): void;
}

/**
 * Drain the socket every `pollMs` and hand each packet to `onPacket` (see the comment at the top
 * for why a timer). Errors from the socket go to `onError` and polling continues.
 */
export function poll(
  sock: Icmp6Socket,
  onPacket: (p: Icmp6Packet) => void,
  onError: (e: Error) => void,
  opts: { pollMs?: number; burst?: number } = {},
): Poller {
  const burst = opts.burst ?? 256;
  const timer = setInterval(() => {
    for (let i = 0; i < burst; i++) {
      let p: Icmp6Packet | undefined;
      try {
        p = sock.receive();
      } catch (e) {
        onError(e as Error);
        return;
      }
      if (!p) return;
      onPacket(p);
    }
  }, opts.pollMs ?? 20);
  return { stop: () => clearInterval(timer) };
}
