// A real Kubernetes node for tests: containerd 1.6 (runc, the CNI bridge) and kubelet 1.20.2 joined
// to a control plane from controlplane.ts, with kube-scheduler and kube-controller-manager, so that
// pods from the project's image really run (hostNetwork, capabilities, /dev/net/tun, in-cluster
// config). Everything the node runs lives in namespaces and cgroups the node makes and removes:
//
//   network   the control plane's node namespace v6m-k8s-CP-PID-NAME (addNodeNamespace): hostNetwork
//             pods live there and never see the machine's interfaces, routes or firewall
//   mount     a private mount namespace held by a `pause` process: tmpfs on /run and /var/lib, the
//             node's directory bound on /var/log, and every mount kubelet and containerd make (pod
//             volumes, overlay root filesystems, sandbox shm) stay in it and vanish with it
//   cgroups   /v6m-k8s-CP-PID-NAME in every hierarchy: kubelet's cgroupRoot, and the daemons' pids
//             cgroup: stop() ends every process found there, by PID
//
//   control-plane namespace                         node namespace
//   lo 10.96.0.1 (kube-apiserver :443)              k8s0 fd00:6b8::N, 198.18.0.N/24
//   br0 fd00:6b8::1/64, 198.18.0.1/24 ───veth───▶    route 10.96.0.1/32 via 198.18.0.1
//                                                   kubelet :10250, containerd, hostNetwork pods
//
// Pods reach the API at 10.96.0.1:443 (KUBERNETES_SERVICE_HOST, which kubelet injects; no
// kube-proxy) through that route. See test/cluster/README.md ("The node").
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  binDir,
  type ControlPlane,
  controlPlaneAvailable,
  type NodeNamespace,
  SERVICE_IP,
} from "./controlplane.ts";
import { imageUnavailable, pauseArchive } from "./image.ts";
import { Daemon, ip, run } from "./netns.ts";
import { cgroupsUnavailable, NodeCgroups } from "./node-cgroups.ts";
import {
  CNI_BIN_DIR,
  cniConflist,
  containerdConfig,
  kubeletArgs,
  kubeletConfig,
  type NodePaths,
  nodePaths,
} from "./node-config.ts";
import { holdKernelSettings, releaseKernelSettings } from "./node-kernel.ts";

/** The cluster's IPv4 network on the control plane's bridge: .1 is the control plane, .N node N. */
const CLUSTER_V4 = "198.18.0";
/** Pod subnets (198.19.N.0/24 on node N), routed by the control plane to the node. */
const POD_V4 = "198.19";
const READY_TIMEOUT_MS = 120_000;

/** Why a node cannot run here, or undefined when it can. */
export function nodeAvailable(): string | undefined {
  const why = controlPlaneAvailable() ?? cgroupsUnavailable() ?? imageUnavailable();
  if (why !== undefined) return why;
  for (const cmd of ["containerd", "ctr", "runc", "unshare", "findmnt"]) {
    if (spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status !== 0)
      return `${cmd} is not installed (run test/cluster/build-k8s.sh)`;
  }
  for (const bin of ["kubelet", "kube-scheduler", "pause"]
    .map((b) => join(binDir(), b))
    .concat(join(CNI_BIN_DIR, "bridge"))) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `${bin} is absent (run test/cluster/build-k8s.sh)`;
    }
  }
  return undefined;
}

export interface NodeOptions {
  /** the node's name, [a-z0-9-], 1-20 characters; also the node namespace's suffix */
  name: string;
  /** OCI archives imported into containerd's k8s.io namespace before kubelet starts (with the pause image) */
  images: string[];
  /** how long to wait for Node Ready (default 120 s) */
  readyTimeoutMs?: number;
}

const schedulers = new WeakMap<ControlPlane, Daemon>();

/** kube-scheduler in the control plane's namespace, once per control plane (DaemonSet pods need it in 1.20). */
function ensureScheduler(cp: ControlPlane): void {
  if (schedulers.get(cp)?.running) return;
  const kubeconfig = cp.kubeconfigAs({ user: "system:kube-scheduler" }, cp.netns);
  schedulers.set(
    cp,
    cp.spawn("kube-scheduler", [
      join(binDir(), "kube-scheduler"),
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--port=0",
      "--bind-address=127.0.0.1",
      "--profiling=false",
    ]),
  );
}

export class TestNode {
  /** the node's name (the Node object's and kubelet's --hostname-override) */
  readonly name: string;
  /** the network namespace every daemon and hostNetwork pod of the node lives in */
  readonly netns: string;
  /** InternalIP: kubelet serves here, hostNetwork pods have it as their pod IP */
  readonly nodeIP: string;
  /** the CNI bridge's subnet: pods that are not hostNetwork */
  readonly podSubnet: string;
  /** the node namespace's address on the control plane's bridge */
  readonly address6: string;
  readonly paths: NodePaths;
  readonly cgroups: NodeCgroups;
  /** kubelet's command line and the files it and containerd read (kept for the README and reports) */
  readonly kubeletArgs: string[];
  readonly files: { containerd: string; kubelet: string; cni: string };
  /** ms: image import; startNode's call to Node Ready (the import included); stop() */
  readonly timings = { importMs: 0, readyMs: 0, stopMs: 0 };

  private holder?: Daemon;
  private containerd?: Daemon;
  private kubelet?: Daemon;
  private stopped = false;
  private readonly kernelHolder: string;
  private readonly exitHook = () => this.killNow();
  private readonly signalHook = (signal: NodeJS.Signals) => process.exit(signal === "SIGINT" ? 130 : 143);

  constructor(
    private readonly cp: ControlPlane,
    ns: NodeNamespace,
    private readonly opts: NodeOptions,
  ) {
    this.name = opts.name;
    this.netns = ns.netns;
    this.address6 = ns.address;
    const n = Number.parseInt(ns.address.split(":").at(-1)!, 16);
    this.nodeIP = `${CLUSTER_V4}.${n}`;
    this.podSubnet = `${POD_V4}.${n}.0/24`;
    this.paths = nodePaths(mkdtempSync(join(tmpdir(), `v6m-node-${opts.name}-`)));
    this.cgroups = new NodeCgroups(ns.netns);
    this.kernelHolder = `${process.pid}:${ns.netns}`;
    process.on("exit", this.exitHook);
    process.once("SIGINT", this.signalHook).once("SIGTERM", this.signalHook);
    const p = this.paths;
    const serving = cp.pki.server(`kubelet-${opts.name}`, { dns: [opts.name], ip: [this.nodeIP] });
    const kubelet = {
      name: opts.name,
      nodeIP: this.nodeIP,
      kubeconfig: cp.kubeconfigAs({ user: `system:node:${opts.name}`, groups: ["system:nodes"] }, ns.netns),
      caCert: cp.pki.caCert,
      servingCert: serving,
      cgroupRoot: this.cgroups.root,
    };
    this.files = {
      containerd: containerdConfig(p),
      kubelet: kubeletConfig(p, kubelet),
      cni: cniConflist(p, this.podSubnet),
    };
    this.kubeletArgs = kubeletArgs(p, kubelet);
  }

  async start(): Promise<void> {
    const p = this.paths;
    for (const d of [p.cniConfDir, p.cniDataDir, p.kubeletRoot, p.varLog, p.runcRoot, p.containerdDir]) {
      mkdirSync(d, { recursive: true });
    }
    writeFileSync(p.containerdConfig, this.files.containerd);
    writeFileSync(p.kubeletConfig, this.files.kubelet);
    writeFileSync(join(p.cniConfDir, "10-v6mostly-test.conflist"), this.files.cni);
    this.addClusterIPv4();
    this.cgroups.create();

    // The mount namespace, held by pause; its mounts made before anything else joins it.
    this.holder = this.daemon(
      "mntns",
      ["unshare", "--mount", "--propagation", "private", "--", join(binDir(), "pause")],
      false,
    );
    const mnt = `/proc/${this.holder.pid}/ns/mnt`;
    for (let i = 0; readlinkSync(mnt) === readlinkSync("/proc/self/ns/mnt"); i++) {
      if (i > 200 || !this.holder.running)
        throw new Error(`node ${this.name}: no mount namespace:\n${this.holder.tail()}`);
      await sleep(10);
    }
    for (const argv of [
      ["mount", "-t", "tmpfs", "-o", "mode=0755", "v6m-node-run", "/run"],
      ["mount", "-t", "tmpfs", "-o", "mode=0755", "v6m-node-var-lib", "/var/lib"],
      ["mount", "--bind", p.varLog, "/var/log"],
      // containerd's root and state in memory: the unpacked images vanish with the namespace
      // instead of being deleted file by file (~6 s of a stop on this machine's disk)
      ["mount", "-t", "tmpfs", "-o", "mode=0700", "v6m-node-containerd", p.containerdDir],
    ]) {
      run(undefined, ["nsenter", `--mount=${mnt}`, "--", ...argv]);
    }

    holdKernelSettings(this.kernelHolder);
    this.containerd = this.daemon("containerd", ["containerd", `--config=${p.containerdConfig}`]);
    await this.until("containerd answers", 30_000, () => this.tryCtr(["version"]), [this.containerd]);

    const t1 = performance.now();
    for (const archive of [pauseArchive(), ...this.opts.images]) {
      this.ctr(["images", "import", archive]);
    }
    this.timings.importMs = Math.round(performance.now() - t1);

    ensureScheduler(this.cp);
    await this.cp.startControllerManager();
    this.kubelet = this.daemon("kubelet", [join(binDir(), "kubelet"), ...this.kubeletArgs]);
    await this.until(
      "Node Ready",
      this.opts.readyTimeoutMs ?? READY_TIMEOUT_MS,
      async () => (await this.readyCondition()) === "True",
      [this.containerd, this.kubelet],
    );
  }

  /** The Node's Ready condition status ("True", "False", "Unknown"), or undefined when not registered. */
  async readyCondition(): Promise<string | undefined> {
    const r = await this.cp.get(`/api/v1/nodes/${this.name}`);
    if (r.status !== 200) return undefined;
    const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
    return node.status?.conditions?.find((c) => c.type === "Ready")?.status;
  }

  /** `ctr` against this node's containerd, in its k8s.io namespace (the CRI's); stdout. */
  ctr(args: string[]): string {
    return run(undefined, ["ctr", `--address=${this.paths.containerdSocket}`, "--namespace=k8s.io", ...args]);
  }

  /**
   * A veth pair made inside the node's namespace, `local` kept here and its peer moved straight
   * into namespace `peerNs` as `peerName` (it never appears in the machine's namespace); both up.
   * How a lab's clients reach hostNetwork pods: `peerNs` is a client namespace the test made.
   */
  link(local: string, peerNs: string, peerName: string): void {
    ip(this.netns, ["link", "add", local, "type", "veth", "peer", "name", peerName, "netns", peerNs]);
    ip(this.netns, ["link", "set", local, "up"]);
    ip(peerNs, ["link", "set", peerName, "up"]);
  }

  /** Run a command to its end in the node's network namespace (the machine's mounts); stdout. */
  exec(argv: string[]): string {
    return run(this.netns, argv);
  }

  /** The last lines of containerd's and kubelet's logs. */
  logTails(lines = 30): string {
    return [this.containerd, this.kubelet]
      .filter((d): d is Daemon => d !== undefined)
      .map((d) => `--- ${d.name} (${d.running ? "running" : "ended"}), ${d.log}:\n${d.tail(lines)}`)
      .join("\n");
  }

  /**
   * kubelet, then containerd (SIGTERM), then every process left in the node's cgroups (SIGKILL, by
   * PID: shims, containers, the mount namespace's holder); the cgroups, the directory; kubelet's
   * kernel settings written back when no other node runs. The network namespace is the control
   * plane's: its stop() removes it.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const t0 = performance.now();
    const problems: string[] = [];
    await this.kubelet?.stop("SIGTERM", 10_000);
    await this.containerd?.stop("SIGTERM", 10_000);
    await this.cgroups.killAll().catch((e: Error) => problems.push(e.message));
    await this.holder?.exited;
    let left = this.cgroups.remove();
    for (let i = 0; left.length > 0 && i < 50; i++) {
      await sleep(100); // a killed process leaves its cgroup a moment after it is gone
      left = this.cgroups.remove();
    }
    if (left.length > 0) problems.push(`cgroups not removed: ${left.join(" ")}`);
    releaseKernelSettings(this.kernelHolder);
    const mounts = this.mountsUnder();
    if (mounts.length > 0) problems.push(`mounts left under ${this.paths.dir}: ${mounts.join(" ")}`);
    else rmSync(this.paths.dir, { recursive: true, force: true });
    this.unhook();
    this.timings.stopMs = Math.round(performance.now() - t0);
    if (problems.length > 0) throw new Error(`node ${this.name}: ${problems.join("; ")}`);
  }

  /** Mount points below the node's directory, as the machine's mount namespace sees them. */
  mountsUnder(): string[] {
    return run(undefined, ["findmnt", "-rn", "-o", "TARGET"])
      .split("\n")
      .filter((t) => t.startsWith(`${this.paths.dir}/`));
  }

  /** 198.18.0.1/24 on the control plane's bridge (once), 198.18.0.N/24 here, the route to 10.96.0.1. */
  private addClusterIPv4(): void {
    const gw = `${CLUSTER_V4}.1`;
    if (!ip(this.cp.netns, ["-4", "addr", "show", "dev", "br0"]).includes(`${gw}/24`)) {
      ip(this.cp.netns, ["addr", "add", `${gw}/24`, "dev", "br0"]);
    }
    ip(this.netns, ["addr", "add", `${this.nodeIP}/24`, "dev", "k8s0"]);
    ip(this.netns, ["route", "add", `${SERVICE_IP}/32`, "via", gw, "dev", "k8s0"]);
    // answers to pods on the node's pod network (the bridge plugin forwards in the node namespace)
    ip(this.cp.netns, ["route", "add", this.podSubnet, "via", this.nodeIP, "dev", "br0"]);
  }

  private tryCtr(args: string[]): boolean {
    try {
      this.ctr(args);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A daemon of this node: started in the node's pids cgroup (sh writes its own PID there, then
   * execs), in the node's network namespace and (unless `inMountNs` is false: the holder that makes
   * it) its mount namespace.
   */
  private daemon(name: string, argv: string[], inMountNs = true): Daemon {
    const enter = ["nsenter", `--net=/run/netns/${this.netns}`];
    if (inMountNs) enter.push(`--mount=/proc/${this.holder!.pid}/ns/mnt`);
    const inCgroup = ["sh", "-c", `echo $$ > ${this.cgroups.daemonCgroup()}/cgroup.procs && exec "$@"`, "sh"];
    return new Daemon(
      name,
      undefined,
      [...inCgroup, ...enter, "--", ...argv],
      join(this.paths.dir, `${name}.log`),
    );
  }

  private async until(
    what: string,
    timeoutMs: number,
    ok: () => boolean | Promise<boolean>,
    daemons: Daemon[],
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      const dead = daemons.find((d) => !d.running);
      if (dead || Date.now() > deadline) {
        const why = dead ? `${dead.name} ended` : `not within ${timeoutMs} ms`;
        throw new Error(`node ${this.name}: ${what}: ${why}\n${this.logTails()}`);
      }
      await sleep(200);
    }
  }

  /** Synchronous last resort when the test process ends without stop(). */
  private killNow(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of [this.kubelet, this.containerd, this.holder]) d?.killNow();
    this.cgroups.killNow();
    try {
      releaseKernelSettings(this.kernelHolder);
    } catch {}
    if (this.mountsUnder().length === 0) rmSync(this.paths.dir, { recursive: true, force: true });
    this.unhook();
  }

  private unhook(): void {
    process.off("exit", this.exitHook).off("SIGINT", this.signalHook).off("SIGTERM", this.signalHook);
  }
}

let applied = 0;

/**
 * `kubectl apply` as admin, from the control plane's namespace, of YAML or JSON text (several
 * documents allowed: a chart's rendered output as it is) or of objects; kubectl's output. `args`
 * adds flags, e.g. ["--server-side"] or ["--dry-run=server"].
 */
export function applyManifests(cp: ControlPlane, manifests: string | unknown[], args: string[] = []): string {
  const file = join(cp.dir, `apply-${++applied}.${typeof manifests === "string" ? "yaml" : "json"}`);
  writeFileSync(
    file,
    typeof manifests === "string"
      ? manifests
      : JSON.stringify({ apiVersion: "v1", kind: "List", items: manifests }),
  );
  return cp.kubectl(["apply", "-f", file, ...args]);
}

/**
 * Add a node to control plane `cp`: a node namespace, containerd with `opts.images` imported,
 * kubelet; kube-scheduler and kube-controller-manager started if they are not. Resolves at Node
 * Ready; on failure everything it made is removed and the error carries the logs' tails.
 */
export async function startNode(cp: ControlPlane, opts: NodeOptions): Promise<TestNode> {
  const why = nodeAvailable();
  if (why !== undefined) throw new Error(`no node: ${why}`);
  const t0 = performance.now();
  const node = new TestNode(cp, await cp.addNodeNamespace(opts.name), opts);
  try {
    await node.start();
  } catch (e) {
    await node.stop().catch(() => {});
    throw e;
  }
  node.timings.readyMs = Math.round(performance.now() - t0);
  return node;
}
