// The operator and agents against a real kube-apiserver and etcd (test/cluster): CRDs, RBAC with
// least privilege, the seed example, NodeConfigs, the agent DaemonSet, status with per-node
// conditions from real services in node namespaces, updates, Nodes joining and leaving, deletion,
// an API server killed with SIGKILL, and two operators sharing a leader Lease.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../src/api/gen.ts";
import { kindResource } from "../../src/api/resources.ts";
import { AGENT_ACCOUNT, OPERATOR_ACCOUNT, rbacObjects } from "../../src/operator/manifests/rbac.ts";
import { CORE, KubeClient, type KubeObject } from "../../src/operator/runtime/client.ts";
import type { Lease } from "../../src/operator/runtime/leader.ts";
import {
  type ControlPlane,
  controlPlaneAvailable,
  type NodeNamespace,
  serviceAccount,
  startControlPlane,
} from "../cluster/controlplane.ts";
import type { Daemon } from "../cluster/netns.ts";
import { applyAll, installCrds, yamlObjects } from "./support/apply.ts";

const skip = controlPlaneAvailable();
const NS = "v6mostly-system";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Status = {
  observedGeneration?: number;
  programmed?: string;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  nodes?: { name: string; ready: boolean; message: string; detail: Record<string, string> }[];
};
type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Status };

describe("operator and agents on a real API server", { skip }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  const nodes = new Map<string, NodeNamespace>();
  const agents = new Map<string, Daemon>();
  const operators: Daemon[] = [];
  const stateDir = mkdtempSync(join(tmpdir(), "v6m-op-"));

  async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
    const end = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        const v = await f();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > end) {
        const logs = [...operators, ...agents.values()].map((d) => `--- ${d.name}\n${d.tail(15)}`).join("\n");
        throw new Error(`timed out: ${what}${last ? ` (${(last as Error).message})` : ""}\n${logs}`);
      }
      await sleep(250);
    }
  }

  const get = (kind: string, name: string, ns = "lan") =>
    admin.find<Obj>(kindResource(kind as "Nat64Gateway"), ns, name);
  const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
  const nodeConfig = (n: string) =>
    admin.find<Obj & { spec: { assignments: { name: string; derived: { pool4?: string[] } }[] } }>(
      {
        group: "v6mostly.dev",
        version: "v1alpha1",
        plural: "nodeconfigs",
        kind: "NodeConfig",
        namespaced: true,
      },
      NS,
      n,
    );

  function startOperator(name: string, extra: string[] = []): Daemon {
    const ns = nodes.get(name)!;
    const d = cp.spawn(
      name,
      [
        process.execPath,
        "--import",
        "tsx",
        "src/cli/main.ts",
        "operator",
        "--namespace",
        NS,
        "--agent-image",
        "localhost/v6mostly:test",
        "--status-address",
        "off",
        "--lease-duration",
        "4",
        ...extra,
      ],
      {
        ns: ns.netns,
        cwd: repoRoot,
        env: {
          KUBECONFIG: cp.kubeconfigAs(serviceAccount(NS, OPERATOR_ACCOUNT), ns.netns),
          V6MOSTLY_LOG_LEVEL: "info",
        },
      },
    );
    operators.push(d);
    return d;
  }

  async function addNode(name: string): Promise<NodeNamespace> {
    const n = await cp.addNodeNamespace(name);
    nodes.set(name, n);
    await admin.create(CORE.nodes, {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "kubernetes.io/hostname": name } },
    });
    return n;
  }

  function startAgent(name: string): Daemon {
    const n = nodes.get(name)!;
    const d = cp.spawn(
      `agent-${name}`,
      [
        process.execPath,
        "--import",
        "tsx",
        "src/cli/main.ts",
        "agent",
        "--namespace",
        NS,
        "--node-name",
        name,
        "--state-dir",
        join(stateDir, name),
        "--status-address",
        "off",
      ],
      {
        ns: n.netns,
        cwd: repoRoot,
        env: { KUBECONFIG: cp.kubeconfigAs(serviceAccount(NS, AGENT_ACCOUNT), n.netns) },
      },
    );
    agents.set(name, d);
    return d;
  }

  before(async () => {
    cp = await startControlPlane({ name: "op" });
    admin = await KubeClient.load(cp.kubeconfig);
    await applyAll(admin, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "lan" } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "seed" } },
    ]);
    await applyAll(admin, rbacObjects(NS));
  });

  after(async () => {
    await cp?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("installs every CRD of crds/ on the API server", async () => {
    const names = await installCrds(admin);
    assert.deepEqual(
      names.sort(),
      readdirSync(join(repoRoot, "crds"))
        .map((f) => f.replace(/\.yaml$/, ""))
        .sort(),
    );
  });

  it("the operator, with only its own RBAC, writes NodeConfigs, the DaemonSet and status; agents run real services", async () => {
    for (const n of ["op-a", "node-a", "node-b"]) await addNode(n);
    // the operator runs in a namespace of its own (its Node object is labelled so that it gets no assignment)
    await admin.mergePatch(CORE.nodes, undefined, "op-a", { metadata: { labels: { role: "control" } } });
    const workers = { role: "worker" };
    for (const n of ["node-a", "node-b"])
      await admin.mergePatch(CORE.nodes, undefined, n, { metadata: { labels: workers } });
    await applyAll(
      admin,
      [
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Nat64Gateway",
          metadata: { name: "home" },
          spec: {
            prefix: "64:ff9b::/96",
            pool4: ["198.51.100.0/27"],
            allowedSources: ["2001:db8:1::/64"],
            tunName: "nat64t",
            nodeSelector: workers,
          },
        },
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Dns64Resolver",
          metadata: { name: "dns" },
          spec: {
            listen: ["[::1]:5353"],
            nat64GatewayRef: { name: "home" },
            upstreams: ["[::1]:5354"],
            allowClients: ["::1/128"],
            nodeSelector: workers,
          },
        },
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Nat64Gateway",
          metadata: { name: "broken" },
          spec: {
            prefix: "64:ff9b:1::/96",
            pool4: ["203.0.113.0/28"],
            allowedSources: ["2001:db8:2::/64"],
            uplinkInterface: "nope0",
            tunName: "nat64b",
            nodeSelector: { "kubernetes.io/hostname": "node-b" },
          },
        },
      ],
      "lan",
    );
    startOperator("op-a");
    for (const n of ["node-a", "node-b"]) startAgent(n);
    await until(
      "NodeConfigs of node-a and node-b",
      async () => (await nodeConfig("node-a")) && nodeConfig("node-b"),
    );
    assert.equal(await nodeConfig("op-a"), undefined, "no NodeConfig where nothing runs");
    const ds = await until("the agent DaemonSet", () =>
      admin.find<Obj>(CORE.daemonsets, NS, "v6mostly-agent"),
    );
    const terms = (
      ds.spec as {
        template: {
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: unknown[] };
              };
            };
          };
        };
      }
    ).template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    assert.deepEqual(terms, [
      { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["node-b"] }] },
      { matchExpressions: [{ key: "role", operator: "In", values: ["worker"] }] },
    ]);
    const home = await until("Nat64Gateway/home Ready", async () => {
      const o = await get("Nat64Gateway", "home");
      return cond(o, "Ready")?.status === "True" && o;
    });
    assert.equal(home.status!.programmed, "2/2 nodes");
    assert.equal(home.status!.observedGeneration, 1);
    assert.deepEqual(
      home.status!.nodes!.map((n) => [n.name, n.ready]),
      [
        ["node-a", true],
        ["node-b", true],
      ],
    );
    // real services: the TUN device exists in each node's namespace
    for (const n of ["node-a", "node-b"])
      assert.match(cp.exec(nodes.get(n)!.netns, ["ip", "link", "show", "nat64t"]), /nat64t/);
    await until(
      "Dns64Resolver/dns Ready",
      async () => cond(await get("Dns64Resolver", "dns"), "Ready")?.status === "True",
    );
    const broken = await until("Nat64Gateway/broken NodeCapable=False", async () => {
      const c = cond(await get("Nat64Gateway", "broken"), "NodeCapable");
      return c?.status === "False" && c;
    });
    assert.equal(broken.reason, "NoSuchInterface");
    assert.match(broken.message, /^node-b: Nat64Gateway broken: uplink interface nope0 does not exist/);
    // what `kubectl get` shows
    const table = cp.kubectl(["get", "nat64gateways", "-n", "lan"]);
    assert.match(table, /^NAME\s+PREFIX\s+MODE\s+POOL4\s+READY\s+PROGRAMMED\s+AGE/m);
    // MODE is what the user wrote: left out, the default (stateful) applies and the column is empty
    assert.match(table, /^home\s+64:ff9b::\/96\s+\["198\.51\.100\.0\/27"\]\s+True\s+2\/2 nodes/m);
    assert.match(table, /^broken\s+.*False\s+0\/1 nodes: NoSuchInterface/m);
  });

  it("refuses nothing it cannot see: a resource stored invalid gets Ready=False Invalid with the field", async () => {
    await applyAll(
      admin,
      [
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Nat64Gateway",
          metadata: { name: "slash72" },
          spec: { prefix: "64:ff9b:2::/72", pool4: ["192.0.2.0/30"], allowedSources: ["2001:db8:3::/64"] },
        },
      ],
      "lan",
    );
    const ready = await until("Invalid", async () => {
      const c = cond(await get("Nat64Gateway", "slash72"), "Ready");
      return c?.reason === "Invalid" && c;
    });
    assert.match(ready.message, /^spec\.prefix: \/72 is not a NAT64 prefix length/);
    // the others keep reconciling
    assert.equal(cond(await get("Nat64Gateway", "home"), "Ready")?.status, "True");
    await admin.delete(kindResource("Nat64Gateway"), "lan", "slash72");
  });

  it("applies the seed example (devices included) and reports every resource", async () => {
    const dir = join(repoRoot, "examples/seed");
    const objects = readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .flatMap((f) => yamlObjects(join(dir, f)))
      // the seed's nodes are the lab's; here nothing matches its interfaces: keep it off the workers
      .map(
        (o): Record<string, unknown> => ({
          ...o,
          spec: {
            ...(o.spec as object),
            ...(o.kind === "ExternalDevice" ? {} : { nodeSelector: { role: "seed" } }),
          },
        }),
      );
    await applyAll(admin, objects, "seed");
    // the seed's devices name credentialsFile, which the operator refuses (a cluster uses Secrets)
    const expected = ["Unplaced", "DevicePending", "CredentialsUnavailable"];
    for (const o of objects) {
      const name = (o.metadata as { name: string }).name;
      // applied one by one, a resource may be judged before what it names exists (Invalid for a
      // moment): wait for the status the whole example settles on; the last one seen is reported
      await until(`${o.kind}/${name} Ready with reason ${expected.join(" or ")}`, async () => {
        const ready = cond(await get(String(o.kind), name, "seed"), "Ready");
        if (ready && !expected.includes(ready.reason)) throw new Error(JSON.stringify(ready));
        return ready;
      });
    }
  });

  it("re-plans an update; the agents apply it; observedGeneration follows", async () => {
    await admin.mergePatch(kindResource("Nat64Gateway"), "lan", "home", {
      spec: { pool4: ["198.51.100.0/26"] },
    });
    const o = await until("generation 2 Ready", async () => {
      const x = await get("Nat64Gateway", "home");
      return x?.status?.observedGeneration === 2 && cond(x, "Ready")?.status === "True" && x;
    });
    const shares = o.status!.nodes!.map((n) => n.detail.pool4Share);
    assert.deepEqual(
      shares.map((s) => Number(s!.split("/")[1])),
      [64, 64],
    );
  });

  it("a Node joining takes only its own share of pool4; leaving gives it back", async () => {
    const share = async (n: string) =>
      (await nodeConfig(n))!.spec.assignments.find((x) => x.name === "home")!.derived.pool4!.join(",");
    const before = { a: await share("node-a"), b: await share("node-b") };
    await addNode("node-c");
    await admin.mergePatch(CORE.nodes, undefined, "node-c", { metadata: { labels: { role: "worker" } } });
    startAgent("node-c");
    await until("node-c runs its share", async () => {
      const o = await get("Nat64Gateway", "home");
      return o?.status?.programmed === "3/3 nodes";
    });
    const expand = (t: string) =>
      new Set(
        t.split(",").flatMap((r) => {
          const [f, l = f] = r.split("-").map((x) => Number(x.split(".")[3]));
          return Array.from({ length: l! - f! + 1 }, (_, i) => f! + i);
        }),
      );
    const c = expand(await share("node-c"));
    for (const [n, had] of [
      ["node-a", before.a],
      ["node-b", before.b],
    ] as const) {
      const now = expand(await share(n));
      for (const x of now) assert.ok(expand(had).has(x), `${n} gained .${x}`);
      for (const x of expand(had))
        assert.ok(now.has(x) || c.has(x), `.${x} left ${n} for another node than c`);
    }
    await agents.get("node-c")!.stop();
    await admin.delete(CORE.nodes, undefined, "node-c");
    await until(
      "shares back",
      async () => (await share("node-a")) === before.a && (await share("node-b")) === before.b,
    );
    await until("node-c's NodeConfig removed", async () => (await nodeConfig("node-c")) === undefined);
  });

  it("survives kill -9 of the API server: the operator resyncs and converges", async () => {
    await cp.restartApiServer({ kill: "SIGKILL" });
    await applyAll(
      admin,
      [
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Dns64Resolver",
          metadata: { name: "after-restart" },
          spec: {
            listen: ["[::1]:5363"],
            prefix: "64:ff9b::/96",
            upstreams: ["[::1]:5354"],
            allowClients: ["::1/128"],
            nodeSelector: { "kubernetes.io/hostname": "node-a" },
          },
        },
      ],
      "lan",
    );
    await until(
      "the new resource runs",
      async () => cond(await get("Dns64Resolver", "after-restart"), "Ready")?.status === "True",
    );
    assert.ok(operators[0]!.running, "the operator did not crash");
  });

  it("deleting a resource stops its service on the nodes and cleans its NodeConfig entries", async () => {
    await admin.delete(kindResource("Nat64Gateway"), "lan", "broken");
    await admin.delete(kindResource("Dns64Resolver"), "lan", "after-restart");
    await until("gone from node-b's NodeConfig", async () =>
      (await nodeConfig("node-b"))!.spec.assignments.every((a) => a.name !== "broken"),
    );
    await admin.delete(kindResource("Dns64Resolver"), "lan", "dns");
    await admin.delete(kindResource("Nat64Gateway"), "lan", "home");
    await until(
      "no NodeConfig left",
      async () => !(await nodeConfig("node-a")) && !(await nodeConfig("node-b")),
    );
    await until("the TUN devices are gone", async () =>
      ["node-a", "node-b"].every(
        (n) => !cp.exec(nodes.get(n)!.netns, ["ip", "-o", "link"]).includes("nat64t"),
      ),
    );
  });

  it("two operators: one leads; when it dies the other takes over within the lease", async () => {
    await addNode("op-b");
    await admin.mergePatch(CORE.nodes, undefined, "op-b", { metadata: { labels: { role: "control" } } });
    startOperator("op-b");
    const holder = async () =>
      (await admin.find<Lease>(CORE.leases, NS, "v6mostly-operator"))?.spec.holderIdentity ?? undefined;
    const first = await until("a leader", holder);
    await sleep(3000);
    assert.equal(await holder(), first, "the leader keeps the lease while it lives");
    const leader = operators.find((d) => first.includes(String(d.pid)))!;
    assert.ok(leader, `holder ${first} is one of ours`);
    const killed = Date.now();
    await leader.stop("SIGKILL");
    const second = await until(
      "another leader",
      async () => {
        const h = await holder();
        return h && h !== first && h;
      },
      20_000,
    );
    const took = Date.now() - killed;
    // the bound itself (lease + one retry period) is checked against the fake API in runtime.test.ts;
    // here, on a shared machine, the figure is printed and only a stuck takeover fails
    console.log(`# leader takeover after SIGKILL: ${took} ms (lease 4 s, retry 0.53 s)`);
    assert.ok(took < 3 * 4000, `took over in ${took} ms (lease 4 s)`);
    // the new leader reconciles: a new resource gets a status
    await applyAll(
      admin,
      [
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Dns64Resolver",
          metadata: { name: "under-new-leader" },
          spec: {
            listen: ["[::1]:5373"],
            prefix: "64:ff9b::/96",
            upstreams: ["[::1]:5354"],
            allowClients: ["::1/128"],
            nodeSelector: { "kubernetes.io/hostname": "node-a" },
          },
        },
      ],
      "lan",
    );
    await until(
      "reconciled by the new leader",
      async () => cond(await get("Dns64Resolver", "under-new-leader"), "Ready")?.status === "True",
    );
    void second;
  });
});
