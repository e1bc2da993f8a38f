// The answer cache: Replies keyed by question (case-folded) and the DNSSEC bits that change the
// answer, each kept for its TTL (RFC 1035 §7.4) or its negative TTL (RFC 2308 §5), bounded in entries
// and bytes with least-recently-used eviction (a Map keeps insertion order; a hit moves to the end).
//
// The oldest entry is found with one long-lived iterator over the Map, not with map.keys().next()
// per eviction: V8 leaves a deleted Map entry as a hole until the table is rebuilt, and a fresh
// iterator walks over every hole at the front, so with a full cache (every insert evicts) each
// eviction cost a scan of up to half the table (~90 µs at 100,000 entries). Everything before the
// long-lived iterator's position has been deleted (evicted, or moved to the end by a hit), so the
// next live entry it returns is the least recently used one, and each hole is walked over once.
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

/** Overhead counted per entry besides the wire bytes (key, offsets, objects). */
const ENTRY_OVERHEAD = 160;

export class AnswerCache {
  private readonly map = new Map<string, CacheEntry>();
  /** walks the map from the least recently used end (see the top of this file) */
  private oldest: MapIterator<[string, CacheEntry]> | undefined;
  private bytes = 0;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(private readonly limits: CacheLimits = DEFAULT_CACHE_LIMITS) {}

  get size(): number {
    return this.map.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  /** The live entry for `key` at time `now` (seconds), or undefined (expired entries are dropped). */
  get(key: string, now: number): CacheEntry | undefined {
    const e = this.map.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    if (now >= e.expires) {
      this.delete(key, e);
      this.misses++;
      return undefined;
    }
    // move to the most recently used end
    this.map.delete(key);
    this.map.set(key, e);
    this.hits++;
    return e;
  }

  /** The live entry for `key`, if any, as it stands: not counted, not moved in the LRU order. */
  peek(key: string, now: number): CacheEntry | undefined {
    const e = this.map.get(key);
    return e && now < e.expires ? e : undefined;
  }

  set(key: string, reply: Reply, now: number): void {
    if (reply.ttl <= 0) return;
    const old = this.map.get(key);
    if (old) this.delete(key, old);
    const cost = reply.wire.length + ENTRY_OVERHEAD + key.length * 2;
    if (cost > this.limits.maxBytes) return;
    this.map.set(key, { reply, stored: now, expires: now + reply.ttl });
    this.bytes += cost;
    while (this.map.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const oldest = this.leastRecentlyUsed();
      if (!oldest) break;
      this.delete(oldest[0], oldest[1]);
      this.evictions++;
    }
  }

  private leastRecentlyUsed(): [string, CacheEntry] | undefined {
    let next = this.oldest?.next();
    if (!next || next.done) {
      // exhausted (every entry it passed is gone): start again from the front
      this.oldest = this.map.entries();
      next = this.oldest.next();
    }
    return next.done ? undefined : next.value;
  }

  clear(): void {
    this.map.clear();
    this.oldest = undefined;
    this.bytes = 0;
  }

  private delete(key: string, e: CacheEntry): void {
    this.map.delete(key);
    this.bytes -= e.reply.wire.length + ENTRY_OVERHEAD + key.length * 2;
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
