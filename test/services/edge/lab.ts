/**
 * The seed's real shape in network namespaces (tests and bench:edge):
 *
 *   lan ── l1/l0 ── box ── w0/g0 ── gw (home gateway) ── o0/x0 ── out
 *   fd00:1::10/64      fd00:1::1/64    2001:db8:1::2/64   2001:db8:1::1/64   2001:db8:ff::1/64   2001:db8:ff::10/64
 *   198.18.0.10/24     198.18.0.1/24   192.0.2.2/24       192.0.2.1/24       203.0.113.1/24      203.0.113.10/24
 *
 * The home gateway knows its own /64 and /24 and routes nothing behind them (the seed's NURO box):
 * the LAN's ULA and 198.18.0.0/24 are unreachable from it, so everything the LAN sends out must
 * leave the box translated to an address of the gateway's link, and everything that comes in must
 * be sent to one, which the gateway resolves with ARP / Neighbor Solicitations on g0.
 * Names carry the process id and a tag; cleanup() removes them and the processes started here.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assignment } from "../../support/assignments.ts";
import { waitFor } from "../nat64/lab.ts";

export { waitFor };

type Proc = ChildProcess & { output(): string };
const PEER = join(fileURLToPath(new URL(".", import.meta.url)), "peer.py");

export const REPO = fileURLToPath(new URL("../../..", import.meta.url));

export const ADDR = {
  lan4: "198.18.0.10",
  lan6: "fd00:1::10",
  out4: "203.0.113.10",
  out6: "2001:db8:ff::10",
  box4: "192.0.2.2",
  box6: "2001:db8:1::2",
  gw4: "192.0.2.1",
  gw6: "2001:db8:1::1",
};

/** What the seed-shaped resource maps: DNAT44 to the LAN server, DNAT66 to it, the SNAT44 pool. */
export const SEED = {
  dnat44: "192.0.2.110", // -> 198.18.0.10
  dnat66: "2001:db8:1:0:ffff:ffff:0:10", // -> fd00:1::10
  pool4: ["192.0.2.151", "192.0.2.152", "192.0.2.153", "192.0.2.154"],
};

/** The seed's FortiGate translation in the lab's addresses, for `v6mostly run` on the box. */
export const seedResource = (extra = "") => `apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: home }
spec:
  insideInterfaces: [l0]
  outsideInterface: w0
  snat44: { pool: ["192.0.2.151-192.0.2.154"], mode: oneToOne }
  dnat44: [{ external: "192.0.2.101-192.0.2.110", internal: "198.18.0.1-198.18.0.10" }]
  snat66: { mode: interface }
  dnat66: [{ external: "2001:db8:1:0:ffff:ffff::/96", internal: "fd00:1::/96" }]
  defaultRoute: { ipv4: ${ADDR.gw4} }
${extra}`;

/** An EdgeTranslation assignment as the planner would hand it to a node. */
export const edge = (spec: Record<string, unknown>, name = "home") =>
  assignment("EdgeTranslation", spec, {}, name);

export function sh(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

/** Why the namespace tests cannot run here, or null. */
export function canRun(tools: string[] = []): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  try {
    sh(["ip", "netns", "list"]);
  } catch {
    return "`ip netns` unavailable";
  }
  for (const tool of ["nft", ...tools]) {
    try {
      sh(["sh", "-c", `command -v ${tool}`]);
    } catch {
      return `${tool} missing`;
    }
  }
  return null;
}

export class EdgeLab {
  readonly lan: string;
  readonly box: string;
  readonly gw: string;
  readonly out: string;
  readonly dir: string;
  private readonly procs: ChildProcess[] = [];
  private made: string[] = [];

  constructor(tag: string) {
    const id = `${process.pid}${tag}`;
    this.lan = `v6m-edge-${id}-lan`;
    this.box = `v6m-edge-${id}-box`;
    this.gw = `v6m-edge-${id}-gw`;
    this.out = `v6m-edge-${id}-out`;
    this.dir = mkdtempSync(join(tmpdir(), "v6m-edge-"));
  }

  ns(n: string, args: string[], input?: string): string {
    return sh(["ip", "netns", "exec", n, ...args], input);
  }

  ip(n: string, ...a: string[]): string {
    return sh(["ip", "-n", n, ...a]);
  }

  /** The box namespace alone (the nftables tests), forwarding as asked. */
  boxOnly(forwarding = true): void {
    this.addNs(this.box);
    this.sysctls(this.box, forwarding);
  }

  private addNs(n: string): void {
    sh(["ip", "netns", "add", n]);
    this.made.push(n);
    this.ip(n, "link", "set", "lo", "up");
  }

  private sysctls(n: string, forwarding: boolean): void {
    const v = forwarding ? "1" : "0";
    this.ns(n, ["sysctl", "-qw", `net.ipv4.ip_forward=${v}`, `net.ipv6.conf.all.forwarding=${v}`]);
  }

  private link(a: string, an: string, b: string, bn: string): void {
    sh(["ip", "link", "add", an, "netns", a, "type", "veth", "peer", "name", bn, "netns", b]);
    this.ip(a, "link", "set", an, "up");
    this.ip(b, "link", "set", bn, "up");
  }

  private addr(n: string, dev: string, ...addrs: string[]): void {
    for (const a of addrs) this.ip(n, "addr", "add", a, "dev", dev, ...(a.includes(":") ? ["nodad"] : []));
  }

  /** The four namespaces; the box forwards, the gateway routes between its two links only. */
  setup(): void {
    for (const n of [this.lan, this.box, this.gw, this.out]) this.addNs(n);
    this.link(this.lan, "l1", this.box, "l0");
    this.link(this.box, "w0", this.gw, "g0");
    this.link(this.gw, "o0", this.out, "x0");
    this.addr(this.lan, "l1", `${ADDR.lan4}/24`, `${ADDR.lan6}/64`);
    this.addr(this.box, "l0", "198.18.0.1/24", "fd00:1::1/64");
    this.addr(this.box, "w0", `${ADDR.box4}/24`, `${ADDR.box6}/64`);
    this.addr(this.gw, "g0", `${ADDR.gw4}/24`, `${ADDR.gw6}/64`);
    this.addr(this.gw, "o0", "203.0.113.1/24", "2001:db8:ff::1/64");
    this.addr(this.out, "x0", `${ADDR.out4}/24`, `${ADDR.out6}/64`);
    this.ip(this.lan, "route", "add", "default", "via", "198.18.0.1");
    this.ip(this.lan, "-6", "route", "add", "default", "via", "fd00:1::1");
    this.ip(this.out, "route", "add", "default", "via", "203.0.113.1");
    this.ip(this.out, "-6", "route", "add", "default", "via", "2001:db8:ff::1");
    this.ip(this.box, "-6", "route", "add", "default", "via", ADDR.gw6, "dev", "w0");
    this.sysctls(this.box, true);
    this.sysctls(this.gw, true);
  }

  /** Writes a resource file in the lab's directory. */
  write(name: string, text: string): string {
    const f = join(this.dir, name);
    writeFileSync(f, text);
    return f;
  }

  /** A long-running process in a namespace; stopped by cleanup() if still running. */
  spawnIn(n: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
    const p = spawn("ip", ["netns", "exec", n, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: env ?? process.env,
    }) as Proc;
    const chunks: Buffer[] = [];
    p.stdout?.on("data", (d: Buffer) => chunks.push(d));
    p.stderr?.on("data", (d: Buffer) => chunks.push(d));
    p.output = () => Buffer.concat(chunks).toString();
    this.procs.push(p);
    return p;
  }

  /** `v6mostly run -f FILE` in the box namespace. */
  startRun(file: string, env?: NodeJS.ProcessEnv): Proc {
    return this.spawnIn(
      this.box,
      [
        process.execPath,
        join(REPO, "bin/v6mostly.js"),
        "run",
        "-f",
        file,
        "--state-dir",
        join(this.dir, "state"),
        "--status-address",
        "off",
      ],
      env,
    );
  }

  /** peer.py servers on TCP 8080 in the LAN and outside namespaces, once both answer. */
  async startPeers(): Promise<void> {
    await this.linksSettled();
    for (const n of [this.out, this.lan]) this.spawnIn(n, ["python3", PEER, "serve", "8080"]);
    await waitFor("the peers", () => this.ask(this.out, ADDR.out6) && this.ask(this.lan, ADDR.lan6));
  }

  /**
   * Until no namespace holds a tentative address: the links' link-locals run Duplicate Address
   * Detection for a second or two after they come up (RFC 4862 §5.4). Meanwhile a router that
   * forwards a packet cannot solicit its next hop: Linux sends a Neighbor Solicitation for a
   * forwarded packet from the link-local, and sends none while it is tentative, so the packet
   * waits for the next solicitation a second later. tshark showed this on the gateway's both
   * links (2026-12-06): the first SYN or its SYN-ACK held up to 2 s, past an ask's limit.
   */
  private async linksSettled(): Promise<void> {
    const tentative = () =>
      [this.lan, this.box, this.gw, this.out].filter((n) =>
        this.ip(n, "-6", "addr", "show", "tentative").trim(),
      );
    await waitFor("duplicate address detection on the lab's links", () => tentative().length === 0).catch(
      (e: Error) => {
        throw new Error(`${e.message}: still tentative in ${tentative().join(", ")}`);
      },
    );
  }

  /** The source address the peer at `host` saw a connection from `from` come from; undefined: it failed. */
  ask(from: string, host: string, timeout = "2"): string | undefined {
    try {
      return this.ns(from, ["python3", PEER, "ask", host, "8080", timeout]).trim();
    } catch {
      return undefined;
    }
  }

  /** Waits until `ok`, failing with the run's log (what a refusal or a crash said). */
  async until(run: Proc, what: string, ok: () => boolean, ms = 30_000): Promise<void> {
    await waitFor(what, ok, ms).catch((e: Error) => {
      throw new Error(`${e.message}\n${run.output()}`);
    });
  }

  /** `v6mostly run -f file` in the box, once its table `name` is loaded. */
  async runWithTable(file: string, name = "v6mostly-edge-home"): Promise<Proc> {
    const run = this.startRun(file);
    await this.until(run, "the table", () => this.ns(this.box, ["nft", "list", "tables"]).includes(name));
    return run;
  }

  async stop(p: ChildProcess, waitMs = 8000): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGTERM");
    await Promise.race([done, new Promise((r) => setTimeout(r, waitMs))]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await done;
    }
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) await this.stop(p, 4000);
    for (const n of this.made) {
      try {
        sh(["ip", "netns", "del", n]);
      } catch {
        // already gone
      }
    }
    this.made = [];
    rmSync(this.dir, { recursive: true, force: true });
  }
}
