// A worker thread serving UDP for startDns64({ workers: N }): its own stack on SO_REUSEPORT sockets.
// Messages: → "ready" | { stats } every second | "stopped"; ← "stop".
import { parentPort, workerData } from "node:worker_threads";
import type { Dns64Assignment } from "../../planner/plan.ts";
import { createLogger } from "../../util/log.ts";
import { type Dns64Options, Stack } from "./stack.ts";

const { assignment, opts, level } = workerData as {
  assignment: Dns64Assignment;
  opts: Dns64Options;
  level: string;
};
const port = parentPort!;
const log = createLogger("dns64-worker", { level });
try {
  const stack = await Stack.start(assignment, opts, { reusePort: true, tcp: false }, log);
  const timer = setInterval(() => port.postMessage({ stats: stack.stats() }), 1000);
  port.on("message", async (m) => {
    if (m !== "stop") return;
    clearInterval(timer);
    await stack.close();
    port.postMessage({ stats: stack.stats() });
    port.postMessage("stopped");
    port.close();
  });
  port.postMessage("ready");
} catch (e) {
  port.postMessage({ error: (e as Error).message });
  port.close();
}
