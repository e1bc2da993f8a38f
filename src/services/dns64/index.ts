// The DNS64 service (RFC 6147, with RFC 8880 ipv4only.arpa) as the standalone `run` command and the
// agent host it: startDns64(assignment, ctx, opts?) → { stop, update, stats }.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import type { Dns64Assignment } from "../../planner/plan.ts";
import { encodeAssignment } from "../../planner/wire.ts";
import type { Logger } from "../../util/log.ts";
import { startWorker as newWorker, siblingModule } from "../../util/worker.ts";
import type { RunningService, ServiceContext } from "../contract.ts";
import { AnswerCache, DEFAULT_CACHE_LIMITS } from "./cache.ts";
import { publishDns64Metrics } from "./metrics.ts";
import { type Dns64Options, Stack } from "./stack.ts";

export { configOf, DEFAULT_RATE_LIMIT, type Dns64Options } from "./stack.ts";

export interface Dns64Service extends RunningService<Dns64Assignment> {
  update(a: Dns64Assignment): Promise<void>;
}

/** The worker module next to this one (.ts under tsx, .js once built). */
const workerUrl = siblingModule(import.meta.url, "./worker");

interface WorkerHandle {
  worker: Worker;
  stats: Record<string, number>;
  /** the worker's thread and its receive thread: what may hold the cache's lock */
  threads: number[];
}

function startWorker(
  a: Dns64Assignment,
  opts: Dns64Options,
  log: Logger,
  cache: AnswerCache,
): Promise<WorkerHandle> {
  const worker = newWorker(workerUrl, {
    assignment: encodeAssignment(a),
    opts,
    level: log.level,
    cache: cache.memory,
  });
  const h: WorkerHandle = { worker, stats: {}, threads: [worker.threadId] };
  return new Promise((resolve, reject) => {
    worker.on("message", (m) => {
      if (m === "ready") resolve(h);
      else if (m?.error) reject(new Error(`dns64 worker: ${m.error}`));
      else if (m?.stats) h.stats = m.stats;
      else if (m?.threads) h.threads.push(...(m.threads as number[]));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`dns64 worker exited (${code})`)));
  });
}

async function stopWorker(h: WorkerHandle, cache: AnswerCache, log: Logger): Promise<void> {
  const exited = new Promise<void>((r) => h.worker.once("exit", () => r()));
  h.worker.postMessage("stop");
  const t = setTimeout(() => void h.worker.terminate(), 3000);
  await exited;
  clearTimeout(t);
  // terminated in the middle of a cache call, it would leave the shared cache locked
  for (const id of h.threads)
    if (cache.recover(id)) log.warn("dns64 worker ended holding the cache lock: cache emptied");
}

export async function startDns64(
  assignment: Dns64Assignment,
  ctx: ServiceContext,
  opts: Dns64Options = {},
): Promise<Dns64Service> {
  const log = ctx.log.child({ service: "dns64", resource: assignment.name });
  const cache = new AnswerCache({ ...DEFAULT_CACHE_LIMITS, ...opts.cache });
  const workers = Math.max(1, Math.floor(opts.workers ?? 1));
  const cores = availableParallelism();
  if (workers > 1 && cores < 3)
    // src/services/dns64/README.md, Speed: one worker is already two busy threads (the receive
    // thread and the event loop); on 2 cores a second worker measured slower, not faster
    log.warn({ workers, cores }, "dns64: more than one worker below 3 cores was measured slower than one");

  const build = async (a: Dns64Assignment): Promise<{ main: Stack; extra: WorkerHandle[] }> => {
    const main = await Stack.start(a, opts, { reusePort: workers > 1, tcp: true }, log, cache);
    const extra: WorkerHandle[] = [];
    try {
      for (let i = 1; i < workers; i++) extra.push(await startWorker(a, opts, log, cache));
    } catch (e) {
      await Promise.all(extra.map((w) => stopWorker(w, cache, log)));
      await main.close();
      throw e;
    }
    return { main, extra };
  };
  const close = async (r: { main: Stack; extra: WorkerHandle[] }) => {
    await Promise.all(r.extra.map((w) => stopWorker(w, cache, log)));
    await r.main.close();
  };

  let current = await build(assignment);
  let currentSpec = assignment;
  log.info(
    {
      listen: assignment.spec.listen,
      prefix: assignment.prefix,
      upstreams: assignment.spec.upstreams,
      workers,
    },
    "dns64 serving",
  );
  const sweep = setInterval(() => current.main.limiter.sweep(Date.now()), 60_000);
  sweep.unref();

  const service: Dns64Service = {
    async stop() {
      clearInterval(sweep);
      unpublish?.();
      await close(current);
      log.info("dns64 stopped");
    },
    async update(a: Dns64Assignment) {
      // answers depend on the prefix, the exclusions, alwaysSynthesize and fate-sharing's
      // forwardOnly: a change empties the cache
      const sameAnswers =
        a.prefix.network === currentSpec.prefix.network &&
        a.prefix.length === currentSpec.prefix.length &&
        JSON.stringify(a.spec.exclude) === JSON.stringify(currentSpec.spec.exclude) &&
        a.spec.alwaysSynthesize === currentSpec.spec.alwaysSynthesize &&
        a.forwardOnly === currentSpec.forwardOnly;
      await close(current);
      if (!sameAnswers) cache.clear();
      current = await build(a);
      currentSpec = a;
      log.info({ listen: a.spec.listen, prefix: a.prefix }, "dns64 updated");
    },
    stats() {
      const total = current.main.stats();
      for (const w of current.extra) {
        for (const [k, v] of Object.entries(w.stats)) {
          // the cache is one for all (its figures are the main stack's); everything else adds up
          if (!k.startsWith("cache")) total[k] = (total[k] ?? 0) + v;
        }
      }
      total.workers = workers;
      return total;
    },
  };
  const unpublish =
    ctx.metrics &&
    publishDns64Metrics(ctx.metrics, ctx.resource ?? `Dns64Resolver/${assignment.name}`, () =>
      service.stats(),
    );
  return service;
}
