// The answer cache: Replies keyed by question (case-folded) and the DNSSEC bits that change the
// answer, each kept for its TTL (RFC 1035 §7.4) or its negative TTL (RFC 2308 §5), bounded in entries
// and bytes with least-recently-used eviction.
//
// Outside the JavaScript heap. A cache of Map entries, key strings, objects and one Uint8Array per
// answer made 100,000 entries about 520 bytes each of V8 heap, and every major collection of the
// event loop's thread walked all of them: up to 334 ms on the other core while the receive thread
// served, the tail of the cached p99 (issue 18). Here an entry is a row of typed arrays (its hash,
// TTLs, LRU links, lengths) and its bytes live in a chain of 128-byte blocks in 1 MiB pages, so
// the collector sees a few dozen objects whatever the cache holds, and memory is the bytes stored.
//
// - Index: open addressing with linear probing over entry ids (FNV-1a of the key bytes), at most
//   half full; a deletion shifts the probe run back instead of leaving a tombstone.
// - An entry's blocks hold its key, its TTL offsets (16 bits each) and its wire form, in that order.
// - LRU: a doubly linked list through the rows; a hit moves its row to the newest end.
// - Pages are taken as blocks are needed, so a small cache touches little memory; blocks and rows
//   freed by eviction or expiry are reused before new ones are taken.
import type { Reply } from "./reply.ts";

export interface CacheEntry {
  reply: Reply;
  /** monotonic seconds when stored */
  stored: number;
  expires: number;
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 };

const BLOCK = 128;
const BLOCK_SHIFT = 7;
/** blocks per 1 MiB page */
const PAGE_BLOCKS = 8192;
const PAGE_SHIFT = 13;
/**
 * What a row costs besides its blocks: the typed-array columns (hash 4, first block 4, lengths
 * 2+2+2, rcode 1, TTL 4, stored 8, expires 8, LRU links 4+4) and two index slots (4 each).
 */
const ROW_BYTES = 56;
const NONE = -1;
/** the longest wire form a row records (16-bit length; a DNS message over TCP is at most this) */
const MAX_WIRE = 0xffff;

/** What an entry of this key length and reply costs against maxBytes: its blocks and its row. */
export function entryBytes(keyLength: number, reply: Reply): number {
  return rowBytes(keyLength + 2 * reply.ttlOffsets.length + reply.wire.length);
}

function rowBytes(len: number): number {
  return Math.ceil(len / BLOCK) * BLOCK + ROW_BYTES;
}

export class AnswerCache {
  hits = 0;
  misses = 0;
  evictions = 0;
  private count = 0;
  private bytes = 0;

  // rows (entry ids), grown by doubling up to maxEntries
  private capacity = 0;
  private nextRow = 0;
  private freeRows: number[] = [];
  private hash = new Uint32Array(0);
  private head = new Int32Array(0);
  private keyLen = new Uint16Array(0);
  private nTtl = new Uint16Array(0);
  private wireLen = new Uint16Array(0);
  private rcode = new Uint8Array(0);
  private ttl = new Uint32Array(0);
  private storedAt = new Float64Array(0);
  private expiresAt = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  /** least recently used row, most recently used row */
  private oldest = NONE;
  private newest = NONE;

  // index: slot -> row, NONE when empty
  private slots = new Int32Array(0);
  private mask = 0;

  // blocks: pages of PAGE_BLOCKS blocks; nextBlock chains an entry's blocks and the free list
  private pages: Uint8Array[] = [];
  private nextBlock = new Int32Array(0);
  private freeBlock = NONE;
  private freshBlock = 0;

  /** one entry's bytes in a row (set and read assemble here) */
  private scratch = new Uint8Array(4096);
  private readonly keyBuf = Buffer.allocUnsafe(1024);
  /** borrow()'s answer, reused */
  private readonly lent: Reply = { wire: new Uint8Array(0), ttlOffsets: [], rcode: 0, ttl: 0 };

  constructor(private readonly limits: CacheLimits = DEFAULT_CACHE_LIMITS) {
    this.reset();
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held: the blocks of every entry and its row. */
  get usedBytes(): number {
    return this.bytes;
  }

  /** The live entry for `key` at time `now` (seconds), or undefined (expired entries are dropped). */
  get(key: string, now: number): CacheEntry | undefined {
    const k = this.keyBytes(key);
    const row = this.lookup(k, key.length, now);
    return row === NONE ? undefined : this.entry(row);
  }

  /** The live entry for `key`, if any, as it stands: not counted, not moved in the LRU order. */
  peek(key: string, now: number): CacheEntry | undefined {
    const k = this.keyBytes(key);
    const row = this.find(k, key.length, this.hashOf(k, key.length));
    return row === NONE || now >= this.expiresAt[row]! ? undefined : this.entry(row);
  }

  /**
   * The hot path's get: the row of the live entry whose key is key[0..len), counted and moved to
   * the newest end, or -1. Read it with borrow() and storedTime().
   */
  lookup(key: Uint8Array, len: number, now: number): number {
    const row = this.find(key, len, this.hashOf(key, len));
    if (row === NONE) {
      this.misses++;
      return NONE;
    }
    if (now >= this.expiresAt[row]!) {
      this.remove(row);
      this.misses++;
      return NONE;
    }
    this.unlink(row);
    this.append(row);
    this.hits++;
    return row;
  }

  /** When the entry of `row` was stored (monotonic seconds). */
  storedTime(row: number): number {
    return this.storedAt[row]!;
  }

  /**
   * The reply of `row` in this cache's own buffers, without a copy: valid only until the next call
   * on this cache (render it, or copy it, before anything else touches the cache).
   */
  borrow(row: number): Reply {
    const lent = this.lent;
    const kl = this.keyLen[row]!;
    const n = this.nTtl[row]!;
    const wl = this.wireLen[row]!;
    const b = this.gather(row, kl + 2 * n + wl);
    const offsets = lent.ttlOffsets;
    offsets.length = n;
    for (let i = 0, o = kl; i < n; i++, o += 2) offsets[i] = (b[o]! << 8) | b[o + 1]!;
    lent.wire = b.subarray(kl + 2 * n, kl + 2 * n + wl);
    lent.rcode = this.rcode[row]!;
    lent.ttl = this.ttl[row]!;
    return lent;
  }

  set(key: string, reply: Reply, now: number): void {
    if (reply.ttl <= 0) return;
    const k = this.keyBytes(key);
    const kl = key.length;
    const h = this.hashOf(k, kl);
    const old = this.find(k, kl, h);
    if (old !== NONE) this.remove(old);
    const n = reply.ttlOffsets.length;
    const wl = reply.wire.length;
    const len = kl + 2 * n + wl;
    if (wl > MAX_WIRE || n > MAX_WIRE || kl > MAX_WIRE) return;
    const cost = entryBytes(kl, reply);
    if (cost > this.limits.maxBytes || this.limits.maxEntries < 1) return;
    while (
      this.oldest !== NONE &&
      (this.count + 1 > this.limits.maxEntries || this.bytes + cost > this.limits.maxBytes)
    ) {
      this.remove(this.oldest);
      this.evictions++;
    }
    // the bytes, assembled once: key, TTL offsets, wire
    const s = this.scratchOf(len);
    s.set(k.subarray(0, kl), 0);
    for (let i = 0, o = kl; i < n; i++, o += 2) {
      const t = reply.ttlOffsets[i]!;
      s[o] = t >>> 8;
      s[o + 1] = t & 0xff;
    }
    s.set(reply.wire, kl + 2 * n);
    const row = this.takeRow();
    this.head[row] = this.scatter(s, len);
    this.hash[row] = h;
    this.keyLen[row] = kl;
    this.nTtl[row] = n;
    this.wireLen[row] = wl;
    this.rcode[row] = reply.rcode;
    this.ttl[row] = reply.ttl;
    this.storedAt[row] = now;
    this.expiresAt[row] = now + reply.ttl;
    this.insert(row);
    this.append(row);
    this.count++;
    this.bytes += cost;
  }

  /** Empties the cache and gives its memory back. */
  clear(): void {
    this.reset();
  }

  private reset(): void {
    this.count = 0;
    this.bytes = 0;
    this.capacity = 0;
    this.nextRow = 0;
    this.freeRows = [];
    this.oldest = this.newest = NONE;
    this.pages = [];
    this.nextBlock = new Int32Array(0);
    this.freeBlock = NONE;
    this.freshBlock = 0;
    this.growRows(64, false);
    this.slots = new Int32Array(128).fill(NONE);
    this.mask = 127;
  }

  /** A copy of the entry of `row`, to keep. */
  private entry(row: number): CacheEntry {
    const r = this.borrow(row);
    const reply: Reply = {
      wire: r.wire.slice(),
      ttlOffsets: r.ttlOffsets.slice(),
      rcode: r.rcode,
      ttl: r.ttl,
    };
    return { reply, stored: this.storedAt[row]!, expires: this.expiresAt[row]! };
  }

  private keyBytes(key: string): Uint8Array {
    if (key.length <= this.keyBuf.length) {
      this.keyBuf.write(key, 0, "latin1");
      return this.keyBuf;
    }
    return Buffer.from(key, "latin1");
  }

  /** FNV-1a, 32 bits */
  private hashOf(key: Uint8Array, len: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
    return h >>> 0;
  }

  private find(key: Uint8Array, len: number, h: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const row = slots[i]!;
      if (row === NONE) return NONE;
      if (this.hash[row] === h && this.keyLen[row] === len && this.keyIs(row, key, len)) return row;
    }
  }

  /** Whether the key stored in `row` is key[0..len) (the lengths are equal). */
  private keyIs(row: number, key: Uint8Array, len: number): boolean {
    let b = this.head[row]!;
    for (let i = 0; i < len; b = this.nextBlock[b]!) {
      const page = this.pages[b >>> PAGE_SHIFT]!;
      const at = (b & (PAGE_BLOCKS - 1)) << BLOCK_SHIFT;
      const n = Math.min(BLOCK, len - i);
      for (let j = 0; j < n; j++) if (page[at + j] !== key[i + j]) return false;
      i += n;
    }
    return true;
  }

  private insert(row: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    const slots = this.slots;
    let i = this.hash[row]! & this.mask;
    while (slots[i] !== NONE) i = (i + 1) & this.mask;
    slots[i] = row;
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Int32Array(size).fill(NONE);
    this.mask = size - 1;
    for (const row of old) {
      if (row === NONE) continue;
      let i = this.hash[row]! & this.mask;
      while (this.slots[i] !== NONE) i = (i + 1) & this.mask;
      this.slots[i] = row;
    }
  }

  /** Takes `row` out of the index, the LRU list and the blocks, and frees it. */
  private remove(row: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = this.hash[row]! & mask;
    while (slots[i] !== row) i = (i + 1) & mask;
    // backward-shift deletion (Knuth 6.4, Algorithm R): move up each later entry of the run whose
    // home slot is not between the hole and itself
    for (let j = (i + 1) & mask; slots[j] !== NONE; j = (j + 1) & mask) {
      const home = this.hash[slots[j]!]! & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[i] = slots[j]!;
      i = j;
    }
    slots[i] = NONE;
    this.unlink(row);
    this.bytes -= rowBytes(this.keyLen[row]! + 2 * this.nTtl[row]! + this.wireLen[row]!);
    this.freeChain(this.head[row]!);
    this.freeRows.push(row);
    this.count--;
  }

  private append(row: number): void {
    this.prev[row] = this.newest;
    this.next[row] = NONE;
    if (this.newest === NONE) this.oldest = row;
    else this.next[this.newest] = row;
    this.newest = row;
  }

  private unlink(row: number): void {
    const p = this.prev[row]!;
    const n = this.next[row]!;
    if (p === NONE) this.oldest = n;
    else this.next[p] = n;
    if (n === NONE) this.newest = p;
    else this.prev[n] = p;
  }

  private takeRow(): number {
    const free = this.freeRows.pop();
    if (free !== undefined) return free;
    if (this.nextRow === this.capacity) this.growRows(this.capacity * 2);
    return this.nextRow++;
  }

  /** Makes room for `want` rows (at most maxEntries), keeping the rows there are unless `keep` is false. */
  private growRows(want: number, keep = true): void {
    const cap = Math.min(Math.max(want, 1), Math.max(1, this.limits.maxEntries));
    const grow = <T extends Uint32Array | Int32Array | Uint16Array | Uint8Array | Float64Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      const b = make(cap);
      if (keep) b.set(a);
      return b;
    };
    this.hash = grow(this.hash, (n) => new Uint32Array(n));
    this.head = grow(this.head, (n) => new Int32Array(n));
    this.keyLen = grow(this.keyLen, (n) => new Uint16Array(n));
    this.nTtl = grow(this.nTtl, (n) => new Uint16Array(n));
    this.wireLen = grow(this.wireLen, (n) => new Uint16Array(n));
    this.rcode = grow(this.rcode, (n) => new Uint8Array(n));
    this.ttl = grow(this.ttl, (n) => new Uint32Array(n));
    this.storedAt = grow(this.storedAt, (n) => new Float64Array(n));
    this.expiresAt = grow(this.expiresAt, (n) => new Float64Array(n));
    this.prev = grow(this.prev, (n) => new Int32Array(n));
    this.next = grow(this.next, (n) => new Int32Array(n));
    this.capacity = cap;
  }

  private takeBlock(): number {
    const b = this.freeBlock;
    if (b !== NONE) {
      this.freeBlock = this.nextBlock[b]!;
      return b;
    }
    const fresh = this.freshBlock++;
    if (fresh >>> PAGE_SHIFT === this.pages.length) {
      this.pages.push(new Uint8Array(PAGE_BLOCKS * BLOCK));
      if (this.nextBlock.length < this.pages.length * PAGE_BLOCKS) {
        const links = new Int32Array(
          Math.max(this.pages.length, 2 * (this.nextBlock.length / PAGE_BLOCKS)) * PAGE_BLOCKS,
        );
        links.set(this.nextBlock);
        this.nextBlock = links;
      }
    }
    return fresh;
  }

  private freeChain(b: number): void {
    while (b !== NONE) {
      const n = this.nextBlock[b]!;
      this.nextBlock[b] = this.freeBlock;
      this.freeBlock = b;
      b = n;
    }
  }

  /** Copies s[0..len) into a new chain of blocks; returns its first block. */
  private scatter(s: Uint8Array, len: number): number {
    let first = NONE;
    let last = NONE;
    for (let i = 0; i < len; i += BLOCK) {
      const b = this.takeBlock();
      this.nextBlock[b] = NONE;
      if (last === NONE) first = b;
      else this.nextBlock[last] = b;
      last = b;
      const at = (b & (PAGE_BLOCKS - 1)) << BLOCK_SHIFT;
      this.pages[b >>> PAGE_SHIFT]!.set(s.subarray(i, Math.min(len, i + BLOCK)), at);
    }
    return first;
  }

  /** The first `len` bytes of `row`'s chain, contiguous in the scratch buffer. */
  private gather(row: number, len: number): Uint8Array {
    const s = this.scratchOf(len);
    let b = this.head[row]!;
    for (let i = 0; i < len; b = this.nextBlock[b]!) {
      // a loop, not set(subarray): no view object per block on the hit path
      const page = this.pages[b >>> PAGE_SHIFT]!;
      const at = ((b & (PAGE_BLOCKS - 1)) << BLOCK_SHIFT) - i;
      for (const end = Math.min(len, i + BLOCK); i < end; i++) s[i] = page[at + i]!;
    }
    return s;
  }

  private scratchOf(len: number): Uint8Array {
    if (this.scratch.length < len) this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
    return this.scratch;
  }
}

const keyScratch = Buffer.allocUnsafe(256 + 5);

/**
 * Cache key: the lower-cased wire name, type, class and a byte for DO and CD (the bits that change
 * an answer), as a latin1 string (one character per byte).
 */
export function cacheKey(
  lowerName: Uint8Array,
  qtype: number,
  qclass: number,
  dnssecOk: boolean,
  cd: boolean,
): string {
  keyScratch.set(lowerName, 0);
  let n = lowerName.length;
  n = keyTail(keyScratch, n, qtype, qclass, dnssecOk, cd);
  return keyScratch.toString("latin1", 0, n);
}

/** Writes the type/class/bits part of a key after the name; returns the key's length. */
export function keyTail(
  buf: Uint8Array,
  n: number,
  qtype: number,
  qclass: number,
  dnssecOk: boolean,
  cd: boolean,
): number {
  buf[n++] = qtype >>> 8;
  buf[n++] = qtype & 0xff;
  buf[n++] = qclass >>> 8;
  buf[n++] = qclass & 0xff;
  buf[n++] = (dnssecOk ? 2 : 0) | (cd ? 1 : 0);
  return n;
}
