/**
 * A three-namespace lab for the NAT64 datapath (tests and bench):
 *
 *   client (IPv6 only)  c0 ── t0  translator  u0 ── s0  server (IPv4 only)
 *   2001:db8:1::2/64        2001:db8:1::1/64   203.0.113.1/24   203.0.113.10/24
 *
 * The translator's pool4 (203.0.113.128/29) sits on the uplink subnet, so the
 * server reaches it through proxy ARP alone (it has no route at all).
 * Names carry the process id and a tag; everything is removed by cleanup().
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../..", import.meta.url));
export const PREFIX = "2001:db8:64::/96";
export const SERVER4 = "203.0.113.10";
export const SERVER6 = "2001:db8:64::cb00:710a";
export const CLIENT6 = "2001:db8:1::2";
export const POOL4 = "203.0.113.128-203.0.113.135";

/** One gateway's part of `/translations` (what the tests read of it). */
export interface Translations {
  counters: Record<string, number>;
  drops: Record<string, number>;
  totalSessions: number;
  sessions: { proto: string; ipv6: string; ipv4: string }[];
}

export function sh(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

export function canRun(): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  try {
    sh(["ip", "netns", "list"]);
  } catch {
    return "`ip netns` unavailable";
  }
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun missing";
  for (const tool of ["python3", "curl", "ping"]) {
    try {
      sh(["sh", "-c", `command -v ${tool}`]);
    } catch {
      return `${tool} missing (the namespace peers and clients use it)`;
    }
  }
  return null;
}

export class Lab {
  readonly c: string;
  readonly t: string;
  readonly s: string;
  readonly dir: string;
  readonly tun: string;
  private readonly procs: ChildProcess[] = [];

  constructor(tag: string) {
    const id = `${process.pid}${tag}`;
    this.c = `v6m-n64-${id}-c`;
    this.t = `v6m-n64-${id}-t`;
    this.s = `v6m-n64-${id}-s`;
    this.tun = `n64${id}`.slice(0, 15);
    this.dir = mkdtempSync(join(tmpdir(), "v6m-nat64-"));
  }

  ns(n: string, args: string[], input?: string): string {
    return sh(["ip", "netns", "exec", n, ...args], input);
  }

  setup(): void {
    for (const n of [this.c, this.t, this.s]) sh(["ip", "netns", "add", n]);
    sh(["ip", "link", "add", "c0", "netns", this.c, "type", "veth", "peer", "name", "t0", "netns", this.t]);
    sh(["ip", "link", "add", "u0", "netns", this.t, "type", "veth", "peer", "name", "s0", "netns", this.s]);
    const ipn = (n: string, ...a: string[]) => sh(["ip", "-n", n, ...a]);
    for (const n of [this.c, this.t, this.s]) ipn(n, "link", "set", "lo", "up");
    ipn(this.c, "addr", "add", `${CLIENT6}/64`, "dev", "c0", "nodad");
    ipn(this.c, "link", "set", "c0", "up");
    ipn(this.c, "-6", "route", "add", "default", "via", "2001:db8:1::1");
    ipn(this.t, "addr", "add", "2001:db8:1::1/64", "dev", "t0", "nodad");
    ipn(this.t, "link", "set", "t0", "up");
    ipn(this.t, "addr", "add", "203.0.113.1/24", "dev", "u0");
    ipn(this.t, "link", "set", "u0", "up");
    ipn(this.s, "addr", "add", `${SERVER4}/24`, "dev", "s0");
    ipn(this.s, "link", "set", "s0", "up");
  }

  /** A Nat64Gateway resource file for `v6mostly run`. */
  writeResource(extra = ""): string {
    const f = join(this.dir, "nat64.yaml");
    writeFileSync(
      f,
      `apiVersion: v6mostly.dev/v1alpha1
kind: Nat64Gateway
metadata:
  name: lab
spec:
  prefix: ${PREFIX}
  pool4: ["${POOL4}"]
  allowedSources: ["2001:db8:1::/48"]
  uplinkInterface: u0
  tunName: ${this.tun}
${extra}`,
    );
    return f;
  }

  /** Starts a long-running process inside a namespace; stopped by cleanup() if still running. */
  spawnIn(n: string, args: string[], logName: string): ChildProcess {
    const log = join(this.dir, logName);
    const p = spawn("ip", ["netns", "exec", n, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    p.stdout?.on("data", (d: Buffer) => chunks.push(d));
    p.stderr?.on("data", (d: Buffer) => chunks.push(d));
    p.on("exit", () => writeFileSync(log, Buffer.concat(chunks)));
    (p as ChildProcess & { output: () => string }).output = () => Buffer.concat(chunks).toString();
    this.procs.push(p);
    return p;
  }

  /** The peer servers in the server namespace (HTTP 8080, UDP echo 9000). */
  startPeer(): ChildProcess {
    return this.spawnIn(this.s, ["python3", join(REPO, "test/services/nat64/peer.py"), SERVER4], "peer.log");
  }

  /**
   * The Nat64Gateway service alone (serve.ts) in the translator namespace, with test-only options
   * (tiny port ranges, short timers) the schema refuses; `spec` gets prefix, pool4, sources,
   * uplink and device from the lab unless given.
   */
  startServe(
    spec: Record<string, unknown>,
    options: Record<string, unknown>,
    status: string,
    log = "serve.log",
  ): ChildProcess {
    const full = {
      prefix: PREFIX,
      pool4: ["203.0.113.128"],
      allowedSources: ["2001:db8:1::/48"],
      uplinkInterface: "u0",
      tunName: this.tun,
      ...spec,
    };
    const arg = { spec: full, pool4: full.pool4, options, status, stateDir: join(this.dir, "state") };
    return this.spawnIn(
      this.t,
      [process.execPath, "--import", "tsx", join(REPO, "test/services/nat64/serve.ts"), JSON.stringify(arg)],
      log,
    );
  }

  /** `/translations` of the status server at `status` (in the translator namespace). */
  translations(status: string): Record<string, Translations> {
    return JSON.parse(this.ns(this.t, ["curl", "-s", "--max-time", "3", `http://${status}/translations`]));
  }

  /** `v6mostly run -f` in the translator namespace. */
  startRun(resource: string, status: string, cli = join(REPO, "bin/v6mostly.js")): ChildProcess {
    return this.spawnIn(
      this.t,
      [
        process.execPath,
        cli,
        "run",
        "-f",
        resource,
        "--state-dir",
        join(this.dir, "state"),
        "--status-address",
        status,
      ],
      "run.log",
    );
  }

  async stop(p: ChildProcess, signal: NodeJS.Signals = "SIGTERM", waitMs = 8000): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(signal);
    await Promise.race([done, new Promise((r) => setTimeout(r, waitMs))]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await done;
    }
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) await this.stop(p, "SIGTERM", 4000);
    for (const n of [this.c, this.t, this.s]) {
      try {
        sh(["ip", "netns", "del", n]);
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  ms = 15000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
