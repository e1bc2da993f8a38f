// Address space every node and device shares: a stateful NAT64's pool4, a DHCP scope's ranges and
// an edge translation's SNAT44 pool and DNAT44 external ranges must not overlap each other,
// wherever the resources run (one address cannot serve two of them). `validate` reports a clash
// as a problem of the later resource; the planner leaves that resource out (the older one keeps
// its place).
import type { Family, Range, Span } from "../util/net.ts";
import { type AnyResource, objectLabel } from "./resources.ts";

export interface Claim {
  what: string;
  /** the field that holds it, for messages */
  path: string;
  ranges: readonly Range[];
}

/** The addresses a resource takes for itself. */
export function claims(r: AnyResource): Claim[] {
  if (r.kind === "Nat64Gateway" && r.spec.mode === "stateful")
    return [{ what: "pool4", path: "spec.pool4", ranges: r.spec.pool4 }];
  if (r.kind === "DhcpScope") return [{ what: "DHCP range", path: "spec.ranges", ranges: r.spec.ranges }];
  if (r.kind === "EdgeTranslation") {
    return [
      { what: "SNAT44 pool", path: "spec.snat44.pool", ranges: r.spec.snat44?.pool ?? [] },
      { what: "DNAT44 external range", path: "spec.dnat44", ranges: r.spec.dnat44.map((m) => m.external) },
    ].filter((c) => c.ranges.length > 0);
  }
  return [];
}

/** What a clash needs to know of a resource: how to name it. */
type Named = Parameters<typeof objectLabel>[0];

export interface AddressClash<T extends Named = AnyResource> {
  /** the later resource, whose claim overlaps */
  resource: T;
  /** the earlier one, which keeps the addresses */
  with: T;
  /** the later resource's field */
  path: string;
  message: string;
}

/**
 * Every resource whose claim overlaps an earlier one's, in `ordered` order (the first keeps its place).
 * Each claim is told the earliest kept claim it meets, as a scan of the kept claims would, in
 * O(log n) through an `IntervalIndex`: n log n for the whole set (200k resources in a file).
 */
export function addressClashes(ordered: readonly AnyResource[]): AddressClash[] {
  return clashesOf(ordered.map((r) => ({ r, claims: claims(r) })));
}

/** The same, for resources already reduced to their claims (validate keeps no more of them). */
export function clashesOf<T extends Named>(
  all: readonly { r: T; claims: readonly Claim[] }[],
): AddressClash<T>[] {
  const index = new IntervalIndex(all.flatMap((a) => a.claims.flatMap((c) => c.ranges)));
  const kept: ({ r: T } & Claim)[] = [];
  const out: AddressClash<T>[] = [];
  for (const { r, claims: mine } of all) {
    let clash: { m: Claim; c: { r: T } & Claim } | undefined;
    for (const m of mine) {
      const first = Math.min(...m.ranges.map((a) => index.firstMeeting(a)));
      if (first < kept.length) {
        clash = { m, c: kept[first]! };
        break;
      }
    }
    if (clash) {
      out.push({
        resource: r,
        with: clash.c.r,
        path: clash.m.path,
        message: `its ${clash.m.what} overlaps the ${clash.c.what} of ${objectLabel(clash.c.r)}: one address cannot serve both`,
      });
      continue;
    }
    for (const m of mine) {
      for (const a of m.ranges) index.add(a, kept.length);
      kept.push({ r, ...m });
    }
  }
  return out;
}

/** IPv6 values sort above every IPv4 one: the two families never meet. */
const V6_BASE = 1n << 128n;
const keyOf = (family: Family, value: bigint) => (family === 6 ? value + V6_BASE : value);
const NONE = 0x7fffffff;

/**
 * Ranges added with an id; asked for a range, the smallest id among the added ranges that share an
 * address with it. A segment tree over the ranges' endpoints (known in advance, sorted once): two
 * ranges meet exactly when their endpoints' ranks do, so the tree needs one leaf per endpoint,
 * whatever the size of the ranges.
 */
class IntervalIndex {
  private readonly points: bigint[];
  /** smallest id of a range that covers the node's whole span */
  private readonly whole: Int32Array;
  /** smallest id of a range that covers any leaf under the node */
  private readonly any: Int32Array;

  constructor(ranges: readonly Span[]) {
    const keys = ranges.flatMap((r) => [keyOf(r.family, r.first), keyOf(r.family, r.last)]);
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.points = keys.filter((k, i) => i === 0 || k !== keys[i - 1]);
    const size = 4 * Math.max(1, this.points.length);
    this.whole = new Int32Array(size).fill(NONE);
    this.any = new Int32Array(size).fill(NONE);
  }

  add(r: Span, id: number): void {
    this.update(1, 0, this.points.length - 1, this.rank(r.family, r.first), this.rank(r.family, r.last), id);
  }

  /** The smallest id of an added range meeting `r`, or NONE (larger than any id). */
  firstMeeting(r: Span): number {
    return this.query(
      1,
      0,
      this.points.length - 1,
      this.rank(r.family, r.first),
      this.rank(r.family, r.last),
    );
  }

  private rank(family: Family, value: bigint): number {
    const key = keyOf(family, value);
    let lo = 0;
    let hi = this.points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.points[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private update(node: number, lo: number, hi: number, from: number, to: number, id: number): void {
    if (to < lo || hi < from) return;
    this.any[node] = Math.min(this.any[node]!, id);
    if (from <= lo && hi <= to) {
      this.whole[node] = Math.min(this.whole[node]!, id);
      return;
    }
    const mid = (lo + hi) >> 1;
    this.update(2 * node, lo, mid, from, to, id);
    this.update(2 * node + 1, mid + 1, hi, from, to, id);
  }

  private query(node: number, lo: number, hi: number, from: number, to: number): number {
    if (to < lo || hi < from) return NONE;
    if (from <= lo && hi <= to) return this.any[node]!;
    const mid = (lo + hi) >> 1;
    return Math.min(
      this.whole[node]!,
      this.query(2 * node, lo, mid, from, to),
      this.query(2 * node + 1, mid + 1, hi, from, to),
    );
  }
}
