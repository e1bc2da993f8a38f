/**
 * The few libc calls a TUN device needs that Node has no API for (open with
 * flags, ioctl TUNSETIFF / TUNSETOFFLOAD, read/write on the raw fd, poll),
 * through koffi. Linux x86-64/arm64 values (see linux/if_tun.h).
 */
import koffi from "koffi";
import { errno, strerror } from "../../util/sys/libc.ts";

const lib = koffi.load("libc.so.6");

export const open = lib.func("int open(const char *path, int flags)") as (
  path: string,
  flags: number,
) => number;
export const close = lib.func("int close(int fd)") as (fd: number) => number;
/** ioctl with a pointer argument (struct ifreq). */
export const ioctlPtr = lib.func("int ioctl(int fd, unsigned long req, void *arg)") as (
  fd: number,
  req: number,
  arg: Uint8Array,
) => number;
/** ioctl with an integer argument (TUNSETOFFLOAD). */
export const ioctlInt = lib.func("ioctl", "int", ["int", "unsigned long", "unsigned long"]) as (
  fd: number,
  req: number,
  arg: number,
) => number;
export const read = lib.func("intptr_t read(int fd, _Out_ void *buf, size_t n)") as (
  fd: number,
  buf: Uint8Array,
  n: number,
) => number;
export const write = lib.func("intptr_t write(int fd, const void *buf, size_t n)") as (
  fd: number,
  buf: Uint8Array,
  n: number,
) => number;
/**
 * read/write with the buffer given as an address (see addressOf): koffi then
 * converts three integers instead of inspecting a typed array, which halves
 * the cost of a call (measured: about 340 ns instead of 650 ns per call here).
 * The packet loop makes two calls per packet.
 */
export const readAt = lib.func("read", "intptr_t", ["int", "intptr_t", "size_t"]) as (
  fd: number,
  addr: number,
  n: number,
) => number;
export const writeAt = lib.func("write", "intptr_t", ["int", "intptr_t", "size_t"]) as (
  fd: number,
  addr: number,
  n: number,
) => number;
const memmove = lib.func("memmove", "intptr_t", ["void *", "void *", "size_t"]) as (
  dst: Uint8Array,
  src: Uint8Array,
  n: number,
) => number;
/**
 * The address of b's first byte (memmove of 0 bytes returns its destination).
 * Only for buffers of 1 KiB or more, whose memory V8 keeps outside its heap
 * and never moves; the caller keeps b alive as long as it uses the address.
 */
export function addressOf(b: Uint8Array): number {
  if (b.byteLength < 1024) throw new Error("addressOf: buffers under 1 KiB may live in the moving heap");
  return memmove(b, b, 0);
}
/** struct pollfd { int fd; short events; short revents; } as 8 bytes. */
export const poll = lib.func("int poll(_Inout_ void *fds, unsigned long nfds, int timeout)") as (
  fds: Uint8Array,
  nfds: number,
  timeout: number,
) => number;

/** eventfd(2): a counter another thread writes to wake a poll(). */
export const eventfd = lib.func("int eventfd(unsigned int initval, int flags)") as (
  initval: number,
  flags: number,
) => number;

export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EAGAIN = 11;
export const EINTR = 4;
export const POLLIN = 1;

export const TUNSETIFF = 0x400454ca;
export const TUNSETOFFLOAD = 0x400454d0;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_VNET_HDR = 0x4000;

export { errno, strerror };
