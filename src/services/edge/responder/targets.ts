// Which addresses the responder answers for, and which solicited-node groups (RFC 4291 §2.7.1)
// it must join to hear the solicitations for them. Pure.
import { type Range, toBytes } from "../../../util/net.ts";
import { solicitedNode } from "./nd.ts";

/**
 * Joining more groups than this is not done: the responder receives every multicast frame on the
 * link instead (all-multicast), and filters in its socket. 1024 memberships cost about 100 KiB of
 * kernel option memory and 1024 MLD reports at start; a /96 (the seed's DNAT66) would need all 2^24.
 */
export const MAX_GROUPS = 1024;

/** True when `value` (an IPv4 address as a number) lies in one of the ranges. */
export function inRanges4(ranges: readonly Range[], value: number): boolean {
  const v = BigInt(value);
  return ranges.some((r) => r.first <= v && v <= r.last);
}

/**
 * IPv6 ranges as their ends in bytes, so that a lookup per solicitation compares 16 bytes instead
 * of building a bigint.
 */
export class Ranges6 {
  private readonly ends: { first: Uint8Array; last: Uint8Array }[];

  constructor(ranges: readonly Range[]) {
    this.ends = ranges.map((r) => ({ first: toBytes(6, r.first), last: toBytes(6, r.last) }));
  }

  has(address: Uint8Array): boolean {
    return this.ends.some((e) => compare(e.first, address) <= 0 && compare(address, e.last) <= 0);
  }
}

/** Network byte order comparison of two 16-byte addresses. */
function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

export type GroupPlan = { kind: "groups"; groups: Uint8Array[] } | { kind: "allMulticast"; needed: number };

/**
 * The solicited-node groups the IPv6 ranges need: one per distinct low 24 bits of the addresses
 * (a range of n < 2^24 consecutive addresses has exactly n of them, so at most 2^24 for any range).
 * More than `limit` groups: all-multicast instead, with the number that would have been needed.
 */
export function groupPlan(ranges: readonly Range[], limit = MAX_GROUPS): GroupPlan {
  const all = 1n << 24n;
  let sum = 0n;
  for (const r of ranges) sum += r.last - r.first + 1n;
  if (sum > BigInt(limit)) {
    // distinct groups: the union of the ranges' low-24-bit sets, at most 2^24
    return { kind: "allMulticast", needed: Number(sum < all ? sum : all) };
  }
  const seen = new Map<number, Uint8Array>();
  for (const r of ranges) {
    for (let v = r.first; v <= r.last; v++) {
      const low = Number(v & 0xffffffn);
      if (!seen.has(low)) seen.set(low, solicitedNode(toBytes(6, v)));
    }
  }
  return { kind: "groups", groups: [...seen.values()] };
}
