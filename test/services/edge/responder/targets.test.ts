import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  groupPlan,
  inRanges4,
  MAX_GROUPS,
  Ranges6,
} from "../../../../src/services/edge/responder/targets.ts";
import { ipv6Text } from "../../../../src/services/ra/wire.ts";
import { rangeFrom, toBytes } from "../../../../src/util/net.ts";

test("membership: IPv4 as a number, IPv6 as bytes, inclusive ends", () => {
  const v4 = [rangeFrom("198.51.100.100-198.51.100.150")];
  assert.ok(inRanges4(v4, 0xc6336464));
  assert.ok(inRanges4(v4, 0xc6336496));
  assert.ok(!inRanges4(v4, 0xc6336497));
  const v6 = new Ranges6([rangeFrom("2001:db8:5::/120"), rangeFrom("2001:db8:7::1")]);
  const has = (t: string) => v6.has(toBytes(6, rangeFrom(t).first));
  assert.ok(has("2001:db8:5::"));
  assert.ok(has("2001:db8:5::ff"));
  assert.ok(!has("2001:db8:5::100"));
  assert.ok(!has("2001:db8:4:ffff:ffff:ffff:ffff:ffff"));
  assert.ok(has("2001:db8:7::1"));
  assert.ok(!has("2001:db8:7::2"));
});

test("groups: one per distinct low 24 bits; overlapping ranges and equal low bits share one", () => {
  const p = groupPlan([rangeFrom("2001:db8:5::1-2001:db8:5::3"), rangeFrom("2001:db8:6::2-2001:db8:6::4")]);
  assert.equal(p.kind, "groups");
  assert.deepEqual(p.kind === "groups" && p.groups.map(ipv6Text), [
    "ff02::1:ff00:1",
    "ff02::1:ff00:2",
    "ff02::1:ff00:3",
    "ff02::1:ff00:4",
  ]);
});

test("wider than the limit: all-multicast, with the number of groups it would need (at most 2^24)", () => {
  assert.deepEqual(groupPlan([rangeFrom("2001:db8:5::/96")]), { kind: "allMulticast", needed: 2 ** 24 });
  assert.deepEqual(groupPlan([rangeFrom("2001:db8:5::/117")]), { kind: "allMulticast", needed: 2048 });
  assert.equal(groupPlan([rangeFrom("2001:db8:5::/118")]).kind, "groups"); // 1024: at the limit
  assert.equal(groupPlan([rangeFrom("2001:db8:5::/118")], 1023).kind, "allMulticast");
  assert.equal(MAX_GROUPS, 1024);
});

test("property: Ranges6 agrees with bigint comparison", () => {
  const big = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
  fc.assert(
    fc.property(big, big, big, (a, b, x) => {
      const [first, last] = a <= b ? [a, b] : [b, a];
      const r = rangeFrom(`${ipv6Text(toBytes(6, first))}-${ipv6Text(toBytes(6, last))}`);
      return new Ranges6([r]).has(toBytes(6, x)) === (first <= x && x <= last);
    }),
    { numRuns: 2000 },
  );
});

test("property: every address of the ranges has its group in the plan", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 300n }), fc.nat({ max: 200 }), (first, n) => {
      const r = rangeFrom(`${ipv6Text(toBytes(6, first))}-${ipv6Text(toBytes(6, first + BigInt(n)))}`);
      const p = groupPlan([r]);
      if (p.kind !== "groups") return false;
      const have = new Set(p.groups.map(ipv6Text));
      for (let v = first; v <= first + BigInt(n); v++) {
        const low = toBytes(6, v).subarray(13);
        const g = new Uint8Array(16);
        g.set([0xff, 0x02], 0);
        g[11] = 1;
        g[12] = 0xff;
        g.set(low, 13);
        if (!have.has(ipv6Text(g))) return false;
      }
      return have.size === n + 1;
    }),
    { numRuns: 300 },
  );
});
