// Address clashes between resources: the indexed search agrees with a scan of every earlier claim.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type AddressClash, addressClashes, claims } from "../../src/api/claims.ts";
import type { AnyResource } from "../../src/api/resources.ts";
import { overlaps, Range } from "../../src/util/net.ts";

/** The rule as first written: each resource against every kept claim before it, O(n²). */
function byScan(ordered: readonly AnyResource[]): { resource: string; with: string; path: string }[] {
  const kept: { r: AnyResource; ranges: readonly Range[] }[] = [];
  const out: { resource: string; with: string; path: string }[] = [];
  for (const r of ordered) {
    const mine = claims(r);
    const clash = mine
      .map((m) => ({ m, c: kept.find((c) => c.ranges.some((a) => m.ranges.some((b) => overlaps(a, b)))) }))
      .find((x) => x.c);
    if (clash?.c) out.push({ resource: r.name, with: clash.c.r.name, path: clash.m.path });
    else kept.push(...mine.map((m) => ({ r, ranges: m.ranges })));
  }
  return out;
}

const brief = (c: AddressClash) => ({ resource: c.resource.name, with: c.with.name, path: c.path });

const v4 = (first: number, last: number) => new Range(4, BigInt(first), BigInt(last), `${first}-${last}`);
const v6 = (first: number, last: number) => new Range(6, BigInt(first), BigInt(last), `::${first}-::${last}`);

// small numbers, so that ranges meet often; both families, so that they must never meet each other
const range = fc
  .tuple(fc.boolean(), fc.nat(60), fc.nat(8))
  .map(([six, first, width]) => (six ? v6 : v4)(first, first + width));

const resource = fc.oneof(
  fc.array(range, { minLength: 1, maxLength: 3 }).map((pool4) => ({
    kind: "Nat64Gateway",
    spec: { mode: "stateful", pool4 },
  })),
  fc.array(range, { minLength: 1, maxLength: 3 }).map((ranges) => ({ kind: "DhcpScope", spec: { ranges } })),
  fc.tuple(fc.array(range, { maxLength: 2 }), fc.array(range, { maxLength: 2 })).map(([pool, external]) => ({
    kind: "EdgeTranslation",
    spec: { snat44: { pool }, dnat44: external.map((e) => ({ external: e })) },
  })),
);

const resources = fc
  .array(resource, { maxLength: 40 })
  .map((rs) => rs.map((r, i) => ({ ...r, name: `r${i}`, namespace: "default" }) as unknown as AnyResource));

describe("address clashes", () => {
  it("name the same resource, earlier resource and field as a scan of every earlier claim", () => {
    fc.assert(
      fc.property(resources, (rs) => {
        assert.deepEqual(addressClashes(rs).map(brief), byScan(rs));
      }),
      { numRuns: 2000 },
    );
  });

  it("a clash names the earliest kept claim it meets, and a refused resource keeps nothing", () => {
    const rs = [
      { kind: "DhcpScope", name: "a", spec: { ranges: [v4(10, 19)] } },
      { kind: "DhcpScope", name: "b", spec: { ranges: [v4(30, 39)] } },
      // meets b and a: a is older
      { kind: "DhcpScope", name: "c", spec: { ranges: [v4(35, 36), v4(0, 100)] } },
      // meets only c, which was refused: kept
      { kind: "DhcpScope", name: "d", spec: { ranges: [v4(50, 60)] } },
    ].map((r) => ({ ...r, namespace: "default" }) as unknown as AnyResource);
    assert.deepEqual(addressClashes(rs).map(brief), [{ resource: "c", with: "a", path: "spec.ranges" }]);
  });
});
