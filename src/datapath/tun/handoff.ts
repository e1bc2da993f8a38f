/**
 * Handing packets between packet workers (multi-queue stateful NAT64, see
 * nat64/shard.ts): one single-producer single-consumer ring per ordered pair
 * of workers, in a SharedArrayBuffer. Records are
 *
 *   u32 length | 12 bytes of metadata (the virtio_net_hdr, a hop count) | packet, padded to 4
 *
 * and never wrap: a record that would not fit before the end is preceded by
 * a wrap marker. The producer publishes a record by storing the new head with
 * Atomics (so the bytes written before are visible to the consumer that loads
 * it); the consumer frees it by storing the new tail.
 *
 * Waking: a consumer about to sleep in poll() sets its `sleeping` flag, looks
 * at its rings once more, then polls its TUN queue and its eventfd; a producer
 * that finds the flag set writes the eventfd.
 */

const HEAD = 0;
const TAIL = 1;
const HDR_BYTES = 64; // head and tail on their own cache line
const REC_HDR = 16;
export const META_BYTES = 12;
const WRAP = 0xffffffff;

export class Ring {
  readonly sab: SharedArrayBuffer;
  private readonly idx: Int32Array;
  private readonly data: Uint8Array;
  private readonly words: Uint32Array;
  private readonly cap: number;

  /** A new ring of `capacity` bytes (a power of two), or a view of an existing one's buffer. */
  constructor(capacityOrBuffer: number | SharedArrayBuffer) {
    this.sab =
      typeof capacityOrBuffer === "number"
        ? new SharedArrayBuffer(HDR_BYTES + capacityOrBuffer)
        : capacityOrBuffer;
    this.cap = this.sab.byteLength - HDR_BYTES;
    if (this.cap < 4096 || (this.cap & (this.cap - 1)) !== 0)
      throw new Error("ring capacity: a power of two >= 4096");
    this.idx = new Int32Array(this.sab, 0, 2);
    this.data = new Uint8Array(this.sab, HDR_BYTES);
    this.words = new Uint32Array(this.sab, HDR_BYTES);
  }

  /** Producer: appends src[off, off+len) with its metadata; false (nothing written) if the ring is full. */
  push(src: Uint8Array, off: number, len: number, meta: Uint8Array): boolean {
    const head = Atomics.load(this.idx, HEAD);
    const tail = Atomics.load(this.idx, TAIL);
    const free = this.cap - ((head - tail) | 0);
    const need = REC_HDR + ((len + 3) & ~3);
    const at = head & (this.cap - 1);
    const tailRoom = this.cap - at;
    const pad = tailRoom < need ? tailRoom : 0;
    if (need + pad > free || need > this.cap / 2) return false;
    let o = at;
    if (pad > 0) {
      this.words[at >>> 2] = WRAP;
      o = 0;
    }
    this.words[o >>> 2] = len;
    this.data.set(meta.subarray(0, META_BYTES), o + 4);
    this.data.set(src.subarray(off, off + len), o + REC_HDR);
    Atomics.store(this.idx, HEAD, (head + pad + need) | 0);
    return true;
  }

  /** Whether a record is waiting (consumer). */
  get pending(): boolean {
    return Atomics.load(this.idx, HEAD) !== Atomics.load(this.idx, TAIL);
  }

  /**
   * Consumer: copies the next record's packet to dst[off...] and its metadata
   * to meta; returns the packet's length, or -1 if the ring is empty.
   */
  pop(dst: Uint8Array, off: number, meta: Uint8Array): number {
    let tail = Atomics.load(this.idx, TAIL);
    const head = Atomics.load(this.idx, HEAD);
    if (tail === head) return -1;
    let at = tail & (this.cap - 1);
    if (this.words[at >>> 2] === WRAP) {
      tail = (tail + this.cap - at) | 0;
      at = 0;
    }
    const len = this.words[at >>> 2]!;
    meta.set(this.data.subarray(at + 4, at + 4 + META_BYTES));
    dst.set(this.data.subarray(at + REC_HDR, at + REC_HDR + len), off);
    Atomics.store(this.idx, TAIL, (tail + REC_HDR + ((len + 3) & ~3)) | 0);
    return len;
  }
}
