// A worker thread serving UDP for startDns64({ workers: N }): its own stack on SO_REUSEPORT sockets.
// Messages: → "ready" | { stats } every second | "stopped"; ← "stop".
import { parentPort, workerData } from "node:worker_threads";
import { decodeAssignment, type WireAssignment } from "../../planner/wire.ts";
import { createLogger } from "../../util/log.ts";
import { type Dns64Options, Stack } from "./stack.ts";

// The assignment crosses the thread boundary in its wire form (JSON) and is parsed here again:
// structured cloning would keep the data of parsed addresses but not what they are.
const {
  assignment: wire,
  opts,
  level,
} = workerData as {
  assignment: WireAssignment;
  opts: Dns64Options;
  level: string;
};
const port = parentPort!;
const log = createLogger("dns64-worker", { level });
try {
  const decoded = decodeAssignment(wire);
  if (!decoded.ok || decoded.value.kind !== "Dns64Resolver")
    throw new Error(`unreadable assignment: ${decoded.ok ? decoded.value.kind : decoded.error}`);
  const stack = await Stack.start(decoded.value, opts, { reusePort: true, tcp: false }, log);
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
