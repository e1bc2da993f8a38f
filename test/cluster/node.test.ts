// A real node against itself: the project's image (built offline with buildah) imported into
// containerd, kubelet 1.20.2 Ready, and DaemonSet pods of the image on the node: `v6mostly
// --version`, a TUN device made with NET_ADMIN only that appears in the node's namespace and not
// the machine's, loadFromCluster() with the ServiceAccount token kubelet mounts (from hostNetwork
// and from the pod network), a client namespace on a veth made inside the node answered by a
// hostNetwork pod, what a non-root container gets of the capabilities it asks for; and after
// stop(), the machine as it was: interfaces, addresses, routes, rules, forwarding, kubelet's
// kernel settings and default paths, no process, mount, cgroup or namespace left.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type ControlPlane, startControlPlane } from "./controlplane.ts";
import { type BuiltImage, buildImage } from "./image.ts";
import { machineState } from "./machine.ts";
import { addNamespace, deleteNamespace, ip, listNamespaces, run } from "./netns.ts";
import { applyManifests, nodeAvailable, startNode, type TestNode } from "./node.ts";
import { hierarchies } from "./node-cgroups.ts";

const ROOT = join(import.meta.dirname, "..", "..");
/** the link between the node and the test's client namespace (a ULA) */
const LAN = { node: "fd00:6b8:1::1", client: "fd00:6b8:1::2" };
const NS = "v6m-node-test";
const skip = nodeAvailable();

/** CAP_NET_ADMIN's bit in /proc/PID/status (linux/capability.h) */
const NET_ADMIN = 1n << 12n;

// The probe every pod runs (ES module, from the image's /app): what the process may do, a TUN
// device through the project's own openTun, and the API through in-cluster config; one JSON object
// per line on stdout, then it stays up so the TUN device stays.
const ECHO_PORT = 40007;
const PROBE = `
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import * as k8s from "@kubernetes/client-node";
import { openTun } from "/app/dist/datapath/tun/tun.js";
const say = (o) => console.log(JSON.stringify(o));
const status = readFileSync("/proc/self/status", "utf8");
const cap = (set) => new RegExp("^Cap" + set + ":\\\\s*(\\\\S+)$", "m").exec(status)[1];
say({ uid: process.getuid(), capEff: cap("Eff"), capPrm: cap("Prm"), capBnd: cap("Bnd") });
if (process.env.TUN_NAME) {
  try {
    openTun(process.env.TUN_NAME);
    say({ tun: "created" });
  } catch (e) {
    say({ tun: e.message });
  }
}
const kc = new k8s.KubeConfig();
kc.loadFromCluster();
const api = kc.makeApiClient(k8s.CoreV1Api);
const namespace = process.env.POD_NAMESPACE;
try {
  const pod = await api.readNamespacedPod({ name: process.env.POD_NAME, namespace });
  say({ server: kc.getCurrentCluster().server, podUid: pod.metadata.uid });
} catch (e) {
  say({ server: kc.getCurrentCluster()?.server, api: String(e.code ?? e.message) });
}
try {
  await api.listNamespacedSecret({ namespace });
  say({ secrets: 200 });
} catch (e) {
  say({ secrets: e.code ?? e.message });
}
say({ interfaces: Object.keys(networkInterfaces()) });
// a UDP echo on every address (clients on the node's links reach the pod), or just stay up
const echo = createSocket("udp6").on("message", (m, from) => echo.send(m, from.port, from.address));
if (process.env.ECHO_PORT) echo.bind(Number(process.env.ECHO_PORT));
setInterval(() => {}, 1 << 30);
`;

/** A DaemonSet of the probe; `tun` names the TUN device it makes (with /dev/net/tun mounted). */
function probeDaemonSet(
  image: string,
  name: string,
  o: { tun?: string; echo?: boolean; hostNetwork: boolean; securityContext: Record<string, unknown> },
): Record<string, unknown> {
  const labels = { app: name };
  const tun =
    o.tun === undefined ? [] : [{ name: "tun", hostPath: { path: "/dev/net/tun", type: "CharDevice" } }];
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          hostNetwork: o.hostNetwork,
          serviceAccountName: "prober",
          terminationGracePeriodSeconds: 0,
          initContainers: [
            // the image's entrypoint as it is: node /app/bin/v6mostly.js
            { name: "version", image, imagePullPolicy: "Never", args: ["--version"] },
          ],
          containers: [
            {
              name: "probe",
              image,
              imagePullPolicy: "Never",
              command: ["node", "--input-type=module", "-e", PROBE],
              env: [
                ...(o.tun === undefined ? [] : [{ name: "TUN_NAME", value: o.tun }]),
                ...(o.echo ? [{ name: "ECHO_PORT", value: String(ECHO_PORT) }] : []),
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
                ...o.securityContext,
              },
              volumeMounts: tun.map((v) => ({ name: v.name, mountPath: "/dev/net/tun" })),
            },
          ],
          volumes: tun,
        },
      },
    },
  };
}

const RBAC = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
  { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "prober", namespace: NS } },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "prober", namespace: NS },
    rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "prober", namespace: NS },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "prober" },
    subjects: [{ kind: "ServiceAccount", name: "prober", namespace: NS }],
  },
];

describe("a real node: containerd + kubelet 1.20.2 in the control plane's node namespace", { skip }, () => {
  let image: BuiltImage;
  let cp: ControlPlane;
  let node: TestNode;
  let before0: ReturnType<typeof machineState>;
  const client = `v6m-nodecl-${process.pid}`;

  /** The probe's lines (and the init container's) once the DaemonSet's pod on the node is running. */
  async function probe(
    ds: string,
  ): Promise<{ pod: { uid: string; name: string }; version: string; lines: Record<string, unknown>[] }> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pods = JSON.parse(cp.kubectl(["get", "pods", "-n", NS, "-l", `app=${ds}`, "-o", "json"])) as {
        items: {
          metadata: { name: string; uid: string };
          spec: { nodeName?: string };
          status: { phase?: string };
        }[];
      };
      const pod = pods.items.find((p) => p.status.phase === "Running");
      if (pod) {
        assert.equal(pod.spec.nodeName, node.name);
        const lines = cp
          .kubectl(["logs", "-n", NS, pod.metadata.name, "-c", "probe"])
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        if (lines.some((l) => "secrets" in l)) {
          const version = cp.kubectl(["logs", "-n", NS, pod.metadata.name, "-c", "version"]).trim();
          return { pod: { uid: pod.metadata.uid, name: pod.metadata.name }, version, lines };
        }
      }
      if (Date.now() > deadline) {
        assert.fail(
          `no probe output from DaemonSet ${ds}:\n${cp.kubectl(["describe", "pods", "-n", NS])}\n${node.logTails()}`,
        );
      }
      await sleep(500);
    }
  }
  const field = (lines: Record<string, unknown>[], key: string) => lines.find((l) => key in l)?.[key];

  before(async () => {
    before0 = machineState();
    image = buildImage();
    console.log(
      `# image ${image.ref}: ${(image.compressedBytes / 1e6).toFixed(1)} MB compressed, ` +
        `${(image.uncompressedBytes / 1e6).toFixed(1)} MB uncompressed; ` +
        (image.cached ? "cached" : `built in ${image.buildSeconds} s, exported in ${image.exportSeconds} s`),
    );
    cp = await startControlPlane({ name: "nodetest" });
    node = await startNode(cp, { name: "node-a", images: [image.archive] });
    console.log(
      `# node ${node.name} Ready in ${node.timings.readyMs} ms (image import ${node.timings.importMs} ms)`,
    );
    // a lab's client: a namespace of its own, attached to the node by a veth made inside the node
    addNamespace(client);
    node.link("lan0", client, "eth0");
    ip(node.netns, ["addr", "add", `${LAN.node}/64`, "dev", "lan0", "nodad"]);
    ip(client, ["addr", "add", `${LAN.client}/64`, "dev", "eth0", "nodad"]);
    // every probe at once: the pods start while the first test runs
    applyManifests(cp, [
      ...RBAC,
      probeDaemonSet(image.ref, "probe-root", {
        tun: "v6mprobe0",
        echo: true,
        hostNetwork: true,
        securityContext: { runAsUser: 0, runAsGroup: 0, capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] } },
      }),
      // the image's own user (65532)
      probeDaemonSet(image.ref, "probe-nonroot", {
        tun: "v6mprobe1",
        hostNetwork: true,
        securityContext: { capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] } },
      }),
      // as the operator's pod runs: on the pod network, non-root, no capability
      probeDaemonSet(image.ref, "probe-podnet", { hostNetwork: false, securityContext: {} }),
    ]);
  });

  after(async () => {
    await node?.stop();
    if (node) console.log(`# node ${node.name} stopped in ${node.timings.stopMs} ms`);
    await cp?.stop();
    deleteNamespace(client);
  });

  it("registers the node Ready, at the address the cluster's IPv4 network gives it", async () => {
    const n = JSON.parse(cp.kubectl(["get", "node", node.name, "-o", "json"])) as {
      status: {
        addresses: { type: string; address: string }[];
        nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
      };
    };
    assert.equal(await node.readyCondition(), "True");
    assert.deepEqual(n.status.addresses.find((a) => a.type === "InternalIP")?.address, node.nodeIP);
    assert.equal(n.status.nodeInfo.kubeletVersion, "v1.20.2");
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\.6\./);
    assert.match(
      node.ctr(["images", "ls", "-q"]),
      new RegExp(`^${image.ref.replace(/[.:/]/g, "\\$&")}$`, "m"),
    );
  });

  it("runs the image in a DaemonSet pod: --version, a TUN device with NET_ADMIN only, loadFromCluster()", async () => {
    const { pod, version, lines } = await probe("probe-root");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    assert.equal(version, pkg.version);
    assert.equal(field(lines, "uid"), 0);
    // exactly the capability asked for, effective
    assert.equal(BigInt(`0x${field(lines, "capEff")}`), NET_ADMIN);
    assert.equal(field(lines, "tun"), "created");
    // the device is in the node's namespace, not in the machine's
    assert.match(node.exec(["ip", "-o", "link", "show", "v6mprobe0"]), /v6mprobe0/);
    assert.throws(() => ip(undefined, ["link", "show", "v6mprobe0"]), /does not exist/);
    // in-cluster config: kubelet's KUBERNETES_SERVICE_HOST, the legacy token secret it mounts
    assert.equal(field(lines, "server"), "https://10.96.0.1:443");
    assert.equal(field(lines, "podUid"), pod.uid);
    // the token is the ServiceAccount's: its Role allows pods/get, not secrets
    assert.equal(field(lines, "secrets"), 403);
  });

  it("lets a client namespace attached to the node reach a hostNetwork pod, which sees the node's links only", async () => {
    const { lines } = await probe("probe-root");
    const seen = field(lines, "interfaces") as string[];
    assert.ok(seen.includes("lan0") && seen.includes("k8s0"), `the pod's interfaces: ${seen.join(" ")}`);
    const machine = (JSON.parse(ip(undefined, ["-j", "link", "show"])) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n !== "lo");
    assert.deepEqual(
      seen.filter((n) => machine.includes(n)),
      [],
    );
    // from the client's namespace to the pod, over the veth: a UDP echo
    const echoed = run(client, [
      process.execPath,
      "-e",
      `const s = require("node:dgram").createSocket("udp6");
       s.on("message", (m) => { console.log(String(m)); s.close(); });
       s.send("v6mostly", ${ECHO_PORT}, "${LAN.node}");
       setTimeout(() => process.exit(1), 5000).unref();`,
    ]).trim();
    assert.equal(echoed, "v6mostly");
  });

  it("gives a non-root container none of the capabilities it adds (why the agent runs as uid 0)", async () => {
    // The image's own user (65532); Kubernetes puts NET_ADMIN in the bounding set only.
    const { lines } = await probe("probe-nonroot");
    assert.equal(field(lines, "uid"), 65532);
    assert.equal(BigInt(`0x${field(lines, "capEff")}`), 0n);
    assert.equal(BigInt(`0x${field(lines, "capPrm")}`), 0n);
    assert.equal(BigInt(`0x${field(lines, "capBnd")}`) & NET_ADMIN, NET_ADMIN);
    // refused at open (the machine's /dev/net/tun is root's) or at TUNSETIFF (no CAP_NET_ADMIN)
    assert.match(String(field(lines, "tun")), /Permission denied|Operation not permitted/);
    assert.throws(() => node.exec(["ip", "link", "show", "v6mprobe1"]), /does not exist/);
  });

  it("reaches the API from the pod network too (a pod that is not hostNetwork, as the operator's)", async () => {
    const { pod, lines } = await probe("probe-podnet");
    const ip4 = JSON.parse(cp.kubectl(["get", "pod", "-n", NS, pod.name, "-o", "json"])).status
      .podIP as string;
    assert.match(ip4, /^198\.19\./);
    assert.equal(BigInt(`0x${field(lines, "capEff")}`), 0n);
    assert.equal(field(lines, "server"), "https://10.96.0.1:443");
    assert.equal(field(lines, "podUid"), pod.uid, JSON.stringify(lines));
  });

  it("leaves the machine's interfaces, routes and rules as they were while it runs", () => {
    const now = machineState();
    assert.deepEqual(
      { ...now, kernel: undefined, forwarding: undefined },
      { ...before0, kernel: undefined, forwarding: undefined },
    );
    assert.deepEqual(now.forwarding, before0.forwarding);
    // kubelet changed the machine-wide kernel settings (what stop() must undo)
    assert.equal(now.kernel["kernel/panic"], "10");
    assert.equal(now.kernel["vm/overcommit_memory"], "1");
  });

  it("stop() leaves nothing: processes, mounts, cgroups, namespaces; the machine as it was", async () => {
    const pids = node.cgroups.pids();
    assert.ok(pids.length >= 5, `the node's processes: ${pids.join(" ")}`); // pause, containerd, kubelet, shims, probes
    const { dir } = node.paths;
    await node.stop();
    for (const pid of pids)
      assert.ok(
        !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"),
        `PID ${pid} is still there`,
      );
    assert.deepEqual(node.mountsUnder(), []);
    assert.equal(existsSync(dir), false);
    for (const h of hierarchies())
      assert.equal(existsSync(join(h, node.cgroups.root)), false, `${h}${node.cgroups.root}`);
    await cp.stop();
    assert.deepEqual(
      listNamespaces().filter((n) => n.startsWith(cp.netns)),
      [],
    );
    assert.deepEqual(machineState(), before0);
  });
});
