// recvmmsg(2) / sendmmsg(2) through koffi: many datagrams per system call on one UDP socket.
// A DatagramBatch owns one block of native memory holding N slots, each an mmsghdr, its iovec, a
// socket address and a data buffer, allocated once; JavaScript reads and writes the block through
// an ArrayBuffer view (koffi.view), so receiving N datagrams and sending N answers costs one call
// each and no allocation. Additive to libc.ts (same library, same errno conventions).
//
// Layout for LP64 Linux (x86-64, arm64):
//   struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; }           64 bytes, msg_len at 56
//   struct msghdr  { void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov; size_t msg_iovlen;
//                    void *msg_control; size_t msg_controllen; int msg_flags; } offsets 0 8 16 24 32 40 48
//   struct iovec   { void *iov_base; size_t iov_len; }                          16 bytes
// Block: [N mmsghdr | N iovec | N names (32 bytes: sockaddr_in6 is 28) | N data buffers]
import koffi from "koffi";
import { format6 } from "../addrtext.ts";
import { EAGAIN, EINTR, MSG_DONTWAIT, MSG_TRUNC, SysError } from "./libc.ts";

const lib = koffi.load("libc.so.6");
// pointers are passed as integers (uintptr_t) so that a call can start at any slot
const recvmmsgRaw = lib.func(
  "int recvmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags, uintptr_t timeout)",
) as (fd: number, msgvec: number, vlen: number, flags: number, timeout: number) => number;
const sendmmsgRaw = lib.func("int sendmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags)") as (
  fd: number,
  msgvec: number,
  vlen: number,
  flags: number,
) => number;

const shutdownRaw = lib.func("int shutdown(int fd, int how)") as (fd: number, how: number) => number;
const pollRaw = lib.func("int poll(uintptr_t fds, unsigned long nfds, int timeout)") as (
  fds: number,
  nfds: number,
  timeout: number,
) => number;

/** recvmmsg(2): block for the first datagram only, then take what is queued. */
export const MSG_WAITFORONE = 0x10000;
/** shutdown(2) */
const SHUT_RD = 0;

/**
 * Wakes a thread blocked in `DatagramBatch.receive(fd, true)` on this socket: Linux sets
 * RCV_SHUTDOWN and wakes the socket's readers even on an unconnected UDP socket (the call itself
 * reports ENOTCONN there, which is ignored); from then on every receive returns at once.
 * shutdown(2); Linux net/ipv4/af_inet.c inet_shutdown.
 */
export function shutdownRead(fd: number): void {
  shutdownRaw(fd, SHUT_RD);
}

/** poll(2) */
const POLLIN = 0x1;
/** sizeof(struct pollfd { int fd; short events; short revents; }) */
const POLLFD = 8;

/**
 * poll(2) for readability over a fixed set of descriptors, the pollfd array in native memory (set
 * up once: a wait allocates nothing). A socket after shutdownRead is readable (Linux
 * datagram_poll: RCV_SHUTDOWN sets EPOLLIN), so shutdownRead wakes a thread waiting here too.
 */
export class PollSet {
  private ptr: unknown;
  private readonly view: DataView;
  private readonly base: number;

  constructor(readonly fds: readonly number[]) {
    this.ptr = koffi.alloc("uint8_t", fds.length * POLLFD);
    this.view = new DataView(koffi.view(this.ptr, fds.length * POLLFD));
    this.base = Number(koffi.address(this.ptr));
    fds.forEach((fd, i) => {
      this.view.setInt32(i * POLLFD, fd, true);
      this.view.setInt16(i * POLLFD + 4, POLLIN, true);
    });
  }

  /**
   * Blocks until a descriptor is readable, in error or hung up (its next receive tells which), or
   * `timeoutMs` passed (-1: no limit): the number of such descriptors, 0 on timeout or a signal.
   */
  wait(timeoutMs: number): number {
    if (this.ptr === undefined) throw new Error("PollSet used after free()");
    const n = pollRaw(this.base, this.fds.length, timeoutMs);
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e === EINTR) return 0;
    throw new SysError("poll", e);
  }

  /** After wait: whether descriptor i has something to report (revents ≠ 0). */
  ready(i: number): boolean {
    return this.view.getInt16(i * POLLFD + 6, true) !== 0;
  }

  free(): void {
    if (this.ptr !== undefined) {
      koffi.free(this.ptr);
      this.ptr = undefined;
    }
  }
}

const HDR = 64;
const IOV = 16;
const NAME = 32;

/** N datagram slots in native memory, for one recvmmsg or sendmmsg call at a time. */
export class DatagramBatch {
  private ptr: unknown;
  private readonly view: DataView;
  /** the whole block; slot data and names are subarrays of it */
  readonly bytes: Uint8Array;
  private readonly base: number;
  private readonly iovAt: number;
  private readonly nameAt: number;
  private readonly dataAt: number;
  /** slots 0..dirty-1 may hold lengths other than a fresh receive's (see receive) */
  private dirty: number;
  /** each slot's data buffer, made once (slot()) */
  private readonly slotViews: Uint8Array[] = [];

  constructor(
    readonly slots = 64,
    readonly dataSize = 4096,
  ) {
    this.iovAt = slots * HDR;
    this.nameAt = this.iovAt + slots * IOV;
    this.dataAt = this.nameAt + slots * NAME;
    const total = this.dataAt + slots * dataSize;
    this.ptr = koffi.alloc("uint8_t", total);
    const ab = koffi.view(this.ptr, total);
    this.view = new DataView(ab);
    this.bytes = new Uint8Array(ab);
    this.base = Number(koffi.address(this.ptr));
    const v = this.view;
    for (let i = 0; i < slots; i++) {
      const h = i * HDR;
      const iov = this.iovAt + i * IOV;
      v.setBigUint64(h + 0, BigInt(this.base + this.nameAt + i * NAME), true);
      v.setBigUint64(h + 16, BigInt(this.base + iov), true);
      v.setBigUint64(h + 24, 1n, true);
      v.setBigUint64(h + 32, 0n, true);
      v.setBigUint64(h + 40, 0n, true);
      v.setBigUint64(iov, BigInt(this.base + this.dataAt + i * dataSize), true);
      this.slotViews.push(this.bytes.subarray(this.dataAt + i * dataSize, this.dataAt + (i + 1) * dataSize));
    }
    this.dirty = slots;
  }

  /**
   * One non-blocking recvmmsg into every slot: the number of datagrams received (0 when nothing is
   * queued). Other errors throw SysError. `wait` (a blocking socket, a thread that does nothing but
   * serve it): block until a datagram comes (MSG_WAITFORONE: then take whatever else is queued); 0
   * when the socket's SO_RCVTIMEO passed. After shutdownRead it returns at once (Linux delivers an
   * empty datagram, or 0): the caller checks its own stop flag.
   */
  receive(fd: number, wait = false): number {
    if (this.ptr === undefined) throw new Error("DatagramBatch used after free()");
    // Only the slots written since the last reset need it: the kernel writes msg_namelen, msg_flags
    // and msg_len of the datagrams it delivers, set() the lengths of the slots it fills. An empty
    // receive (the common case at a light load: one per wake-up) then costs the system call alone,
    // and nothing here allocates (a BigInt per slot made ~1.5 KB of garbage per call).
    const v = this.view;
    for (let i = 0; i < this.dirty; i++) {
      const h = i * HDR;
      v.setUint32(h + 8, NAME, true);
      v.setInt32(h + 48, 0, true);
      this.setIovLen(i, this.dataSize);
    }
    this.dirty = 0;
    for (;;) {
      const n = recvmmsgRaw(fd, this.base, this.slots, wait ? MSG_WAITFORONE : MSG_DONTWAIT, 0);
      if (n >= 0) {
        this.dirty = n;
        return n;
      }
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return 0; // nothing queued, or (wait) SO_RCVTIMEO passed
      throw new SysError("recvmmsg", e);
    }
  }

  /** iov_len of slot i (a size_t: two 32-bit halves, little-endian, so that no BigInt is made). */
  private setIovLen(i: number, len: number): void {
    const at = this.iovAt + i * IOV + 8;
    this.view.setUint32(at, len, true);
    this.view.setUint32(at + 4, 0, true);
  }

  /** Length of the datagram in slot i (after receive). */
  length(i: number): number {
    return Math.min(this.view.getUint32(i * HDR + 56, true), this.dataSize);
  }

  /** True when the datagram in slot i was longer than the slot (MSG_TRUNC): its tail is lost. */
  truncated(i: number): boolean {
    return (this.view.getInt32(i * HDR + 48, true) & MSG_TRUNC) !== 0;
  }

  /** The datagram in slot i: a view, valid until the next receive. */
  data(i: number): Uint8Array {
    const at = this.dataAt + i * this.dataSize;
    return this.bytes.subarray(at, at + this.length(i));
  }

  /** The sender's (receive) or destination's (send) socket address of slot i: a view. */
  name(i: number): Uint8Array {
    const at = this.nameAt + i * NAME;
    return this.bytes.subarray(at, at + Math.min(this.view.getUint32(i * HDR + 8, true), NAME));
  }

  /**
   * Puts `data` for `name` (a sockaddr) into slot i for the next send; false when it does not fit
   * (the caller sends it some other way).
   */
  set(i: number, data: Uint8Array, name: Uint8Array): boolean {
    if (data.length > this.dataSize || name.length > NAME) return false;
    this.bytes.set(data, this.dataAt + i * this.dataSize);
    return this.written(i, data.length, name);
  }

  /** Slot i's whole data buffer (dataSize bytes), to write a datagram into in place; then written(). */
  slot(i: number): Uint8Array {
    return this.slotViews[i]!;
  }

  /** The datagram written into slot(i) is `length` bytes long, for `name`; false when name is too long. */
  written(i: number, length: number, name: Uint8Array): boolean {
    if (name.length > NAME || length > this.dataSize) return false;
    this.bytes.set(name, this.nameAt + i * NAME);
    const h = i * HDR;
    this.view.setUint32(h + 8, name.length, true);
    this.view.setInt32(h + 48, 0, true);
    this.setIovLen(i, length);
    if (i >= this.dirty) this.dirty = i + 1;
    return true;
  }

  /**
   * Sends slots 0..count-1 with as few sendmmsg calls as the kernel allows; returns how many were
   * sent. A datagram the kernel refuses (e.g. EAGAIN with a full send buffer) is skipped: UDP may
   * lose it, the client retries.
   */
  send(fd: number, count: number): number {
    if (this.ptr === undefined) throw new Error("DatagramBatch used after free()");
    let done = 0;
    let sent = 0;
    while (done < count) {
      const n = sendmmsgRaw(fd, this.base + done * HDR, count - done, MSG_DONTWAIT);
      if (n > 0) {
        done += n;
        sent += n;
        continue;
      }
      if (n < 0 && koffi.errno() === EINTR) continue;
      // the first remaining datagram failed: drop it and go on with the rest
      done++;
    }
    return sent;
  }

  free(): void {
    if (this.ptr !== undefined) {
      koffi.free(this.ptr);
      this.ptr = undefined;
    }
  }
}

/** An address as Node's dgram reports it ("192.0.2.1", "2001:db8::1"), from a sockaddr_in/_in6. */
export function sockaddrText(sa: Uint8Array): string | undefined {
  if (sa.length < 2) return undefined;
  const family = sa[0]! | (sa[1]! << 8);
  if (family === 2 && sa.length >= 8) return `${sa[4]}.${sa[5]}.${sa[6]}.${sa[7]}`;
  if (family !== 10 || sa.length < 24) return undefined;
  return format6(sa, 8);
}

/** The port of a sockaddr_in/_in6 (network order at offset 2). */
export function sockaddrPort(sa: Uint8Array): number {
  return sa.length >= 4 ? (sa[2]! << 8) | sa[3]! : 0;
}
