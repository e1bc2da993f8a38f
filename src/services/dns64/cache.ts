// The answer cache: Replies keyed by question (case-folded) and the DNSSEC bits that change the
// answer, each kept for its TTL (RFC 1035 §7.4) or its negative TTL (RFC 2308 §5), bounded in entries
// and bytes with least-recently-used eviction. One cache per resolver, shared by every thread that
// serves it: the event loops of all workers and their receive threads.
//
// Outside the JavaScript heap, in shared memory. A cache of Map entries, key strings, objects and
// one Uint8Array per answer made 100,000 entries about 520 bytes each of V8 heap, and every major
// collection of the event loop's thread walked all of them: up to 334 ms on the other core while
// the receive thread served, the tail of the cached p99 (issue 18). And each thread had its own: a
// receive thread held a copy of 1/8 of the limits, fed by messages, and each worker warmed a cache
// of its own. Here an entry is a row of typed-array columns (its hash, TTLs, LRU links, lengths) and
// its bytes live in a chain of 128-byte blocks, all in SharedArrayBuffers that other threads attach
// to (AnswerCache.attach), so the collector sees a few objects whatever the cache holds, and a
// name one thread resolved is a hit in every other.
//
// - Index: open addressing with linear probing over rows (FNV-1a of the key bytes), at most half
//   full; a deletion shifts the probe run back instead of leaving a tombstone.
// - An entry's blocks hold its key, its TTL offsets (16 bits each) and its wire form, in that order.
// - LRU: a doubly linked list through the rows; a hit moves its row to the newest end.
// - Everything is sized for the limits at creation, and touched only as it is used (untouched pages
//   of a large zeroed allocation are not resident); freed blocks and rows are reused first.
// - One lock (a futex-style mutex on an Int32 word, Atomics.wait when contended) around every call:
//   each call is a few hundred nanoseconds and never waits on anything else while holding it.
//   recover() releases it for a thread that was terminated while holding it.
import { threadId } from "node:worker_threads";
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

/** The cache's memory: plain data another thread receives (workerData) and attaches to. */
export interface CacheMemory {
  limits: CacheLimits;
  state: SharedArrayBuffer;
  rows: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  links: SharedArrayBuffer;
  blocks: SharedArrayBuffer;
}

const BLOCK = 128;
const BLOCK_SHIFT = 7;
/**
 * What a row costs besides its blocks: the typed-array columns (hash 4, first block 4, lengths
 * 2+2+2, rcode 1, TTL 4, stored 8, expires 8, LRU links 4+4, free list 4: 47 bytes, COLUMN_BYTES)
 * and two to four 4-byte index slots (the index has the power of two at or above twice the rows),
 * counted as 60.
 */
const ROW_BYTES = 60;
const NONE = -1;
/** the longest wire form a row records (16-bit length; a DNS message over TCP is at most this) */
const MAX_WIRE = 0xffff;

// state: Int32 words, then Float64 counters
const LOCK = 0; // 0 free, 1 held, 2 held with waiters
const OWNER = 1; // threadId + 1 of the holder
const COUNT = 2;
const OLDEST = 3;
const NEWEST = 4;
const FREE_BLOCK = 5;
const FRESH_BLOCK = 6;
const NEXT_ROW = 7;
const FREE_ROWS = 8; // how many rows are on the free stack
const LOCK_FAILURES = 9; // calls made without the cache, every thread (Atomics.add: no lock)
const INT_WORDS = 10;
const BYTES = 0;
const HITS = 1;
const MISSES = 2;
const EVICTIONS = 3;
const FLOAT_WORDS = 4;
const SPINS = 100;
/** the longest a call waits for the lock; each call holds it for microseconds */
const LOCK_WAIT_MS = 1000;

/** rows: one column per field, each a run of `rows` values in one buffer (8-byte ones first) */
function columns(buf: SharedArrayBuffer, rows: number) {
  let at = 0;
  const take = <T>(make: (b: SharedArrayBuffer, o: number, n: number) => T, size: number): T => {
    const a = make(buf, at, rows);
    at += size * rows;
    return a;
  };
  const c = {
    storedAt: take((b, o, n) => new Float64Array(b, o, n), 8),
    expiresAt: take((b, o, n) => new Float64Array(b, o, n), 8),
    hash: take((b, o, n) => new Uint32Array(b, o, n), 4),
    head: take((b, o, n) => new Int32Array(b, o, n), 4),
    ttl: take((b, o, n) => new Uint32Array(b, o, n), 4),
    prev: take((b, o, n) => new Int32Array(b, o, n), 4),
    next: take((b, o, n) => new Int32Array(b, o, n), 4),
    freeRows: take((b, o, n) => new Int32Array(b, o, n), 4),
    keyLen: take((b, o, n) => new Uint16Array(b, o, n), 2),
    nTtl: take((b, o, n) => new Uint16Array(b, o, n), 2),
    wireLen: take((b, o, n) => new Uint16Array(b, o, n), 2),
    rcode: take((b, o, n) => new Uint8Array(b, o, n), 1),
  };
  // a column added above and not to COLUMN_BYTES would overrun the buffer: caught here, once
  if (at !== COLUMN_BYTES * rows)
    throw new Error(`cache columns take ${at} bytes, not ${COLUMN_BYTES * rows}`);
  return c;
}
/** the bytes of one row across the columns above */
const COLUMN_BYTES = 8 + 8 + 4 * 6 + 2 * 3 + 1;

/** What an entry of this key length and reply costs against maxBytes: its blocks and its row. */
export function entryBytes(keyLength: number, reply: Reply): number {
  return rowBytes(keyLength + 2 * reply.ttlOffsets.length + reply.wire.length);
}

function rowBytes(len: number): number {
  return Math.ceil(len / BLOCK) * BLOCK + ROW_BYTES;
}

/** this thread's id + 1, for the lock's owner word (0: no owner) */
const me = threadId + 1;

export class AnswerCache {
  readonly memory: CacheMemory;
  private readonly limits: CacheLimits;
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  private readonly c: ReturnType<typeof columns>;
  /** index: slot -> row + 1 (0: empty, so that fresh zeroed memory is an empty index) */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** block -> next block + 1 (0: the end of a chain), for entries and for the free list */
  private readonly links: Int32Array;
  private readonly blocks: Uint8Array;

  /** one entry's bytes in a row (set and read assemble here) */
  private scratch = new Uint8Array(4096);
  private readonly keyBuf = Buffer.allocUnsafe(1024);
  /** borrow()'s answer, reused */
  private readonly lent: Reply = { wire: new Uint8Array(0), ttlOffsets: [], rcode: 0, ttl: 0 };

  /**
   * A new, empty cache with these limits; or, given another cache's `memory` (made in another
   * thread, received as workerData), this thread's view of that cache.
   */
  constructor(from: CacheLimits | CacheMemory = DEFAULT_CACHE_LIMITS) {
    const fresh = !("state" in from);
    const memory = "state" in from ? from : allocate(from);
    this.memory = memory;
    this.limits = memory.limits;
    this.ints = new Int32Array(memory.state, 0, INT_WORDS);
    this.floats = new Float64Array(memory.state, INT_WORDS * 4, FLOAT_WORDS);
    this.c = columns(memory.rows, memory.rows.byteLength / COLUMN_BYTES);
    this.slots = new Int32Array(memory.slots);
    this.mask = this.slots.length - 1;
    this.links = new Int32Array(memory.links);
    this.blocks = new Uint8Array(memory.blocks);
    if (fresh) this.initialize();
  }

  get size(): number {
    return Atomics.load(this.ints, COUNT);
  }

  /** Bytes held: the blocks of every entry and its row. */
  get usedBytes(): number {
    return this.read(BYTES);
  }

  get hits(): number {
    return this.read(HITS);
  }

  get misses(): number {
    return this.read(MISSES);
  }

  get evictions(): number {
    return this.read(EVICTIONS);
  }

  /** Calls made without the cache, by every thread, because its lock was held too long (lock()). */
  get lockFailures(): number {
    return Atomics.load(this.ints, LOCK_FAILURES);
  }

  /** The live entry for `key` at time `now` (seconds), or undefined (expired entries are dropped). */
  get(key: string, now: number): CacheEntry | undefined {
    const k = this.keyBytes(key);
    if (!this.lock()) return undefined;
    try {
      const row = this.lookupLocked(k, key.length, now);
      return row === NONE ? undefined : this.entry(row);
    } finally {
      this.unlock();
    }
  }

  /** The live entry for `key`, if any, as it stands: not counted, not moved in the LRU order. */
  peek(key: string, now: number): CacheEntry | undefined {
    const k = this.keyBytes(key);
    if (!this.lock()) return undefined;
    try {
      const row = this.find(k, key.length, hashOf(k, key.length));
      return row === NONE || now >= this.c.expiresAt[row]! ? undefined : this.entry(row);
    } finally {
      this.unlock();
    }
  }

  /**
   * The hot path's get: the reply of the live entry whose key is key[0..len), counted and moved to
   * the newest end, or undefined. The reply is this thread's copy in this object's own buffers,
   * valid only until the next call on this object (render it, or copy it, before anything else
   * touches the cache); `storedAt` says when it was stored.
   */
  borrow(key: Uint8Array, len: number, now: number): Reply | undefined {
    if (!this.lock()) return undefined;
    try {
      const row = this.lookupLocked(key, len, now);
      if (row === NONE) return undefined;
      this.borrowedStored = this.c.storedAt[row]!;
      return this.copyOut(row);
    } finally {
      this.unlock();
    }
  }

  /** When the entry borrow() last returned was stored (monotonic seconds). */
  get storedAt(): number {
    return this.borrowedStored;
  }

  private borrowedStored = 0;

  set(key: string, reply: Reply, now: number): void {
    if (reply.ttl <= 0) return;
    const k = this.keyBytes(key);
    const kl = key.length;
    const n = reply.ttlOffsets.length;
    const wl = reply.wire.length;
    const len = kl + 2 * n + wl;
    const cost = entryBytes(kl, reply);
    const fits =
      wl <= MAX_WIRE &&
      n <= MAX_WIRE &&
      kl <= MAX_WIRE &&
      cost <= this.limits.maxBytes &&
      this.limits.maxEntries >= 1;
    // the bytes, assembled before the lock: key, TTL offsets, wire
    if (fits) {
      const s = this.scratchOf(len);
      s.set(k.subarray(0, kl), 0);
      for (let i = 0, o = kl; i < n; i++, o += 2) {
        const t = reply.ttlOffsets[i]!;
        s[o] = t >>> 8;
        s[o + 1] = t & 0xff;
      }
      s.set(reply.wire, kl + 2 * n);
    }
    const h = hashOf(k, kl);
    if (!this.lock()) return;
    try {
      const old = this.find(k, kl, h);
      if (old !== NONE) this.remove(old);
      if (!fits) return;
      const ints = this.ints;
      // within these two bounds there are always blocks enough (allocate sizes them so)
      while (
        ints[OLDEST] !== NONE &&
        (ints[COUNT]! + 1 > this.limits.maxEntries || this.floats[BYTES]! + cost > this.limits.maxBytes)
      ) {
        this.remove(ints[OLDEST]!);
        this.floats[EVICTIONS]!++;
      }
      const c = this.c;
      const row = this.takeRow();
      c.head[row] = this.scatter(this.scratch, len);
      c.hash[row] = h;
      c.keyLen[row] = kl;
      c.nTtl[row] = n;
      c.wireLen[row] = wl;
      c.rcode[row] = reply.rcode;
      c.ttl[row] = reply.ttl;
      c.storedAt[row] = now;
      c.expiresAt[row] = now + reply.ttl;
      this.insert(row);
      this.append(row);
      ints[COUNT]!++;
      this.floats[BYTES]! += cost;
    } finally {
      this.unlock();
    }
  }

  /** Empties the cache (for every thread attached to it). */
  clear(): void {
    if (!this.lock()) return;
    try {
      this.initialize();
      this.slots.fill(0);
    } finally {
      this.unlock();
    }
  }

  /**
   * After a thread attached to this cache was terminated: if it held the lock, the cache may be
   * half-changed, so it is emptied and the lock released. False when it did not hold it.
   */
  recover(deadThreadId: number): boolean {
    if (Atomics.load(this.ints, OWNER) !== deadThreadId + 1) return false;
    this.initialize();
    this.slots.fill(0);
    Atomics.store(this.ints, OWNER, 0);
    if (Atomics.exchange(this.ints, LOCK, 0) === 2) Atomics.notify(this.ints, LOCK);
    return true;
  }

  private initialize(): void {
    const ints = this.ints;
    ints[COUNT] = 0;
    ints[OLDEST] = NONE;
    ints[NEWEST] = NONE;
    ints[FREE_BLOCK] = NONE;
    ints[FRESH_BLOCK] = 0;
    ints[NEXT_ROW] = 0;
    ints[FREE_ROWS] = 0;
    this.floats[BYTES] = 0;
  }

  /** A counter as it stands (a figure for stats: read without the lock). */
  private read(i: number): number {
    return this.floats[i]!;
  }

  /**
   * Takes the lock; false when it was not free within LOCK_WAIT_MS (a thread died holding it, until
   * recover()): the call then acts as if the cache were empty and counts a lock failure, so that a
   * dead thread costs answers from upstream, not a thread blocked for ever. After one such wait,
   * this thread does not wait again until it finds the lock free.
   */
  private lock(): boolean {
    const ints = this.ints;
    if (Atomics.compareExchange(ints, LOCK, 0, 1) !== 0) {
      let got = false;
      for (let i = 0; i < SPINS && !got; i++) got = Atomics.compareExchange(ints, LOCK, 0, 1) === 0;
      if (!got) {
        if (this.stuck) {
          Atomics.add(ints, LOCK_FAILURES, 1);
          return false;
        }
        // contended: mark it (2) and sleep until the holder's unlock wakes us
        const deadline = Date.now() + LOCK_WAIT_MS;
        while (Atomics.exchange(ints, LOCK, 2) !== 0) {
          if (Date.now() >= deadline) {
            this.stuck = true;
            Atomics.add(ints, LOCK_FAILURES, 1);
            return false;
          }
          Atomics.wait(ints, LOCK, 2, 50);
        }
      }
    }
    this.stuck = false;
    ints[OWNER] = me;
    return true;
  }

  private stuck = false;

  private unlock(): void {
    this.ints[OWNER] = 0;
    if (Atomics.exchange(this.ints, LOCK, 0) === 2) Atomics.notify(this.ints, LOCK, 1);
  }

  private lookupLocked(key: Uint8Array, len: number, now: number): number {
    const row = this.find(key, len, hashOf(key, len));
    if (row === NONE) {
      this.floats[MISSES]!++;
      return NONE;
    }
    if (now >= this.c.expiresAt[row]!) {
      this.remove(row);
      this.floats[MISSES]!++;
      return NONE;
    }
    this.unlink(row);
    this.append(row);
    this.floats[HITS]!++;
    return row;
  }

  /** A copy of the entry of `row`, to keep. */
  private entry(row: number): CacheEntry {
    const r = this.copyOut(row);
    const reply: Reply = {
      wire: r.wire.slice(),
      ttlOffsets: r.ttlOffsets.slice(),
      rcode: r.rcode,
      ttl: r.ttl,
    };
    return { reply, stored: this.c.storedAt[row]!, expires: this.c.expiresAt[row]! };
  }

  /** The reply of `row` in this object's scratch buffer and lent Reply. */
  private copyOut(row: number): Reply {
    const c = this.c;
    const lent = this.lent;
    const kl = c.keyLen[row]!;
    const n = c.nTtl[row]!;
    const wl = c.wireLen[row]!;
    const b = this.gather(row, kl + 2 * n + wl);
    const offsets = lent.ttlOffsets;
    // setting an array's length is a runtime call even when it does not change
    if (offsets.length !== n) offsets.length = n;
    for (let i = 0, o = kl; i < n; i++, o += 2) offsets[i] = (b[o]! << 8) | b[o + 1]!;
    lent.wire = b.subarray(kl + 2 * n, kl + 2 * n + wl);
    lent.rcode = c.rcode[row]!;
    lent.ttl = c.ttl[row]!;
    return lent;
  }

  private keyBytes(key: string): Uint8Array {
    if (key.length <= this.keyBuf.length) {
      this.keyBuf.write(key, 0, "latin1");
      return this.keyBuf;
    }
    return Buffer.from(key, "latin1");
  }

  private find(key: Uint8Array, len: number, h: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const c = this.c;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const row = slots[i]! - 1;
      if (row === NONE) return NONE;
      if (c.hash[row] === h && c.keyLen[row] === len && this.keyIs(row, key, len)) return row;
    }
  }

  /** Whether the key stored in `row` is key[0..len) (the lengths are equal). */
  private keyIs(row: number, key: Uint8Array, len: number): boolean {
    const blocks = this.blocks;
    let b = this.c.head[row]!;
    for (let i = 0; i < len; b = this.links[b]! - 1) {
      const at = (b << BLOCK_SHIFT) - i;
      for (const end = Math.min(len, i + BLOCK); i < end; i++) if (blocks[at + i] !== key[i]) return false;
    }
    return true;
  }

  private insert(row: number): void {
    const slots = this.slots;
    let i = this.c.hash[row]! & this.mask;
    while (slots[i] !== 0) i = (i + 1) & this.mask;
    slots[i] = row + 1;
  }

  /** Takes `row` out of the index, the LRU list and the blocks, and frees it. */
  private remove(row: number): void {
    const slots = this.slots;
    const mask = this.mask;
    const c = this.c;
    let i = c.hash[row]! & mask;
    while (slots[i] !== row + 1) i = (i + 1) & mask;
    // backward-shift deletion (Knuth 6.4, Algorithm R): move up each later entry of the run whose
    // home slot is not between the hole and itself
    for (let j = (i + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = c.hash[slots[j]! - 1]! & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[i] = slots[j]!;
      i = j;
    }
    slots[i] = 0;
    this.unlink(row);
    this.floats[BYTES]! -= rowBytes(c.keyLen[row]! + 2 * c.nTtl[row]! + c.wireLen[row]!);
    this.freeChain(c.head[row]!);
    c.freeRows[this.ints[FREE_ROWS]!++] = row;
    this.ints[COUNT]!--;
  }

  private append(row: number): void {
    const ints = this.ints;
    const c = this.c;
    c.prev[row] = ints[NEWEST]!;
    c.next[row] = NONE;
    if (ints[NEWEST] === NONE) ints[OLDEST] = row;
    else c.next[ints[NEWEST]!] = row;
    ints[NEWEST] = row;
  }

  private unlink(row: number): void {
    const ints = this.ints;
    const c = this.c;
    const p = c.prev[row]!;
    const n = c.next[row]!;
    if (p === NONE) ints[OLDEST] = n;
    else c.next[p] = n;
    if (n === NONE) ints[NEWEST] = p;
    else c.prev[n] = p;
  }

  private takeRow(): number {
    const ints = this.ints;
    if (ints[FREE_ROWS]! > 0) return this.c.freeRows[--ints[FREE_ROWS]!]!;
    return ints[NEXT_ROW]!++;
  }

  private takeBlock(): number {
    const b = this.ints[FREE_BLOCK]!;
    if (b !== NONE) {
      this.ints[FREE_BLOCK] = this.links[b]! - 1;
      return b;
    }
    return this.ints[FRESH_BLOCK]!++;
  }

  private freeChain(b: number): void {
    while (b !== NONE) {
      const n = this.links[b]! - 1;
      this.links[b] = this.ints[FREE_BLOCK]! + 1;
      this.ints[FREE_BLOCK] = b;
      b = n;
    }
  }

  /** Copies s[0..len) into a new chain of blocks; returns its first block. */
  private scatter(s: Uint8Array, len: number): number {
    let first = NONE;
    let last = NONE;
    const blocks = this.blocks;
    for (let i = 0; i < len; ) {
      const b = this.takeBlock();
      this.links[b] = 0;
      if (last === NONE) first = b;
      else this.links[last] = b + 1;
      last = b;
      const at = (b << BLOCK_SHIFT) - i;
      for (const end = Math.min(len, i + BLOCK); i < end; i++) blocks[at + i] = s[i]!;
    }
    return first;
  }

  /** The first `len` bytes of `row`'s chain, contiguous in the scratch buffer. */
  private gather(row: number, len: number): Uint8Array {
    const s = this.scratchOf(len);
    const blocks = this.blocks;
    for (let i = 0, b = this.c.head[row]!; i < len; b = this.links[b]! - 1) {
      const at = (b << BLOCK_SHIFT) - i;
      for (const end = Math.min(len, i + BLOCK); i < end; i++) s[i] = blocks[at + i]!;
    }
    return s;
  }

  private scratchOf(len: number): Uint8Array {
    if (this.scratch.length < len) this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
    return this.scratch;
  }
}

/** The shared memory of a cache with these limits, zeroed (an empty index). */
function allocate(limits: CacheLimits): CacheMemory {
  const rows = Math.max(1, Math.floor(limits.maxEntries));
  // the blocks maxBytes allows, or fewer when even maxEntries of the largest entries would not fill
  // them (a test's "no byte limit" must not reserve a gigabyte)
  const blocks = Math.max(
    1,
    Math.min(Math.floor(limits.maxBytes / BLOCK), rows * Math.ceil((3 * MAX_WIRE) / BLOCK)),
  );
  let slots = 2;
  while (slots < rows * 2) slots *= 2;
  return {
    limits: { ...limits },
    state: new SharedArrayBuffer(INT_WORDS * 4 + FLOAT_WORDS * 8),
    rows: new SharedArrayBuffer(rows * COLUMN_BYTES),
    slots: new SharedArrayBuffer(slots * 4),
    links: new SharedArrayBuffer(blocks * 4),
    blocks: new SharedArrayBuffer(blocks * BLOCK),
  };
}

/** FNV-1a, 32 bits */
function hashOf(key: Uint8Array, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return h >>> 0;
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
