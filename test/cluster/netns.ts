// Network namespaces and the long-running processes the cluster harness starts in them.
//
// Processes are started with `nsenter --net=/run/netns/NAME -- CMD`: nsenter execs CMD, so the PID
// we hold is the daemon's own, and every daemon keeps the machine's mount namespace. (`ip netns
// exec` gives each call a mount namespace of its own and remounts /sys without the cgroup
// hierarchies: kubelet cannot start under it. See ../../../shared/k8s/README.md.)
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

/** The argv that runs `argv` inside namespace `ns` (or in this process's namespace if undefined). */
export function nsenter(ns: string | undefined, argv: string[]): string[] {
  return ns === undefined ? argv : ["nsenter", `--net=/run/netns/${ns}`, "--", ...argv];
}

/** `ip ARGS`, inside `ns` (`ip -n`) when given; its stdout, or an error with its stderr. */
export function ip(ns: string | undefined, args: string[]): string {
  return run(undefined, ["ip", ...(ns === undefined ? [] : ["-n", ns]), ...args]);
}

/** Run a command to its end inside `ns`; its stdout, or an error naming the command and its stderr. */
export function run(ns: string | undefined, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): string {
  const cmd = nsenter(ns, argv);
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    encoding: "utf8",
    env: opts.env ?? childEnv(),
    timeout: 60_000,
  });
  if (r.status !== 0 || r.error) {
    const why = r.error?.message ?? (r.stderr || r.stdout).trim();
    throw new Error(`${argv.join(" ")}${ns ? ` (in ${ns})` : ""}: ${why}`);
  }
  return r.stdout;
}

export function addNamespace(ns: string): void {
  execFileSync("ip", ["netns", "add", ns]);
  ip(ns, ["link", "set", "lo", "up"]);
}

/** Remove namespace `ns`; false when it could not be removed (still there). */
export function deleteNamespace(ns: string): boolean {
  spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  return !listNamespaces().includes(ns);
}

export function listNamespaces(): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n !== "");
}

/**
 * The environment for the processes we start: ours, without proxy settings (kube-apiserver would
 * send webhook calls through a proxy) and without node:test's marker (a Node.js child would take
 * itself for a test file).
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/_proxy$/i.test(k) || k === "NODE_TEST_CONTEXT") continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** A long-running process in a namespace, its output appended to `log`; ended by its PID. */
export class Daemon {
  readonly pid: number;
  /** resolves with the exit code, or the signal's name, when the process has ended */
  readonly exited: Promise<number | string>;
  private readonly child: ChildProcess;
  private ended = false;

  constructor(
    readonly name: string,
    readonly ns: string | undefined,
    readonly argv: string[],
    readonly log: string,
    env: NodeJS.ProcessEnv = childEnv(),
    cwd?: string,
  ) {
    const cmd = nsenter(ns, argv);
    const fd = openSync(log, "a");
    try {
      this.child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", fd, fd], env, cwd });
    } finally {
      closeSync(fd);
    }
    if (this.child.pid === undefined) throw new Error(`${name}: could not start ${argv[0]}`);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.ended = true;
        resolve(code ?? signal ?? "unknown");
      });
    });
    // The test's event loop does not wait for a daemon; stop() or the exit hook ends it.
    this.child.unref();
  }

  get running(): boolean {
    return !this.ended;
  }

  /** The last lines of its log. */
  tail(lines = 30): string {
    try {
      const all = readFileSync(this.log, "utf8").trimEnd().split("\n");
      return all.slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Send `signal`; SIGKILL if it has not ended after `graceMs`. Resolves once it has ended. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL now, without waiting (for the process exit hook). */
  killNow(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}
