// Runs v6mostly's DNS64 for bench/dns64.ts in its own process, with N event loops
// (startDns64 { workers: N }: the main thread plus N-1 worker threads, each with its own
// SO_REUSEPORT UDP socket and cache). Prints "ready" once serving; on SIGTERM prints its stats
// ("stats {json}") and ends; on SIGUSR2 prints what the main thread's event loop went through since
// the previous SIGUSR2 ("diag {json}": event-loop delay percentiles with BENCH_LOOP_DELAY=1, garbage collections by kind
// with their pauses, cache misses and its heap), then starts counting again.
//   node --import tsx bench/dns64-serve.ts <workers> <port> <upstream host:port> <prefix>
// BENCH_QUERIES_PER_PORT and BENCH_PORT_WINDOW_MS override the upstream source-port policy
// (src/services/dns64/ports.ts; queriesPerPort 1: a fresh port per query). BENCH_UDP_THREAD=0 serves
// UDP from the event loop (dgram wake-ups and recvmmsg drains) instead of the receive thread.
// BENCH_SOCKETS=2 listens on [::1]:<port> too (dnsperf asks 127.0.0.1 only): the receive thread then
// waits in poll(2) over both sockets, as it does with the usual IPv4 + IPv6 listen addresses.

import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { startDns64 } from "../src/services/dns64/index.ts";
import { createLogger } from "../src/util/log.ts";
import { loopbackAssignment } from "../test/services/dns64/helpers.ts";

const [workersText, portText, upstream, prefix] = process.argv.slice(2);
const listen = [`127.0.0.1:${portText}`];
if (process.env.BENCH_SOCKETS === "2") listen.push(`[::1]:${portText}`);
const a = loopbackAssignment(
  listen[0]!,
  upstream!,
  { prefix, listen, allowClients: ["127.0.0.0/8", "::1/128"] },
  "bench",
);
const svc = await startDns64(
  a,
  { log: createLogger("dns64-bench", { level: "warn" }), stateDir: "/tmp" },
  {
    workers: Number(workersText ?? 1),
    udpThread: process.env.BENCH_UDP_THREAD !== "0",
    upstream: {
      ...(process.env.BENCH_QUERIES_PER_PORT
        ? { queriesPerPort: Number(process.env.BENCH_QUERIES_PER_PORT) }
        : {}),
      ...(process.env.BENCH_PORT_WINDOW_MS ? { portWindowMs: Number(process.env.BENCH_PORT_WINDOW_MS) } : {}),
    },
  },
);

// the main thread's event loop: how late a 10 ms timer ran (Node's default resolution: a finer one
// would add its own wake-ups to what is measured). Only with BENCH_LOOP_DELAY=1: its timer wakes
// the main thread 100 times a second, 0.02 context switches per query at 5,000 QPS, which the
// tail rounds with the CPUs fixed measured as part of our p99 (the collector's counts below need
// no timer and stay on)
const delay = process.env.BENCH_LOOP_DELAY === "1" ? monitorEventLoopDelay({ resolution: 10 }) : undefined;
delay?.enable();
const gc = { scavenges: 0, scavengeMs: 0, scavengeMaxMs: 0, other: 0, otherMs: 0, otherMaxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    const minor = kind === constants.NODE_PERFORMANCE_GC_MINOR;
    if (minor) {
      gc.scavenges++;
      gc.scavengeMs += e.duration;
      gc.scavengeMaxMs = Math.max(gc.scavengeMaxMs, e.duration);
    } else {
      gc.other++;
      gc.otherMs += e.duration;
      gc.otherMaxMs = Math.max(gc.otherMaxMs, e.duration);
    }
  }
}).observe({ entryTypes: ["gc"] });

// cache lookups that missed since the last SIGUSR2 (in any thread: a query the receive thread
// cannot answer misses there and again here), and this isolate's heap
const misses = () => (svc.stats() as { cacheMisses?: number }).cacheMisses ?? 0;
let last = misses();
process.stdout.write("ready\n");
process.on("SIGUSR2", () => {
  // the histogram holds the intervals between the timer's runs: the lateness is what exceeds 10 ms
  const ms = (ns: number) => Math.max(0, ns / 1e6 - 10);
  const diag = {
    ...(delay
      ? {
          loopDelayP50Ms: ms(delay.percentile(50)),
          loopDelayP99Ms: ms(delay.percentile(99)),
          loopDelayMaxMs: ms(delay.max),
        }
      : {}),
    ...gc,
    cacheMisses: misses() - last,
    heapMiB: getHeapStatistics().used_heap_size / 2 ** 20,
  };
  last = misses();
  process.stdout.write(`diag ${JSON.stringify(diag)}\n`);
  delay?.reset();
  for (const k of Object.keys(gc) as (keyof typeof gc)[]) gc[k] = 0;
});
process.on("SIGTERM", async () => {
  process.stdout.write(`stats ${JSON.stringify(svc.stats())}\n`);
  await svc.stop();
  process.exit(0);
});
