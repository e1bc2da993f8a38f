// Leases in the Kubernetes API, for a DhcpScope that several nodes can serve one at a time
// (cluster mode, src/agent/ownership): one ConfigMap per scope in the operator's namespace that
// every candidate can read, so that the node taking over knows every address handed out.
//
// What Kea's High Availability does, and what is kept of it (Kea ARM, "libdhcp_ha.so"):
// - hot-standby: one server answers, the other stands by; here the Lease elects the one that
//   answers, so a standby never answers while the active one lives (no split brain: the API
//   server is the witness Kea's two partners lack).
// - a lease update before the reply: Kea's active server sends each lease to its partner and
//   answers the client once the partner acknowledged it; here each lease is written to the API
//   server before the reply leaves (server.ts holds the reply until save() resolves).
// - synchronization before serving: Kea's standby fetches every lease from its partner (lease4-get-
//   page) before it serves; here load() reads the whole scope from the ConfigMap.
// And beyond it: Kea's partner-down server answers the clients of the failed one only when they
// rebind at T2, because renewals go to the failed server's address; here serverAddress moves with
// the active node, so RENEWs are answered at once.
//
// Fencing: load() is a takeover. It marks the ConfigMap with this node as holder and a new term,
// then reads it, and every later write carries the resourceVersion of the previous one
// (optimistic concurrency). Once another node has taken over, the old owner's writes
// get 409 Conflict: the store is fenced, every save is refused, and the old owner's DHCP server
// withholds its replies (a reply never leaves without its lease stored). A frozen owner that wakes
// up therefore hands out nothing, whatever it decided before it froze.
//
// Size: a ConfigMap holds at most 1 MiB. Records are JSON lines (~120 bytes: some 8,000 leases).
// Past `maxBytes` the records of leases that ended (expired, released, declines past probation)
// are dropped, oldest first; if live leases alone would pass it, the save is refused (the reply is
// withheld and counted) rather than the object grown past what the API server accepts.
//
// Writes: group commit, as the file store: one PUT in flight; the records of every decision made
// meanwhile go out together in the next one.
import type { KubeClient, KubeObject, Owner } from "../../operator/runtime/client.ts";
import { isConflict, isNotFound, ownedBy } from "../../operator/runtime/client.ts";
import { objectNameOf } from "../../planner/plan.ts";
import type { Logger } from "../../util/log.ts";
import { type Lease, liveBinding } from "./leases.ts";
import { type LeaseStore, parseRecord } from "./store.ts";

const CONFIGMAPS = { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true };

/** The ConfigMap holding a scope's leases. */
export function leaseStoreName(scope: { namespace: string; name: string }): string {
  return objectNameOf(`v6mostly-dhcp4-leases-${scope.namespace}-${scope.name}`);
}

/** What the API server accepts in one ConfigMap (1 MiB), less room for the other keys and metadata. */
export const DEFAULT_MAX_BYTES = 1_000_000;

export const STORE_LABELS = {
  "app.kubernetes.io/part-of": "v6mostly",
  "app.kubernetes.io/component": "dhcp4-leases",
};

type ConfigMap = KubeObject & { data?: Record<string, string> };

/** A save refused because another node took the scope over: this one must not answer clients. */
export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FencedError";
  }
}

export interface ApiLeaseStoreOptions {
  client: KubeClient;
  /** the operator's namespace */
  namespace: string;
  /** the DhcpScope */
  scope: { namespace: string; name: string };
  /** this node (the holder written at takeover) */
  identity: string;
  maxBytes?: number;
  log?: Logger;
  /** how many times load() tries its takeover when the ConfigMap is created or deleted meanwhile (default 10) */
  takeoverAttempts?: number;
  /** the ConfigMap's owner (the agent DaemonSet): deleted with it on uninstall */
  owner?: Owner;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

const lineOf = (l: Lease) => JSON.stringify(l);

export class ApiLeaseStore implements LeaseStore {
  readonly name: string;
  private readonly live = new Map<number, Lease>();
  /** bytes of the `leases` value: the records' lines and their newlines */
  private bytes = 0;
  private resourceVersion = "";
  private term = 0;
  private waiters: Waiter[] = [];
  private writing = false;
  private dirty = false;
  private fenced: FencedError | undefined;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly maxBytes: number;
  private readonly counters = {
    writes: 0,
    records: 0,
    conflicts: 0,
    writeErrors: 0,
    pruned: 0,
    refusedFull: 0,
    refusedFenced: 0,
    corruptLines: 0,
    takeoverRetries: 0,
  };

  constructor(private readonly opts: ApiLeaseStoreOptions) {
    this.name = leaseStoreName(opts.scope);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /**
   * The takeover: marks this node as holder with a new term, then reads every lease. The mark is a
   * merge patch without precondition, so an old owner still writing cannot hold it off; it moves
   * the resourceVersion, so every write of the old owner after it gets 409 and finds itself fenced.
   * What the old owner wrote before it is in what is read next.
   */
  async load(): Promise<Lease[]> {
    const { client, namespace, identity } = this.opts;
    const attempts = this.opts.takeoverAttempts ?? 10;
    for (let i = 0; ; i++) {
      const before = await client.find<ConfigMap>(CONFIGMAPS, namespace, this.name);
      const term = (Number.parseInt(before?.data?.term ?? "0", 10) || 0) + 1;
      try {
        if (!before) {
          const body: ConfigMap = {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: {
              name: this.name,
              namespace,
              labels: STORE_LABELS,
              annotations: this.annotations(),
              ...ownedBy(this.opts.owner),
            },
            data: { holder: identity, term: String(term), leases: "" },
          };
          await client.create<ConfigMap>(CONFIGMAPS, body);
        } else {
          await client.mergePatch<ConfigMap>(CONFIGMAPS, namespace, this.name, {
            // a store written before it had an owner (or for one since replaced) gets this one
            ...(this.opts.owner ? { metadata: ownedBy(this.opts.owner) } : {}),
            data: { holder: identity, term: String(term) },
          });
        }
      } catch (e) {
        // created by another at the same moment, or deleted meanwhile: look again
        if (!(isConflict(e) || isNotFound(e)) || i + 1 >= attempts) throw e;
        this.counters.takeoverRetries++;
        continue;
      }
      const now = await client.find<ConfigMap>(CONFIGMAPS, namespace, this.name);
      const data = now?.data ?? {};
      if (!now || data.holder !== identity || data.term !== String(term)) {
        throw new FencedError(
          `${data.holder ?? "another node"} took DhcpScope ${this.opts.scope.namespace}/${this.opts.scope.name} over while this node did (term ${data.term ?? "?"})`,
        );
      }
      this.live.clear();
      this.bytes = 0;
      for (const line of (data.leases ?? "").split("\n")) {
        if (!line) continue;
        const l = parseRecord(line);
        if (l) this.put(l);
        else this.counters.corruptLines++;
      }
      this.resourceVersion = now.metadata.resourceVersion ?? "";
      this.term = term;
      this.opts.log?.info(
        { configMap: this.name, term, leases: this.live.size, previous: before?.data?.holder ?? null },
        "dhcp4 leases taken over from the API",
      );
      return [...this.live.values()];
    }
  }

  private annotations(): Record<string, string> {
    return { "v6mostly.dev/scope": `${this.opts.scope.namespace}/${this.opts.scope.name}` };
  }

  save(records: Lease[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("lease store closed"));
    if (this.fenced) {
      this.counters.refusedFenced++;
      return Promise.reject(this.fenced);
    }
    const delta = records.reduce(
      (n, r) =>
        n +
        lineOf(r).length +
        1 -
        (this.live.has(r.address) ? lineOf(this.live.get(r.address)!).length + 1 : 0),
      0,
    );
    if (this.bytes + delta > this.maxBytes) this.prune(this.bytes + delta - this.maxBytes);
    if (this.bytes + delta > this.maxBytes) {
      this.counters.refusedFull++;
      return Promise.reject(
        new Error(
          `the scope's lease store is full (${this.live.size} records, ${this.bytes} bytes of ${this.maxBytes}): live leases alone fill one ConfigMap`,
        ),
      );
    }
    for (const r of records) this.put(r);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.dirty = true;
      if (!this.writing) this.idle = this.flush();
    });
  }

  private put(l: Lease): void {
    const old = this.live.get(l.address);
    if (old) this.bytes -= lineOf(old).length + 1;
    this.live.set(l.address, l);
    this.bytes += lineOf(l).length + 1;
  }

  private text(): string {
    let t = "";
    for (const l of this.live.values()) t += `${lineOf(l)}\n`;
    return t;
  }

  /** Drops records of leases that ended, oldest first, until `need` bytes are free or none is left. */
  private prune(need: number): void {
    const now = Math.floor(Date.now() / 1000);
    const ended = [...this.live.values()]
      .filter((l) => !liveBinding(l, now) && !(l.state === "declined" && l.expires > now))
      .sort((a, b) => a.expires - b.expires);
    let freed = 0;
    for (const l of ended) {
      if (freed >= need) break;
      const n = lineOf(l).length + 1;
      this.live.delete(l.address);
      this.bytes -= n;
      freed += n;
      this.counters.pruned++;
    }
  }

  /** Writes the whole scope while there is something new; one PUT at a time. */
  private async flush(): Promise<void> {
    this.writing = true;
    try {
      while (this.dirty && !this.fenced) {
        this.dirty = false;
        const waiters = this.waiters;
        this.waiters = [];
        const records = this.live.size;
        try {
          await this.write();
          this.counters.writes++;
          this.counters.records += records;
          for (const w of waiters) w.resolve();
        } catch (e) {
          if (e instanceof FencedError) {
            this.fenced = e;
            this.opts.log?.error({ configMap: this.name, err: e.message }, "dhcp4 lease store fenced");
          } else this.counters.writeErrors++;
          for (const w of waiters) w.reject(e as Error);
        }
      }
      if (this.fenced) for (const w of this.waiters.splice(0)) w.reject(this.fenced);
    } finally {
      this.writing = false;
    }
  }

  private async write(): Promise<void> {
    const { client, namespace, identity } = this.opts;
    const body = (resourceVersion: string): ConfigMap => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: this.name,
        namespace,
        labels: STORE_LABELS,
        annotations: this.annotations(),
        resourceVersion,
      },
      data: { holder: identity, term: String(this.term), leases: this.text() },
    });
    try {
      const written = await client.replace<ConfigMap>(CONFIGMAPS, body(this.resourceVersion));
      this.resourceVersion = written.metadata.resourceVersion ?? "";
      return;
    } catch (e) {
      if (isNotFound(e)) throw new FencedError(`ConfigMap ${namespace}/${this.name} was deleted`);
      if (!isConflict(e)) throw e;
      this.counters.conflicts++;
    }
    // 409: someone wrote since our last write. Ours, when an answer was lost after the write
    // landed (same holder, same term): go on from there. Anyone else's: we are fenced.
    const now = await client.find<ConfigMap>(CONFIGMAPS, namespace, this.name);
    if (!now) throw new FencedError(`ConfigMap ${namespace}/${this.name} was deleted`);
    if (now.data?.holder !== identity || now.data?.term !== String(this.term)) {
      throw new FencedError(
        `${now.data?.holder ?? "another node"} took DhcpScope ${this.opts.scope.namespace}/${this.opts.scope.name} over (term ${now.data?.term ?? "?"}, ours ${this.term}): this node no longer writes its leases`,
      );
    }
    const written = await client.replace<ConfigMap>(CONFIGMAPS, body(now.metadata.resourceVersion ?? ""));
    this.resourceVersion = written.metadata.resourceVersion ?? "";
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle;
  }

  stats(): Record<string, number> {
    return {
      ...this.counters,
      liveRecords: this.live.size,
      bytes: this.bytes,
      term: this.term,
      fenced: this.fenced ? 1 : 0,
    };
  }
}
