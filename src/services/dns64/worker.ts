// A worker thread serving UDP for startDns64({ workers: N }): its own stack on SO_REUSEPORT sockets,
// with the service's cache (shared memory, cache.ts).
// Messages: → { threads } then "ready" | { stats } every second | "stopped"; ← "stop".
import { parentPort, workerData } from "node:worker_threads";
import { decodeAssignment, type WireAssignment } from "../../planner/wire.ts";
import { createLogger } from "../../util/log.ts";
import { nameThisThread } from "../../util/sys/libc.ts";
import { AnswerCache, type CacheMemory } from "./cache.ts";
import { type Dns64Options, LOOP_THREAD_NAME, Stack } from "./stack.ts";

// The assignment crosses the thread boundary in its wire form (JSON) and is parsed here again:
// structured cloning would keep the data of parsed addresses but not what they are.
const {
  assignment: wire,
  opts,
  level,
  cache,
} = workerData as {
  assignment: WireAssignment;
  opts: Dns64Options;
  level: string;
  cache: CacheMemory;
};
const port = parentPort!;
nameThisThread(LOOP_THREAD_NAME);
const log = createLogger("dns64-worker", { level });
try {
  const decoded = decodeAssignment(wire);
  if (!decoded.ok || decoded.value.kind !== "Dns64Resolver")
    throw new Error(`unreadable assignment: ${decoded.ok ? decoded.value.kind : decoded.error}`);
  const stack = await Stack.start(
    decoded.value,
    opts,
    { reusePort: true, tcp: false },
    log,
    new AnswerCache(cache),
  );
  // the threads that use the cache besides this one: should this worker be terminated, its parent
  // frees the cache's lock if one of them held it
  port.postMessage({ threads: stack.server.threadIds() });
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
