// A small REST client for the Kubernetes API: the connection (kubeconfig.ts: a kubeconfig file or
// the pod's service account) gives the server, TLS and credentials; requests and watches are plain
// HTTP(S) over keep-alive connections, so that every verb the controller runtime needs
// (server-side apply, the /status subresource, watches with bookmarks and resource versions) is one
// code path that the tests exercise against a real API server. Knows nothing of v6mostly.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { createInterface } from "node:readline";
import { type Connection, loadConnection } from "./kubeconfig.ts";

/** A resource type: group ("" for core), version, plural, and whether objects live in namespaces. */
export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const apiVersionOf = (r: Resource): string => (r.group ? `${r.group}/${r.version}` : r.version);

/** Paths of the API: /api/v1/... for the core group, /apis/GROUP/VERSION/... otherwise. */
export function pathOf(r: Resource, namespace?: string, name?: string, subresource?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace !== undefined) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** The types the runtime itself uses. */
export const CORE = {
  nodes: { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false },
  secrets: { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
  events: { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true },
  configmaps: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  leases: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  daemonsets: { group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true },
  validatingwebhookconfigurations: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingwebhookconfigurations",
    kind: "ValidatingWebhookConfiguration",
    namespaced: false,
  },
} as const satisfies Record<string, Resource>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

/**
 * The object whose deletion takes another with it (the garbage collector's owner): what an
 * uninstall removes. It must live in the same namespace as the objects it owns.
 */
export interface Owner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/**
 * metadata.ownerReferences naming `owner` (none without one). blockOwnerDeletion is false: setting
 * it true needs the right to update the owner's finalizers, which nobody here has.
 */
export function ownedBy(owner: Owner | undefined): Pick<ObjectMeta, "ownerReferences"> {
  return owner ? { ownerReferences: [{ ...owner, blockOwnerDeletion: false }] } : {};
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: { code?: number; reason?: string; message?: string } };

/** An answer other than 2xx, with the API's Status reason (NotFound, Conflict, Gone, ...). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;

export interface RequestInit {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** abort a request or a watch */
  signal?: AbortSignal;
}

export const CONTENT = {
  json: "application/json",
  merge: "application/merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

export class KubeClient {
  /** requests made, by verb (a benchmark figure) */
  readonly requests: Record<string, number> = {};

  /** requests reuse connections (watches hold their own) */
  private readonly agent: HttpAgent;

  constructor(readonly connection: Connection) {
    const keepAlive = { keepAlive: true, maxSockets: 16 };
    this.agent = connection.server.startsWith("http:") ? new HttpAgent(keepAlive) : new HttpsAgent(keepAlive);
  }

  /** The given kubeconfig, else KUBECONFIG or ~/.kube/config, else the pod's service account. */
  static async load(kubeconfig?: string): Promise<KubeClient> {
    return new KubeClient(await loadConnection(kubeconfig));
  }

  get server(): string {
    return this.connection.server;
  }

  /** Close idle connections (a client that is done). */
  close(): void {
    this.agent.destroy();
  }

  private async open(
    method: string,
    path: string,
    init: RequestInit,
    watch = false,
  ): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(init.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: RequestOptions & { headers: Record<string, string> } = {
      method,
      headers: { accept: "application/json" },
    };
    await this.connection.apply(opts);
    // a watch holds its connection for minutes: not from the shared pool
    if (!watch) opts.agent = this.agent;
    let payload: string | undefined;
    if (init.body !== undefined) {
      payload = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      opts.headers["content-type"] = init.contentType ?? CONTENT.json;
      opts.headers["content-length"] = String(Buffer.byteLength(payload));
    }
    this.requests[method] = (this.requests[method] ?? 0) + 1;
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...opts, signal: init.signal }, resolve);
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.open(method, path, init);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw toApiError(status, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string): Promise<T> {
    return this.request("GET", pathOf(r, namespace, name));
  }

  /** The object, or undefined when it does not exist. */
  async find<T extends KubeObject>(
    r: Resource,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(r, namespace, name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  list<T extends KubeObject>(
    r: Resource,
    namespace?: string,
    query: RequestInit["query"] = {},
  ): Promise<ObjectList<T>> {
    return this.request("GET", pathOf(r, namespace), { query });
  }

  create<T extends KubeObject>(r: Resource, obj: T): Promise<T> {
    return this.request("POST", pathOf(r, obj.metadata.namespace), { body: obj });
  }

  /** PUT: optimistic concurrency on metadata.resourceVersion (409 Conflict when stale). */
  replace<T extends KubeObject>(r: Resource, obj: T, subresource?: string): Promise<T> {
    return this.request("PUT", pathOf(r, obj.metadata.namespace, obj.metadata.name, subresource), {
      body: obj,
    });
  }

  mergePatch<T extends KubeObject>(
    r: Resource,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: string,
  ): Promise<T> {
    return this.request("PATCH", pathOf(r, namespace, name, subresource), {
      body: patch,
      contentType: CONTENT.merge,
    });
  }

  /**
   * Server-side apply: the fields in `obj` become owned by `fieldManager`; fields it owned before
   * and left out are removed. `force` takes fields over from other managers (a controller's right).
   */
  apply<T extends KubeObject>(
    r: Resource,
    obj: T,
    opts: { fieldManager: string; force?: boolean; subresource?: string; dryRun?: boolean },
  ): Promise<T> {
    return this.request("PATCH", pathOf(r, obj.metadata.namespace, obj.metadata.name, opts.subresource), {
      body: { apiVersion: apiVersionOf(r), kind: r.kind, ...obj },
      contentType: CONTENT.apply,
      query: {
        fieldManager: opts.fieldManager,
        force: opts.force ?? true,
        dryRun: opts.dryRun ? "All" : undefined,
      },
    });
  }

  async delete(
    r: Resource,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: "Background" | "Foreground" | "Orphan" } = {},
  ): Promise<boolean> {
    try {
      await this.request("DELETE", pathOf(r, namespace, name), {
        body: {
          kind: "DeleteOptions",
          apiVersion: "v1",
          propagationPolicy: opts.propagationPolicy ?? "Background",
        },
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * One watch request from `resourceVersion`: calls `onEvent` for each event until the server
   * ends the stream (after `timeoutSeconds`), the signal aborts it, or the connection fails
   * (rejects). The caller (the informer) decides what to do next.
   */
  async watch<T>(
    r: Resource,
    namespace: string | undefined,
    query: RequestInit["query"],
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const res = await this.open(
      "GET",
      pathOf(r, namespace),
      { query: { ...query, watch: true, allowWatchBookmarks: true }, signal },
      true,
    );
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw toApiError(status, Buffer.concat(chunks).toString("utf8"), `watch ${pathOf(r, namespace)}`);
    }
    const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
    await new Promise<void>((resolve, reject) => {
      lines.on("line", (line) => {
        if (!line.trim()) return;
        let event: WatchEvent<T>;
        try {
          event = JSON.parse(line) as WatchEvent<T>;
        } catch {
          reject(new Error(`watch ${r.plural}: a line that is not JSON`));
          res.destroy();
          return;
        }
        try {
          onEvent(event);
        } catch (e) {
          // the caller ends the watch by throwing (an ERROR event): stop reading
          reject(e);
          res.destroy();
        }
      });
      lines.on("close", resolve);
      lines.on("error", reject);
      res.on("error", reject);
      res.on("aborted", () => reject(new Error(`watch ${r.plural}: connection aborted`)));
    });
  }
}

function toApiError(status: number, text: string, what: string): ApiError {
  let reason = "";
  let message = text.slice(0, 500);
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason ?? "";
    message = s.message ?? message;
  } catch {
    // not a Status object
  }
  return new ApiError(status, reason, `${what}: ${status}${reason ? ` ${reason}` : ""}: ${message}`);
}

/**
 * The object without empty strings (keys with "" left out). Seen on kube-apiserver 1.20 as built
 * here: an empty string inside a custom resource's status, sent by merge patch, reads back as
 * null and is refused ("must be of type string"). Every field we write as "" is optional, so
 * leaving it out says the same on every server.
 */
export function withoutEmptyStrings<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutEmptyStrings) as T;
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    if (v !== "" && v !== undefined) out[k] = withoutEmptyStrings(v);
  return out as T;
}
