// Assignments survive the trip through a NodeConfig: encoded to JSON and decoded by the same
// schemas that check resources; a corrupt NodeConfig is refused with the field named, never thrown.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { validatePaths } from "../../src/api/validate.ts";
import { plan } from "../../src/planner/plan.ts";
import { decodeAssignment, encodeAssignment } from "../../src/planner/wire.ts";
import { text } from "../support/text.ts";

describe("assignments on the wire", () => {
  it("round-trips every assignment of the examples through JSON", () => {
    const { resources, problems } = validatePaths(["examples/single-host.yaml", "examples/seed"]);
    assert.deepEqual(
      problems.filter((p) => p.severity === "error"),
      [],
    );
    const all = plan(resources, {
      nodes: [
        { name: "a", labels: {} },
        { name: "b", labels: {} },
      ],
    }).nodes.flatMap((n) => n.assignments);
    assert.ok(all.length >= 4, `${all.length} assignments`);
    assert.deepEqual(new Set(all.map((a) => a.kind)).size, 4, "every kind that runs on nodes");
    for (const a of all) {
      const wire = JSON.parse(JSON.stringify(encodeAssignment(a)));
      const back = decodeAssignment(wire);
      assert.ok(back.ok, back.ok ? "" : back.error);
      assert.deepEqual(back.value, a);
    }
  });

  it("refuses a corrupt assignment, naming the field", () => {
    const { resources } = validatePaths(["examples/single-host.yaml"]);
    const a = plan(resources).nodes[0]!.assignments.find((x) => x.kind === "Nat64Gateway")!;
    const wire = encodeAssignment(a) as unknown as {
      spec: Record<string, unknown>;
      derived: Record<string, unknown>;
    };
    const badPrefix = structuredClone(wire);
    badPrefix.spec.prefix = "64:ff9b::/72";
    const r1 = decodeAssignment(badPrefix);
    assert.ok(!r1.ok);
    assert.match(r1.error, /Nat64Gateway\/\S+ spec: prefix: \/72 is not a NAT64 prefix length/);
    const badShare = structuredClone(wire);
    badShare.derived.pool4 = ["198.51.100.9-198.51.100.1"];
    const r2 = decodeAssignment(badShare);
    assert.ok(!r2.ok);
    assert.match(r2.error, /derived: pool4\[0\]: range "198.51.100.9-198.51.100.1" ends before it starts/);
    const r3 = decodeAssignment({ kind: "Pod", name: "x", namespace: "y" });
    assert.ok(!r3.ok);
    assert.match(r3.error, /^kind: must be one of/);
  });

  it("carries an owner (cluster mode) and refuses a malformed one", () => {
    const { resources } = validatePaths(["examples/single-host.yaml"]);
    const nodes = [
      { name: "a", labels: {} },
      { name: "b", labels: {} },
    ];
    const owned = plan(resources, { nodes })
      .nodes[1]!.assignments.filter((x) => x.kind === "DhcpScope" || x.kind === "Dns64Resolver")
      .map((a) => ({ a, wire: JSON.parse(JSON.stringify(encodeAssignment(a))) }));
    assert.equal(owned.length, 2);
    for (const { a, wire } of owned) {
      assert.ok("owner" in a && a.owner, `${a.kind} has an owner`);
      assert.deepEqual(wire.derived.owner, text(a.owner));
      const back = decodeAssignment(wire);
      assert.ok(back.ok, back.ok ? "" : back.error);
      assert.deepEqual(back.value, a);
    }
    const { wire } = owned[0]!;
    const bad = structuredClone(wire);
    bad.derived.owner.addresses = ["192.0.2.300"];
    bad.derived.owner.lease = "Not A Name";
    const r = decodeAssignment(bad);
    assert.ok(!r.ok);
    assert.match(r.error, /derived: owner\.lease: .*RFC 1123/);
    assert.match(r.error, /owner\.addresses\[0\]/);
  });

  it("never throws on anything", () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        decodeAssignment(x);
        decodeAssignment({ kind: "RouterAdvert", namespace: "n", name: "r", spec: x, derived: x });
      }),
      { numRuns: 500 },
    );
  });
});
