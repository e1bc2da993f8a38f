// The planner and EdgeTranslation: placement on a device or on nodes, and its outside IPv4
// addresses against other resources' pool4 and DHCP ranges.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnyResource } from "../../src/api/resources.ts";
import { renderPlan } from "../../src/cli/commands/plan.ts";
import { nodesFrom } from "../../src/planner/nodes.ts";
import { plan } from "../../src/planner/plan.ts";
import { decodeAssignment, encodeAssignment } from "../../src/planner/wire.ts";
import { doc, NAT64_OK, validateText } from "../support/validate.ts";

const EDGE = `
insideInterfaces: [lan1]
outsideInterface: wan1
snat44: { pool: ["198.51.100.151-198.51.100.200"], mode: oneToOne }
dnat44:
  - { external: "198.51.100.101-198.51.100.150", internal: "192.0.2.1-192.0.2.50" }
snat66: { mode: interface }`;

function resources(...docs: string[]): AnyResource[] {
  const v = validateText(docs.join("---\n"));
  // overlapping ranges are validate's problems too (api/claims.ts); the planner must still cope
  // with them (objects in the API are admitted one by one): they are these tests' subject
  assert.deepEqual(
    v.errors.filter((e) => !/overlaps the .* one address cannot serve both$/.test(e)),
    [],
  );
  return v.resources;
}

describe("planner: EdgeTranslation", () => {
  it("standalone: runs on this host and says what it translates", () => {
    const p = plan(resources(doc("EdgeTranslation", "home", EDGE)), { standaloneNode: "host" });
    assert.deepEqual(
      p.nodes[0]!.assignments.map((a) => `${a.kind}/${a.name}`),
      ["EdgeTranslation/home"],
    );
    assert.match(
      renderPlan(p),
      /node host +EdgeTranslation\/home +lan1 -> wan1: SNAT44 pool 198\.51\.100\.151-198\.51\.100\.200 one-to-one, DNAT44 198\.51\.100\.101-198\.51\.100\.150 -> 192\.0\.2\.1-192\.0\.2\.50, SNAT66 wan1's address/,
    );
  });

  it("cluster: nodeSelector picks the nodes; deviceRef puts it on the device", () => {
    const nodes = nodesFrom([
      { name: "edge-a", labels: { role: "edge" } },
      { name: "worker", labels: {} },
    ]);
    assert.ok(nodes.ok);
    const p = plan(
      resources(
        doc("EdgeTranslation", "a", `${EDGE}\nnodeSelector: { role: edge }`),
        doc(
          "EdgeTranslation",
          "b",
          "insideInterfaces: [internal1]\noutsideInterface: wan1\nsnat66: {}\ndeviceRef: { name: fgt }",
        ),
        doc("ExternalDevice", "fgt", "vendor: fortios\nendpoint: https://192.0.2.99\ncredentialsEnv: T"),
      ),
      { nodes: nodes.nodes },
    );
    assert.deepEqual(
      p.nodes.map((n) => `${n.name}: ${n.assignments.map((a) => a.name).join(",")}`),
      ["edge-a: a", "worker: "],
    );
    assert.deepEqual(
      p.devices.map((d) => `${d.name}: ${d.assignments.map((a) => a.name).join(",")}`),
      ["fgt: b"],
    );
  });

  it("its SNAT44 pool or DNAT44 range overlapping another resource's pool4 or DHCP range is a conflict", () => {
    const p = plan(
      resources(
        doc("Nat64Gateway", "nat", NAT64_OK.replace("198.51.100.1-198.51.100.10", "198.51.100.160")),
        doc("EdgeTranslation", "home", EDGE),
        doc(
          "DhcpScope",
          "lan",
          `interface: lan0\nsubnet: 198.51.100.0/24\nranges: ["198.51.100.120-198.51.100.130"]`,
        ),
        doc(
          "EdgeTranslation",
          "other",
          "insideInterfaces: [lan3]\noutsideInterface: wan2\nsnat44: { pool: [198.51.100.201-198.51.100.210] }",
        ),
        doc("DhcpScope", "lan2", `interface: lan2\nsubnet: 198.51.100.0/24\nranges: ["198.51.100.205"]`),
      ),
    );
    assert.deepEqual(
      p.conflicts.map((c) => `${c.resource}: ${c.message}`),
      [
        "EdgeTranslation/home: its SNAT44 pool overlaps the pool4 of Nat64Gateway/nat: one address cannot serve both",
        "DhcpScope/lan2: its DHCP range overlaps the SNAT44 pool of EdgeTranslation/other: one address cannot serve both",
      ],
    );
    const q = plan(
      resources(
        doc("EdgeTranslation", "home", EDGE),
        doc(
          "DhcpScope",
          "lan",
          `interface: lan0\nsubnet: 198.51.100.0/24\nranges: ["198.51.100.120-198.51.100.130"]`,
        ),
      ),
    );
    assert.deepEqual(
      q.conflicts.map((c) => `${c.resource}: ${c.message}`),
      [
        "DhcpScope/lan: its DHCP range overlaps the DNAT44 external range of EdgeTranslation/home: one address cannot serve both",
      ],
    );
  });

  it("two on one outside interface of one node: the second is left out", () => {
    const p = plan(
      resources(
        doc("EdgeTranslation", "a", EDGE),
        doc("EdgeTranslation", "b", "insideInterfaces: [lan2]\noutsideInterface: wan1\nsnat66: {}"),
      ),
    );
    assert.deepEqual(
      p.conflicts.map((c) => `${c.resource} on ${c.where}: ${c.message}`),
      [
        "EdgeTranslation/b on node localhost: outside interface wan1 already has EdgeTranslation/a: one edge translation per outside interface",
      ],
    );
  });

  it("goes to a node's NodeConfig and back unchanged", () => {
    const p = plan(
      resources(
        doc(
          "EdgeTranslation",
          "home",
          `${EDGE}\nproxyNeighbors: [{ addresses: "198.51.100.101-198.51.100.150", linkLayerAddress: "00:09:0f:aa:bb:cc" }]`,
        ),
      ),
    );
    const a = p.nodes[0]!.assignments[0]!;
    const back = decodeAssignment(encodeAssignment(a));
    assert.ok(back.ok, back.ok ? "" : back.error);
    assert.deepEqual(JSON.parse(JSON.stringify(back.value)), JSON.parse(JSON.stringify(a)));
  });
});
