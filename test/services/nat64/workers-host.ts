/**
 * Runs one gateway's packet workers alone (services/nat64/workers.ts: no host plumbing, no
 * service around them) for the health tests, in a namespace the test made:
 * `node --import tsx test/services/nat64/workers-host.ts '<json>'`, json = { spec, options }.
 * Prints "ready", then answers each line of stdin with one line of JSON:
 *   health [silentMs]   → workers.health()
 *   kill <q>            → ends worker q's thread (as a crash would), then { killed: q }
 *   stop                → stops the workers and exits
 */
import { createInterface } from "node:readline";
import type { Worker } from "node:worker_threads";
import { nat64GatewaySpec } from "../../../src/api/nat64gateway.ts";
import type { Nat64Assignment } from "../../../src/planner/plan.ts";
import { planGateway } from "../../../src/services/nat64/plan.ts";
import { openQueues, PacketWorkers } from "../../../src/services/nat64/workers.ts";
import { createLogger } from "../../../src/util/log.ts";

const arg = JSON.parse(process.argv[2]!) as {
  spec: Record<string, unknown>;
  options: Record<string, unknown>;
};
const spec = nat64GatewaySpec.parse(arg.spec);
const assignment: Nat64Assignment = {
  kind: "Nat64Gateway",
  namespace: "default",
  name: "health",
  spec,
  pool4: spec.pool4,
  pool4Count: 0,
  pool4Total: 0,
};
// logs go to standard error: standard output is the answers
const log = createLogger("workers-host");
const plan = planGateway(assignment, { skipPreflight: true, ...arg.options }, "Nat64Gateway/health");
const queues = openQueues(plan, log);
const workers = await PacketWorkers.start(plan, queues, log);
console.log("ready");

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, n] = line.trim().split(/\s+/);
  if (cmd === "health") console.log(JSON.stringify(workers.health(Date.now(), n ? Number(n) : undefined)));
  else if (cmd === "kill") {
    // a crash of one thread, which only the thread's own end can show
    await (workers as unknown as { workers: Worker[] }).workers[Number(n)]!.terminate();
    console.log(JSON.stringify({ killed: Number(n) }));
  } else if (cmd === "stop") break;
}
await workers.stop();
queues.close();
process.exit(0);
