/**
 * A routed lab in network namespaces for the DNS64 hostile-neighbour tests: the resolver, its
 * upstream, LAN clients (one of them the attacker) and a host outside allowClients, each in its own
 * namespace, all behind one router namespace:
 *
 *   r  resolver   192.0.2.2/28 (v6mostly :53), 192.0.2.3 (Unbound, for comparisons)
 *   u  upstream   198.51.100.2/28: BIND (authoritative, on its loopback :5300) behind a relay
 *                 on :53 that can delay answers and fold their case (fixtures/relay.ts)
 *   a  attacker   203.0.113.2/28, a LAN client; also holds 198.51.100.2 on its loopback to send
 *                 datagrams from the upstream's address (an off-path forger: the router sends the
 *                 resolver's queries to u, never to a)
 *   c  client     203.0.113.18/28, a well-behaved LAN client
 *   o  outside    198.18.0.2/28, not in allowClients
 *   x  router     .1 of each /28 (.17 for c), forwarding, no reverse-path filter
 *
 * Every process is a child of the test, started in a namespace by `ip netns exec` (which execs, so
 * the child's PID is the program's) and ended by that PID. cleanup() removes every namespace.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Dns64Options } from "../../../src/services/dns64/index.ts";
import { ZONE } from "./lab.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const FIXTURES = join(HERE, "fixtures");

export const ADDR = {
  resolver: "192.0.2.2",
  unbound: "192.0.2.3",
  upstream: "198.51.100.2",
  attacker: "203.0.113.2",
  client: "203.0.113.18",
  outside: "198.18.0.2",
} as const;
export const LAN = "203.0.113.0/24";
export const PREFIX = "64:ff9b::/96";
/** The A record every name of the lab zone has (a wildcard), and the one the attacker forges. */
export const REAL_A = "198.51.100.80";
export const FORGED_A = "203.0.113.66";

/** Why these tests cannot run here, or undefined. */
export function missingForNetlab(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  if (spawnSync("ip", ["netns", "list"]).status !== 0) return "no `ip netns`";
  for (const bin of ["/usr/sbin/named", "/usr/sbin/unbound"])
    if (!existsSync(bin)) return `${bin} is not installed`;
  return undefined;
}

export interface Child {
  proc: ChildProcess;
  /** everything it printed, stdout and stderr */
  out: () => string;
  /** resolves with the next stdout line for which `match` is true */
  line: (match: (l: string) => boolean, ms?: number) => Promise<string>;
  send: (text: string) => void;
  exited: Promise<number | null>;
}

export interface Agent {
  child: Child;
  call<T>(op: string, args: Record<string, unknown>, ms?: number): Promise<T>;
}

export class NetLab {
  readonly id = `${process.pid % 100000}`;
  readonly dir = mkdtempSync(join(tmpdir(), "v6m-dns64-net-"));
  private readonly namespaces: string[] = [];
  private readonly children: Child[] = [];

  ns(role: "r" | "u" | "a" | "c" | "o" | "x"): string {
    return `v6m-d64-${this.id}-${role}`;
  }

  ip(role: Parameters<NetLab["ns"]>[0], ...args: string[]): string {
    return execFileSync("ip", ["-n", this.ns(role), ...args], { encoding: "utf8" });
  }

  exec(role: Parameters<NetLab["ns"]>[0], cmd: string[]): string {
    return execFileSync("ip", ["netns", "exec", this.ns(role), ...cmd], { encoding: "utf8" });
  }

  setup(): void {
    for (const role of ["x", "r", "u", "a", "c", "o"] as const) {
      execFileSync("ip", ["netns", "add", this.ns(role)]);
      this.namespaces.push(this.ns(role));
      this.ip(role, "link", "set", "lo", "up");
    }
    const x = this.ns("x");
    for (const s of [
      "net.ipv4.ip_forward=1",
      "net.ipv4.conf.all.rp_filter=0",
      "net.ipv4.conf.default.rp_filter=0",
    ])
      this.exec("x", ["sysctl", "-q", "-w", s]);
    const link = (role: "r" | "u" | "a" | "c" | "o", mine: string, router: string) => {
      const n = this.ns(role);
      execFileSync("ip", [
        "link",
        "add",
        "e0",
        "netns",
        n,
        "type",
        "veth",
        "peer",
        "name",
        `x${role}`,
        "netns",
        x,
      ]);
      this.ip("x", "addr", "add", `${router}/28`, "dev", `x${role}`);
      this.ip("x", "link", "set", `x${role}`, "up");
      this.exec("x", ["sysctl", "-q", "-w", `net.ipv4.conf.x${role}.rp_filter=0`]);
      this.ip(role, "addr", "add", `${mine}/28`, "dev", "e0");
      this.ip(role, "link", "set", "e0", "up");
      this.ip(role, "route", "add", "default", "via", router);
    };
    link("r", ADDR.resolver, "192.0.2.1");
    this.ip("r", "addr", "add", `${ADDR.unbound}/28`, "dev", "e0");
    link("u", ADDR.upstream, "198.51.100.1");
    link("a", ADDR.attacker, "203.0.113.1");
    link("c", ADDR.client, "203.0.113.17");
    link("o", ADDR.outside, "198.18.0.1");
    // the attacker may send from the upstream's address: its own kernel lets it, the router forwards
    this.ip("a", "addr", "add", `${ADDR.upstream}/32`, "dev", "lo");
  }

  /** Starts `cmd` in namespace `role`; ended by its PID in cleanup() (or stop()). */
  start(role: Parameters<NetLab["ns"]>[0], cmd: string[]): Child {
    const proc = spawn("ip", ["netns", "exec", this.ns(role), ...cmd], { stdio: ["pipe", "pipe", "pipe"] });
    let all = "";
    let pending = "";
    const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
    proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      all += d;
      pending += d;
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        const l = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const i = waiters.findIndex((w) => w.match(l));
        if (i >= 0) waiters.splice(i, 1)[0]!.resolve(l);
        nl = pending.indexOf("\n");
      }
    });
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      all = (all + d).slice(-50_000);
    });
    const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
    const child: Child = {
      proc,
      out: () => all,
      exited,
      send: (text) => proc.stdin!.write(text),
      line: (match, ms = 20_000) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(
            () => reject(new Error(`no matching line in time; output:\n${all.slice(-3000)}`)),
            ms,
          );
          waiters.push({
            match,
            resolve: (l) => {
              clearTimeout(t);
              resolve(l);
            },
          });
          void exited.then(() => reject(new Error(`exited; output:\n${all.slice(-3000)}`)));
        }),
    };
    this.children.push(child);
    return child;
  }

  /** Runs a TypeScript fixture (fixtures/<name>.ts) in `role` with one JSON argument. */
  fixture(role: Parameters<NetLab["ns"]>[0], name: string, arg: unknown, nodeFlags: string[] = []): Child {
    return this.start(role, [
      process.execPath,
      ...nodeFlags,
      "--import",
      "tsx",
      join(FIXTURES, `${name}.ts`),
      JSON.stringify(arg),
    ]);
  }

  /** A client host (fixtures/agent.ts) in `role`, ready for commands. */
  async agent(role: "a" | "c" | "o"): Promise<Agent> {
    const child = this.fixture(role, "agent", {});
    await child.line((l) => l === "ready");
    let next = 0;
    return {
      child,
      call: async <T>(op: string, args: Record<string, unknown>, ms = 60_000): Promise<T> => {
        const id = next++;
        const reply = child.line((l) => l.startsWith(`{"id":${id},`), ms);
        child.send(`${JSON.stringify({ id, op, ...args })}\n`);
        const r = JSON.parse(await reply) as T & { error?: string };
        if (r.error && op !== "connect" && op !== "pipeline") throw new Error(`${op} in ${role}: ${r.error}`);
        return r;
      },
    };
  }

  /** Sends a command line to a fixture that answers each with one JSON line; returns it parsed. */
  async command<T>(c: Child, line: string): Promise<T> {
    const reply = c.line((l) => l.startsWith("{"));
    c.send(`${line}\n`);
    return JSON.parse(await reply) as T;
  }

  /** BIND, authoritative for the lab zone on u's loopback :5300 (the relay forwards to it). */
  async startAuthoritative(): Promise<Child> {
    writeFileSync(
      join(this.dir, "zone.db"),
      [
        "$TTL 300",
        `@ IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 120`,
        `@ IN NS ns.${ZONE}.`,
        `ns IN A ${ADDR.upstream}`,
        `* IN A ${REAL_A}`,
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(this.dir, "named.conf"),
      `options {
  directory "${this.dir}";
  pid-file "${this.dir}/named.pid";
  listen-on port 5300 { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  rate-limit { responses-per-second 0; };
};
controls { };
zone "${ZONE}" { type primary; file "${this.dir}/zone.db"; };
`,
    );
    const named = this.start("u", ["named", "-g", "-n", "1", "-c", join(this.dir, "named.conf")]);
    await waitFor(
      () => named.out().includes("running"),
      "BIND to start",
      () => named.out(),
    );
    return named;
  }

  /** The upstream: BIND and the relay in front of it (fixtures/relay.ts), ready. Returns the relay. */
  async startUpstream(): Promise<Child> {
    await this.startAuthoritative();
    const relay = this.fixture("u", "relay", { listen: ADDR.upstream });
    await relay.line((l) => l === "ready");
    return relay;
  }

  /** v6mostly's DNS64 on ADDR.resolver for the LAN, forwarding to the upstream; `opts` tunes it. */
  async startResolver(opts: Dns64Options): Promise<Child> {
    const resolver = this.fixture(
      "r",
      "resolver",
      {
        spec: {
          listen: [ADDR.resolver],
          prefix: PREFIX,
          upstreams: [ADDR.upstream],
          alwaysSynthesize: false,
          exclude: ["::ffff:0:0/96"],
          allowClients: [LAN],
          rateLimit: 0,
          nodeSelector: {},
        },
        opts,
      },
      ["--expose-gc"], // retainedBytes() collects garbage first
    );
    await resolver.line((l) => l === "ready");
    return resolver;
  }

  /** Heap and native memory a resolver holds after a full garbage collection (bytes). */
  async retainedBytes(resolver: Child): Promise<number> {
    const m = (await this.command<{ memory: NodeJS.MemoryUsage }>(resolver, "gc")).memory;
    return m.heapUsed + m.external;
  }

  /** The stats of a resolver started by startResolver(). */
  async stats(resolver: Child): Promise<Record<string, number>> {
    return (await this.command<{ stats: Record<string, number> }>(resolver, "stats")).stats;
  }

  /** Ends a child by its PID (SIGTERM, then SIGKILL after 3 s). */
  async stop(c: Child): Promise<void> {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null || c.proc.pid === undefined) return;
    c.proc.kill("SIGTERM");
    const t = setTimeout(() => c.proc.kill("SIGKILL"), 3000);
    await c.exited;
    clearTimeout(t);
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) await this.stop(c);
    for (const n of this.namespaces.reverse()) spawnSync("ip", ["netns", "del", n]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor(
  ok: () => boolean,
  what: string,
  detail = () => "",
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${detail().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident set size of a process in kB (/proc/PID/status VmRSS). */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}
