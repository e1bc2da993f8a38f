// An informer: a local copy of every object of one type (list, then watch from the list's
// resourceVersion), with handlers told of each change. Unlike @kubernetes/client-node's informer,
// which stops for good after a hard disconnect, this one never gives up: a failed watch is retried
// from the last resourceVersion seen, with backoff; a version the server has forgotten (410 Gone)
// or a periodic resync starts over with a fresh list, and a list tells the handlers what changed
// while nobody was watching (and re-delivers every object, so reconcilers run again: drift checks).
import type { Logger } from "../../util/log.ts";
import { ApiError, type KubeClient, type KubeObject, type Resource, type WatchEvent } from "./client.ts";

export type Handler<T> = {
  added?(obj: T): void;
  updated?(obj: T, old: T): void;
  deleted?(obj: T): void;
};

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** relist this often even when the watch is healthy (default 10 min) */
  resyncMs?: number;
  /** each watch request ends after this long and is renewed (default 5 min, as client-go's reflector) */
  watchTimeoutSeconds?: number;
  /** delay before retrying after a failure, doubling per failure in a row */
  backoff?: { initialMs: number; maxMs: number };
  log?: Logger;
}

export const keyOfObject = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class Informer<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly handlers: Handler<T>[] = [];
  private resourceVersion = "";
  private abort: AbortController | undefined;
  private running = false;
  private synced: Promise<void>;
  private markSynced!: () => void;
  private sleeper: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** lists, watches and failures, for tests and metrics */
  readonly counts = { lists: 0, watches: 0, failures: 0, gone: 0 };

  constructor(
    private readonly client: KubeClient,
    readonly resource: Resource,
    private readonly opts: InformerOptions = {},
  ) {
    this.synced = new Promise((r) => {
      this.markSynced = r;
    });
  }

  on(h: Handler<T>): this {
    this.handlers.push(h);
    return this;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /** Starts listing and watching; resolves once the first list is in the store. */
  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      void this.loop();
    }
    return this.synced;
  }

  stop(): void {
    this.running = false;
    this.abort?.abort();
    if (this.sleeper) {
      clearTimeout(this.sleeper.timer);
      this.sleeper.wake();
    }
  }

  private query(): Record<string, string | undefined> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async loop(): Promise<void> {
    const backoff = this.opts.backoff ?? { initialMs: 200, maxMs: 30_000 };
    const resyncMs = this.opts.resyncMs ?? 10 * 60_000;
    let failures = 0;
    let needList = true;
    let listedAt = 0;
    while (this.running) {
      try {
        if (needList || Date.now() - listedAt >= resyncMs) {
          await this.relist();
          listedAt = Date.now();
          needList = false;
        }
        const timeout = Math.min(
          this.opts.watchTimeoutSeconds ?? 300,
          Math.max(1, Math.ceil((resyncMs - (Date.now() - listedAt)) / 1000)),
        );
        await this.watchOnce(timeout);
        failures = 0;
      } catch (e) {
        if (!this.running) break;
        this.counts.failures++;
        if (e instanceof ApiError && e.status === 410) {
          // our resourceVersion is too old for the server: start over from a list
          this.counts.gone++;
          needList = true;
          continue;
        }
        failures++;
        const delay = Math.min(backoff.initialMs * 2 ** (failures - 1), backoff.maxMs);
        const jittered = delay / 2 + Math.random() * (delay / 2);
        this.opts.log?.warn(
          { resource: this.resource.plural, err: (e as Error).message, retryInMs: Math.round(jittered) },
          "watch failed; retrying",
        );
        // After a few failures in a row the server may have restarted with other versions: relist.
        if (failures >= 3) needList = true;
        await this.sleep(jittered);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      const timer = setTimeout(() => {
        this.sleeper = undefined;
        wake();
      }, ms);
      this.sleeper = { timer, wake };
    });
  }

  /** List everything and tell the handlers what differs from the store (every object: a resync). */
  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.client.list<T>(this.resource, this.opts.namespace, {
        ...this.query(),
        limit: 500,
        continue: cont,
      });
      for (const o of page.items) fresh.set(keyOfObject(o), o);
      rv = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    for (const [k, old] of this.objects) {
      if (!fresh.has(k)) {
        this.objects.delete(k);
        this.emit("deleted", old);
      }
    }
    for (const [k, o] of fresh) {
      const old = this.objects.get(k);
      this.objects.set(k, o);
      if (old) this.emit("updated", o, old);
      else this.emit("added", o);
    }
    this.resourceVersion = rv;
    this.counts.lists++;
    this.markSynced();
  }

  private async watchOnce(timeoutSeconds: number): Promise<void> {
    this.counts.watches++;
    this.abort = new AbortController();
    await this.client.watch<T>(
      this.resource,
      this.opts.namespace,
      { ...this.query(), resourceVersion: this.resourceVersion, timeoutSeconds },
      (e) => this.onEvent(e),
      this.abort.signal,
    );
  }

  private onEvent(e: WatchEvent<T>): void {
    if (e.type === "ERROR") {
      const code = e.object.code ?? 500;
      throw new ApiError(code, e.object.reason ?? "", e.object.message ?? "watch error");
    }
    const o = e.object;
    if (o.metadata.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (e.type === "BOOKMARK") return;
    const k = keyOfObject(o);
    const old = this.objects.get(k);
    if (e.type === "DELETED") {
      this.objects.delete(k);
      this.emit("deleted", old ?? o);
      return;
    }
    this.objects.set(k, o);
    if (old) this.emit("updated", o, old);
    else this.emit("added", o);
  }

  private emit(what: "added" | "deleted", o: T): void;
  private emit(what: "updated", o: T, old: T): void;
  private emit(what: keyof Handler<T>, o: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (what === "updated") h.updated?.(o, old!);
        else h[what]?.(o);
      } catch (e) {
        this.opts.log?.error(
          { resource: this.resource.plural, err: (e as Error).message },
          "informer handler failed",
        );
      }
    }
  }
}
