// Splitting a Nat64Gateway's pool4 between the nodes that translate for it.
//
// Rendezvous (highest random weight) hashing: every block of addresses goes to the node that
// scores highest for it. When a node leaves, only its blocks move (each to its runner-up); when a
// node joins, it takes only the blocks it now wins. Nobody else's share changes, so sessions on
// the other nodes survive a scale-up or a node failure.
import { type Range, rangeOf, type Span } from "../util/net.ts";

/** At most this many blocks per pool: planning a /16 costs 4096 × nodes hashes. */
const MAX_BLOCKS = 4096;

export interface Share {
  node: string;
  ranges: Range[];
  count: number;
}

/** FNV-1a, 32 bits, over the node name and the block's first address. */
function score(node: string, block: bigint): number {
  let h = 0x811c9dc5;
  const feed = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  feed(node);
  feed("\0");
  feed(block.toString(16));
  // a final avalanche so that neighbouring blocks do not score alike
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The block size (a power of two) that keeps the pool under MAX_BLOCKS blocks. */
export function blockSize(pool: readonly Range[]): bigint {
  const total = pool.reduce((n, r) => n + (r.last - r.first + 1n), 0n);
  let size = 1n;
  while (total / size > BigInt(MAX_BLOCKS)) size *= 2n;
  return size;
}

/**
 * Each node's share of the pool, in the order of `nodes`; ranges merged where adjacent.
 * With no nodes, no shares. Pure and deterministic.
 */
export function splitPool4(pool: readonly Range[], nodes: readonly string[]): Share[] {
  const shares = new Map<string, Span[]>(nodes.map((n) => [n, []]));
  const counts = new Map<string, bigint>(nodes.map((n) => [n, 0n]));
  if (nodes.length === 0) return [];
  const size = blockSize(pool);
  for (const r of pool) {
    // blocks are aligned to the address, so a block's identity does not depend on the range list
    for (let start = r.first - (r.first % size); start <= r.last; start += size) {
      // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max throws on them)
      const first = start < r.first ? r.first : start;
      const last = start + size - 1n > r.last ? r.last : start + size - 1n;
      let best = nodes[0]!;
      let bestScore = -1;
      for (const n of nodes) {
        const s = score(n, start);
        if (s > bestScore || (s === bestScore && n < best)) {
          best = n;
          bestScore = s;
        }
      }
      const list = shares.get(best)!;
      const prev = list[list.length - 1];
      if (prev && prev.last + 1n === first) prev.last = last;
      else list.push({ family: 4, first, last });
      counts.set(best, counts.get(best)! + (last - first + 1n));
    }
  }
  return nodes.map((node) => {
    const ranges = shares.get(node)!.map(rangeOf);
    return { node, ranges, count: Number(counts.get(node)!) };
  });
}
