// The operator and agents against the in-process fake API, with services that only record what
// they were told: resources -> NodeConfigs, the agent DaemonSet, per-node reports -> status.
// The same scenarios run against a real kube-apiserver in test/operator/cluster.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Agent } from "../../src/agent/index.ts";
import { kindResource } from "../../src/api/resources.ts";
import { Operator } from "../../src/operator/index.ts";
import { CORE, type KubeObject } from "../../src/operator/runtime/client.ts";
import type { Nat64Assignment } from "../../src/planner/plan.ts";
import { ServiceError, type Starters } from "../../src/services/contract.ts";
import { createLogger } from "../../src/util/log.ts";
import { FakeApi } from "./support/fakeapi.ts";
import { until } from "./support/wait.ts";

const log = createLogger("test", { level: process.env.TEST_LOG ?? "silent" });
const NS = "v6mostly";

const node = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "kubernetes.io/hostname": name, ...labels } },
});

const resource = (kind: string, name: string, spec: unknown, namespace = "lan"): KubeObject => ({
  apiVersion: "v6mostly.dev/v1alpha1",
  kind,
  metadata: { name, namespace },
  spec,
});

const GATEWAY = {
  prefix: "64:ff9b::/96",
  pool4: ["198.51.100.0/27"],
  allowedSources: ["2001:db8:1::/64"],
  uplinkInterface: "eth0",
};

type Status = {
  observedGeneration?: number;
  programmed?: string;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  nodes?: { name: string; ready: boolean; message: string; detail: Record<string, string> }[];
};
const cond = (o: KubeObject | undefined, type: string) =>
  (o?.status as Status | undefined)?.conditions?.find((c) => c.type === type);

describe("operator and agents on a fake API", () => {
  let api: FakeApi;
  let operator: Operator;
  const agents: Agent[] = [];
  /** what each node's fake services were told */
  const started: string[] = [];

  const starters = (nodeName: string): Starters => ({
    Nat64Gateway: async (a: Nat64Assignment) => {
      started.push(`${nodeName} ${a.name} ${a.pool4.join(",")}`);
      return { stop: async () => undefined, stats: () => ({}), update: async () => undefined };
    },
    DhcpScope: async (a) => {
      if (nodeName === "b")
        throw new ServiceError("NoSuchInterface", `interface ${a.spec.interface} does not exist`);
      return { stop: async () => undefined, stats: () => ({}) };
    },
  });

  const get = (kind: string, name: string, namespace = "lan") =>
    api
      .objects(`v6mostly.dev/${kindResource(kind as "Nat64Gateway").plural}`)
      .find((o) => o.metadata.name === name && o.metadata.namespace === namespace) as KubeObject | undefined;
  const nodeConfig = (n: string) =>
    api.objects("v6mostly.dev/nodeconfigs").find((o) => o.metadata.name === n) as
      | (KubeObject & { spec: { assignments: { name: string; derived: { pool4?: string[] } }[] } })
      | undefined;

  before(async () => {
    api = await new FakeApi().start();
    const client = api.client();
    await client.create(CORE.nodes, node("a"));
    await client.create(CORE.nodes, node("b"));
    await client.create(kindResource("Nat64Gateway"), resource("Nat64Gateway", "home", GATEWAY));
    // stored with a /72 prefix, as if the webhook had been down
    await client.create(
      kindResource("Dns64Resolver"),
      resource("Dns64Resolver", "bad", {
        listen: ["192.0.2.1"],
        prefix: "64:ff9b::/72",
        upstreams: ["192.0.2.53"],
        allowClients: ["192.0.2.0/24"],
      }),
    );
    operator = new Operator({
      client,
      namespace: NS,
      log,
      agent: { image: "localhost/v6mostly:test" },
      leaderElection: false,
    });
    await operator.start();
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await operator.stop();
    await api.stop();
  });

  it("writes one NodeConfig per node with its pool4 share, the agent DaemonSet, and Invalid for a bad resource", async () => {
    await until("NodeConfigs for a and b", () => nodeConfig("a") && nodeConfig("b"));
    const shares = ["a", "b"].map(
      (n) => nodeConfig(n)!.spec.assignments.find((x) => x.name === "home")!.derived.pool4!,
    );
    assert.ok(
      shares.every((s) => s.length > 0),
      JSON.stringify(shares),
    );
    const ds = await until("the agent DaemonSet", () => api.objects("apps/daemonsets")[0]);
    const pod = (
      ds.spec as {
        template: {
          spec: { hostNetwork: boolean; containers: { image: string; securityContext: unknown }[] };
        };
      }
    ).template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.containers[0]!.image, "localhost/v6mostly:test");
    assert.deepEqual(pod.containers[0]!.securityContext, {
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"] },
    });
    const bad = await until("status of the invalid resource", () =>
      cond(get("Dns64Resolver", "bad"), "Ready"),
    );
    assert.equal(bad.status, "False");
    assert.equal(bad.reason, "Invalid");
    assert.match(bad.message, /^spec\.prefix: \/72 is not a NAT64 prefix length/);
    const gw = await until("gateway pending", () => cond(get("Nat64Gateway", "home"), "Programmed"));
    assert.equal(gw.status, "False");
    assert.equal((get("Nat64Gateway", "home")!.status as Status).programmed, "0/2 nodes");
  });

  it("reports Ready once every node's agent runs it, and NodeCapable=False with the agent's reason", async () => {
    for (const n of ["a", "b"]) {
      const agent = new Agent({
        client: api.client(),
        namespace: NS,
        nodeName: n,
        stateDir: "/nonexistent",
        log,
        starters: starters(n),
        version: "test",
        reportEveryMs: 100,
        retry: { initialMs: 50, maxMs: 200 },
      });
      agents.push(agent);
      await agent.start();
    }
    await until("gateway ready", () => cond(get("Nat64Gateway", "home"), "Ready")?.status === "True");
    const s = get("Nat64Gateway", "home")!.status as Status;
    assert.equal(s.programmed, "2/2 nodes");
    assert.equal(s.observedGeneration, 1);
    assert.deepEqual(
      s.nodes!.map((n) => [n.name, n.ready]),
      [
        ["a", true],
        ["b", true],
      ],
    );
    // a DHCP scope: served by one node (b here: the first node by name that matches is a; pin b)
    const client = api.client();
    await client.create(
      kindResource("DhcpScope"),
      resource("DhcpScope", "lan", {
        interface: "lan0",
        subnet: "192.0.2.0/24",
        ranges: ["192.0.2.100-192.0.2.199"],
        nodeSelector: { "kubernetes.io/hostname": "b" },
      }),
    );
    const capable = await until("NodeCapable false", () => {
      const c = cond(get("DhcpScope", "lan"), "NodeCapable");
      return c?.status === "False" ? c : undefined;
    });
    assert.equal(capable.reason, "NoSuchInterface");
    assert.match(capable.message, /^b: interface lan0 does not exist; retrying at/);
    const ready = cond(get("DhcpScope", "lan"), "Ready")!;
    assert.deepEqual([ready.status, ready.reason], ["False", "NoSuchInterface"]);
    assert.equal((get("DhcpScope", "lan")!.status as Status).programmed, "0/1 nodes: NoSuchInterface");
  });

  it("moves only the joining node's share of pool4 when a node joins, and back when it leaves", async () => {
    const addresses = (ranges: string[]) =>
      new Set(
        ranges.flatMap((r) => {
          const [first, last = first] = r.split("-").map((x) => Number(x!.split(".")[3]));
          return Array.from({ length: last! - first! + 1 }, (_, i) => first! + i);
        }),
      );
    const share = (n: string) =>
      nodeConfig(n)!.spec.assignments.find((x) => x.name === "home")!.derived.pool4!;
    const before = Object.fromEntries(["a", "b"].map((n) => [n, share(n)]));
    await api.client().create(CORE.nodes, node("c"));
    const c = await until("c's NodeConfig", () => nodeConfig("c"));
    const cShare = addresses(c.spec.assignments.find((x) => x.name === "home")!.derived.pool4!);
    assert.ok(cShare.size > 0);
    await until(
      "a and b re-planned",
      () => ["a", "b"].every((n) => share(n).join() !== before[n]!.join()) || undefined,
    );
    for (const n of ["a", "b"]) {
      const had = addresses(before[n]!);
      const now = addresses(share(n));
      // every address a node keeps is one it had: only what c took moved
      for (const x of now) assert.ok(had.has(x), `${n} gained .${x}`);
      for (const x of had) assert.ok(now.has(x) || cShare.has(x), `.${x} of ${n} went elsewhere than c`);
    }
    await api.client().delete(CORE.nodes, undefined, "c");
    await until("c's NodeConfig removed", () => !nodeConfig("c"));
    await until("shares back", () =>
      ["a", "b"].every((n) => JSON.stringify(share(n)) === JSON.stringify(before[n])),
    );
  });

  it("re-plans an update, the agents apply it, observedGeneration follows", async () => {
    const client = api.client();
    await client.mergePatch(kindResource("Nat64Gateway"), "lan", "home", {
      spec: { pool4: ["198.51.100.0/26"] },
    });
    await until("generation 2 observed and ready", () => {
      const s = get("Nat64Gateway", "home")?.status as Status | undefined;
      return s?.observedGeneration === 2 && cond(get("Nat64Gateway", "home"), "Ready")?.status === "True";
    }).catch((e) => {
      throw new Error(
        `${e.message}: ${JSON.stringify(get("Nat64Gateway", "home"))} ${JSON.stringify(nodeConfig("a"))}`,
      );
    });
    assert.ok(started.some((s) => s.startsWith("a home ") || s.startsWith("b home ")));
  });

  it("deleting a resource removes it from every NodeConfig", async () => {
    await api.client().delete(kindResource("Nat64Gateway"), "lan", "home");
    await until("no gateway in any NodeConfig", () =>
      ["a", "b"].every((n) => !nodeConfig(n)?.spec.assignments.some((x) => x.name === "home")),
    );
  });
});
