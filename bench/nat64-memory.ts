/**
 * `npm run bench:nat64-memory`: what `v6mostly run` with a stateful Nat64Gateway holds in memory,
 * and what it loses while its session table grows, against TAYGA (Debian's) in the same run and
 * the same three-namespace lab (test/services/nat64/lab.ts, load.ts).
 *
 * Phase 1, memory: the translator 2 s after start, idle 15 s after start (BENCH_IDLE_SECONDS; ours
 * has given back its start-up pages 10 s after its services started, src/cli/resident.ts), then
 * after 10,000 new UDP sessions (10 kpps). Ours is broken down from its own /metrics: the main
 * isolate's V8 heap, the packet worker's heap, the session tables' typed arrays, the rest of its
 * anonymous memory (threads' stacks, malloc, V8's code and zones); for both, the file-backed pages
 * (the executable's code and data, shared with every process that runs it, and the libraries')
 * and the thread count.
 *
 * Phase 2, growth (issue 19): 65,535 new sessions at 10 kpps through a fresh translator. Printed:
 * what the kernel queued for the TUN and dropped from its queue (txqueuelen 4096 for both), what
 * reached the server, the peak RSS and, for ours, the packet loop's longest pause.
 *
 * Ours runs from the build when it is fresh (bin/v6mostly.js decides; `npm run build` first), as
 * users run it. BENCH_ROUNDS (default 1) alternates the two.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { canRun, Lab, REPO, SERVER6, sh, waitFor } from "../test/services/nat64/lab.ts";
import {
  type LinkCounters,
  linkCounters,
  memoryOf,
  offerSessions,
  serverCounter,
} from "../test/services/nat64/load.ts";
import { cleanupOnSignals, startTayga, stopTayga, TAYGA_TUN } from "./nat64-lab.ts";

const STATUS = "127.0.0.1:9471";
/** Seconds after start when "idle" is measured. */
const IDLE_S = Number(process.env.BENCH_IDLE_SECONDS ?? 15);
const MiB = 2 ** 20;

interface Memory {
  rss: number;
  anon: number;
  file: number;
  /** of `file`, the executable's pages (node's binary, TAYGA's) and the libraries' (MiB), and its thread count */
  split: { exe: number; libs: number; threads: number };
  /** ours only, from /metrics (MiB) */
  parts?: Record<string, number>;
}

/** The process's memory (/proc/PID/status) and its file-backed pages split by file (smaps). */
function lookAt(pid: number): Omit<Memory, "parts"> {
  const exe = realpathSync(`/proc/${pid}/exe`);
  const split = { exe: 0, libs: 0, threads: 0 };
  let file = "";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) file = head[1]!;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && file.startsWith("/")) split[file === exe ? "exe" : "libs"] += Number(rss[1]) / 1024;
  }
  split.threads = Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return { ...memoryOf(pid), split };
}

interface Growth {
  queued: number;
  kernelDropped: number;
  atServer: number;
  peak: number;
  longestPauseMs?: number;
}

interface Translator {
  name: string;
  /** its TUN device */
  tun(lab: Lab): string;
  start(lab: Lab): Promise<ChildProcess>;
  stop(lab: Lab, p: ChildProcess): Promise<void>;
  parts?(lab: Lab): Record<string, number>;
  pauseMs?(lab: Lab): number;
}

function metrics(lab: Lab): Record<string, number> {
  const text = lab.ns(lab.t, ["curl", "-s", "--max-time", "3", `http://${STATUS}/metrics`]);
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^v6mostly_(\w+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m && !line.includes("space=")) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const ours: Translator = {
  name: "v6mostly",
  tun: (lab) => lab.tun,
  async start(lab) {
    // Each start from empty tables: the previous translator's graceful stop handed its sessions
    // over to the next start (src/services/nat64/handover.ts), which made round 2 start with 65,535.
    rmSync(join(lab.dir, "state", "nat64-lab.sessions"), { force: true });
    // One client opens them all: more than the default 65,536 sessions a client (limits.test.ts).
    const run = lab.startRun(lab.writeResource("  limits: { sessionsPerClient: 131072 }\n"), STATUS);
    await waitFor("v6mostly run", () => metrics(lab).nat64_worker_heap_bytes, 30_000);
    await waitFor("a ping through v6mostly", () =>
      /1 received/.test(lab.ns(lab.c, ["ping", "-c", "1", "-W", "1", SERVER6])),
    );
    return run;
  },
  stop: (lab, p) => lab.stop(p),
  parts(lab) {
    const m = metrics(lab);
    return {
      "main heap": m.nodejs_heap_size_total_bytes! / MiB,
      "(used)": m.nodejs_heap_size_used_bytes! / MiB,
      // (a build from before the metric: NaN)
      "worker heap": (m.nat64_worker_heap_committed_bytes ?? Number.NaN) / MiB,
      "(used) ": m.nat64_worker_heap_bytes! / MiB,
      tables: m.nat64_table_bytes! / MiB,
      "main external": m.nodejs_external_memory_bytes! / MiB,
    };
  },
  pauseMs: (lab) => (metrics(lab).nat64_loop_longest_pause_seconds ?? Number.NaN) * 1000,
};

const tayga: Translator = { name: "TAYGA", tun: () => TAYGA_TUN, start: startTayga, stop: stopTayga };

async function memory(lab: Lab, tr: Translator): Promise<[starting: Memory, idle: Memory, loaded: Memory]> {
  const p = await tr.start(lab);
  try {
    const look = (): Memory => ({ ...lookAt(p.pid!), parts: tr.parts?.(lab) });
    await new Promise((r) => setTimeout(r, 2000));
    const starting = look();
    // V8's memory reducer gives back what start-up took after some seconds of quiet.
    await new Promise((r) => setTimeout(r, IDLE_S * 1000 - 2000));
    const idle = look();
    offerSessions(lab, 10_000, 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    return [starting, idle, look()];
  } finally {
    await tr.stop(lab, p);
  }
}

async function growth(lab: Lab, tr: Translator, received: () => number): Promise<Growth> {
  const p = await tr.start(lab);
  try {
    const tun = tr.tun(lab);
    const t0: LinkCounters = linkCounters(lab, lab.t, tun);
    const s0 = received();
    offerSessions(lab, 65_535, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const t1 = linkCounters(lab, lab.t, tun);
    return {
      queued: t1.tx - t0.tx,
      kernelDropped: t1.txDropped - t0.txDropped,
      atServer: received() - s0,
      peak: memoryOf(p.pid!).peak,
      longestPauseMs: tr.pauseMs?.(lab),
    };
  } finally {
    await tr.stop(lab, p);
  }
}

function showMemory(name: string, when: string, m: Memory): void {
  const parts = m.parts
    ? Object.entries(m.parts)
        .map(([k, v]) => `${k.trim()} ${v.toFixed(1)}`)
        .join(", ")
    : "";
  const heaps = m.parts ? m.parts["main heap"]! + m.parts["worker heap"]! + m.parts.tables! : 0;
  const rest = m.parts ? `, rest of anonymous ${(m.anon - heaps).toFixed(1)}` : "";
  const { exe, libs, threads } = m.split;
  console.log(
    `${name.padEnd(9)} ${when.padEnd(13)} RSS ${m.rss.toFixed(1).padStart(5)} MiB = anonymous ${m.anon.toFixed(1)} + file-backed ${m.file.toFixed(1)} (binary ${exe.toFixed(1)}, libraries ${libs.toFixed(1)}), ${threads} threads${parts ? ` | MiB: ${parts}${rest}` : ""}`,
  );
}

/**
 * The runtime's own floor, measured on this host in the same run: the node binary idle on its own,
 * and with one idle worker thread (the shape of ours: a main thread and a packet worker), before
 * any of our code; then the latter with the options `v6mostly run` re-executes itself with
 * (bin/v6mostly.js). Ours gives back start-up's pages of the binary besides (src/cli/resident.ts),
 * so it can be below these.
 */
async function runtimeFloor(): Promise<{ bare: Memory; worker: Memory; lean: Memory }> {
  const script = (withWorker: boolean) =>
    `${withWorker ? 'new (require("node:worker_threads").Worker)("setInterval(() => {}, 1000)", { eval: true });' : ""} setInterval(() => {}, 1000);`;
  const look = async (withWorker: boolean, lean = false): Promise<Memory> => {
    const p = spawn(process.execPath, ["-e", script(withWorker)], {
      stdio: "ignore",
      env: lean ? { ...process.env, MALLOC_ARENA_MAX: "1" } : process.env,
    });
    try {
      await new Promise((r) => setTimeout(r, 3000));
      return lookAt(p.pid!);
    } finally {
      p.kill();
    }
  };
  return { bare: await look(false), worker: await look(true), lean: await look(true, true) };
}

function fresh(): string {
  const built = join(REPO, "dist/cli/main.js");
  if (!existsSync(built)) return "from the TypeScript sources (no build: npm run build)";
  return statSync(built).mtimeMs >= statSync(join(REPO, "src/datapath/tun/loop.ts")).mtimeMs
    ? "from the build"
    : "from the sources if the build is older than them (npm run build)";
}

const why = canRun();
if (why) {
  console.log(`bench skipped: ${why}`);
  process.exit(0);
}
for (const tool of ["tayga", "nft"]) {
  try {
    sh(["sh", "-c", `command -v ${tool}`]);
  } catch {
    console.log(`bench skipped: ${tool} missing`);
    process.exit(0);
  }
}
const lab = new Lab("mem");
cleanupOnSignals(lab);
try {
  lab.setup();
  const received = serverCounter(lab);
  console.log(`v6mostly run ${fresh()}; this machine: 2 cores shared with other engineers`);
  const floor = await runtimeFloor();
  showMemory("node", "bare, 3 s", floor.bare);
  showMemory("node", "+1 worker", floor.worker);
  showMemory("node", "+1w, 1 arena", floor.lean);
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
  for (let i = 1; i <= rounds; i++) {
    console.log(`round ${i}/${rounds}`);
    for (const tr of [ours, tayga]) {
      const [starting, idle, loaded] = await memory(lab, tr);
      showMemory(tr.name, "after 2 s", starting);
      showMemory(tr.name, `idle ${IDLE_S} s`, idle);
      showMemory(tr.name, "10k sessions", loaded);
    }
    for (const tr of [ours, tayga]) {
      const g = await growth(lab, tr, received);
      console.log(
        `${tr.name.padEnd(9)} 65,535 new sessions at 10 kpps: kernel queued ${g.queued} for the TUN and dropped ${g.kernelDropped} from its queue, server received ${g.atServer}, peak RSS ${g.peak.toFixed(1)} MiB${g.longestPauseMs === undefined ? "" : `, loop's longest pause ${g.longestPauseMs.toFixed(1)} ms`}`,
      );
    }
  }
} finally {
  await lab.cleanup();
}
