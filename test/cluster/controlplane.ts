// A real Kubernetes control plane for tests: etcd and kube-apiserver 1.20.2 (built and cached by
// test/cluster/build-k8s.sh), inside network namespaces this module creates and removes.
//
//   machine's namespace (the test process)         control-plane namespace v6m-k8s-NAME-PID
//   127.0.0.1:ephemeral relay ── DIR/api.sock ──▶  relay ─▶ 10.96.0.1:443 kube-apiserver ─▶ etcd 127.0.0.1:2379
//                                                  br0 fd00:6b8::1/64
//                                                   ├─ n1 ══ k8s0 fd00:6b8::2  node namespace v6m-k8s-NAME-PID-NODE
//                                                   └─ n2 ══ k8s0 fd00:6b8::3  …
//
// Nothing listens on or sends through the machine's own interfaces: the only listener in the
// machine's namespace is the relay on 127.0.0.1. See test/cluster/README.md.
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeKubeconfig } from "./kubeconfig.ts";
import { addNamespace, childEnv, Daemon, deleteNamespace, ip, run } from "./netns.ts";
import { type Identity, Pki } from "./pki.ts";
import { type Relay, startRelay } from "./relay.ts";

export { type Identity, serviceAccount } from "./pki.ts";

export const K8S_VERSION = "1.20.2";
/** The Service address kubelet gives pods (KUBERNETES_SERVICE_HOST): on the control plane's `lo`. */
export const SERVICE_IP = "10.96.0.1";
/** The control plane's address on the bridge the node namespaces hang off. */
export const BRIDGE_ADDRESS = "fd00:6b8::1";
const BRIDGE_PREFIX_LEN = 64;
const ETCD = "http://127.0.0.1:2379";
const READY_TIMEOUT_MS = 90_000;

/** Where build-k8s.sh installs the binaries. */
export function binDir(): string {
  return join(process.env.V6MOSTLY_CACHE ?? "/var/cache/v6mostly", "k8s", K8S_VERSION, "bin");
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why a control plane cannot start here, or undefined when it can. */
export function controlPlaneAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const cmd of ["etcd", "openssl", "nsenter", "ip"]) {
    if (!onPath(cmd)) return `${cmd} is not installed (run test/cluster/build-k8s.sh)`;
  }
  for (const bin of ["kube-apiserver", "kube-controller-manager", "kubectl"]) {
    try {
      accessSync(join(binDir(), bin), constants.X_OK);
    } catch {
      return `${join(binDir(), bin)} is absent (run test/cluster/build-k8s.sh)`;
    }
  }
  return undefined;
}

export interface ControlPlaneOptions {
  /** short, [a-z0-9-]; unique among the control planes of one test process */
  name: string;
  /** how long to wait for /readyz (default 90 s) */
  readyTimeoutMs?: number;
}

/** A namespace that plays one node: reaches the API server over the control plane's bridge. */
export interface NodeNamespace {
  /** the name given to addNodeNamespace (use it as NODE_NAME) */
  node: string;
  /** the network namespace's name (`nsenter --net=/run/netns/NETNS`) */
  netns: string;
  /** its address on the bridge (the apiserver reaches a webhook it serves here) */
  address: string;
  /** an admin kubeconfig that works from inside it */
  kubeconfig: string;
}

export class ControlPlane {
  /** the control plane's network namespace */
  readonly netns: string;
  /** this control plane's temporary directory: PKI, etcd data, kubeconfigs, logs */
  readonly dir: string;
  readonly pki: Pki;
  /** the admin kubeconfig (system:masters) for this (the test's) process */
  kubeconfig = "";
  /** the API server's URL from this process (through the relay) */
  server = "";
  /** the flags kube-apiserver runs with */
  readonly apiServerArgs: string[];
  /** ms from startControlPlane (PKI included) to ready, and of the last restartApiServer */
  readonly timings = { startMs: 0, restartMs: 0 };

  private etcd?: Daemon;
  private apiServer?: Daemon;
  private controllerManager?: Daemon;
  private readonly relays: Relay[] = [];
  private readonly spawned: Daemon[] = [];
  private readonly nodes: NodeNamespace[] = [];
  private readonly kubeconfigs = new Map<string, string>();
  private readonly admin: { cert: string; key: string };
  private readonly saKeys: { key: string; pub: string };
  private readonly exitHook = () => this.killNow();
  // The exit hook runs on process.exit; a signal would otherwise end the process without it.
  private readonly signalHook = (signal: NodeJS.Signals) => process.exit(signal === "SIGINT" ? 130 : 143);
  private tls?: { ca: string; cert: string; key: string };
  private stopped = false;

  constructor(private readonly opts: ControlPlaneOptions) {
    if (!/^[a-z0-9-]{1,20}$/.test(opts.name))
      throw new Error(`control plane name ${opts.name}: use 1-20 of [a-z0-9-]`);
    this.netns = `v6m-k8s-${opts.name}-${process.pid}`;
    this.dir = mkdtempSync(join(tmpdir(), `v6m-k8s-${opts.name}-`));
    process.on("exit", this.exitHook);
    process.once("SIGINT", this.signalHook).once("SIGTERM", this.signalHook);
    try {
      this.pki = new Pki(join(this.dir, "pki"));
      const serving = this.pki.server("apiserver", {
        dns: [
          "kubernetes",
          "kubernetes.default",
          "kubernetes.default.svc",
          "kubernetes.default.svc.cluster.local",
          "localhost",
        ],
        ip: ["127.0.0.1", "::1", SERVICE_IP, BRIDGE_ADDRESS],
      });
      this.admin = this.pki.client("admin", { user: "v6mostly-test-admin", groups: ["system:masters"] });
      const kubeletClient = this.pki.client("apiserver-kubelet-client", {
        user: "kube-apiserver-kubelet-client",
        groups: ["system:masters"],
      });
      this.saKeys = this.pki.serviceAccountKeys();
      this.apiServerArgs = [
        `--etcd-servers=${ETCD}`,
        "--bind-address=::",
        "--secure-port=443",
        `--advertise-address=${SERVICE_IP}`,
        "--service-cluster-ip-range=10.96.0.0/12",
        `--cert-dir=${join(this.dir, "apiserver")}`,
        `--tls-cert-file=${serving.cert}`,
        `--tls-private-key-file=${serving.key}`,
        `--client-ca-file=${this.pki.caCert}`,
        `--kubelet-client-certificate=${kubeletClient.cert}`,
        `--kubelet-client-key=${kubeletClient.key}`,
        // a node's name does not resolve (no cluster DNS): reach kubelets (logs, exec) by address
        "--kubelet-preferred-address-types=InternalIP",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${this.saKeys.pub}`,
        `--service-account-signing-key-file=${this.saKeys.key}`,
        "--authorization-mode=Node,RBAC",
        // 1.20's default admission plugins (MutatingAdmissionWebhook and ValidatingAdmissionWebhook
        // among them) stay on; NodeRestriction added, as kubeadm does.
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--profiling=false",
      ];
    } catch (e) {
      this.killNow(); // nothing runs yet: removes the directory and the hooks
      throw e;
    }
  }

  /** Namespaces, etcd, kube-apiserver, the relays; resolves once /readyz answers ok. */
  async start(): Promise<void> {
    addNamespace(this.netns);
    ip(this.netns, ["addr", "add", `${SERVICE_IP}/32`, "dev", "lo"]);
    // A fixed MAC: a bridge otherwise takes the lowest of its ports' MACs, which changes as node
    // namespaces join, and their neighbour entries for the control plane would go stale.
    ip(this.netns, ["link", "add", "br0", "address", "02:00:00:6b:08:01", "type", "bridge"]);
    ip(this.netns, ["addr", "add", `${BRIDGE_ADDRESS}/${BRIDGE_PREFIX_LEN}`, "dev", "br0", "nodad"]);
    ip(this.netns, ["link", "set", "br0", "up"]);

    this.etcd = this.daemon("etcd", this.netns, [
      "etcd",
      "--name=v6mostly",
      `--data-dir=${join(this.dir, "etcd")}`,
      `--listen-client-urls=${ETCD}`,
      `--advertise-client-urls=${ETCD}`,
      "--listen-peer-urls=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=v6mostly=http://127.0.0.1:2380",
      "--logger=zap",
      "--log-outputs=stderr",
    ]);
    this.startApiServer();
    const inside = await startRelay(
      "relay-ns",
      this.netns,
      join(this.dir, "api.sock"),
      `${SERVICE_IP}:443`,
      this.dir,
    );
    this.relays.push(inside);
    this.relays.push(await startRelay("relay-local", undefined, "127.0.0.1:0", inside.address, this.dir));
    this.server = `https://${this.relays[1]!.address}`;
    this.kubeconfig = this.writeKubeconfig("admin", this.server, this.admin, "v6mostly-test-admin");
    await this.waitReady(this.opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
  }

  /** The API server's URL from inside namespace `ns` (from this process if undefined). */
  serverFor(ns?: string): string {
    if (ns === undefined) return this.server;
    if (ns === this.netns) return `https://${SERVICE_IP}:443`;
    if (this.nodes.some((n) => n.netns === ns)) return `https://[${BRIDGE_ADDRESS}]:443`;
    throw new Error(`${ns} is not a namespace of control plane ${this.netns}`);
  }

  /** An admin (system:masters) kubeconfig that works from inside namespace `ns`. */
  kubeconfigFor(ns: string): string {
    return this.kubeconfigAs({ user: "v6mostly-test-admin", groups: ["system:masters"] }, ns);
  }

  /**
   * A kubeconfig for `identity` (a client certificate: CN = user, O = groups) that works from
   * namespace `from` (this process if undefined). With serviceAccount(ns, name) it authenticates as
   * that ServiceAccount: RBAC bindings to the ServiceAccount apply to it.
   */
  kubeconfigAs(identity: Identity, from?: string): string {
    const server = this.serverFor(from);
    const key = JSON.stringify([identity.user, identity.groups ?? [], server]);
    let path = this.kubeconfigs.get(key);
    if (path === undefined) {
      const n = this.kubeconfigs.size + 1;
      const pair =
        identity.user === "v6mostly-test-admin" ? this.admin : this.pki.client(`user${n}`, identity);
      path = this.writeKubeconfig(`kubeconfig-${n}`, server, pair, identity.user);
      this.kubeconfigs.set(key, path);
    }
    return path;
  }

  /** A namespace for node `node`, joined to the control plane's bridge by a veth pair. */
  async addNodeNamespace(node: string): Promise<NodeNamespace> {
    if (!/^[a-z0-9-]{1,20}$/.test(node)) throw new Error(`node name ${node}: use 1-20 of [a-z0-9-]`);
    const i = this.nodes.length + 1;
    if (i > 250) throw new Error("at most 250 node namespaces");
    const netns = `${this.netns}-${node}`;
    const address = `fd00:6b8::${(i + 1).toString(16)}`;
    addNamespace(netns);
    const entry: NodeNamespace = { node, netns, address, kubeconfig: "" };
    this.nodes.push(entry);
    // Created inside the control-plane namespace, its peer moved straight into the node's: the
    // pair never appears in the machine's namespace.
    ip(this.netns, ["link", "add", `n${i}`, "type", "veth", "peer", "name", "k8s0", "netns", netns]);
    ip(this.netns, ["link", "set", `n${i}`, "master", "br0", "up"]);
    ip(netns, ["addr", "add", `${address}/${BRIDGE_PREFIX_LEN}`, "dev", "k8s0", "nodad"]);
    ip(netns, ["link", "set", "k8s0", "up"]);
    entry.kubeconfig = this.kubeconfigFor(netns);
    return entry;
  }

  /**
   * Start a process inside namespace `ns` (the control plane's by default), its output in
   * DIR/NAME.log; stop() ends it (SIGTERM, then SIGKILL), or end it earlier with its stop().
   */
  spawn(
    name: string,
    argv: string[],
    opts: { ns?: string; env?: Record<string, string>; cwd?: string } = {},
  ): Daemon {
    const d = this.daemon(name, opts.ns ?? this.netns, argv, opts.env, opts.cwd);
    this.spawned.push(d);
    return d;
  }

  /** Run a command to its end inside namespace `ns`; its stdout. */
  exec(ns: string, argv: string[]): string {
    return run(ns, argv);
  }

  /** kubectl with the admin kubeconfig, run inside the control-plane namespace; its stdout. */
  kubectl(args: string[]): string {
    return run(this.netns, [
      join(binDir(), "kubectl"),
      `--kubeconfig=${this.kubeconfigFor(this.netns)}`,
      ...args,
    ]);
  }

  /** End kube-apiserver with `kill` and start it again on the same etcd data; resolves when ready. */
  async restartApiServer(opts: { kill?: NodeJS.Signals; readyTimeoutMs?: number } = {}): Promise<void> {
    const t0 = performance.now();
    await this.apiServer?.stop(opts.kill ?? "SIGTERM");
    this.startApiServer();
    await this.waitReady(opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
    this.timings.restartMs = Math.round(performance.now() - t0);
  }

  /**
   * kube-controller-manager (owner-reference garbage collection, DaemonSet and Deployment pods,
   * ServiceAccount tokens), each controller under its own ServiceAccount as kubeadm runs it; it
   * serves no port. Resolves once the ServiceAccount controller has made default/default.
   */
  async startControllerManager(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.controllerManager?.running) return;
    const kubeconfig = this.kubeconfigAs({ user: "system:kube-controller-manager" }, this.netns);
    this.controllerManager = this.daemon("kube-controller-manager", this.netns, [
      join(binDir(), "kube-controller-manager"),
      `--kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${this.saKeys.key}`,
      `--root-ca-file=${this.pki.caCert}`,
      `--cluster-signing-cert-file=${this.pki.caCert}`,
      `--cluster-signing-key-file=${this.pki.caKey}`,
      "--port=0",
      "--secure-port=0",
      "--profiling=false",
    ]);
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    while ((await this.get("/api/v1/namespaces/default/serviceaccounts/default")).status !== 200) {
      if (!this.controllerManager.running || Date.now() > deadline) {
        throw new Error(
          `kube-controller-manager did not make default/default:\n${this.controllerManager.tail()}`,
        );
      }
      await sleep(200);
    }
  }

  /** End every process (by PID), remove the namespaces and the temporary directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const daemons = [
      ...this.spawned.slice().reverse(),
      this.controllerManager,
      this.apiServer,
      ...this.relays.map((r) => r.daemon),
    ];
    await Promise.all(daemons.map((d) => d?.stop("SIGTERM", 5_000)));
    await this.etcd?.stop("SIGTERM", 5_000);
    const left = [...this.nodes.map((n) => n.netns), this.netns].filter((ns) => !deleteNamespace(ns));
    rmSync(this.dir, { recursive: true, force: true });
    this.unhook();
    if (left.length > 0) throw new Error(`could not remove network namespaces ${left.join(", ")}`);
  }

  /** kube-apiserver's PID (it changes with restartApiServer). */
  get apiServerPid(): number | undefined {
    return this.apiServer?.pid;
  }

  /** The PIDs of every process this control plane started that is still running. */
  pids(): number[] {
    return this.daemons()
      .filter((d) => d.running)
      .map((d) => d.pid);
  }

  /** The last lines of the etcd and kube-apiserver logs. */
  logTails(lines = 30): string {
    return [this.etcd, this.apiServer, this.controllerManager]
      .filter((d): d is Daemon => d !== undefined)
      .map((d) => `--- ${d.name} (${d.running ? "running" : "ended"}), ${d.log}:\n${d.tail(lines)}`)
      .join("\n");
  }

  /** GET `path` from the API server as admin, from this process. */
  get(path: string): Promise<{ status: number; body: string }> {
    this.tls ??= {
      ca: this.pki.pem(this.pki.caCert),
      cert: this.pki.pem(this.admin.cert),
      key: this.pki.pem(this.admin.key),
    };
    const tls = this.tls;
    return new Promise((resolve) => {
      const req = request(new URL(path, this.server), { ...tls, timeout: 5_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", (e) => resolve({ status: 0, body: e.message }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve({ status: 0, body: e.message }));
      req.end();
    });
  }

  private daemons(): Daemon[] {
    return [
      ...this.spawned,
      this.controllerManager,
      this.apiServer,
      this.etcd,
      ...this.relays.map((r) => r.daemon),
    ].filter((d): d is Daemon => d !== undefined);
  }

  private startApiServer(): void {
    this.apiServer = this.daemon("kube-apiserver", this.netns, [
      join(binDir(), "kube-apiserver"),
      ...this.apiServerArgs,
    ]);
  }

  /** /readyz ok and the default namespace made (objects in it can be created from then on). */
  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = { status: 0, body: "" };
    for (const path of ["/readyz", "/api/v1/namespaces/default"]) {
      for (;;) {
        last = await this.get(path);
        if (last.status === 200) break;
        const dead = [this.etcd, this.apiServer].find((d) => d !== undefined && !d.running);
        if (dead || Date.now() > deadline) {
          const why = dead ? `${dead.name} ended` : `no answer within ${timeoutMs} ms`;
          throw new Error(
            `control plane ${this.netns}: ${why}; last ${path}: ${last.status} ${last.body.slice(0, 500)}\n${this.logTails()}`,
          );
        }
        await sleep(100);
      }
    }
  }

  private daemon(
    name: string,
    ns: string,
    argv: string[],
    env?: Record<string, string>,
    cwd?: string,
  ): Daemon {
    return new Daemon(name, ns, argv, join(this.dir, `${name}.log`), childEnv(env), cwd);
  }

  private writeKubeconfig(
    file: string,
    server: string,
    pair: { cert: string; key: string },
    user: string,
  ): string {
    return writeKubeconfig(join(this.dir, file), {
      server,
      caCert: this.pki.caCert,
      cert: pair.cert,
      key: pair.key,
      user,
    });
  }

  /** Synchronous last resort when the test process ends without stop(): kill, remove, delete. */
  private killNow(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of [
      ...this.spawned,
      this.controllerManager,
      this.apiServer,
      this.etcd,
      ...this.relays.map((r) => r.daemon),
    ]) {
      d?.killNow();
    }
    for (const ns of [...this.nodes.map((n) => n.netns), this.netns]) deleteNamespace(ns);
    rmSync(this.dir, { recursive: true, force: true });
    this.unhook();
  }

  private unhook(): void {
    process.off("exit", this.exitHook).off("SIGINT", this.signalHook).off("SIGTERM", this.signalHook);
  }
}

/** Start a control plane; on failure everything it made is removed and the error has the logs. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const why = controlPlaneAvailable();
  if (why !== undefined) throw new Error(`no control plane: ${why}`);
  const t0 = performance.now();
  const cp = new ControlPlane(opts);
  try {
    await cp.start();
  } catch (e) {
    await cp.stop().catch(() => {});
    throw e;
  }
  cp.timings.startMs = Math.round(performance.now() - t0);
  return cp;
}
