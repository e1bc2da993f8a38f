// io_uring(7) through koffi, with the raw system calls (io_uring_setup, io_uring_enter) and the
// rings mmap'd: many reads and writes on a file descriptor submitted and completed with one
// system call. Debian bookworm's liburing2 (2.3) keeps the ring operations as inline functions in
// its header, so a library call would not spare these lines; the kernel ABI is all there is.
//
// Layout (linux/io_uring.h, LP64):
//   struct io_uring_params (120 bytes): sq_entries @0, cq_entries @4, flags @8, features @20,
//     sq_off @40 { head, tail, ring_mask, ring_entries, flags, dropped, array } (u32 each),
//     cq_off @80 { head, tail, ring_mask, ring_entries, overflow, cqes } (u32 each)
//   struct io_uring_sqe (64 bytes): opcode u8 @0, flags u8 @1, fd s32 @4, off u64 @8, addr u64 @16,
//     len u32 @24, rw_flags u32 @28, user_data u64 @32
//   struct io_uring_cqe (16 bytes): user_data u64 @0, res s32 @8, flags u32 @12
// The ring heads and tails are shared with the kernel: the application publishes the SQ tail and
// the CQ head with a release store, and reads the kernel's with an acquire load (Atomics).
import koffi from "koffi";
import { SysError } from "./libc.ts";

const lib = koffi.load("libc.so.6");
// syscall(2) is variadic; the integer arguments travel in the same registers either way (LP64).
const setupRaw = lib.func("syscall", "long", ["long", "uint32_t", "_Inout_ uint8_t *"]) as (
  nr: number,
  entries: number,
  params: Uint8Array,
) => number;
const enterRaw = lib.func("syscall", "long", [
  "long",
  "int",
  "uint32_t",
  "uint32_t",
  "uint32_t",
  "uintptr_t",
  "size_t",
]) as (
  nr: number,
  fd: number,
  toSubmit: number,
  minComplete: number,
  flags: number,
  sig: number,
  sigsz: number,
) => number;
const mmap = lib.func("void *mmap(void *addr, size_t len, int prot, int flags, int fd, intptr_t off)") as (
  addr: null,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  off: number,
) => unknown;
const munmap = lib.func("int munmap(void *addr, size_t len)") as (addr: unknown, len: number) => number;
const closeFd = lib.func("int close(int fd)") as (fd: number) => number;

// x86-64 system call numbers (arm64 has the same for these two: the io_uring calls are in the
// common table at 425-427).
const SYS_io_uring_setup = 425;
const SYS_io_uring_enter = 426;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_POPULATE = 0x8000;
const IORING_OFF_SQ_RING = 0;
const IORING_OFF_SQES = 0x10000000;
const IORING_FEAT_SINGLE_MMAP = 1;
const IORING_ENTER_GETEVENTS = 1;
export const IORING_OP_NOP = 0;
export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;
/** rw_flags: fail with EAGAIN rather than wait (linux/fs.h). */
export const RWF_NOWAIT = 8;
/** io_uring_setup flags: one thread submits; completions run when it enters (kernel 6.1). */
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;
const SQE = 64;
const CQE = 16;

/** One io_uring: a submission queue of `entries` and a completion queue of twice that. */
export class Uring {
  readonly fd: number;
  readonly entries: number;
  private readonly ringPtr: unknown;
  private readonly ringLen: number;
  private readonly sqePtr: unknown;
  private readonly sqeLen: number;
  private readonly ring32: Uint32Array;
  private readonly sqes: DataView;
  private readonly cqes: DataView;
  private readonly cqes32: Int32Array;
  // u32 indexes into ring32 and the queues' masks
  private readonly sqTail: number;
  private readonly sqArray: number;
  private readonly sqMask: number;
  private readonly cqHead: number;
  private readonly cqTail: number;
  private readonly cqMask: number;
  /** The SQ tail as this side knows it (published by submit). */
  private tail = 0;
  private pending = 0;
  private head = 0;

  /** io_uring_setup; throws SysError when the kernel refuses (too old, io_uring_disabled, seccomp). */
  constructor(entries: number, flags = 0) {
    const p = new Uint8Array(120);
    const pv = new DataView(p.buffer);
    pv.setUint32(8, flags, true);
    const fd = setupRaw(SYS_io_uring_setup, entries, p);
    if (fd < 0) throw new SysError("io_uring_setup", koffi.errno());
    this.fd = fd;
    const u32 = (o: number) => pv.getUint32(o, true);
    const sqEntries = u32(0);
    const cqEntries = u32(4);
    this.entries = sqEntries;
    if ((u32(20) & IORING_FEAT_SINGLE_MMAP) === 0) {
      closeFd(fd);
      throw new Error("io_uring: the kernel lacks IORING_FEAT_SINGLE_MMAP (5.4)");
    }
    const sqArray = u32(40 + 24);
    const cqes = u32(80 + 20);
    this.ringLen = Math.max(sqArray + sqEntries * 4, cqes + cqEntries * CQE);
    const rw = PROT_READ | PROT_WRITE;
    this.ringPtr = mmap(null, this.ringLen, rw, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    this.sqeLen = sqEntries * SQE;
    this.sqePtr = mmap(null, this.sqeLen, rw, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    const MAP_FAILED = 0xffffffffffffffffn;
    if (koffi.address(this.ringPtr) === MAP_FAILED || koffi.address(this.sqePtr) === MAP_FAILED) {
      const e = koffi.errno();
      closeFd(fd);
      throw new SysError("mmap(io_uring)", e);
    }
    const ring = koffi.view(this.ringPtr, this.ringLen);
    this.ring32 = new Uint32Array(ring);
    this.sqes = new DataView(koffi.view(this.sqePtr, this.sqeLen));
    this.cqes = new DataView(ring, cqes, cqEntries * CQE);
    this.cqes32 = new Int32Array(ring, cqes, cqEntries * 4);
    this.sqTail = u32(40 + 4) >>> 2;
    this.sqMask = this.ring32[u32(40 + 8) >>> 2]!;
    this.cqHead = u32(80) >>> 2;
    this.cqTail = u32(80 + 4) >>> 2;
    this.cqMask = this.ring32[u32(80 + 8) >>> 2]!;
    this.sqArray = sqArray >>> 2;
    this.tail = this.ring32[this.sqTail]!;
    this.head = this.ring32[this.cqHead]!;
  }

  /** Room for this many more SQEs before submit. */
  space(): number {
    return this.entries - this.pending;
  }

  /**
   * Fills SQE `i` (0 <= i < entries) with a read (IORING_OP_READ) or write (IORING_OP_WRITE) of n
   * bytes at addr on fd, at the file's position (offset -1: a TUN device or a socket has none).
   * SQEs stay as filled: a loop fills its reads once and queues them again with push(), and
   * changes only address and length of a write (setBuffer). With RWF_NOWAIT a read of an empty
   * device completes at once with -EAGAIN; without it, io_uring waits for the device to become
   * readable (even on an O_NONBLOCK descriptor).
   */
  fill(i: number, op: number, fd: number, addr: number, n: number, userData: number, rwFlags = 0): void {
    const v = this.sqes;
    const o = i * SQE;
    v.setUint32(o, op, true); // opcode, flags, ioprio
    v.setInt32(o + 4, fd, true);
    v.setInt32(o + 8, -1, true);
    v.setInt32(o + 12, -1, true);
    this.setBuffer(i, addr, n);
    v.setUint32(o + 28, rwFlags, true);
    v.setUint32(o + 32, userData, true);
    for (let k = 36; k < SQE; k += 4) v.setUint32(o + k, 0, true);
  }

  /** The buffer of SQE i. No BigInt on this path (it allocates): the address as two halves. */
  setBuffer(i: number, addr: number, n: number): void {
    const v = this.sqes;
    const o = i * SQE;
    v.setUint32(o + 16, addr >>> 0, true);
    v.setUint32(o + 20, Math.floor(addr / 0x100000000), true);
    v.setUint32(o + 24, n, true);
  }

  /**
   * Queues SQE i for the next submit (through the SQ array: the kernel reads it at submit, so an
   * SQE may be queued again once its previous use was submitted). False when the queue is full.
   */
  push(i: number): boolean {
    if (this.pending === this.entries) return false;
    this.ring32[this.sqArray + (this.tail & this.sqMask)] = i;
    this.tail = (this.tail + 1) >>> 0;
    this.pending++;
    return true;
  }

  /**
   * io_uring_enter: submits what was queued and waits for `wait` completions (0: none). The number
   * submitted, or -errno (EINTR, EBUSY when the completion queue is full: reap first).
   */
  submit(wait = 0): number {
    Atomics.store(this.ring32, this.sqTail, this.tail);
    const r = enterRaw(
      SYS_io_uring_enter,
      this.fd,
      this.pending,
      wait,
      wait > 0 ? IORING_ENTER_GETEVENTS : 0,
      0,
      0,
    );
    if (r < 0) return -koffi.errno();
    this.pending -= r;
    return r;
  }

  /** Completions ready to reap. */
  ready(): number {
    return (Atomics.load(this.ring32, this.cqTail) - this.head) >>> 0;
  }

  /** The i-th ready completion's user_data (its low 32 bits, as fill took it). */
  userData(i: number): number {
    return this.cqes.getUint32(this.cqOffset(i), true);
  }

  /** The i-th ready completion's result: bytes read or written, or -errno. */
  result(i: number): number {
    return this.cqes32[(this.cqOffset(i) >>> 2) + 2]!;
  }

  /** Hands the first n ready completions back to the kernel. */
  consume(n: number): void {
    this.head = (this.head + n) >>> 0;
    Atomics.store(this.ring32, this.cqHead, this.head);
  }

  private cqOffset(i: number): number {
    return (((this.head + i) & this.cqMask) >>> 0) * CQE;
  }

  close(): void {
    munmap(this.sqePtr, this.sqeLen);
    munmap(this.ringPtr, this.ringLen);
    closeFd(this.fd);
  }
}
