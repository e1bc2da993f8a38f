// A keyed work queue with the semantics of client-go's workqueue, which controllers are built on:
// - a key waiting in the queue is there once, however often it is added (de-duplication);
// - a key being processed is never handed to a second worker; added meanwhile, it is queued again
//   when the first worker is done (nothing is lost, nothing runs twice at once);
// - failures come back with per-key exponential backoff (5 ms doubling to 1000 s, as client-go's
//   default), reset by `forget` after a success; `addAfter` for periodic re-checks.

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 5, maxMs: 1000_000 };

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiters: ((k: K | undefined) => void)[] = [];
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private closed = false;
  /** adds, de-duplicated adds and retries, for tests and metrics */
  readonly counts = { adds: 0, deduplicated: 0, retries: 0 };

  constructor(private readonly backoff: Backoff = DEFAULT_BACKOFF) {}

  get length(): number {
    return this.queue.length;
  }

  get shuttingDown(): boolean {
    return this.closed;
  }

  add(key: K): void {
    if (this.closed) return;
    this.counts.adds++;
    if (this.dirty.has(key)) {
      this.counts.deduplicated++;
      return;
    }
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it again
    const w = this.waiters.shift();
    if (w) {
      this.dirty.delete(key);
      this.processing.add(key);
      w(key);
    } else this.queue.push(key);
  }

  /** Add `key` after `ms`; an earlier pending add wins over a later one. */
  addAfter(key: K, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Add again after this key's next backoff delay (a failed reconcile). */
  addRateLimited(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.counts.retries++;
    const delay = Math.min(this.backoff.baseMs * 2 ** n, this.backoff.maxMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts the backoff over. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, waiting for one; undefined once shut down. */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Processing of `key` ended; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Stop handing out keys; workers waiting get undefined. */
  shutdown(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
