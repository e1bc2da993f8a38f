// recvmsg(2) with ancillary data through koffi. struct msghdr holds pointers that the kernel
// follows (name, iovec, control), so it lives in one block of native memory allocated once per
// socket: [msghdr | iovec | name | control | data]. JavaScript reads and writes the block through an
// ArrayBuffer view (koffi.view) without copying; each receive is one recvmsg call and no allocation
// apart from the copy of the datagram handed to the caller.
//
// Layout for LP64 Linux (x86-64, arm64):
//   struct msghdr { void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov; size_t msg_iovlen;
//                   void *msg_control; size_t msg_controllen; int msg_flags; }   offsets 0 8 16 24 32 40 48
//   struct iovec  { void *iov_base; size_t iov_len; }
//   struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; unsigned char data[]; }  data at 16
import koffi from "koffi";
import { EAGAIN, EINTR, MSG_DONTWAIT, recvmsg, SysError } from "./libc.ts";

const MSGHDR = 0;
const IOVEC = 64;
const NAME = 80;
const NAME_SIZE = 128;
const CONTROL = NAME + NAME_SIZE;
const CONTROL_SIZE = 256;
const DATA = CONTROL + CONTROL_SIZE;

export interface ControlMessage {
  level: number;
  type: number;
  data: Uint8Array;
}

export interface Received {
  /** the datagram (a copy, the caller may keep it) */
  data: Uint8Array;
  /** the sender's socket address as the kernel wrote it (sockaddr_in6, sockaddr_nl, ...) */
  name: Uint8Array;
  control: ControlMessage[];
  /** MSG_TRUNC and friends */
  flags: number;
}

export class MessageBuffer {
  private ptr: unknown;
  private view: DataView;
  private bytes: Uint8Array;
  private readonly base: bigint;

  constructor(readonly dataSize = 65536) {
    const total = DATA + dataSize;
    this.ptr = koffi.alloc("uint8_t", total);
    const ab = koffi.view(this.ptr, total);
    this.view = new DataView(ab);
    this.bytes = new Uint8Array(ab);
    this.base = koffi.address(this.ptr);
    this.view.setBigUint64(IOVEC, this.base + BigInt(DATA), true);
    this.view.setBigUint64(IOVEC + 8, BigInt(dataSize), true);
  }

  /**
   * One non-blocking recvmsg: the datagram, or undefined when nothing is queued (EAGAIN).
   * Other errors throw SysError.
   */
  receive(fd: number): Received | undefined {
    if (this.ptr === undefined) throw new Error("MessageBuffer used after free()");
    const v = this.view;
    v.setBigUint64(MSGHDR + 0, this.base + BigInt(NAME), true);
    v.setUint32(MSGHDR + 8, NAME_SIZE, true);
    v.setBigUint64(MSGHDR + 16, this.base + BigInt(IOVEC), true);
    v.setBigUint64(MSGHDR + 24, 1n, true);
    v.setBigUint64(MSGHDR + 32, this.base + BigInt(CONTROL), true);
    v.setBigUint64(MSGHDR + 40, BigInt(CONTROL_SIZE), true);
    v.setInt32(MSGHDR + 48, 0, true);
    for (;;) {
      const n = recvmsg(fd, this.ptr, MSG_DONTWAIT);
      if (n >= 0) return this.parse(n);
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return undefined;
      throw new SysError("recvmsg", e);
    }
  }

  private parse(n: number): Received {
    const v = this.view;
    const nameLen = Math.min(v.getUint32(MSGHDR + 8, true), NAME_SIZE);
    const controlLen = Math.min(Number(v.getBigUint64(MSGHDR + 40, true)), CONTROL_SIZE);
    const flags = v.getInt32(MSGHDR + 48, true);
    const control: ControlMessage[] = [];
    let off = 0;
    // CMSG_NXTHDR: each header is padded to a multiple of sizeof(size_t).
    while (off + 16 <= controlLen) {
      const len = Number(v.getBigUint64(CONTROL + off, true));
      if (len < 16 || off + len > controlLen) break;
      control.push({
        level: v.getInt32(CONTROL + off + 8, true),
        type: v.getInt32(CONTROL + off + 12, true),
        data: this.bytes.slice(CONTROL + off + 16, CONTROL + off + len),
      });
      off += (len + 7) & ~7;
    }
    return {
      data: this.bytes.slice(DATA, DATA + Math.min(n, this.dataSize)),
      name: this.bytes.slice(NAME, NAME + nameLen),
      control,
      flags,
    };
  }

  free(): void {
    if (this.ptr !== undefined) {
      koffi.free(this.ptr);
      this.ptr = undefined;
    }
  }
}
