// The planner: placement on nodes and devices, resolved references, derived defaults, conflicts.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnyResource } from "../../src/api/resources.ts";
import { nodesFrom } from "../../src/planner/nodes.ts";
import {
  type DhcpAssignment,
  type Dns64Assignment,
  type Nat64Assignment,
  ownerLeaseName,
  type Plan,
  plan,
  type RaAssignment,
} from "../../src/planner/plan.ts";
import { text } from "../support/text.ts";
import { doc, NAT64_OK, validateText } from "../support/validate.ts";

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

const NODES = nodesFrom([
  { name: "edge-a", labels: { role: "edge" } },
  { name: "edge-b", labels: { role: "edge" } },
  { name: "worker", labels: { role: "worker" } },
]);
assert.ok(NODES.ok);
const nodes = NODES.nodes;

const names = (p: Plan, node: string) =>
  p.nodes.find((n) => n.name === node)!.assignments.map((a) => `${a.kind}/${a.name}`);

describe("planner", () => {
  it("standalone: everything without deviceRef runs on this host, nodeSelector ignored", () => {
    const p = plan(resources(doc("Nat64Gateway", "gw", `${NAT64_OK}\nnodeSelector: { role: edge }`)), {
      standaloneNode: "host",
    });
    assert.equal(p.mode, "standalone");
    assert.deepEqual(names(p, "host"), ["Nat64Gateway/gw"]);
    const a = p.nodes[0]!.assignments[0] as Nat64Assignment;
    assert.deepEqual(text(a.pool4), ["198.51.100.1-198.51.100.10"]);
    assert.equal(a.pool4Count, 10);
  });

  it("cluster: nodeSelector picks nodes, and pool4 is split between them", () => {
    const p = plan(resources(doc("Nat64Gateway", "gw", `${NAT64_OK}\nnodeSelector: { role: edge }`)), {
      nodes,
    });
    assert.deepEqual(names(p, "worker"), []);
    const a = p.nodes[0]!.assignments[0] as Nat64Assignment;
    const b = p.nodes[1]!.assignments[0] as Nat64Assignment;
    assert.equal(a.pool4Count + b.pool4Count, 10);
    assert.equal(a.pool4Total, 10);
  });

  it("reports a resource whose nodeSelector matches no node", () => {
    const p = plan(resources(doc("Nat64Gateway", "gw", `${NAT64_OK}\nnodeSelector: { role: router }`)), {
      nodes,
    });
    assert.deepEqual(
      p.unplaced.map((u) => `${u.resource}: ${u.reason}`),
      ["Nat64Gateway/gw: no node matches nodeSelector {role=router}"],
    );
  });

  it("resolves nat64GatewayRef for DNS64 and PREF64", () => {
    const p = plan(
      resources(
        doc("Nat64Gateway", "gw", NAT64_OK.replace("64:ff9b::/96", "2001:db8:64::/96")),
        doc(
          "Dns64Resolver",
          "dns",
          `listen: ["192.0.2.53"]\nnat64GatewayRef: { name: gw }\nupstreams: ["198.51.100.53"]\nallowClients: ["192.0.2.0/24"]`,
        ),
        doc("RouterAdvert", "ra", `interface: lan0\npref64: { nat64GatewayRef: { name: gw } }`),
      ),
    );
    const [, dns, ra] = p.nodes[0]!.assignments;
    assert.ok(dns?.kind === "Dns64Resolver" && ra?.kind === "RouterAdvert");
    assert.equal(String(dns.prefix), "2001:db8:64::/96");
    assert.equal(String(ra.resolved.pref64?.prefix), "2001:db8:64::/96");
  });

  it("derives RA defaults from RFC 4861, RFC 8106 and RFC 8781", () => {
    const p = plan(
      resources(
        doc(
          "RouterAdvert",
          "ra",
          `interface: lan0\ninterval: { max: 600 }\nrdnss: [{ address: "2001:db8::53" }]\ndnssl: [{ domain: home.arpa }]\npref64: { prefix: "64:ff9b::/96", lifetime: 1801 }\nroutes: [{ prefix: "64:ff9b::/96" }]`,
        ),
      ),
    );
    const r = (p.nodes[0]!.assignments[0] as RaAssignment).resolved;
    assert.deepEqual(r.interval, { min: 198, max: 600 });
    assert.equal(r.rdnss[0]!.lifetime, 1800);
    assert.equal(r.dnssl[0]!.lifetime, 1800);
    assert.equal(r.routes[0]!.lifetime, 1800);
    assert.equal(r.pref64!.lifetime, 1808, "rounded up to the option's 8-second unit");
    const big = plan(
      resources(
        doc(
          "RouterAdvert",
          "ra",
          `interface: lan0\ninterval: { max: 1800 }\npref64: { prefix: "64:ff9b::/96" }`,
        ),
      ),
    );
    assert.equal((big.nodes[0]!.assignments[0] as RaAssignment).resolved.pref64!.lifetime, 5400);
    const small = plan(
      resources(
        doc("RouterAdvert", "ra", `interface: lan0\ninterval: { max: 6 }\ndefaultRouter: { lifetime: 0 }`),
      ),
    );
    assert.deepEqual((small.nodes[0]!.assignments[0] as RaAssignment).resolved.interval, { min: 4, max: 6 });
  });

  it("places deviceRef resources on the device, not on nodes", () => {
    const p = plan(
      resources(
        doc(
          "ExternalDevice",
          "isr",
          `vendor: iosxe\nendpoint: https://192.0.2.9\nusername: admin\ncredentialsEnv: ISR_PASSWORD`,
        ),
        doc("Nat64Gateway", "gw", `${NAT64_OK}\ndeviceRef: { name: isr }`),
      ),
      { nodes },
    );
    assert.deepEqual(
      p.nodes.flatMap((n) => n.assignments),
      [],
    );
    assert.equal(p.devices[0]!.name, "isr");
    assert.equal(p.devices[0]!.vendor, "iosxe");
    assert.deepEqual(
      p.devices[0]!.assignments.map((a) => a.name),
      ["gw"],
    );
  });

  describe("conflicts: the older resource keeps its place", () => {
    it("two RouterAdverts on one interface of one node", () => {
      const p = plan(
        resources(
          doc("RouterAdvert", "a", "interface: lan0"),
          doc("RouterAdvert", "b", "interface: lan0"),
          doc("RouterAdvert", "c", "interface: lan1"),
        ),
      );
      assert.deepEqual(names(p, "localhost"), ["RouterAdvert/a", "RouterAdvert/c"]);
      assert.deepEqual(
        p.conflicts.map((c) => `${c.resource} on ${c.where}: ${c.message}`),
        [
          "RouterAdvert/b on node localhost: interface lan0 already has RouterAdvert/a: one RA sender per interface",
        ],
      );
    });

    it("creationTimestamp decides who is older, not file order", () => {
      const text = [
        doc("RouterAdvert", "new", "interface: lan0"),
        doc("RouterAdvert", "old", "interface: lan0"),
      ]
        .map((d, i) =>
          d.replace(/name: (\w+)/, `name: $1\n  creationTimestamp: "2026-01-0${2 - i}T00:00:00Z"`),
        )
        .join("---\n");
      const v = validateText(text);
      const p = plan(v.resources);
      assert.deepEqual(names(p, "localhost"), ["RouterAdvert/old"]);
      assert.equal(p.conflicts[0]!.resource, "RouterAdvert/new");
    });

    it("two DHCP scopes on one interface, and overlapping subnets on two", () => {
      const base = `subnet: 192.0.2.0/24\nranges: ["192.0.2.100-192.0.2.150"]`;
      const p = plan(
        resources(
          doc("DhcpScope", "a", `interface: lan0\n${base}`),
          doc("DhcpScope", "b", `interface: lan0\nsubnet: 198.51.100.0/24\nranges: ["198.51.100.10"]`),
          doc("DhcpScope", "c", `interface: lan1\nsubnet: 192.0.2.0/25\nranges: ["192.0.2.10"]`),
        ),
      );
      assert.deepEqual(names(p, "localhost"), ["DhcpScope/a"]);
      assert.deepEqual(
        p.conflicts.map((c) => c.message),
        [
          "interface lan0 already has DhcpScope/a: one DHCP scope per interface",
          "subnet 192.0.2.0/25 overlaps 192.0.2.0/24 of DhcpScope/a on another interface",
        ],
      );
    });

    it("cluster: a DhcpScope goes to every selected node as a candidate, with the Lease that elects one", () => {
      const scope = `interface: lan0\nsubnet: 192.0.2.0/24\nranges: ["192.0.2.100"]\nserverAddress: 192.0.2.2`;
      const p = plan(
        resources(
          doc("DhcpScope", "a", `${scope}\nnodeSelector: { role: edge }`),
          doc("DhcpScope", "w", scope.replaceAll("lan0", "lan1").replaceAll("192.0.2", "198.51.100")),
        ),
        { nodes },
      );
      assert.deepEqual(names(p, "edge-a"), ["DhcpScope/a", "DhcpScope/w"]);
      assert.deepEqual(names(p, "edge-b"), ["DhcpScope/a", "DhcpScope/w"]);
      assert.deepEqual(names(p, "worker"), ["DhcpScope/w"]);
      assert.deepEqual(p.conflicts, []);
      const a = p.nodes[0]!.assignments[0] as DhcpAssignment;
      const b = p.nodes[1]!.assignments[0] as DhcpAssignment;
      assert.deepEqual(text(a.owner), {
        lease: "v6mostly-owner-default-dhcpscope-a",
        interface: "lan0",
        addresses: ["192.0.2.2"],
      });
      assert.deepEqual(b.owner, a.owner, "every candidate campaigns for the same Lease");
      // without serverAddress nothing moves: the active node answers from its own address
      const bare = plan(resources(doc("DhcpScope", "a", scope.replace("\nserverAddress: 192.0.2.2", ""))), {
        nodes,
      });
      assert.deepEqual(text((bare.nodes[2]!.assignments[0] as DhcpAssignment).owner?.addresses), []);
    });

    it("standalone: a DhcpScope or DNS64 has no owner (one host, nothing to elect)", () => {
      const p = plan(
        resources(
          doc("DhcpScope", "a", `interface: lan0\nsubnet: 192.0.2.0/24\nranges: ["192.0.2.100"]`),
          doc(
            "Dns64Resolver",
            "d",
            `listen: ["192.0.2.53"]\nprefix: 64:ff9b::/96\nupstreams: ["198.51.100.53"]\nallowClients: ["192.0.2.0/24"]`,
          ),
        ),
      );
      assert.deepEqual(
        p.nodes[0]!.assignments.map((a) => ("owner" in a ? a.owner : undefined)),
        [undefined, undefined],
      );
    });

    it("cluster: a DNS64 on addresses of its own has an owner; on wildcards or loopback it runs everywhere", () => {
      const d = (name: string, listen: string) =>
        doc(
          "Dns64Resolver",
          name,
          `listen: [${listen}]\nprefix: 64:ff9b::/96\nupstreams: ["198.51.100.53"]\nallowClients: ["192.0.2.0/24"]\nnodeSelector: { role: edge }`,
        );
      const p = plan(
        resources(
          d("own", `"192.0.2.53", "[2001:db8::53]:53", "192.0.2.53:5353", "127.0.0.1:53"`),
          d("local", `"0.0.0.0:5300", "[::1]:5301", "127.0.0.53:5302"`),
        ),
        { nodes },
      );
      const own = (node: number) =>
        p.nodes[node]!.assignments.map((a) => {
          const owner = (a as Dns64Assignment).owner;
          return [a.name, owner && text(owner)] as const;
        });
      const expected = {
        lease: "v6mostly-owner-default-dns64resolver-own",
        addresses: ["192.0.2.53", "2001:db8::53"],
      };
      assert.deepEqual(own(0), [
        ["own", expected],
        ["local", undefined],
      ]);
      assert.deepEqual(own(1), own(0));
      assert.deepEqual(p.conflicts, []);
    });

    it("Lease names are valid object names, long ones cut with a hash that keeps them apart", () => {
      const short = ownerLeaseName({ kind: "DhcpScope", namespace: "net", name: "lan.home" });
      assert.equal(short, "v6mostly-owner-net-dhcpscope-lan.home");
      const long = (c: string) =>
        ownerLeaseName({ kind: "Dns64Resolver", namespace: "ns", name: `${"x".repeat(250)}${c}` });
      assert.equal(long("a").length, 253);
      assert.notEqual(long("a"), long("b"));
      assert.match(long("a"), /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
    });

    it("DNS64 listeners on one socket, wildcards included", () => {
      const d = (name: string, listen: string) =>
        doc(
          "Dns64Resolver",
          name,
          `listen: [${listen}]\nprefix: 64:ff9b::/96\nupstreams: ["198.51.100.53"]\nallowClients: ["192.0.2.0/24"]`,
        );
      const p = plan(
        resources(
          d("a", `"192.0.2.53"`),
          d("b", `"0.0.0.0:53"`),
          d("c", `"[::]:53"`),
          d("e", `"192.0.2.53:5353"`),
          d("f", `"[2001:db8::53]:53"`),
        ),
      );
      assert.deepEqual(names(p, "localhost"), ["Dns64Resolver/a", "Dns64Resolver/e", "Dns64Resolver/f"]);
      assert.deepEqual(
        p.conflicts.map((c) => c.message),
        [
          "listen 0.0.0.0:53 is already taken by Dns64Resolver/a (192.0.2.53:53)",
          "listen [::]:53 is already taken by Dns64Resolver/a (192.0.2.53:53)",
        ],
      );
    });

    it("pool4 overlapping another gateway's pool4 or a DHCP range, wherever they run", () => {
      const p = plan(
        resources(
          doc("Nat64Gateway", "a", NAT64_OK),
          doc(
            "Nat64Gateway",
            "b",
            NAT64_OK.replace("198.51.100.1-198.51.100.10", "198.51.100.10").replace(
              "64:ff9b::/96",
              "2001:db8:64::/96",
            ),
          ),
          doc(
            "DhcpScope",
            "d",
            `interface: lan0\nsubnet: 198.51.100.0/24\nranges: ["198.51.100.5-198.51.100.6"]`,
          ),
        ),
      );
      assert.deepEqual(names(p, "localhost"), ["Nat64Gateway/a"]);
      assert.deepEqual(
        p.conflicts.map((c) => `${c.resource}: ${c.message}`),
        [
          "Nat64Gateway/b: its pool4 overlaps the pool4 of Nat64Gateway/a: one address cannot serve both",
          "DhcpScope/d: its DHCP range overlaps the pool4 of Nat64Gateway/a: one address cannot serve both",
        ],
      );
    });

    it("two gateways with one TUN name or overlapping prefixes on one node", () => {
      const p = plan(
        resources(
          doc("Nat64Gateway", "a", NAT64_OK),
          doc(
            "Nat64Gateway",
            "b",
            `${NAT64_OK.replace("198.51.100.1-198.51.100.10", "198.51.100.20")}\ntunName: nat64b`,
          ),
          doc(
            "Nat64Gateway",
            "c",
            `${NAT64_OK.replace("198.51.100.1-198.51.100.10", "198.51.100.30").replace("64:ff9b::/96", "2001:db8:64::/96")}`,
          ),
        ),
      );
      assert.deepEqual(names(p, "localhost"), ["Nat64Gateway/a"]);
      assert.deepEqual(
        p.conflicts.map((c) => c.message),
        [
          "prefix 64:ff9b::/96 overlaps 64:ff9b::/96 of Nat64Gateway/a: packets could not be told apart",
          "TUN device nat64 is already used by Nat64Gateway/a",
        ],
      );
    });
  });

  it("reads nodes from kubectl output and from a short list, and rejects bad lists", () => {
    const kubectl = nodesFrom({
      apiVersion: "v1",
      kind: "NodeList",
      items: [{ metadata: { name: "k3s-1", labels: { a: "b" } } }],
    });
    assert.deepEqual(kubectl, { ok: true, nodes: [{ name: "k3s-1", labels: { a: "b" } }] });
    assert.deepEqual(nodesFrom({ nodes: [{ name: "x" }] }), { ok: true, nodes: [{ name: "x", labels: {} }] });
    assert.deepEqual(nodesFrom([{ name: "x" }, { name: "x" }]), {
      ok: false,
      error: "node x is listed twice",
    });
    assert.deepEqual(nodesFrom([{ labels: {} }]), { ok: false, error: "node 1 has no name" });
    assert.deepEqual(nodesFrom("nodes"), {
      ok: false,
      error: "expected a list of nodes: `kubectl get nodes -o yaml` output, or [{ name, labels }]",
    });
    assert.deepEqual(nodesFrom([{ name: "x", labels: { a: 1 } }]), {
      ok: false,
      error: "node x: labels must map names to text values",
    });
  });
});
