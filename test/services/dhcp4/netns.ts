// A link for the DHCP tests: a server namespace with a bridge, client namespaces hanging off it
// by veth pairs, processes started inside them (ended by PID), all removed at the end.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** the repository's root: scripts and tsx resolve from there */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function missing(tools: string[]): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  if (spawnSync("ip", ["netns", "list"]).status !== 0) return "no `ip netns`";
  for (const t of tools) {
    if (spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0) return `${t} is not installed`;
  }
  return undefined;
}

export function sh(ns: string, cmd: string[], opts: { allowFail?: boolean } = {}): string {
  const r = spawnSync("ip", ["netns", "exec", ns, ...cmd], { encoding: "utf8" });
  if (r.status !== 0 && !opts.allowFail)
    throw new Error(`${cmd.join(" ")} in ${ns}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export interface Proc {
  child: ChildProcess;
  out: string[];
  err: string[];
  exited: Promise<number | null>;
}

export class Lab {
  readonly id = `${process.pid % 100000}`;
  readonly server = `v6m-d4-${this.id}-s`;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "v6m-dhcp4-"));
  private readonly namespaces: string[] = [];
  private readonly procs: Proc[] = [];
  private clients = 0;
  /** client namespaces by the MAC they were given */
  readonly byMac = new Map<string, { ns: string; ifname: string }>();

  constructor(readonly serverAddress = "192.0.2.1/24") {
    execFileSync("ip", ["netns", "add", this.server]);
    this.namespaces.push(this.server);
    sh(this.server, ["ip", "link", "set", "lo", "up"]);
    // A fixed MAC: a bridge otherwise takes the lowest MAC of its ports, which changes as clients
    // are added, and clients' ARP entries for the server would go stale.
    sh(this.server, ["ip", "link", "add", "br0", "address", "02:00:5e:00:53:01", "type", "bridge"]);
    sh(this.server, ["ip", "addr", "add", serverAddress, "dev", "br0"]);
    sh(this.server, ["ip", "link", "set", "br0", "up"]);
  }

  /** A client namespace; its interface is `ifname` with the MAC given (or a random one). */
  addClient(mac?: string): { ns: string; ifname: string } {
    const n = ++this.clients;
    const ns = `v6m-d4-${this.id}-c${n}`;
    const ifname = `v6d${this.id}c${n}`;
    execFileSync("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    sh(this.server, ["ip", "link", "add", `p${n}`, "type", "veth", "peer", "name", ifname, "netns", ns]);
    sh(this.server, ["ip", "link", "set", `p${n}`, "master", "br0", "up"]);
    if (mac) sh(ns, ["ip", "link", "set", ifname, "address", mac]);
    sh(ns, ["ip", "link", "set", "lo", "up"]);
    sh(ns, ["ip", "link", "set", ifname, "up"]);
    if (mac) this.byMac.set(mac, { ns, ifname });
    return { ns, ifname };
  }

  /** A client on a second link of the server namespace, not on the bridge the scope serves. */
  addOtherLinkClient(mac: string, serverSideAddress: string): { ns: string; ifname: string } {
    const n = ++this.clients;
    const ns = `v6m-d4-${this.id}-c${n}`;
    const ifname = `v6d${this.id}c${n}`;
    execFileSync("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    sh(this.server, ["ip", "link", "add", `p${n}`, "type", "veth", "peer", "name", ifname, "netns", ns]);
    sh(this.server, ["ip", "addr", "add", serverSideAddress, "dev", `p${n}`]);
    sh(this.server, ["ip", "link", "set", `p${n}`, "up"]);
    sh(ns, ["ip", "link", "set", ifname, "address", mac]);
    sh(ns, ["ip", "link", "set", "lo", "up"]);
    sh(ns, ["ip", "link", "set", ifname, "up"]);
    return { ns, ifname };
  }

  start(ns: string, cmd: string[], cwd?: string): Proc {
    const child = spawn("ip", ["netns", "exec", ns, ...cmd], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(cwd ? { cwd } : {}),
    });
    const p: Proc = {
      child,
      out: [],
      err: [],
      exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    };
    child.stdout!.setEncoding("utf8").on("data", (d: string) => p.out.push(d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => p.err.push(d));
    this.procs.push(p);
    return p;
  }

  /** Our code in a namespace: `node --import tsx <script, from the repository root> args`. */
  node(ns: string, script: string, args: string[] = []): Proc {
    return this.start(ns, [process.execPath, "--import", "tsx", path.join(ROOT, script), ...args], ROOT);
  }

  /**
   * The v6mostly DHCPv4 server (fixture-server.ts) in the server namespace, serving scope "lab"
   * with `spec` once it says READY; `config` is its configuration file (SIGHUP re-reads it).
   */
  async serve(spec: object, stateDir: string): Promise<{ server: Proc; config: string }> {
    const config = path.join(this.dir, `scope-${Date.now()}.json`);
    fs.writeFileSync(config, JSON.stringify({ name: "lab", spec, stateDir }));
    const server = this.node(this.server, "test/services/dhcp4/fixture-server.ts", [config]);
    await waitFor(
      "server READY",
      () => server.out.join("").includes("READY") || server.child.exitCode !== null,
      20000,
    );
    if (server.child.exitCode !== null) throw new Error(`server exited: ${server.err.join("")}`);
    return { server, config };
  }

  /** Ends a process this lab started, by its PID. */
  async kill(p: Proc, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
      try {
        process.kill(p.child.pid, signal);
      } catch {}
    }
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), 5000));
    const code = await Promise.race([p.exited, timeout]);
    if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
      try {
        process.kill(p.child.pid, "SIGKILL");
      } catch {}
      await p.exited;
    }
    return code;
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) {
      await this.kill(p, "SIGTERM");
      p.child.stdout?.destroy();
      p.child.stderr?.destroy();
    }
    for (const ns of this.namespaces.reverse()) spawnSync("ip", ["netns", "del", ns]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor<T>(what: string, f: () => T | undefined | false, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The counters of a fixture-server.ts (it prints them on SIGUSR1). */
export async function serverStats(p: Proc): Promise<Record<string, number>> {
  const before = p.out.join("").split("STATS ").length;
  process.kill(p.child.pid!, "SIGUSR1");
  await waitFor("STATS", () => p.out.join("").split("STATS ").length > before);
  const all = p.out.join("").split("STATS ");
  return JSON.parse(all[all.length - 1]!.split("\n")[0]!) as Record<string, number>;
}
