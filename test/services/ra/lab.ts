// Network namespaces for the RA tests: a router namespace and a host namespace joined by a veth
// pair, processes started inside them and ended by PID, everything removed in cleanup().
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Why the namespace tests cannot run here, or undefined. */
export function missing(binaries: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  if (spawnSync("ip", ["netns", "list"]).status !== 0) return "`ip netns` is not available";
  for (const b of binaries) {
    if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return `${b} is not installed`;
  }
  return undefined;
}

export function sh(ns: string | undefined, cmd: string[], opts: { allowFail?: boolean } = {}): string {
  const argv = ns ? ["ip", "netns", "exec", ns, ...cmd] : cmd;
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0 && !opts.allowFail)
    throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A process inside a namespace whose standard output is collected line by line. */
export class Proc {
  readonly lines: string[] = [];
  stderr = "";
  exitCode: number | null | undefined;
  private readonly child: ChildProcess;
  private waiters: (() => void)[] = [];

  constructor(ns: string, cmd: string[]) {
    this.child = spawn("ip", ["netns", "exec", ns, ...cmd], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let partial = "";
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      partial += d;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      this.lines.push(...parts.filter((l) => l.length > 0));
      this.wake();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.child.on("exit", (code) => {
      this.exitCode = code;
      this.wake();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  json<T = Record<string, unknown>>(): T[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as T];
      } catch {
        return [];
      }
    });
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolve when `pred` holds (checked on every output and exit), reject after `ms`. */
  async until<T>(pred: () => T | undefined | false, ms: number, what: string): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}; stdout: ${this.lines.slice(-5).join(" | ")}; stderr: ${this.stderr.slice(-800)}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Write one line to its standard input. */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exitCode === undefined) process.kill(this.pid, sig);
  }

  async exited(ms: number): Promise<number | null> {
    await this.until(() => this.exitCode !== undefined, ms, "exit");
    return this.exitCode ?? null;
  }

  /** End it (by PID) if still running. */
  async kill(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill("SIGTERM");
    try {
      await this.exited(3000);
    } catch {
      this.child.kill("SIGKILL");
    }
  }
}

export async function waitUntil<T>(fn: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Two namespaces, `r` (our router) and `h` (a Linux host accepting RAs), one veth link. */
export class Lab {
  readonly r: string;
  readonly h: string;
  readonly rif: string;
  readonly hif: string;
  private procs: Proc[] = [];

  constructor(tag: string) {
    const id = `${process.pid}${tag}`;
    this.r = `v6m-ra-${id}-r`;
    this.h = `v6m-ra-${id}-h`;
    this.rif = `ra${id}r`.slice(0, 15);
    this.hif = `ra${id}h`.slice(0, 15);
  }

  setup(opts: { hostAcceptsRa?: boolean } = {}): void {
    sh(undefined, ["ip", "netns", "add", this.r]);
    sh(undefined, ["ip", "netns", "add", this.h]);
    sh(this.h, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);
    sh(this.r, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    sh(this.r, ["ip", "link", "set", "lo", "up"]);
    sh(this.h, ["ip", "link", "set", "lo", "up"]);
    this.link(this.rif, this.hif, opts);
  }

  /** A veth pair between the namespaces; the host end configured as a Linux host taking RAs. */
  link(rif: string, hif: string, opts: { hostAcceptsRa?: boolean } = {}): void {
    sh(undefined, [
      "ip",
      "link",
      "add",
      rif,
      "netns",
      this.r,
      "type",
      "veth",
      "peer",
      "name",
      hif,
      "netns",
      this.h,
    ]);
    // The host: a Linux node taking its configuration from RAs (RFC 4861 host, RFC 4191 type C).
    const hs = (k: string, v: string | number) =>
      sh(this.h, ["sysctl", "-qw", `net.ipv6.conf.${hif}.${k}=${v}`]);
    if (opts.hostAcceptsRa !== false) {
      hs("accept_ra", 2);
      hs("accept_ra_rt_info_max_plen", 128);
      hs("accept_ra_rtr_pref", 1);
      hs("accept_ra_mtu", 1);
    } else hs("accept_ra", 0);
    sh(this.r, ["ip", "link", "set", rif, "up"]);
    sh(this.h, ["ip", "link", "set", hif, "up"]);
  }

  start(ns: string, cmd: string[]): Proc {
    const p = new Proc(ns, cmd);
    this.procs.push(p);
    return p;
  }

  /** Our code in a namespace: `node --import tsx <script> args`. */
  node(ns: string, script: string, args: string[] = []): Proc {
    return this.start(ns, [process.execPath, "--import", "tsx", script, ...args]);
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) await p.kill();
    sh(undefined, ["ip", "netns", "del", this.r], { allowFail: true });
    sh(undefined, ["ip", "netns", "del", this.h], { allowFail: true });
  }
}

export function linkLocalOf(ns: string, ifname: string): string | undefined {
  const out = execFileSync(
    "ip",
    ["netns", "exec", ns, "ip", "-6", "-j", "addr", "show", "dev", ifname, "scope", "link"],
    { encoding: "utf8" },
  );
  const j = JSON.parse(out) as { addr_info?: { local: string; tentative?: boolean }[] }[];
  return j[0]?.addr_info?.find((a) => !a.tentative)?.local;
}
