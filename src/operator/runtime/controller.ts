// The reconcile contract of controller-runtime, small: keys go into a work queue (from informer
// handlers, timers, or anything else); workers take one key at a time and call `reconcile(key)`,
// which reads the current state and makes the world match it (level-triggered, idempotent). A
// reconcile that throws comes back with per-key backoff; one that returns `requeueAfter` comes
// back then (periodic re-checks such as a device's drift). One key is never reconciled by two
// workers at once.
import type { Logger } from "../../util/log.ts";
import { WorkQueue } from "./queue.ts";

export interface Result {
  /** reconcile this key again after this many milliseconds */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<Result | undefined>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  workers?: number;
  log: Logger;
  queue?: WorkQueue<string>;
}

export class Controller {
  private q: WorkQueue<string>;
  private loops: Promise<void>[] = [];
  /** reconciles run and failed, for tests, metrics and the benchmark */
  readonly counts = { reconciles: 0, errors: 0 };

  constructor(private readonly opts: ControllerOptions) {
    this.q = opts.queue ?? new WorkQueue<string>();
  }

  get queue(): WorkQueue<string> {
    return this.q;
  }

  enqueue(key: string): void {
    this.q.add(key);
  }

  /** Start the workers; after a stop (leadership lost and won again) with a fresh queue. */
  start(): void {
    if (this.q.shuttingDown) this.q = new WorkQueue<string>();
    const n = Math.max(1, this.opts.workers ?? 1);
    for (let i = 0; i < n; i++) this.loops.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.counts.reconciles++;
      try {
        const r = await this.opts.reconcile(key);
        this.queue.forget(key);
        if (r?.requeueAfterMs !== undefined) this.queue.addAfter(key, r.requeueAfterMs);
      } catch (e) {
        this.counts.errors++;
        const delay = this.queue.addRateLimited(key);
        this.opts.log.warn(
          { controller: this.opts.name, key, err: (e as Error).message, retryInMs: delay },
          "reconcile failed; will retry",
        );
      } finally {
        this.queue.done(key);
      }
    }
  }
}
