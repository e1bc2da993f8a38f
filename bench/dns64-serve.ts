// Runs v6mostly's DNS64 for bench/dns64.ts in its own process, with N event loops
// (startDns64 { workers: N }: the main thread plus N-1 worker threads, each with its own
// SO_REUSEPORT UDP socket and cache). Prints "ready" once serving; on SIGTERM prints its stats
// ("stats {json}") and ends.
//   node --import tsx bench/dns64-serve.ts <workers> <port> <upstream host:port> <prefix>
// BENCH_QUERIES_PER_PORT and BENCH_PORT_WINDOW_MS override the upstream source-port policy
// (src/services/dns64/ports.ts; queriesPerPort 1: a fresh port per query).

import { startDns64 } from "../src/services/dns64/index.ts";
import { createLogger } from "../src/util/log.ts";
import { dns64Assignment } from "../test/support/assignments.ts";

const [workersText, portText, upstream, prefix] = process.argv.slice(2);
const a = dns64Assignment(
  {
    listen: [`127.0.0.1:${portText}`],
    prefix,
    upstreams: [upstream],
    alwaysSynthesize: false,
    exclude: ["::ffff:0:0/96"],
    allowClients: ["127.0.0.0/8"],
    rateLimit: 0,
    nodeSelector: {},
  },
  "bench",
);
const svc = await startDns64(
  a,
  { log: createLogger("dns64-bench", { level: "warn" }), stateDir: "/tmp" },
  {
    workers: Number(workersText ?? 1),
    upstream: {
      ...(process.env.BENCH_QUERIES_PER_PORT
        ? { queriesPerPort: Number(process.env.BENCH_QUERIES_PER_PORT) }
        : {}),
      ...(process.env.BENCH_PORT_WINDOW_MS ? { portWindowMs: Number(process.env.BENCH_PORT_WINDOW_MS) } : {}),
    },
  },
);
process.stdout.write("ready\n");
process.on("SIGTERM", async () => {
  process.stdout.write(`stats ${JSON.stringify(svc.stats())}\n`);
  await svc.stop();
  process.exit(0);
});
