/**
 * `npm run bench:nat64-memory`: what `v6mostly run` with a stateful Nat64Gateway holds in memory,
 * and what it loses while its session table grows, against TAYGA (Debian's) in the same run and
 * the same three-namespace lab (test/services/nat64/lab.ts, load.ts).
 *
 * Phase 1, memory: the translator 2 s after start, idle 15 s after start (BENCH_IDLE_SECONDS),
 * then after 10,000 new UDP sessions (10 kpps). Ours is broken down from its own /metrics: the main isolate's V8 heap, the packet
 * worker's heap, the session tables' typed arrays, the rest of its anonymous memory (threads'
 * stacks, malloc, V8's code and zones), and the file-backed pages (the node binary's code and
 * data, shared with every node process on the host).
 *
 * Phase 2, growth (issue 19): 65,535 new sessions at 10 kpps through a fresh translator. Printed:
 * what the kernel queued for the TUN and dropped from its queue (txqueuelen 4096 for both), what
 * reached the server, the peak RSS and, for ours, the packet loop's longest pause.
 *
 * Ours runs from the build when it is fresh (bin/v6mostly.js decides; `npm run build` first), as
 * users run it. BENCH_ROUNDS (default 1) alternates the two.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
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
  /** ours only, from /metrics (MiB) */
  parts?: Record<string, number>;
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
    const look = (): Memory => ({ ...memoryOf(p.pid!), parts: tr.parts?.(lab) });
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
  console.log(
    `${name.padEnd(9)} ${when.padEnd(13)} RSS ${m.rss.toFixed(1).padStart(5)} MiB = anonymous ${m.anon.toFixed(1)} + file-backed ${m.file.toFixed(1)}${parts ? ` | MiB: ${parts}${rest}` : ""}`,
  );
}

/**
 * The runtime's own floor, measured on this host in the same run: the node binary idle on its own,
 * and with one idle worker thread (the shape of ours: a main thread and a packet worker), before
 * any of our code. What a NAT64 written for Node can reach lies above the second figure.
 */
async function runtimeFloor(): Promise<{ bare: Memory; worker: Memory }> {
  const script = (withWorker: boolean) =>
    `${withWorker ? 'new (require("node:worker_threads").Worker)("setInterval(() => {}, 1000)", { eval: true });' : ""} setInterval(() => {}, 1000);`;
  const look = async (withWorker: boolean): Promise<Memory> => {
    const p = spawn(process.execPath, ["-e", script(withWorker)], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 3000));
      return memoryOf(p.pid!);
    } finally {
      p.kill();
    }
  };
  return { bare: await look(false), worker: await look(true) };
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
