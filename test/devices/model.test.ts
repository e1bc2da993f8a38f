// The vendor-neutral core: diff, order, complement, interface matching; properties with fast-check.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { inVersionRange } from "../../src/devices/fortios/capabilities.ts";
import { splitPath, wrapInNative } from "../../src/devices/iosxe/render.ts";
import { iosxeSame } from "../../src/devices/iosxe/restconf.ts";
import {
  complement,
  type DesiredObject,
  diff,
  interfaceHolding,
  interfacesIn,
  order,
} from "../../src/devices/model.ts";
import { addressOf, prefixOf } from "../../src/util/net.ts";

const obj = (id: string, body: Record<string, unknown>, dependsOn: string[] = []): DesiredObject => ({
  id,
  owners: ["X/y"],
  path: "p",
  body,
  dependsOn,
  ownership: "marked",
  removal: { kind: "delete" },
});

test("diff: create what is absent, update only differing fields, ignore fields we do not set", () => {
  const want = [obj("a", { x: 1, t: [{ name: "lan1" }] }), obj("b", { y: "enable" })];
  const have = new Map<string, Record<string, unknown> | undefined>([
    ["a", { x: 2, t: [{ name: "lan1", q: 7 }], other: "kept" }],
    ["b", undefined],
  ]);
  const d = diff(want, have);
  assert.deepEqual(
    d.map((c) => [c.op, c.object.id, c.fields.map((f) => f.field)]),
    [
      ["update", "a", ["x"]],
      ["create", "b", []],
    ],
  );
});

test("diff: dependencies first for creates, dependants first for deletes", () => {
  const pool = obj("pool", {});
  const policy = obj("policy", {}, ["pool"]);
  const d = diff([policy, pool], new Map());
  assert.deepEqual(
    d.map((c) => c.object.id),
    ["pool", "policy"],
  );
  const gone = diff([], new Map(), [pool, policy]);
  assert.deepEqual(
    gone.map((c) => `${c.op} ${c.object.id}`),
    ["delete policy", "delete pool"],
  );
});

test("property: a box that holds exactly the desired bodies needs no change", () => {
  const body = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 8 }),
    fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.array(fc.record({ name: fc.string() }), { maxLength: 3 }),
    ),
  );
  fc.assert(
    fc.property(fc.array(body, { maxLength: 6 }), (bodies) => {
      const objs = bodies.map((b, i) => obj(`o${i}`, b, i > 0 ? [`o${i - 1}`] : []));
      const have = new Map(objs.map((o) => [o.id, structuredClone(o.body)]));
      return diff(objs, have).length === 0 && diff(objs, have, [], iosxeSame).length === 0;
    }),
  );
});

test("property: order puts every dependency before its dependant", () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.nat(9), { maxLength: 3 }), { minLength: 1, maxLength: 10 }), (deps) => {
      // only edges to lower indexes: a DAG
      const objs = deps.map((d, i) =>
        obj(
          `o${i}`,
          {},
          d.filter((j) => j < i).map((j) => `o${j}`),
        ),
      );
      const shuffled = [...objs].reverse();
      const out = order(shuffled).map((o) => o.id);
      return (
        objs.every((o) => o.dependsOn.every((d) => out.indexOf(d) < out.indexOf(o.id))) &&
        out.length === objs.length
      );
    }),
  );
});

test("property: complement and the ranges together cover the subnet after its network address, without overlap", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 40 })), { maxLength: 5 }),
      (spans) => {
        const outer = { family: 4 as const, first: 0xc0000200n, last: 0xc00002ffn, text: "" };
        const inner = spans.map(([a, len]) => ({
          family: 4 as const,
          first: 0xc0000200n + BigInt(a),
          last: 0xc0000200n + BigInt(Math.min(255, a + len)),
          text: "",
        }));
        const holes = complement(outer, inner);
        for (let x = outer.first + 1n; x <= outer.last; x++) {
          const inHole = holes.some((h) => h.first <= x && x <= h.last);
          const inRange = inner.some((r) => r.first <= x && x <= r.last);
          if (inHole === inRange) return false;
        }
        return holes.every((h) => h.first <= h.last);
      },
    ),
  );
});

test("interfaces: which one holds an address, which ones sit in a prefix", () => {
  const ifs = [
    { name: "wan1", addresses: ["198.51.100.2/24"] },
    { name: "lan1", addresses: ["192.0.2.1/24", "2001:db8:1::1/64"] },
  ];
  assert.equal(interfaceHolding(ifs, addressOf("192.0.2.1")), "lan1");
  assert.equal(interfaceHolding(ifs, addressOf("2001:db8:1::53")), "lan1", "on its subnet");
  assert.equal(interfaceHolding(ifs, addressOf("203.0.113.1")), undefined);
  assert.deepEqual(interfacesIn(ifs, prefixOf("2001:db8:1::/64")), ["lan1"]);
  assert.deepEqual(interfacesIn(ifs, prefixOf("2001:db8:2::/64")), []);
});

test("FortiOS versions: trains Fortinet tested up to a patch cover later builds of that train", () => {
  assert.ok(inVersionRange([6, 2, 16], undefined, "6.2.7"));
  assert.ok(!inVersionRange([7, 0, 1], undefined, "7.0.0"));
  assert.ok(!inVersionRange([6, 4, 0], undefined, "6.2.7"));
  assert.ok(inVersionRange([7, 6, 3], "7.6.1", "latest"));
});

test("property: RESTCONF paths never throw and wrap under native", () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[a-zA-Z-]{1,8}(=[a-z0-9%]{1,5})?$/), { maxLength: 5 }),
      fc.string({ minLength: 1, maxLength: 6 }),
      (segs, leaf) => {
        const path = ["Cisco-IOS-XE-native:native", ...segs, leaf.replace(/[/=]/g, "x")].join("/");
        assert.equal(splitPath(path).length, segs.length + 2);
        const w = wrapInNative(path, { [leaf.replace(/[/=:]/g, "x")]: 1 });
        return Object.keys(w)[0] === "Cisco-IOS-XE-native:native";
      },
    ),
  );
});

test("IOS-XE read-back normalisation: dotted hex and case are the same value; other values are not", () => {
  assert.ok(iosxeSame("hex-line", "00000708", "0000.0708"));
  assert.ok(
    iosxeSame(
      "x",
      { "Cisco-IOS-XE-nat:stateful": { "ipv6-prefix": "fd00:ff9b::/96" } },
      { "Cisco-IOS-XE-nat:stateful": { "ipv6-prefix": "FD00:FF9B::/96" } },
    ),
  );
  assert.ok(
    iosxeSame("x", { "Cisco-IOS-XE-nd:dns": { a: 1 } }, { dns: { a: 1 } }),
    "a member may come back unqualified",
  );
  assert.ok(!iosxeSame("hex-line", "00000708", "0000.0709"));
  assert.ok(!iosxeSame("x", ["a"], ["a", "b"]));
});
