/**
 * `npm run bench:operator`: the operator against a real kube-apiserver + etcd (test/cluster), at
 * two sizes (BENCH_SIZES, default "50x100,100x200": nodes x resources; Node objects need no
 * kubelet). For each size: a fresh control plane, the Nodes and resources created first, then the
 * operator started as a process with its own RBAC; measured from its start until every resource's
 * status says the generation it saw (observedGeneration) and every NodeConfig is written: the time,
 * the API requests it made (its /metrics), its peak resident memory; then 10 s of steady state
 * (requests while nothing changes). The ratio of the two sizes shows how it grows.
 */
import { readFileSync } from "node:fs";
import { repoRoot } from "../src/api/gen.ts";
import { kindResource } from "../src/api/resources.ts";
import { OPERATOR_ACCOUNT, rbacObjects } from "../src/operator/manifests/rbac.ts";
import { CORE, KubeClient, type KubeObject } from "../src/operator/runtime/client.ts";
import { controlPlaneAvailable, serviceAccount, startControlPlane } from "../test/cluster/controlplane.ts";
import { applyAll, installCrds } from "../test/operator/support/apply.ts";

const NS = "v6mostly-system";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  nodes: number;
  resources: number;
  convergeMs: number;
  requests: number;
  steadyRequests: number;
  rssMiB: number;
  nodeConfigs: number;
}

/** `n` resources over the nodes: gateways, resolvers, adverts and DHCP scopes, none in conflict. */
function resources(n: number, nodes: number): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < n; i++) {
    const zone = { zone: `z${i % Math.max(1, Math.floor(nodes / 2))}` };
    const meta = { name: `r${i}`, namespace: "bench" };
    // 198.18.0.0/15 in /24s: one per resource
    const net = `198.${18 + (i >> 8)}.${i & 255}`;
    switch (i % 4) {
      case 0:
        out.push({
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Nat64Gateway",
          metadata: meta,
          spec: {
            prefix: `2001:db8:${(i + 0x100).toString(16)}::/96`,
            pool4: [`${net}.0/26`],
            allowedSources: [`2001:db8:1:${i.toString(16)}::/64`],
            tunName: `n64-${i}`,
            nodeSelector: zone,
          },
        });
        break;
      case 1:
        out.push({
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Dns64Resolver",
          metadata: meta,
          spec: {
            listen: [`${net}.53`],
            prefix: "64:ff9b::/96",
            upstreams: ["192.0.2.53"],
            allowClients: [`${net}.0/24`],
            nodeSelector: zone,
          },
        });
        break;
      case 2:
        out.push({
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "RouterAdvert",
          metadata: meta,
          spec: {
            interface: `lan${i}`,
            prefixes: [{ prefix: `2001:db8:2:${i.toString(16)}::/64` }],
            nodeSelector: zone,
          },
        });
        break;
      default:
        out.push({
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "DhcpScope",
          metadata: meta,
          spec: {
            interface: `lan${i}`,
            subnet: `${net}.0/24`,
            ranges: [`${net}.100-${net}.199`],
            nodeSelector: { "kubernetes.io/hostname": `n${i % nodes}` },
          },
        });
    }
  }
  return out;
}

async function measure(nodes: number, count: number): Promise<Figures> {
  const cp = await startControlPlane({ name: `b${nodes}` });
  try {
    const admin = await KubeClient.load(cp.kubeconfig);
    await installCrds(admin);
    await applyAll(admin, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "bench" } },
    ]);
    await applyAll(admin, rbacObjects(NS));
    for (let i = 0; i < nodes; i++) {
      await admin.create(CORE.nodes, {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: `n${i}`,
          labels: { "kubernetes.io/hostname": `n${i}`, zone: `z${i % Math.max(1, Math.floor(nodes / 2))}` },
        },
      });
    }
    const objs = resources(count, nodes);
    for (const o of objs) await admin.create(kindResource(o.kind as "Nat64Gateway"), o);
    const op = await cp.addNodeNamespace("operator");
    const started = Date.now();
    const d = cp.spawn(
      "operator",
      [
        process.execPath,
        "--import",
        "tsx",
        "src/cli/main.ts",
        "operator",
        "--namespace",
        NS,
        "--agent-image",
        "localhost/v6mostly:bench",
        "--status-address",
        `[${op.address}]:8080`,
      ],
      {
        ns: op.netns,
        cwd: repoRoot,
        env: {
          KUBECONFIG: cp.kubeconfigAs(serviceAccount(NS, OPERATOR_ACCOUNT), op.netns),
          V6MOSTLY_LOG_LEVEL: "warn",
        },
      },
    );
    let rss = 0;
    const rssOf = () => {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, "utf8"));
        rss = Math.max(rss, m ? Number(m[1]) / 1024 : 0);
      } catch {
        // not started yet
      }
    };
    const requests = () => {
      const text = cp.exec(op.netns, [
        "curl",
        "-s",
        "--max-time",
        "2",
        `http://[${op.address}]:8080/metrics`,
      ]);
      let n = 0;
      for (const m of text.matchAll(/^v6mostly_operator_api_requests_total\{[^}]*\} (\d+)/gm))
        n += Number(m[1]);
      return n;
    };
    const converged = async () => {
      for (const kind of ["Nat64Gateway", "Dns64Resolver", "RouterAdvert", "DhcpScope"] as const) {
        const list = await admin.list<
          KubeObject & { status?: { observedGeneration?: number; programmed?: string } }
        >(kindResource(kind), "bench");
        if (
          list.items.some(
            (o) => o.status?.observedGeneration !== o.metadata.generation || !o.status?.programmed,
          )
        )
          return false;
      }
      return true;
    };
    for (;;) {
      rssOf();
      if (!d.running) throw new Error(`the operator exited:\n${d.tail()}`);
      if (await converged()) break;
      if (Date.now() - started > 600_000) throw new Error(`no convergence in 10 min:\n${d.tail()}`);
      await sleep(200);
    }
    const convergeMs = Date.now() - started;
    await sleep(1500);
    const atConverge = requests();
    for (let i = 0; i < 20; i++) {
      rssOf();
      await sleep(500);
    }
    const steady = requests() - atConverge;
    const ncs = await admin.list(
      {
        group: "v6mostly.dev",
        version: "v1alpha1",
        plural: "nodeconfigs",
        kind: "NodeConfig",
        namespaced: true,
      },
      NS,
    );
    await d.stop();
    return {
      nodes,
      resources: count,
      convergeMs,
      requests: atConverge,
      steadyRequests: steady,
      rssMiB: rss,
      nodeConfigs: ncs.items.length,
    };
  } finally {
    await cp.stop();
  }
}

const skip = controlPlaneAvailable();
if (skip) {
  console.log(`bench:operator skipped: ${skip}`);
  process.exit(0);
}
const sizes = (process.env.BENCH_SIZES ?? "50x100,100x200")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const results: Figures[] = [];
for (const [nodes, count] of sizes) {
  const f = await measure(nodes, count);
  results.push(f);
  console.log(
    `${String(f.nodes).padStart(4)} nodes ${String(f.resources).padStart(4)} resources: converged in ${(f.convergeMs / 1000).toFixed(1)} s, ${f.requests} API requests (${(f.requests / f.resources).toFixed(2)} per resource), ${f.nodeConfigs} NodeConfigs, ${f.steadyRequests} requests in 10 s of steady state, peak RSS ${f.rssMiB.toFixed(0)} MiB`,
  );
}
if (results.length === 2) {
  const [a, b] = results as [Figures, Figures];
  console.log(
    `ratio (size x${(b.resources / a.resources).toFixed(1)}): time x${(b.convergeMs / a.convergeMs).toFixed(2)}, requests x${(b.requests / a.requests).toFixed(2)}, memory x${(b.rssMiB / a.rssMiB).toFixed(2)}`,
  );
}
