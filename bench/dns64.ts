// `npm run bench:dns64`: dnsperf against v6mostly's DNS64 and against Unbound with dns64, in the same
// run, on the same loopback lab (an authoritative BIND behind both; see test/services/dns64/lab.ts).
//
// For each target:
//   cached   — AAAA queries for 2000 A-only names, after a warm-up pass: every answer is a cached,
//              synthesized AAAA.
//   uncached — AAAA queries for names never asked before (a wildcard in the zone): every query
//              costs the resolver an AAAA and an A query upstream, then synthesis.
// Throughput runs (dnsperf -q 100 outstanding, no rate limit; the two targets alternate three times
// and the median is kept) give QPS; tail runs at a fixed offered 5,000 QPS of cached queries
// (dnsperf -Q 5000 -v: one latency per query; TAIL_ROUNDS alternating rounds of TAIL_SECONDS, the
// median of each percentile kept) give p50/p90/p99/p99.9 and the CPU time per query, with what our
// main event loop went through meanwhile (bench/dns64-serve.ts, SIGUSR2: loop delay, scavenges and
// their pauses); a run at a fixed rate gives uncached latency percentiles; a run of uncached
// queries at a fixed rate below saturation gives the CPU time each resolver process spent per query
// (/proc/PID/stat), which other load on the machine disturbs far less than it disturbs QPS. v6mostly runs with 1 and 2 event loops (startDns64 { workers }: worker threads on
// SO_REUSEPORT sockets), Unbound with num-threads 1 and 2. Every dnsperf run is bounded (-l seconds).
// Each throughput figure comes with the share of the whole machine's CPU time left idle during its
// run (/proc/stat): near 0, the machine (dnsperf, BIND and the resolver on the same cores), not the
// resolver, sets the QPS, and a second worker or thread has no core of its own to run on.
// For the tail rounds and the uncached CPU run it also prints where the CPU went, per query, by
// thread (their names: src/util/sys/libc.ts nameThisThread): receive threads, event loops and the
// helpers (V8's collector and compiler, libuv), with each one's context switches per query. With
// one worker the tail rounds run again with the CPUs fixed (taskset): the resolver and dnsperf on
// one CPU, then each on its own (PLACEMENTS).
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { BENCH_WILDCARD, type Lab, missingTools, portBase, startLab } from "../test/services/dns64/lab.ts";
import { LOOP_THREAD_NAME } from "../src/services/dns64/stack.ts";
import { RECV_THREAD_NAME } from "../src/services/dns64/udpthread.ts";
import { measurePortPolicies } from "./dns64-ports.ts";

const PREFIX = "64:ff9b::/96";
const NAMES = 2000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const ROUNDS = 3;
/** the tail runs: offered rate, rounds and their length (each round ~TAIL_QPS*TAIL_SECONDS samples) */
const TAIL_QPS = 5000;
const TAIL_ROUNDS = Number(process.env.BENCH_TAIL_ROUNDS ?? 5);
const TAIL_SECONDS = Number(process.env.BENCH_TAIL_SECONDS ?? 3);
/** BENCH_TAIL_DETAIL=1 prints every tail round (p99, p99.9, CPU, our main loop's collections) */
const TAIL_DETAIL = process.env.BENCH_TAIL_DETAIL === "1";
/** BENCH_NODE_ARGS: node options for our server process (e.g. V8 flags NODE_OPTIONS refuses) */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
/** BENCH_WORKERS=1 measures one event loop / one Unbound thread only (a shorter run) */
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? "1,2").split(",").map(Number);
/**
 * The tail's placements besides the scheduler's own (1 worker): the resolver's threads and
 * dnsperf on one CPU ("together"), or each on its own ("apart"). On this machine's VM a wake-up
 * that crosses CPUs costs tens of µs, so which CPU the scheduler picks for the woken thread shows
 * in the p50 and the tail; with the CPUs fixed, both resolvers meet the same placement.
 * BENCH_PLACEMENTS=free skips them.
 */
const PLACEMENTS = (process.env.BENCH_PLACEMENTS ?? "together,apart")
  .split(",")
  .filter((p): p is "together" | "apart" => p === "together" || p === "apart");
const CPUS_OF = { together: { server: 1, client: 1 }, apart: { server: 1, client: 0 } } as const;

/** Every thread of `pid` onto `cpus` (taskset -a: the threads it starts later inherit it). */
async function pin(pid: number, cpus: string): Promise<void> {
  const out = await run("taskset", ["-a", "-p", "-c", cpus, String(pid)]);
  // a CPU this process may not use (a cpuset) would leave the placement unfixed under its name
  if (/failed|invalid/i.test(out)) throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${out.trim()}`);
}
/** BENCH_ONLY=ports measures the source-port policies only (bench/dns64-ports.ts) */
const PORTS_ONLY = process.env.BENCH_ONLY === "ports";
const here = new URL(".", import.meta.url).pathname;

interface Perf {
  qps: number;
  completed: number;
  lost: number;
  avgMs: number;
  p50?: number;
  p90?: number;
  p99?: number;
  p999?: number;
  rcodes: string;
  /** % of the whole machine's CPU time idle during the run (/proc/stat): 0 = every core was busy */
  idle: number;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.on("error", reject);
    p.on("exit", () => resolve(out));
  });
}

/**
 * Clock ticks of CPU (user + system, CLK_TCK 100 on Linux) from a stat file: /proc/PID/stat (the
 * whole process) or /proc/PID/task/TID/stat (one thread), fields 14 and 15.
 */
function cpuTicks(statFile: string): number {
  const stat = readFileSync(statFile, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** CPU seconds (user + system, all threads) a process has used. */
function cpuSeconds(pid: number): number {
  return cpuTicks(`/proc/${pid}/stat`) / 100;
}

/** The machine's CPU time so far, idle (idle + iowait) and in all, in clock ticks: /proc/stat "cpu". */
function machineTicks(): { idle: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** Resident memory of a process (MiB): now (VmRSS) and its peak (VmHWM), from /proc/PID/status. */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/** Where a process's CPU went, by thread role: µs of CPU and context switches, per query. */
interface Use {
  cpuUs: number;
  voluntary: number;
  involuntary: number;
}
type Roles = Record<string, Use>;

/**
 * A thread's role from its name (src/util/sys/libc.ts nameThisThread): our receive threads, our
 * event loops (the main thread and the workers), and the rest, V8's helpers (collector, compiler)
 * and libuv's; every thread of Unbound is one of its event loops.
 */
function roleOf(pid: number, tid: number, comm: string): string {
  if (comm === RECV_THREAD_NAME) return "receive";
  if (tid === pid || comm === LOOP_THREAD_NAME || comm === "unbound") return "loop";
  return "helpers";
}

/** Per thread: role, CPU ticks (user + system), voluntary and involuntary context switches. */
function threadsOf(pid: number): Map<number, { role: string; ticks: number; vol: number; invol: number }> {
  const m = new Map<number, { role: string; ticks: number; vol: number; invol: number }>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${t}`;
      const status = readFileSync(`${dir}/status`, "utf8");
      const n = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
      m.set(Number(t), {
        role: roleOf(pid, Number(t), readFileSync(`${dir}/comm`, "utf8").trim()),
        ticks: cpuTicks(`${dir}/stat`),
        vol: n("voluntary_ctxt_switches"),
        invol: n("nonvoluntary_ctxt_switches"),
      });
    } catch {
      // the thread ended meanwhile
    }
  }
  return m;
}

/** What each role used between two threadsOf() of one process, per query. */
function rolesBetween(
  before: ReturnType<typeof threadsOf>,
  after: ReturnType<typeof threadsOf>,
  queries: number,
): Roles {
  const roles: Roles = {};
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { ticks: 0, vol: 0, invol: 0 };
    const r = (roles[a.role] ??= { cpuUs: 0, voluntary: 0, involuntary: 0 });
    r.cpuUs += ((a.ticks - b.ticks) * 1e4) / queries; // clock ticks of 10 ms (CLK_TCK 100)
    r.voluntary += (a.vol - b.vol) / queries;
    r.involuntary += (a.invol - b.invol) / queries;
  }
  return roles;
}

/** Medians over rounds, role by role. */
function medianRoles(rounds: Roles[]): Roles {
  const out: Roles = {};
  for (const role of new Set(rounds.flatMap((r) => Object.keys(r))))
    out[role] = {
      cpuUs: medianOf(rounds.map((r) => r[role]?.cpuUs ?? 0)),
      voluntary: medianOf(rounds.map((r) => r[role]?.voluntary ?? 0)),
      involuntary: medianOf(rounds.map((r) => r[role]?.involuntary ?? 0)),
    };
  return out;
}

/** CPU time per uncached query (µs) at a fixed rate of `qps`, for the process `pid`. */
async function cpuPerQuery(
  port: number,
  pid: number,
  file: string,
  qps: number,
): Promise<{ cpuUs: number; roles: Roles }> {
  const before = cpuSeconds(pid);
  const threads = threadsOf(pid);
  const p = await dnsperf(port, file, { seconds: 4, qps });
  return {
    cpuUs: ((cpuSeconds(pid) - before) * 1e6) / p.completed,
    roles: rolesBetween(threads, threadsOf(pid), p.completed),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function dnsperf(
  port: number,
  file: string,
  opts: { seconds: number; qps?: number; verbose?: boolean; runs?: number; cpu?: number },
): Promise<Perf> {
  const args = [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    file,
    "-l",
    String(opts.seconds),
    "-q",
    "100",
    "-t",
    "2",
    "-c",
    "8",
  ];
  if (opts.qps) args.push("-Q", String(opts.qps));
  if (opts.verbose) args.push("-v");
  if (opts.runs) args.push("-n", String(opts.runs));
  const before = machineTicks();
  const out =
    opts.cpu === undefined
      ? await run("dnsperf", args)
      : await run("taskset", ["-c", String(opts.cpu), "dnsperf", ...args]);
  const after = machineTicks();
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
  const perf: Perf = {
    idle: (100 * (after.idle - before.idle)) / Math.max(1, after.total - before.total),
    qps: num(/Queries per second:\s+([\d.]+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    rcodes: /Response codes:\s+(.*)/.exec(out)?.[1] ?? "?",
  };
  if (opts.verbose) {
    // dnsperf -v prints one line per answered query ending in its latency in seconds
    const lat = out
      .split("\n")
      .filter((l) => l.startsWith(">"))
      .map((l) => Number(l.trim().split(/\s+/).pop()))
      .filter((x) => Number.isFinite(x))
      .sort((x, y) => x - y);
    perf.p50 = percentile(lat, 50) * 1000;
    perf.p90 = percentile(lat, 90) * 1000;
    perf.p99 = percentile(lat, 99) * 1000;
    perf.p999 = percentile(lat, 99.9) * 1000;
  }
  return perf;
}

function startOurs(workers: number, port: number, upstream: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        "--import",
        "tsx",
        join(here, "dns64-serve.ts"),
        String(workers),
        String(port),
        upstream,
        PREFIX,
      ],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const t = setTimeout(() => reject(new Error("v6mostly did not start")), 20000);
    let out = "";
    p.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      ourOutput.set(p, out);
      if (d.toString().includes("ready")) {
        clearTimeout(t);
        resolve(p);
      }
    });
    p.on("exit", (code) => reject(new Error(`v6mostly exited (${code})`)));
  });
}

/** What each of our server processes printed (its stats come last, on SIGTERM). */
const ourOutput = new Map<ChildProcess, string>();

/** What our server's main event loop went through since the previous call (SIGUSR2, dns64-serve.ts). */
async function diagOf(p: ChildProcess): Promise<Record<string, number>> {
  const seen = (ourOutput.get(p) ?? "").length;
  p.kill("SIGUSR2");
  for (let i = 0; i < 100; i++) {
    const line = /^diag (.*)$/m.exec((ourOutput.get(p) ?? "").slice(seen));
    if (line) return JSON.parse(line[1]!) as Record<string, number>;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {};
}

/** Stops our server; its stats over the whole run. */
async function stopOurs(p: ChildProcess): Promise<Record<string, number>> {
  if (p.exitCode === null) {
    const done = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 3000);
    await done;
    clearTimeout(t);
  }
  const line = /^stats (.*)$/m.exec(ourOutput.get(p) ?? "");
  return line ? (JSON.parse(line[1]!) as Record<string, number>) : {};
}

const fmt = (x: number | undefined, d = 0) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));

/** Medians over the tail rounds of one target. */
interface Tail {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  /** CPU µs per query of the resolver process during the tail runs */
  cpuUs: number;
  /** the same and the context switches per query, by thread role (medians over rounds) */
  roles: Roles;
  lost: number;
  /** ours only: the main event loop during the tail runs (medians over rounds, max of maxima) */
  diag?: Record<string, number>;
}

interface Row {
  target: string;
  workers: number;
  cached: Perf;
  tail: Tail;
  uncached: Perf;
  uncachedLat: Perf;
  /** CPU µs per uncached query at CPU_QPS */
  cpuUs: number;
  /** the same and the context switches per uncached query, by thread role */
  cpuRoles: Roles;
  /** 1 worker: the tail rounds again with the resolver's and dnsperf's CPUs fixed, by placement */
  placed: Record<string, Tail>;
  /** after all of its runs (caches full): MiB resident, and the peak */
  memory: { rss: number; peak: number };
}

/** The fixed rate of the CPU-per-query runs: below saturation for both, at 1 and 2 threads. */
const CPU_QPS = 2000;

interface Files {
  cached: string;
  uncached: (tag: string) => string;
}

const median = (xs: Perf[]): Perf => [...xs].sort((a, b) => a.qps - b.qps)[Math.floor(xs.length / 2)]!;
const medianOf = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

interface TailRound {
  perf: Perf;
  cpuUs: number;
  /** the CPU and the context switches per query, by thread role */
  roles: Roles;
  diag?: Record<string, number>;
}

/** One tail round: cached queries offered at TAIL_QPS, one latency per query. */
async function tailRound(
  port: number,
  pid: number,
  file: string,
  ours?: ChildProcess,
  cpu?: number,
): Promise<TailRound> {
  if (ours) await diagOf(ours); // starts its counting afresh
  const before = cpuSeconds(pid);
  const threads = threadsOf(pid);
  const perf = await dnsperf(port, file, { seconds: TAIL_SECONDS, qps: TAIL_QPS, verbose: true, cpu });
  const cpuUs = ((cpuSeconds(pid) - before) * 1e6) / perf.completed;
  const roles = rolesBetween(threads, threadsOf(pid), perf.completed);
  return { perf, cpuUs, roles, diag: ours ? await diagOf(ours) : undefined };
}

function tailOf(rounds: TailRound[]): Tail {
  const m = (f: (p: Perf) => number | undefined) => medianOf(rounds.map((r) => f(r.perf) ?? Number.NaN));
  const tail: Tail = {
    p50: m((p) => p.p50),
    p90: m((p) => p.p90),
    p99: m((p) => p.p99),
    p999: m((p) => p.p999),
    cpuUs: medianOf(rounds.map((r) => r.cpuUs)),
    roles: medianRoles(rounds.map((r) => r.roles)),
    lost: rounds.reduce((n, r) => n + r.perf.lost, 0),
  };
  const diags = rounds.flatMap((r) => (r.diag ? [r.diag] : []));
  if (diags.length > 0) {
    tail.diag = {};
    for (const k of Object.keys(diags[0]!))
      tail.diag[k] = k.endsWith("MaxMs")
        ? Math.max(...diags.map((d) => d[k] ?? 0))
        : medianOf(diags.map((d) => d[k] ?? Number.NaN));
  }
  return tail;
}

/**
 * Alternates the two targets ROUNDS times for each figure and keeps the median, so that load from
 * elsewhere on the shared machine hits both alike.
 */
async function measurePair(
  ports: { ours: number; unbound: number },
  procs: { ours: ChildProcess; unbound: number },
  workers: number,
  files: Files,
): Promise<Row[]> {
  const targets = [
    {
      target: "v6mostly",
      port: ports.ours,
      pid: procs.ours.pid!,
      proc: procs.ours as ChildProcess | undefined,
    },
    { target: "unbound", port: ports.unbound, pid: procs.unbound, proc: undefined },
  ];
  // warm the caches with every cached name (each of our workers has its own cache: several passes)
  for (const t of targets) await dnsperf(t.port, files.cached, { seconds: 10, runs: workers + 1 });
  const cached: Perf[][] = [[], []];
  const uncached: Perf[][] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries())
      cached[i]!.push(await dnsperf(t.port, files.cached, { seconds: SECONDS }));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      uncached[i]!.push(
        await dnsperf(t.port, files.uncached(`${t.target[0]}${workers}r${round}x`), { seconds: SECONDS }),
      );
    }
  }
  // the tail at a light, fixed load of cached queries, after the throughput runs (a full cache, a
  // heap that has worked), alternating. Those runs asked for ~100,000 names never asked before and
  // pushed many of the cached names out of both caches (least recently used): they are asked once
  // more first, so that the tail measures cached answers, as its name says (the first round of each
  // target used to be part misses: CPU per query 35-39 µs for ours, 22 for Unbound's, against 15-18)
  for (const t of targets) await dnsperf(t.port, files.cached, { seconds: 10, runs: workers + 1 });
  const tails: TailRound[][] = [[], []];
  for (let round = 0; round < TAIL_ROUNDS; round++) {
    for (const [i, t] of targets.entries())
      tails[i]!.push(await tailRound(t.port, t.pid, files.cached, t.proc));
  }
  if (TAIL_DETAIL)
    for (let round = 0; round < TAIL_ROUNDS; round++)
      for (const [i, t] of targets.entries()) {
        const r = tails[i]![round]!;
        const d = r.diag ? ` main loop ${JSON.stringify(r.diag)}` : "";
        console.log(
          `tail round ${round} ${t.target}: p99 ${fmt(r.perf.p99, 2)} p99.9 ${fmt(r.perf.p999, 2)} ms, CPU ${fmt(r.cpuUs, 1)} µs/query${d}`,
        );
      }
  // the same rounds with the CPUs fixed (one event loop / one Unbound thread only): where the tail
  // comes from when neither the resolver nor dnsperf chooses its CPU
  const placed: Record<string, Tail[]> = {};
  if (workers === 1 && availableParallelism() >= 2)
    for (const placement of PLACEMENTS) {
      const { server, client } = CPUS_OF[placement];
      const rounds: TailRound[][] = [[], []];
      try {
        for (const t of targets) await pin(t.pid, String(server));
        for (let round = 0; round < TAIL_ROUNDS; round++)
          for (const [i, t] of targets.entries())
            rounds[i]!.push(await tailRound(t.port, t.pid, files.cached, t.proc, client));
      } finally {
        for (const t of targets) await pin(t.pid, `0-${availableParallelism() - 1}`);
      }
      placed[placement] = rounds.map(tailOf);
    }
  const rows: Row[] = [];
  for (const [i, t] of targets.entries()) {
    const uncachedLat = await dnsperf(t.port, files.uncached(`${t.target[0]}${workers}lat`), {
      seconds: 2,
      qps: 1000,
      verbose: true,
    });
    const { cpuUs, roles: cpuRoles } = await cpuPerQuery(
      t.port,
      t.pid,
      files.uncached(`${t.target[0]}${workers}cpu`),
      CPU_QPS,
    );
    rows.push({
      target: t.target,
      workers,
      cached: median(cached[i]!),
      tail: tailOf(tails[i]!),
      uncached: median(uncached[i]!),
      uncachedLat,
      cpuUs,
      cpuRoles,
      placed: Object.fromEntries(Object.entries(placed).map(([k, v]) => [k, v[i]!])),
      memory: memoryMiB(t.pid),
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const missing =
    missingTools() ?? (await run("sh", ["-c", "command -v dnsperf || echo missing"])).includes("missing");
  if (missing) {
    console.log(`bench:dns64 skipped: ${missing === true ? "dnsperf is not installed" : missing}`);
    return;
  }
  const loadBefore = (await run("uptime", [])).trim().replace(/.*load/, "load");
  console.log(`uptime: ${loadBefore}`);
  const dir = (await run("mktemp", ["-d", "/tmp/v6m-dns64-bench-XXXXXX"])).trim();
  const cachedFile = join(dir, "cached.txt");
  writeFileSync(
    cachedFile,
    `${Array.from({ length: NAMES }, (_, i) => `h${i}.v6m.example AAAA`).join("\n")}\n`,
  );
  const files: Files = {
    cached: cachedFile,
    uncached: (tag) => {
      const f = join(dir, `uncached-${tag}.txt`);
      // enough fresh names for the whole run at well above any QPS seen here (dnsperf starts the
      // file again when it reaches the end: repeated names would be cache hits)
      writeFileSync(
        f,
        `${Array.from({ length: 30_000 * Math.max(1, SECONDS) }, (_, i) => `${tag}${i}.${BENCH_WILDCARD} AAAA`).join("\n")}\n`,
      );
      return f;
    },
  };

  const rows: Row[] = [];
  /** upstream UDP queries per source port over each whole run, by worker count */
  const perPort = new Map<number, number>();
  let portPolicies: string[] = [];
  for (const threads of PORTS_ONLY ? [1] : WORKER_COUNTS) {
    let lab: Lab | undefined;
    let ours: ChildProcess | undefined;
    try {
      lab = await startLab({
        prefix: PREFIX,
        peers: true,
        bind: false,
        unboundThreads: threads,
        benchNames: NAMES,
      });
      if (threads === (PORTS_ONLY ? 1 : WORKER_COUNTS[0]))
        portPolicies = await measurePortPolicies({ host: "127.0.0.1", port: lab.auth.port }, BENCH_WILDCARD);
      if (PORTS_ONLY) continue;
      const upstream = `127.0.0.1:${lab.auth.port}`;
      const port = portBase() + 7;
      ours = await startOurs(threads, port, upstream);
      rows.push(
        ...(await measurePair(
          { ours: port, unbound: lab.unbound64!.port },
          { ours, unbound: lab.unbound64!.proc.pid! },
          threads,
          files,
        )),
      );
    } finally {
      if (ours) {
        const s = await stopOurs(ours);
        perPort.set(threads, (s.upstreamUdpSent ?? Number.NaN) / (s.upstreamPortsOpened ?? Number.NaN));
      }
      await lab?.stop();
    }
  }
  await run("rm", ["-rf", dir]);
  if (PORTS_ONLY) {
    for (const l of portPolicies) console.log(l);
    return;
  }

  console.log(
    `\nDNS64 benchmark: dnsperf 2.10, median of ${ROUNDS} alternating ${SECONDS} s runs per QPS figure, 100 queries outstanding, loopback.`,
  );
  console.log(
    "Machine: 2 cores shared with other engineers' work; dnsperf, the authoritative BIND and the resolver",
  );
  console.log(
    "all run on them, so absolute figures are low and noisy; ratios from the same run are what to read.\n",
  );
  console.log(
    `target     workers | cached QPS | uncached QPS  p50/p90/p99 ms (@1k qps) | CPU µs/uncached (@${CPU_QPS / 1000}k qps) | lost | machine idle % cached/uncached`,
  );
  for (const r of rows) {
    console.log(
      `${r.target.padEnd(10)} ${String(r.workers).padStart(7)} | ${fmt(r.cached.qps).padStart(10)} ` +
        `| ${fmt(r.uncached.qps).padStart(12)}  ${fmt(r.uncachedLat.p50, 2)}/${fmt(r.uncachedLat.p90, 2)}/${fmt(r.uncachedLat.p99, 2)}`.padEnd(
          43,
        ) +
        `| ${fmt(r.cpuUs).padStart(8)}`.padEnd(28) +
        `| ${r.cached.lost + r.uncached.lost}`.padEnd(7) +
        `| ${fmt(r.cached.idle, 1)} / ${fmt(r.uncached.idle, 1)}`,
    );
  }
  for (const w of WORKER_COUNTS) {
    const o = rows.find((r) => r.target === "v6mostly" && r.workers === w)!;
    const u = rows.find((r) => r.target === "unbound" && r.workers === w)!;
    console.log(
      `ratio v6mostly/unbound at ${w} worker(s)/thread(s): cached ${(o.cached.qps / u.cached.qps).toFixed(2)}x, uncached ${(o.uncached.qps / u.uncached.qps).toFixed(2)}x, CPU per uncached query ${(o.cpuUs / u.cpuUs).toFixed(2)}x`,
    );
  }

  console.log(
    `\nTail at a fixed offered ${TAIL_QPS} QPS, cached (dnsperf -Q ${TAIL_QPS} -v): medians of ${TAIL_ROUNDS} alternating ${TAIL_SECONDS} s rounds`,
  );
  console.log(
    "target     workers | p50    p90    p99    p99.9 ms | CPU µs/query | lost | main loop: delay p99/max ms, scavenges (total/max ms), other GCs (max ms)",
  );
  for (const r of rows) {
    const t = r.tail;
    const d = t.diag;
    console.log(
      `${r.target.padEnd(10)} ${String(r.workers).padStart(7)} | ${[t.p50, t.p90, t.p99, t.p999].map((x) => fmt(x, 2).padStart(5)).join("  ")}    | ${fmt(t.cpuUs, 1).padStart(12)} | ${String(t.lost).padStart(4)} |` +
        (d
          ? ` ${fmt(d.loopDelayP99Ms, 1)}/${fmt(d.loopDelayMaxMs, 1)}, ${fmt(d.scavenges)} (${fmt(d.scavengeMs, 1)}/${fmt(d.scavengeMaxMs, 1)}), ${fmt(d.other)} (${fmt(d.otherMaxMs, 1)})`
          : ""),
    );
  }
  for (const w of WORKER_COUNTS) {
    const o = rows.find((r) => r.target === "v6mostly" && r.workers === w)!.tail;
    const u = rows.find((r) => r.target === "unbound" && r.workers === w)!.tail;
    console.log(
      `tail ratio v6mostly/unbound at ${w} worker(s)/thread(s): p50 ${(o.p50 / u.p50).toFixed(2)}x, p90 ${(o.p90 / u.p90).toFixed(2)}x, p99 ${(o.p99 / u.p99).toFixed(2)}x, p99.9 ${(o.p999 / u.p999).toFixed(2)}x, CPU per query ${(o.cpuUs / u.cpuUs).toFixed(2)}x`,
    );
  }
  for (const target of ["v6mostly", "unbound"]) {
    const one = rows.find((r) => r.target === target && r.workers === 1)?.tail;
    const two = rows.find((r) => r.target === target && r.workers === 2)?.tail;
    if (one && two)
      console.log(
        `${target} tail 1 → 2 ${target === "unbound" ? "threads" : "workers"} (below 1: faster): p99 ${(two.p99 / one.p99).toFixed(2)}x, p99.9 ${(two.p999 / one.p999).toFixed(2)}x`,
      );
  }
  const placedRows = rows.filter((r) => Object.keys(r.placed).length > 0);
  if (placedRows.length > 0) {
    console.log(
      `\nThe same tail with the CPUs fixed (1 worker / 1 thread; "together": resolver and dnsperf on CPU 1, "apart": resolver on CPU 1, dnsperf on CPU 0; medians of ${TAIL_ROUNDS} alternating rounds)`,
    );
    console.log("target     placement | p50    p90    p99    p99.9 ms | CPU µs/query");
    for (const placement of PLACEMENTS)
      for (const r of placedRows) {
        const t = r.placed[placement];
        if (t)
          console.log(
            `${r.target.padEnd(10)} ${placement.padStart(9)} | ${[t.p50, t.p90, t.p99, t.p999].map((x) => fmt(x, 3).padStart(5)).join("  ")} | ${fmt(t.cpuUs, 1).padStart(12)}`,
          );
      }
    for (const placement of PLACEMENTS) {
      const o = placedRows.find((r) => r.target === "v6mostly")?.placed[placement];
      const u = placedRows.find((r) => r.target === "unbound")?.placed[placement];
      if (o && u)
        console.log(
          `tail ratio v6mostly/unbound, ${placement}: p50 ${(o.p50 / u.p50).toFixed(2)}x, p90 ${(o.p90 / u.p90).toFixed(2)}x, p99 ${(o.p99 / u.p99).toFixed(2)}x, p99.9 ${(o.p999 / u.p999).toFixed(2)}x, CPU per query ${(o.cpuUs / u.cpuUs).toFixed(2)}x`,
        );
    }
  }
  console.log(
    "\nWhere the CPU went, per query (µs; context switches: voluntary = the thread slept and was woken, involuntary = preempted):",
  );
  console.log(
    "target     workers | run                | receive thread(s)  | event loop(s)      | helpers (V8, libuv) | total",
  );
  const roleCell = (u: Use | undefined) =>
    u ? `${fmt(u.cpuUs, 1)} µs ${fmt(u.voluntary, 2)}/${fmt(u.involuntary, 2)}`.padEnd(19) : "-".padEnd(19);
  for (const r of rows)
    for (const [run, roles] of [
      [`cached @${TAIL_QPS / 1000}k (tail)`, r.tail.roles],
      [`uncached @${CPU_QPS / 1000}k`, r.cpuRoles],
    ] as const) {
      const total = Object.values(roles).reduce((n, u) => n + u.cpuUs, 0);
      console.log(
        `${r.target.padEnd(10)} ${String(r.workers).padStart(7)} | ${run.padEnd(18)} | ${roleCell(roles.receive)}| ${roleCell(roles.loop)}| ${roleCell(roles.helpers)} | ${fmt(total, 1)}`,
      );
    }
  console.log(
    `load: ${loadBefore} before, ${(await run("uptime", [])).trim().replace(/.*load/, "load")} after`,
  );
  const o1 = rows.find((r) => r.target === "v6mostly" && r.workers === 1);
  const o2 = rows.find((r) => r.target === "v6mostly" && r.workers === 2);
  if (o1 && o2)
    console.log(
      `v6mostly scaling 1 → 2 workers: cached ${(o2.cached.qps / o1.cached.qps).toFixed(2)}x, uncached ${(o2.uncached.qps / o1.uncached.qps).toFixed(2)}x`,
    );
  if (o1) console.log(`response codes (v6mostly, 1 worker, cached): ${o1.cached.rcodes}`);
  for (const r of rows)
    console.log(
      `memory after the runs, ${r.target} ${r.workers} worker(s)/thread(s): RSS ${fmt(r.memory.rss, 1)} MiB, peak ${fmt(r.memory.peak, 1)} MiB${r.target === "v6mostly" ? " (under tsx)" : ""}`,
    );
  for (const [w, n] of perPort)
    console.log(`v6mostly upstream UDP queries per source port over the run, ${w} worker(s): ${fmt(n, 1)}`);
  for (const l of portPolicies) console.log(l);
}

await main();
