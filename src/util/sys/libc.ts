// libc through koffi: the socket system calls Node has no API for (raw and packet sockets,
// setsockopt options such as SO_BINDTODEVICE, IPV6_PKTINFO, ICMP6_FILTER, recvmsg with ancillary
// data). One loaded library for every part of v6mostly; each concern (raw ICMPv6, DHCP, netlink)
// builds on it in its own file next to this one.
//
// Values are Linux x86-64/arm64 (the ABI of the constants below is the same on both). Every call
// returns -1 with errno set on failure; `check()` turns that into an Error naming the call.
import koffi from "koffi";

const lib = koffi.load("libc.so.6");

export const socket = lib.func("int socket(int domain, int type, int protocol)") as (
  domain: number,
  type: number,
  protocol: number,
) => number;
export const close = lib.func("int close(int fd)") as (fd: number) => number;
export const setsockopt = lib.func(
  "int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)",
) as (fd: number, level: number, name: number, value: Uint8Array | null, length: number) => number;
export const getsockopt = lib.func(
  "int getsockopt(int fd, int level, int optname, _Out_ void *optval, _Inout_ uint32_t *optlen)",
) as (fd: number, level: number, name: number, value: Uint8Array, length: number[]) => number;
export const bind = lib.func("int bind(int fd, const void *addr, uint32_t addrlen)") as (
  fd: number,
  addr: Uint8Array,
  length: number,
) => number;
export const sendto = lib.func(
  "intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)",
) as (
  fd: number,
  buf: Uint8Array,
  len: number,
  flags: number,
  addr: Uint8Array | null,
  addrLen: number,
) => number;
export const recvfrom = lib.func(
  "intptr_t recvfrom(int fd, _Out_ void *buf, size_t len, int flags, _Out_ void *addr, _Inout_ uint32_t *addrlen)",
) as (
  fd: number,
  buf: Uint8Array,
  len: number,
  flags: number,
  addr: Uint8Array | null,
  addrLen: number[] | null,
) => number;
/** `msg` is native memory (see msghdr.ts): the struct holds pointers the kernel follows. */
export const recvmsg = lib.func("intptr_t recvmsg(int fd, void *msg, int flags)") as (
  fd: number,
  msg: unknown,
  flags: number,
) => number;
export const sendmsg = lib.func("intptr_t sendmsg(int fd, void *msg, int flags)") as (
  fd: number,
  msg: unknown,
  flags: number,
) => number;
export const if_nametoindex = lib.func("unsigned int if_nametoindex(const char *ifname)") as (
  name: string,
) => number;
/** flock(2): an advisory lock on an open file, released when the last descriptor of it closes. */
export const flock = lib.func("int flock(int fd, int operation)") as (
  fd: number,
  operation: number,
) => number;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
const pthreadSelf = lib.func("unsigned long pthread_self(void)") as () => number;
const pthreadSetname = lib.func("int pthread_setname_np(unsigned long thread, const char *name)") as (
  thread: number,
  name: string,
) => number;

/**
 * Names the calling thread, as `top -H`, `ps -L`, /proc/PID/task/TID/comm and perf show it (Linux
 * keeps 15 bytes): which of a process's threads is a packet worker or a receive thread, and what
 * each costs. Best effort: a thread without its name works the same.
 */
export function nameThisThread(name: string): void {
  try {
    pthreadSetname(pthreadSelf(), name.slice(0, 15));
  } catch {
    // a name is a convenience
  }
}
const strerrorRaw = lib.func("const char *strerror(int errnum)") as (errnum: number) => string;

// <sys/socket.h>, <netinet/in.h>, <linux/in6.h>, <netinet/icmp6.h>, <linux/netlink.h>
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_BROADCAST = 6;
export const SO_RCVBUF = 8;
export const SO_BINDTODEVICE = 25;
export const IPPROTO_IP = 0;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const IP_PKTINFO = 8;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_ADD_MEMBERSHIP = 20;
export const IPV6_DROP_MEMBERSHIP = 21;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const IPV6_RECVHOPLIMIT = 51;
export const IPV6_HOPLIMIT = 52;
/** level IPPROTO_ICMPV6 */
export const ICMP6_FILTER = 1;
export const NETLINK_ROUTE = 0;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;

export const EAGAIN = 11;
export const EINTR = 4;

export function errno(): number {
  return koffi.errno();
}

export function strerror(n: number): string {
  return strerrorRaw(n);
}

/** An Error for a failed call, e.g. `setsockopt(SO_BINDTODEVICE eth9): No such device (errno 19)`. */
export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${strerror(errno)} (errno ${errno})`);
    this.name = "SysError";
  }
}

/** Throw a SysError when a call returned a negative value; pass the result through otherwise. */
export function check(result: number, call: string): number {
  if (result < 0) throw new SysError(call, koffi.errno());
  return result;
}

export function int32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  return b;
}

export function setIntOption(fd: number, level: number, name: number, value: number, what: string): void {
  check(setsockopt(fd, level, name, int32(value), 4), `setsockopt(${what})`);
}

/** SO_BINDTODEVICE: the socket sends and receives on this interface only (needs CAP_NET_RAW). */
export function bindToDevice(fd: number, ifname: string): void {
  const name = new TextEncoder().encode(`${ifname}\0`);
  check(
    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length),
    `setsockopt(SO_BINDTODEVICE ${ifname})`,
  );
}

/** The interface index, or a clear error when the interface does not exist. */
export function interfaceIndex(ifname: string): number {
  const index = if_nametoindex(ifname);
  if (index === 0) throw new SysError(`interface ${ifname}`, koffi.errno());
  return index;
}

/** struct sockaddr_in6 (28 bytes): family, port (network order), flowinfo, address, scope id. */
export function sockaddrIn6(address: Uint8Array, scopeId = 0, port = 0): Uint8Array {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET6, true);
  v.setUint16(2, port, false);
  b.set(address.subarray(0, 16), 8);
  v.setUint32(24, scopeId, true);
  return b;
}

/** struct sockaddr_in (16 bytes). */
export function sockaddrIn(address: Uint8Array, port = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port, false);
  b.set(address.subarray(0, 4), 4);
  return b;
}
