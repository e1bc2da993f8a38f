// npm run bench:dhcp — four-way exchanges (DISCOVER, OFFER, REQUEST, ACK) per second, measured by
// perfdhcp (Debian kea-admin) against the v6mostly DHCPv4 server and against Kea
// (kea-dhcp4-server, memfile lease backend) on the same scope, in the same run, over a veth pair
// between two network namespaces this script makes and removes. Needs root.
//
// Each server gets the same offered load (perfdhcp -r RATE for SECONDS, new clients each time),
// one after the other on a fresh lease store; the figure is perfdhcp's completed exchanges/s.
// Without BENCH_RATES the offered rate is raised step by step until a server completes fewer than
// 95% of the exchanges offered (saturation); both servers' figures at that step are printed. A
// step where perfdhcp itself cannot send the rate (2 shared cores) ends the ramp and says so.
// Both persist leases: v6mostly fsyncs (group commit) before each ACK; Kea's memfile writes its
// CSV without fsync. maxLeasesPerMinute is lifted for the bench (Kea has no such limit).
//   env: BENCH_RATES (fixed rates instead of the ramp, e.g. "2000,5000"), BENCH_SECONDS (default 6),
//   BENCH_VERBOSE=1 for details
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { keaCommand } from "../test/services/dhcp4/kea.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const id = process.pid % 100000;
const S = `v6m-bd-${id}-s`;
const C = `v6m-bd-${id}-c`;
const SIF = `bd${id}s`;
const CIF = `bd${id}c`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "v6m-bench-dhcp-"));
const fixedRates = process.env.BENCH_RATES?.split(",").map(Number);
/** the ramp: each step offers this much more than the last */
const RAMP = [2000, 4000, 6000, 8000, 12000, 16000, 24000, 32000];
/** a server that completes less than this share of the offered exchanges is saturated */
const SATURATED = 0.95;
const seconds = Number(process.env.BENCH_SECONDS ?? "6");
const children: ChildProcess[] = [];
/** each server first gets a short uncounted run (the same for both) */
const WARMUP_RATE = 500;
const WARMUP_SECONDS = 2;

function need(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const t of ["perfdhcp", "kea-dhcp4", "ip"])
    if (spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0) return `${t} is not installed`;
  return undefined;
}

function ns(n: string, cmd: string[]): void {
  execFileSync("ip", ["netns", "exec", n, ...cmd], { stdio: ["ignore", "ignore", "inherit"] });
}

function setup(): void {
  execFileSync("ip", ["netns", "add", S]);
  execFileSync("ip", ["netns", "add", C]);
  ns(S, ["ip", "link", "add", SIF, "type", "veth", "peer", "name", CIF, "netns", C]);
  ns(S, ["ip", "addr", "add", "198.18.0.1/16", "dev", SIF]);
  ns(C, ["ip", "addr", "add", "198.18.0.2/16", "dev", CIF]);
  for (const [n, i] of [
    [S, SIF],
    [C, CIF],
  ] as const) {
    ns(n, ["ip", "link", "set", "lo", "up"]);
    ns(n, ["ip", "link", "set", i, "up"]);
  }
}

function cleanup(): void {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {}
    }
  spawnSync("ip", ["netns", "del", C]);
  spawnSync("ip", ["netns", "del", S]);
  fs.rmSync(dir, { recursive: true, force: true });
}

function start(n: string, cmd: string[]): { child: ChildProcess; out: string[] } {
  const child = spawn("ip", ["netns", "exec", n, ...cmd], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const out: string[] = [];
  child.stdout!.setEncoding("utf8").on("data", (d: string) => out.push(d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => out.push(d));
  return { child, out };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once("exit", r));
  process.kill(child.pid!, "SIGTERM");
  const t = setTimeout(
    () => child.pid && process.kill(child.pid, "SIGKILL"),
    process.env.BENCH_NODE_FLAGS ? 30000 : 5000,
  );
  await done;
  clearTimeout(t);
}

async function until(what: string, f: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const SUBNET = "198.18.0.0/16";
const POOL_FIRST = "198.18.1.0";
const POOL_LAST = "198.18.255.254";

async function startV6mostly(run: string) {
  const cfg = path.join(dir, `v6m-${run}.json`);
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      name: "bench",
      stateDir: path.join(dir, `v6m-state-${run}`),
      spec: {
        interface: SIF,
        subnet: SUBNET,
        ranges: [`${POOL_FIRST}-${POOL_LAST}`],
        router: "198.18.0.1",
        dnsServers: ["198.18.0.53"],
        leaseTime: "1h",
        maxLeasesPerMinute: 100_000_000,
      },
    }),
  );
  const p = start(S, [
    process.execPath,
    "--import",
    "tsx",
    path.join(root, "test/services/dhcp4/fixture-server.ts"),
    cfg,
  ]);
  await until("v6mostly READY", () => p.out.join("").includes("READY") || p.child.exitCode !== null);
  if (p.child.exitCode !== null) throw new Error(`v6mostly did not start: ${p.out.join("")}`);
  return p;
}

async function startKea(run: string) {
  const argv = keaCommand(path.join(dir, `kea-${run}`), {
    interface: SIF,
    subnet: SUBNET,
    pool: `${POOL_FIRST} - ${POOL_LAST}`,
    router: "198.18.0.1",
    dnsServers: ["198.18.0.53"],
    validLifetime: 3600,
  });
  const p = start(S, argv);
  // Kea opens its sockets before it starts reading: give it a moment and check it is alive.
  await new Promise((r) => setTimeout(r, 1500));
  if (p.child.exitCode !== null) throw new Error(`kea-dhcp4 did not start: ${p.out.join("")}`);
  return p;
}

interface Result {
  rate: number;
  exchanges: number;
  drops: string;
  /** DISCOVERs perfdhcp sent per second: below the rate, the sender is the limit */
  sentPerSecond: number;
}

async function perfdhcp(rate: number, base: number, period = seconds): Promise<Result> {
  // -R: that many different clients (new MACs from -b), so every exchange allocates a lease.
  const mac = `mac=02:${(base >> 8).toString(16).padStart(2, "0")}:${(base & 255).toString(16).padStart(2, "0")}:00:00:00`;
  const p = start(C, [
    "perfdhcp",
    "-4",
    "-l",
    CIF,
    "-r",
    String(rate),
    "-p",
    String(period),
    "-R",
    "1000000",
    "-b",
    mac,
    "198.18.0.1",
  ]);
  await new Promise((r) => p.child.once("exit", r));
  const text = p.out.join("");
  if (process.env.BENCH_VERBOSE) console.log(text);
  const m = /Rate:\s+([\d.]+)\s+4-way exchanges\/second/.exec(text);
  if (!m) throw new Error(`perfdhcp gave no rate:\n${text}`);
  const drops = /drops:\s*(\d+)/g;
  const d = [...text.matchAll(drops)].map((x) => x[1]).join("/");
  const sent = /sent packets:\s*(\d+)/.exec(text);
  return { rate, exchanges: Number(m[1]), drops: d, sentPerSecond: sent ? Number(sent[1]) / period : rate };
}

async function main(): Promise<void> {
  const why = need();
  if (why) {
    console.log(`bench:dhcp skipped: ${why}`);
    return;
  }
  setup();
  const rows: { rate: number; v6m: Result; kea: Result }[] = [];
  try {
    let base = 1;
    for (const rate of fixedRates ?? RAMP) {
      const v = await startV6mostly(String(rate));
      await perfdhcp(WARMUP_RATE, base++, WARMUP_SECONDS); // JIT and caches warm, not counted
      const v6m = await perfdhcp(rate, base++);
      await stop(v.child);
      if (process.env.BENCH_VERBOSE)
        console.log(
          v.out
            .join("")
            .split("\n")
            .filter((l) => l.startsWith("STATS"))
            .join("\n"),
        );
      const k = await startKea(String(rate));
      await perfdhcp(WARMUP_RATE, base++, WARMUP_SECONDS);
      const kea = await perfdhcp(rate, base++);
      await stop(k.child);
      rows.push({ rate, v6m, kea });
      console.log(
        `offered ${rate}/s for ${seconds}s: v6mostly ${v6m.exchanges.toFixed(0)} 4-way/s (drops ${v6m.drops}), ` +
          `Kea ${kea.exchanges.toFixed(0)} 4-way/s (drops ${kea.drops}), ratio ${(v6m.exchanges / kea.exchanges).toFixed(2)}x`,
      );
      if (fixedRates) continue;
      const senderShort = Math.min(v6m.sentPerSecond, kea.sentPerSecond) < rate * SATURATED;
      const full = (r: Result) => r.exchanges < rate * SATURATED;
      if (senderShort) {
        console.log(
          `perfdhcp sent only ${Math.min(v6m.sentPerSecond, kea.sentPerSecond).toFixed(0)} DISCOVERs/s of ${rate}: the sender is the limit here, not the servers`,
        );
        break;
      }
      if (full(v6m) || full(kea)) {
        const who = [full(v6m) && "v6mostly", full(kea) && "Kea"].filter(Boolean).join(" and ");
        console.log(
          `saturation at ${rate}/s offered (${who} below ${SATURATED * 100}%): v6mostly ${v6m.exchanges.toFixed(0)}, Kea ${kea.exchanges.toFixed(0)} 4-way exchanges/s, ratio ${(v6m.exchanges / kea.exchanges).toFixed(2)}x`,
        );
        break;
      }
    }
  } finally {
    cleanup();
  }
  const best = (k: "v6m" | "kea") => Math.max(...rows.map((r) => r[k].exchanges));
  console.log(
    `best: v6mostly ${best("v6m").toFixed(0)} 4-way exchanges/s, Kea ${best("kea").toFixed(0)} 4-way exchanges/s, ratio ${(best("v6m") / best("kea")).toFixed(2)}x (${os.cpus().length} cores, shared)`,
  );
}

await main();
