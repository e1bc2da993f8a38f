// Runs v6mostly's DNS64 in N Node cluster workers on one address, for bench/dns64.ts.
// Node 20's dgram has no reusePort option (binding a second socket to the port fails with
// EADDRINUSE), but cluster workers binding the same UDP address share the primary's socket handle,
// so the kernel hands each datagram to whichever worker is reading: that is how this scales. Each
// worker has its own cache.
//   node --import tsx bench/dns64-cluster.ts <workers> <port> <upstream host:port> <prefix>
import cluster from "node:cluster";
import type { Dns64Assignment } from "../src/planner/plan.ts";
import { startDns64 } from "../src/services/dns64/index.ts";
import { createLogger } from "../src/util/log.ts";

const [workersText, portText, upstream, prefix] = process.argv.slice(2);
const workers = Number(workersText ?? 1);

if (cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on("message", (m) => {
      if (m === "ready" && ++ready === workers) process.stdout.write("ready\n");
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 200);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const a = {
    kind: "Dns64Resolver",
    name: "bench",
    prefix,
    spec: {
      listen: [`127.0.0.1:${portText}`],
      prefix,
      upstreams: [upstream],
      alwaysSynthesize: false,
      exclude: ["::ffff:0:0/96"],
      allowClients: ["127.0.0.0/8"],
      nodeSelector: {},
    },
  } as Dns64Assignment;
  const svc = await startDns64(
    a,
    { log: createLogger("dns64-bench", { level: "warn" }), stateDir: "/tmp" },
    { rateLimit: 0 },
  );
  process.send?.("ready");
  process.on("SIGTERM", async () => {
    await svc.stop();
    process.exit(0);
  });
}
