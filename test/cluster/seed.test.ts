// The seed's network through agent pods on a real node (issue 15), installed as a user installs
// it: the chart rendered by helm-render (test/helm: byte for byte what helm v3.17.2 prints) with
// the image set to the one imported into the node, applied to the API server; the operator's
// Deployment and the agent DaemonSet it creates Ready on a real kubelet; the lab's router being
// the node's namespace (its clients and "internet" attached by veths made inside it), the lab's
// resources applied as Kubernetes objects, and the lab's client matrix run against the agent's
// NAT64, DNS64, RA and DHCP: every cell as in the seed. Then a changed Nat64Gateway reaches the
// datapath, `helm upgrade` with a changed value rolls the agents, `helm uninstall` (the rendered
// objects deleted) removes everything but the CRDs and the user's resources, and after stop() the
// machine is as it was.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLIENTS, SERVERS } from "../../src/lab/addressing.ts";
import { type CheckReport, check } from "../../src/lab/check.ts";
import { renderMatrix } from "../../src/lab/matrix.ts";
import type { LabState } from "../../src/lab/state.ts";
import {
  down,
  examplesDir,
  INTERNET,
  missingCapability,
  ns,
  progressOn,
  up,
} from "../../src/lab/topology.ts";
import { helmRender, type RenderedDocument } from "../helm/render.ts";
import { type ControlPlane, startControlPlane } from "./controlplane.ts";
import { type BuiltImage, buildImage } from "./image.ts";
import { assertMachineAsBefore, type MachineState, machineBefore } from "./machine.ts";
import { Daemon, listNamespaces, run } from "./netns.ts";
import { applyManifests, nodeAvailable, startNode, type TestNode } from "./node.ts";
import { agentStatus, describeImage, type Obj, RELEASE_NS, Release } from "./release.ts";

const ROOT = join(import.meta.dirname, "..", "..");
/** the user's resources: `kubectl apply -f` without a namespace puts them here */
const USER_NS = "default";
const KINDS = ["nat64gateways", "dns64resolvers", "routeradverts", "dhcpscopes"] as const;
/** examples/lab (the seed's network in documentation ranges): the node runs these */
const LAB_FILES = ["nat64.yaml", "dns64.yaml", "ra.yaml", "dhcp.yaml"];
/** the changed pool4 (on the uplink's subnet, as the lab's own) */
const NEW_POOL4 = "198.51.100.101-198.51.100.150";
/** the IPv4-only web server through the NAT64 prefix (RFC 6052 §2.2, /96) */
const V4ONLY_VIA_NAT64 = `http://[fd00:ff9b::${SERVERS.v4only4}]/`;
/** a TCP echo server beside it (test/services/nat64/echo.py), for a connection that lives through a roll */
const ECHO = join(ROOT, "test", "services", "nat64", "echo.py");
const ECHO_PORT = "7000";

/** Why this cannot run here (printed as the skip reason): the node, helm-render (Go), the lab's peers. */
const skip = (() => {
  const helm = helmRender();
  return nodeAvailable() ?? ("skip" in helm ? helm.skip : undefined) ?? missingCapability();
})();

/** One progress line per lab step, as `v6mostly lab` prints them. */
const progress = progressOn(process.stdout);

describe("the seed's network through agent pods on a real node (chart, operator, agents)", { skip }, () => {
  let image: BuiltImage;
  let cp: ControlPlane;
  let node: TestNode;
  let rel: Release;
  let lab: LabState | undefined;
  let before0: MachineState;
  let installed: RenderedDocument[] = [];
  const labDir = mkdtempSync(join(tmpdir(), "v6m-seed-lab-"));
  /** processes a test started in the lab's namespaces (ended by after() if a test failed) */
  const daemons: Daemon[] = [];

  const identity = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? RELEASE_NS}/${o.metadata.name}`;
  const kept = (o: Obj) => o.metadata.annotations?.["helm.sh/resource-policy"] === "keep";

  /**
   * Delete objects as Helm does when a release drops them (upgrade) or is uninstalled: in reverse
   * order, except those annotated `helm.sh/resource-policy: keep`; kubectl's output.
   */
  function deleteObjects(objects: Obj[]): string {
    const gone = objects.filter((o) => !kept(o)).reverse();
    if (gone.length === 0) return "";
    return cp.kubectl([
      "delete",
      "-n",
      RELEASE_NS,
      "--ignore-not-found",
      "--wait=false",
      ...gone.map((o) => `${o.kind}/${o.metadata.name}`),
    ]);
  }

  const objectsOf = (docs: RenderedDocument[]) =>
    docs.map((d) => d.object as Obj | null).filter((o): o is Obj => o !== null);

  /** A connection from the IPv6-only client through the NAT64: the source the server saw, or undefined. */
  function throughNat64(): string | undefined {
    try {
      const out = run(ns(lab!, "c3"), ["curl", "-s", "-m", "1", V4ONLY_VIA_NAT64]);
      return (JSON.parse(out) as { from: string }).from;
    } catch {
      return undefined;
    }
  }

  /** The user's resources (the lab's four), each Ready with `programmed` as given. */
  function userResources(programmed: string): Obj[] | undefined {
    const items = rel.kubectlJson(["get", KINDS.join(","), "-n", USER_NS]).items;
    if (items.length !== KINDS.length) return undefined;
    const ok = items.every((o) => {
      const s = o.status as
        | {
            programmed?: string;
            conditions?: { type: string; status: string }[];
            observedGeneration?: number;
          }
        | undefined;
      return (
        s?.programmed === programmed &&
        s.observedGeneration === o.metadata.generation &&
        s.conditions?.some((c) => c.type === "Ready" && c.status === "True")
      );
    });
    return ok ? items : undefined;
  }

  before(async () => {
    before0 = machineBefore();
    image = buildImage();
    console.log(describeImage(image));
    cp = await startControlPlane({ name: "seed" });
    rel = new Release(cp, image, () => (node ? [node] : []));
    node = await startNode(cp, { name: "router", images: [image.archive] });
    console.log(`# node ${node.name} Ready in ${node.timings.readyMs} ms`);
  });

  after(async () => {
    for (const d of daemons) await d.stop("SIGTERM", 2000);
    // idempotent: the last test does all of it and checks it; this is for a failure before it
    if (lab) await down(lab.dir, progress, { keepFiles: true }).catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await cp?.stop();
    rmSync(labDir, { recursive: true, force: true });
  });

  it("installs the chart (rendered, applied): the operator Deployment and every agent Ready", async () => {
    const r = await rel.render();
    installed = r.documents;
    cp.kubectl(["create", "namespace", RELEASE_NS]); // helm install --create-namespace
    const t0 = performance.now();
    rel.applyRendered(r.manifest);
    await rel.until("the operator Deployment rolled out", 180_000, () => rel.operatorReady());
    const ds = await rel.until("the agent DaemonSet Ready", 180_000, () => rel.agentsReady());
    const ms = Math.round(performance.now() - t0);
    console.log(`# chart applied → every agent Ready: ${ms} ms`);
    // the operator made it, from the chart's agent configuration and image
    assert.equal(
      (ds.metadata as { ownerReferences?: { kind: string; name: string }[] }).ownerReferences?.[0]?.name,
      "v6mostly-operator",
    );
    const pods = rel.readyPods();
    assert.equal(pods.length, 1);
    assert.equal((pods[0]!.spec as { nodeName: string }).nodeName, node.name);
    assert.equal((pods[0]!.spec as { containers: { image: string }[] }).containers[0]!.image, image.ref);
  });

  it("runs the seed's network through the agent pods: the lab's client matrix, every cell as in the seed", async () => {
    const resources = LAB_FILES.map((f) => readFileSync(join(examplesDir(), f), "utf8")).join("\n---\n");
    lab = await up(labDir, progress, {
      router: {
        netns: node.netns,
        start: (p) =>
          p.step(
            "router: the node's agent runs examples/lab (NAT64, DNS64, RA, DHCP) from the API",
            async () => {
              // The lab made br0 and wan inside the node: the names examples/lab uses.
              applyManifests(cp, resources);
              const t0 = performance.now();
              const items = await rel.until("the lab's resources Ready, Programmed 1/1 nodes", 120_000, () =>
                userResources("1/1 nodes"),
              );
              p.note(
                `${items.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}: Ready, 1/1 nodes in ${Math.round(performance.now() - t0)} ms`,
              );
              await rel.until("the agent's /readyz", 60_000, () =>
                agentStatus<{ ready: boolean }>(node, "readyz")?.ready ? true : undefined,
              );
            },
          ),
      },
    });
    // check reads the router's log for errors: the agent pod's
    const pod = rel.readyPods()[0]!;
    writeFileSync(join(lab.dir, "router.log"), cp.kubectl(["logs", "-n", RELEASE_NS, pod.metadata.name]));
    const report: CheckReport = await check(lab, progress);
    const matrix = renderMatrix(report.cells, report.findings);
    console.log(matrix.replace(/^/gm, "# "));
    assert.equal(report.cells.length, CLIENTS.length * 2 * 4);
    assert.ok(report.ok, `the matrix differs from the seed's:\n${matrix}\n${rel.diagnostics()}`);
  });

  it("runs a changed Nat64Gateway: the new pool4 in the agent's table and in traffic", async () => {
    const from = throughNat64();
    assert.ok(from?.startsWith("198.51.100.2"), `a connection through the NAT64 before the change: ${from}`);
    const t0 = performance.now();
    cp.kubectl([
      "patch",
      "nat64gateway",
      "lab",
      "-n",
      USER_NS,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { pool4: [NEW_POOL4] } }),
    ]);
    let tableMs = 0;
    const tableHasIt = () => {
      const t = agentStatus<Record<string, { pool4?: string[] }>>(node, "translations");
      if (!tableMs && t && Object.values(t).some((x) => x.pool4?.includes(NEW_POOL4)))
        tableMs = Math.round(performance.now() - t0);
    };
    const source = await rel.until("a connection through the NAT64 from the new pool4", 60_000, () => {
      tableHasIt();
      const f = throughNat64();
      tableHasIt();
      return f && /^198\.51\.100\.1([0-4]\d|50)$/.test(f) ? f : undefined;
    });
    const ms = Math.round(performance.now() - t0);
    console.log(
      `# changed Nat64Gateway → datapath running it: ${ms} ms (first connection from ${source}; ` +
        `pool4 in the agent's /translations at ${tableMs} ms)`,
    );
    assert.ok(tableMs > 0, "the new pool4 in the agent's /translations");
    await rel.until("the changed Nat64Gateway Programmed 1/1 nodes", 60_000, () =>
      userResources("1/1 nodes"),
    );
  });

  /** The echo client's JSON lines so far (echo.py: one per echo, then an error or a summary). */
  const echoes = (d: Daemon): Record<string, unknown>[] =>
    readFileSync(d.log, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it("helm upgrade with a changed value rolls the agents, which translate again; an established TCP connection lives through it", async () => {
    const old = rel.readyPods()[0]!;
    // A long-lived connection from the IPv6-only client to an IPv4-only echo server, a line every
    // ~200 ms through the roll: the new agent's NAT64 takes the old one's sessions over (the
    // session handover in the node's state directory, docs/nat64.md).
    const server = new Daemon(
      "echo server",
      ns(lab!, INTERNET),
      ["python3", ECHO, "server", SERVERS.v4only4, ECHO_PORT],
      join(labDir, "echo-server.log"),
    );
    daemons.push(server);
    await rel.until("the echo server listening", 20_000, () =>
      run(ns(lab!, INTERNET), ["ss", "-Htln", `sport = :${ECHO_PORT}`]).includes(ECHO_PORT)
        ? true
        : undefined,
    );
    const client = new Daemon(
      "echo client",
      ns(lab!, "c3"),
      ["python3", ECHO, "client", `fd00:ff9b::${SERVERS.v4only4}`, ECHO_PORT],
      join(labDir, "echo-client.log"),
    );
    daemons.push(client);
    await rel.until("5 lines echoed through the NAT64", 30_000, () =>
      echoes(client).length >= 5 ? true : undefined,
    );
    const r = await rel.render({ agent: { logLevel: "debug" } });
    const t0 = performance.now();
    rel.applyRendered(r.manifest);
    // what the release dropped: none with this value, but an upgrade prunes it as helm does
    const now = new Set(objectsOf(r.documents).map(identity));
    deleteObjects(objectsOf(installed).filter((o) => !now.has(identity(o))));
    installed = r.documents;
    // NAT64 availability during the roll: connections every ~200 ms, the longest gap between two
    let lastOk = performance.now();
    let gap = 0;
    const rolled = await rel.until("the agents rolled with the new value", 240_000, () => {
      if (throughNat64()) {
        gap = Math.max(gap, performance.now() - lastOk);
        lastOk = performance.now();
      }
      const ds = rel.agentsReady();
      const env = ds?.spec.template.spec.containers[0]?.env ?? [];
      if (env.find((e) => e.name === "V6MOSTLY_LOG_LEVEL")?.value !== "debug") return undefined;
      const pods = rel.readyPods();
      return pods.length === 1 && pods[0]!.metadata.uid !== old.metadata.uid ? pods[0] : undefined;
    });
    await rel.until("the operator Deployment rolled out", 120_000, () => rel.operatorReady());
    await rel.until("a connection through the NAT64 after the roll", 60_000, () => {
      const ok = throughNat64();
      if (ok) gap = Math.max(gap, performance.now() - lastOk);
      return ok;
    });
    const ms = Math.round(performance.now() - t0);
    console.log(
      `# helm upgrade → agents rolled and translating: ${ms} ms; NAT64 unreachable for at most ${Math.round(gap)} ms`,
    );
    assert.notEqual(rolled.metadata.name, old.metadata.name);
    // The same connection echoes through the new agent: 10 more lines once it translates.
    const seen = echoes(client).length;
    await rel.until("the connection opened before the upgrade to echo through the new agent", 90_000, () => {
      const lines = echoes(client);
      const failed = lines.find((l) => l.error);
      if (failed) assert.fail(`the connection through the NAT64 died in the roll: ${JSON.stringify(failed)}`);
      return lines.length >= seen + 10 ? true : undefined;
    });
    const counters = Object.values(
      agentStatus<Record<string, { counters: Record<string, number> }>>(node, "translations") ?? {},
    )[0]?.counters;
    await client.stop();
    await server.stop();
    const summary = echoes(client).at(-1)!;
    assert.equal(summary.done, true, JSON.stringify(summary));
    const peers = new Set(echoes(client).flatMap((l) => (l.peer ? [String(l.peer)] : [])));
    assert.equal(peers.size, 1, `one pool4 transport address all along: ${[...peers].join(", ")}`);
    console.log(
      `# an established TCP connection through the roll: ${summary.echoed} lines echoed, longest gap ` +
        `${summary.maxGapMs} ms; sessions handed over ${counters?.handoverCarried}, restored ${counters?.handoverRestored}`,
    );
    assert.ok(
      (counters?.handoverRestored ?? 0) >= 1,
      `the new agent restored the session: ${JSON.stringify(counters)}`,
    );
    await rel.until("the user's resources Ready again, 1/1 nodes", 60_000, () => userResources("1/1 nodes"));
  });

  it("helm uninstall removes everything but the CRDs (kept) and the user's resources", async () => {
    const objects = objectsOf(installed);
    const crds = objects.filter((o) => o.kind === "CustomResourceDefinition");
    assert.ok(crds.length >= 5 && crds.every(kept), "the chart's CRDs carry helm.sh/resource-policy: keep");
    const t0 = performance.now();
    deleteObjects(objects);
    await rel.until("every pod of the release gone", 120_000, () =>
      rel.kubectlJson(["get", "pods", "-n", RELEASE_NS]).items.length === 0 ? true : undefined,
    );
    console.log(`# helm uninstall → every pod gone: ${Math.round(performance.now() - t0)} ms`);
    // what the operator made goes with its Deployment (owner references; the garbage collector)
    await rel.until("the DaemonSet and the NodeConfigs gone", 60_000, () =>
      rel.kubectlJson(["get", "daemonsets,nodeconfigs", "-n", RELEASE_NS]).items.length === 0
        ? true
        : undefined,
    );
    // the agent withdrew what it set up on the node: no TUN device left
    assert.throws(() => node.exec(["ip", "link", "show", "nat64"]), /does not exist/);
    for (const o of objects.filter((x) => !kept(x))) {
      assert.throws(
        () => cp.kubectl(["get", o.kind, o.metadata.name, "-n", RELEASE_NS]),
        /NotFound|not found/,
        `${identity(o)} is gone`,
      );
    }
    // kept: the CRDs, and with them the user's resources
    for (const c of crds) cp.kubectl(["get", "crd", c.metadata.name]);
    assert.equal(rel.kubectlJson(["get", KINDS.join(","), "-n", USER_NS]).items.length, KINDS.length);
    // Nothing of ours left in the namespace: the runtime state the operator and the agents wrote
    // (the Leases: leader, heartbeats, owned assignments; the DHCP lease store of each scope) is
    // owned by the operator's Deployment or the agent DaemonSet, so the garbage collector removes it.
    const leftOver = () =>
      rel
        .kubectlJson([
          "get",
          "configmaps,secrets,serviceaccounts,roles,rolebindings,leases",
          "-n",
          RELEASE_NS,
        ])
        .items.map((o) => `${o.kind}/${o.metadata.name}`)
        .filter(
          (n) =>
            !/^(ConfigMap\/kube-root-ca\.crt|ServiceAccount\/default|Secret\/default-token-\w+)$/.test(n),
        );
    console.log(`# left in ${RELEASE_NS} as the pods are gone: ${leftOver().join(", ") || "nothing"}`);
    const t1 = performance.now();
    await rel.until("nothing of ours left in the release's namespace (the garbage collector)", 60_000, () =>
      leftOver().length === 0 ? true : undefined,
    );
    console.log(`# … and nothing ${Math.round(performance.now() - t1)} ms later`);
  });

  it("leaves nothing behind: the lab's namespaces, the node, the control plane; the machine as it was", async () => {
    assert.ok(lab, "the lab was built");
    await down(lab.dir, progress);
    lab = undefined;
    await node.stop();
    await cp.stop();
    assert.deepEqual(
      listNamespaces().filter((n) => n.startsWith(cp.netns) || n.startsWith(`v6m-lab-${process.pid}-`)),
      [],
    );
    assertMachineAsBefore(before0);
  });
});
