// IPv6 multicast group membership on one interface, for as many groups as a service needs: each
// join is IPV6_ADD_MEMBERSHIP on a UDP socket that is never read (the kernel sends the MLD report,
// RFC 3810, so MLD-snooping switches forward the group to us, and the NIC's multicast filter lets
// the group's frames in). Linux charges each membership to the socket's option memory
// (net.core.optmem_max: a few hundred groups at 20 KiB, about two thousand at 128 KiB); when a
// socket is full (ENOBUFS) the next group goes on a new socket. close() leaves every group.
import {
  AF_INET6,
  check,
  close,
  errno,
  IPPROTO_IPV6,
  IPV6_ADD_MEMBERSHIP,
  interfaceIndex,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SysError,
  setsockopt,
  socket,
} from "./libc.ts";

const ENOBUFS = 105;

export class MulticastGroups6 {
  private readonly fds: number[] = [];
  private joined = 0;
  readonly ifindex: number;

  constructor(readonly ifname: string) {
    this.ifindex = interfaceIndex(ifname);
  }

  /** Groups joined so far. */
  get size(): number {
    return this.joined;
  }

  /** Join `group` (16 bytes) on the interface; throws SysError when the kernel refuses. */
  join(group: Uint8Array): void {
    // struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; int ipv6mr_interface; }
    const mreq = new Uint8Array(20);
    mreq.set(group.subarray(0, 16), 0);
    new DataView(mreq.buffer).setInt32(16, this.ifindex, true);
    for (let attempt = 0; attempt < 2; attempt++) {
      const fd = this.fds.at(-1) ?? this.open();
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, 20) === 0) {
        this.joined++;
        return;
      }
      const e = errno();
      if (e !== ENOBUFS || attempt > 0) throw new SysError("setsockopt(IPV6_ADD_MEMBERSHIP)", e);
      this.open();
    }
  }

  /** Leave every group (closing a socket drops its memberships and sends MLD Done). */
  close(): void {
    for (const fd of this.fds.splice(0)) close(fd);
    this.joined = 0;
  }

  private open(): number {
    const fd = check(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET6, SOCK_DGRAM)");
    this.fds.push(fd);
    return fd;
  }
}
