// UDP sockets with SO_REUSEPORT, so that several threads each own a socket on the same address and
// the kernel spreads datagrams over them (Linux socket(7)). Node 20's dgram has no reusePort option
// (a second bind fails with EADDRINUSE), so the socket is made through libc (koffi) and handed to
// dgram with bind({ fd }); receiving stays on each thread's event loop.
import { createSocket, type Socket } from "node:dgram";
import { parseAddress } from "../../util/net.ts";
import {
  AF_INET,
  AF_INET6,
  bind,
  check,
  close,
  IPPROTO_IPV6,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  setIntOption,
  sockaddrIn,
  sockaddrIn6,
  socket,
} from "../../util/sys/libc.ts";

/** <asm-generic/socket.h>, <linux/in6.h> */
export const SO_REUSEPORT = 15;
const IPV6_V6ONLY = 26;

/** The address bytes (network order) of an IP literal. */
export function addressBytes(host: string, family: 4 | 6): Uint8Array {
  const a = parseAddress(host, family);
  if (!a.ok) throw new Error(a.error);
  const n = family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  let v = a.value.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** A dgram socket bound to host:port with SO_REUSEPORT set before the bind. */
export async function reusePortUdp(family: 4 | 6, host: string, port: number): Promise<Socket> {
  return (await libcUdp(family, host, port, true)).socket;
}

/**
 * A non-blocking UDP socket descriptor bound to host:port (port 0: any free port); `blocking` for
 * a thread that waits in recvmmsg on it (recvthread.ts).
 */
export function udpFd(
  family: 4 | 6,
  host: string,
  port: number,
  reusePort: boolean,
  blocking = false,
): number {
  const sa =
    family === 4 ? sockaddrIn(addressBytes(host, 4), port) : sockaddrIn6(addressBytes(host, 6), 0, port);
  return udpFdAt(sa, reusePort, blocking);
}

/** The same for a sockaddr_in / sockaddr_in6 already built (no address text to parse). */
export function udpFdAt(sa: Uint8Array, reusePort: boolean, blocking = false): number {
  const v4 = sa[0] === AF_INET;
  const fd = check(
    socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | (blocking ? 0 : SOCK_NONBLOCK) | SOCK_CLOEXEC, 0),
    "socket(SOCK_DGRAM)",
  );
  try {
    if (reusePort) setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    if (!v4) setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    check(bind(fd, sa, sa.length), "bind");
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

/**
 * A dgram socket bound to host:port, made through libc so that its descriptor is known (the
 * server drains it with recvmmsg/sendmmsg, see udpbatch.ts); SO_REUSEPORT when `reusePort`.
 */
export function libcUdp(
  family: 4 | 6,
  host: string,
  port: number,
  reusePort: boolean,
): Promise<{ socket: Socket; fd: number }> {
  const fd = udpFd(family, host, port, reusePort);
  const s = createSocket(family === 4 ? "udp4" : "udp6");
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind({ fd, exclusive: true }, () => {
      s.off("error", reject);
      resolve({ socket: s, fd });
    });
  });
}
