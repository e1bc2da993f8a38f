/**
 * Opening a TUN device (linux/if_tun.h): open /dev/net/tun, ioctl TUNSETIFF
 * with IFF_TUN | IFF_NO_PI (raw IP packets, no packet-information prefix),
 * optionally IFF_MULTI_QUEUE (one fd per queue) and IFF_VNET_HDR with
 * TUNSETOFFLOAD (offload.ts). A device made this way is not persistent: it disappears with its last file
 * descriptor, so a crashed process leaves no device (and no routes) behind.
 */
import { existsSync } from "node:fs";
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_USO4, TUN_F_USO6 } from "./offload.ts";
import * as sys from "./sys.ts";

export const TUN_PATH = "/dev/net/tun";

export interface TunOptions {
  /** IFF_MULTI_QUEUE: every open with the same name adds a queue. */
  multiQueue?: boolean;
  /**
   * IFF_VNET_HDR with TUNSETOFFLOAD(CSUM | TSO4 | TSO6 | USO4 | USO6): every
   * packet is preceded by a struct virtio_net_hdr, and the kernel hands over
   * partial checksums and TCP and UDP super-packets (see offload.ts). A
   * kernel without UDP segmentation offload (before 6.2) refuses USO: the
   * device then takes TCP super-packets only (TunDevice.uso false).
   */
  offload?: boolean;
  /** Non-blocking file descriptor (for a poll loop). */
  nonBlocking?: boolean;
}

export class TunError extends Error {}

/** An open TUN queue: its file descriptor, and whether the kernel hands over UDP super-packets. */
export interface TunDevice {
  fd: number;
  uso: boolean;
}

/** Opens (creating if needed) the TUN device `name`; returns its file descriptor. */
export function openTun(name: string, opts: TunOptions = {}): number {
  return openTunDevice(name, opts).fd;
}

/** openTun, also telling whether UDP segmentation offload was granted. */
export function openTunDevice(name: string, opts: TunOptions = {}): TunDevice {
  if (!existsSync(TUN_PATH)) throw new TunError(`${TUN_PATH} is missing (load the tun module: modprobe tun)`);
  if (Buffer.byteLength(name) > 15) throw new TunError(`interface name ${name} is longer than 15 bytes`);
  const fd = sys.open(TUN_PATH, sys.O_RDWR | sys.O_CLOEXEC | (opts.nonBlocking ? sys.O_NONBLOCK : 0));
  if (fd < 0) {
    const e = sys.errno();
    throw new TunError(`open ${TUN_PATH}: ${sys.strerror(e)} (errno ${e})`);
  }
  const ifr = new Uint8Array(40);
  ifr.set(Buffer.from(name), 0);
  let flags = sys.IFF_TUN | sys.IFF_NO_PI;
  if (opts.multiQueue) flags |= sys.IFF_MULTI_QUEUE;
  if (opts.offload) flags |= sys.IFF_VNET_HDR;
  ifr[16] = flags & 0xff;
  ifr[17] = flags >>> 8;
  if (sys.ioctlPtr(fd, sys.TUNSETIFF, ifr) < 0) {
    const e = sys.errno();
    sys.close(fd);
    throw new TunError(
      `ioctl(TUNSETIFF ${name}): ${sys.strerror(e)} (errno ${e})${e === 1 ? ": needs CAP_NET_ADMIN" : ""}`,
    );
  }
  if (!opts.offload) return { fd, uso: false };
  const tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  // TUN_F_USO4/6 since Linux 6.2: an older kernel answers EINVAL, and then gets TCP alone.
  if (sys.ioctlInt(fd, sys.TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) === 0) return { fd, uso: true };
  if (sys.ioctlInt(fd, sys.TUNSETOFFLOAD, tcp) < 0) {
    const e = sys.errno();
    sys.close(fd);
    throw new TunError(`ioctl(TUNSETOFFLOAD ${name}): ${sys.strerror(e)} (errno ${e})`);
  }
  return { fd, uso: false };
}

export function closeTun(fd: number): void {
  sys.close(fd);
}
