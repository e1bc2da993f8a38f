// An in-process fake of the Kubernetes API for fast unit tests of the controller runtime: plain
// HTTP on loopback; list, get, create, replace (resourceVersion checked), merge patch, apply
// (as a merge: no field ownership), delete (held by finalizers: deletionTimestamp set, gone when
// the last finalizer is removed), a resourceVersion precondition in patches, the /status
// subresource, and watches from a
// resourceVersion, with a bounded history (older versions answer 410 Gone, as etcd compaction
// does). `dropWatches()` cuts every watch connection (a hard disconnect), `failNext()` makes the
// next requests fail. The real API server is tested in test/operator/cluster*.test.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { KubeClient } from "../../../src/operator/runtime/client.ts";

type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string; resourceVersion?: string };
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
};

interface HistoryEntry {
  rv: number;
  collection: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: Obj;
}

const PATH =
  /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/;

export class FakeApi {
  private server!: Server;
  private rv = 1;
  /** collection "group/plural" -> key "ns/name" -> object */
  private readonly store = new Map<string, Map<string, Obj>>();
  private history: HistoryEntry[] = [];
  private readonly watchers = new Set<{
    collection: string;
    ns?: string;
    url: URL;
    res: ServerResponse;
    socket: Socket;
  }>();
  private failures = 0;
  /** while set, watch requests answer 500 (a server that is up but cannot watch) */
  refuseWatches = false;
  historyLimit = 1000;
  readonly requests: { method: string; path: string }[] = [];

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    return this;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  client(): KubeClient {
    return new KubeClient({
      server: this.url,
      async apply(opts) {
        opts.headers.authorization = "Bearer fake";
      },
    });
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Cut every open watch (connection reset, no clean end). */
  dropWatches(): void {
    for (const w of this.watchers) w.socket.destroy();
    this.watchers.clear();
  }

  /** The next `n` requests answer 500. */
  failNext(n: number): void {
    this.failures = n;
  }

  /** Forget history: watches from older versions get 410 Gone (as after a compaction). */
  compact(): void {
    this.history = [];
  }

  objects(collection: string): Obj[] {
    return [...(this.store.get(collection)?.values() ?? [])];
  }

  private coll(c: string): Map<string, Obj> {
    let m = this.store.get(c);
    if (!m) {
      m = new Map();
      this.store.set(c, m);
    }
    return m;
  }

  /** metadata.name=X field selectors and k=v,... label selectors, as the API filters lists and watches */
  private static selects(url: URL, o: Obj): boolean {
    const field = url.searchParams.get("fieldSelector");
    if (field) {
      for (const term of field.split(",")) {
        const [k, v] = term.split("=");
        if (k === "metadata.name" && o.metadata.name !== v) return false;
        if (k === "metadata.namespace" && o.metadata.namespace !== v) return false;
      }
    }
    const label = url.searchParams.get("labelSelector");
    if (label) {
      const labels = (o.metadata.labels ?? {}) as Record<string, string>;
      for (const term of label.split(",")) {
        const [k, v] = term.split("=");
        if (labels[k!] !== v) return false;
      }
    }
    return true;
  }

  private record(collection: string, type: HistoryEntry["type"], object: Obj): void {
    const e = {
      rv: Number(object.metadata.resourceVersion),
      collection,
      type,
      object: structuredClone(object),
    };
    this.history.push(e);
    if (this.history.length > this.historyLimit) this.history.shift();
    for (const w of this.watchers) {
      if (
        w.collection === collection &&
        (!w.ns || w.ns === object.metadata.namespace) &&
        FakeApi.selects(w.url, object)
      ) {
        w.res.write(`${JSON.stringify({ type, object })}\n`);
      }
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    this.requests.push({ method: req.method ?? "", path: url.pathname });
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const status = (code: number, reason: string, message: string) =>
      send(code, { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });
    if (this.failures > 0) {
      this.failures--;
      return status(500, "InternalError", "injected failure");
    }
    const m = PATH.exec(url.pathname);
    if (!m) return status(404, "NotFound", `no route ${url.pathname}`);
    const [, group = "", , ns, plural, name, sub] = m;
    const collection = `${group}/${plural}`;
    const key = (n: string, o?: string) => `${o ?? ns ?? ""}/${n}`;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Obj) : undefined;
    const items = this.coll(collection);
    const bump = (o: Obj) => {
      o.metadata.resourceVersion = String(++this.rv);
      return o;
    };

    if (req.method === "GET" && !name) {
      if (url.searchParams.get("watch") === "true") {
        if (this.refuseWatches) return status(500, "InternalError", "watches refused");
        const from = Number(url.searchParams.get("resourceVersion") || 0);
        const oldest = this.history[0]?.rv ?? this.rv + 1;
        if (from && from < oldest - 1 && from < this.rv) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            `${JSON.stringify({ type: "ERROR", object: { code: 410, reason: "Expired", message: "too old resource version" } })}\n`,
          );
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        for (const e of this.history) {
          if (
            e.rv > from &&
            e.collection === collection &&
            (!ns || e.object.metadata.namespace === ns) &&
            FakeApi.selects(url, e.object)
          ) {
            res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
          }
        }
        const w = { collection, ns, url, res, socket: req.socket };
        this.watchers.add(w);
        const t = Number(url.searchParams.get("timeoutSeconds") || 0);
        const timer = t ? setTimeout(() => res.end(), t * 1000) : undefined;
        res.on("close", () => {
          if (timer) clearTimeout(timer);
          this.watchers.delete(w);
        });
        return;
      }
      const list = [...items.values()].filter(
        (o) => (!ns || o.metadata.namespace === ns) && FakeApi.selects(url, o),
      );
      return send(200, { kind: "List", metadata: { resourceVersion: String(this.rv) }, items: list });
    }
    if (req.method === "GET") {
      const o = items.get(key(name!));
      return o ? send(200, o) : status(404, "NotFound", `${plural} "${name}" not found`);
    }
    if (req.method === "POST") {
      const o = body!;
      const k = key(o.metadata.name, o.metadata.namespace);
      if (items.has(k)) return status(409, "AlreadyExists", `${plural} "${o.metadata.name}" already exists`);
      o.metadata.uid = `uid-${this.rv + 1}`;
      o.metadata.generation = 1;
      o.metadata.creationTimestamp = new Date().toISOString();
      items.set(k, bump(o));
      this.record(collection, "ADDED", o);
      return send(201, o);
    }
    const current = items.get(key(name!));
    if (req.method === "DELETE") {
      if (!current) return status(404, "NotFound", `${plural} "${name}" not found`);
      if ((current.metadata.finalizers as string[] | undefined)?.length) {
        current.metadata.deletionTimestamp ??= new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
        this.record(collection, "MODIFIED", bump(current));
        return send(200, current);
      }
      items.delete(key(name!));
      this.record(collection, "DELETED", bump(current));
      return send(200, { kind: "Status", status: "Success" });
    }
    if (req.method === "PUT" || req.method === "PATCH") {
      const isApply = req.headers["content-type"] === "application/apply-patch+yaml";
      if (!current && !(isApply && !sub)) return status(404, "NotFound", `${plural} "${name}" not found`);
      const precondition = body!.metadata?.resourceVersion;
      const stale = req.method === "PUT" || (precondition !== undefined && !isApply);
      if (current && stale && precondition !== current.metadata.resourceVersion) {
        return status(
          409,
          "Conflict",
          "the object has been modified; please apply your changes to the latest version",
        );
      }
      let next: Obj;
      if (!current) {
        next = { ...body!, metadata: { ...body!.metadata, uid: `uid-${this.rv + 1}`, generation: 1 } };
        items.set(key(name!), bump(next));
        this.record(collection, "ADDED", next);
        return send(201, next);
      }
      const merged = req.method === "PUT" ? body! : mergePatch(current, body!);
      if (sub === "status") next = { ...current, status: merged.status };
      else
        next = {
          ...merged,
          metadata: { ...merged.metadata, uid: current.metadata.uid },
          status: current.status,
        };
      const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
      next.metadata.generation =
        ((current.metadata.generation as number) ?? 1) + (specChanged && !sub ? 1 : 0);
      if (next.metadata.deletionTimestamp && !(next.metadata.finalizers as string[] | undefined)?.length) {
        items.delete(key(name!));
        this.record(collection, "DELETED", bump(next));
        return send(200, next);
      }
      items.set(key(name!), bump(next));
      this.record(collection, "MODIFIED", next);
      return send(200, next);
    }
    return status(405, "MethodNotAllowed", req.method ?? "");
  }
}

/** RFC 7386 JSON merge patch. */
function mergePatch<T>(target: T, patch: unknown): T {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch as T;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out as T;
}
