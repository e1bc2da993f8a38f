// A fake FortiGate REST API over HTTPS (node:https), faithful in the ways the driver depends on:
// Bearer auth (401 without it), ?vdom=, cmdb GET/POST/PUT/DELETE with FortiOS's reply and error
// bodies (HTTP 500 error -5 for a duplicate POST, 404 error -3 for a missing object, -651 for an
// invalid value or dangling reference, -23 for deleting an object in use), singletons, policy ids
// allocated on POST, and every body checked against fortios-schema.json for its version.
// Faults can be injected: a transient 503, a reply lost after the change was made, a dead socket.
import type { FortiSchemaChecker } from "./fortios-schema.ts";
import { HttpsBox } from "./https-box.ts";

export interface Fault {
  method: string;
  /** matches when the request path includes this */
  path: string;
  /** "503": answer 503 without doing anything; "lost": do it, then drop the connection */
  kind: "503" | "lost";
  times: number;
}

export interface Seen {
  method: string;
  path: string;
  vdom: string | null;
  body?: Record<string, unknown>;
  auth: string | undefined;
}

export interface FakeFortiOptions {
  version: string;
  token: string;
  checker: FortiSchemaChecker;
  key: string;
  cert: string;
  interfaces?: Record<string, unknown>[];
  vip6?: Record<string, unknown>[];
}

export class FakeFortiGate {
  private readonly box: HttpsBox;
  readonly tables = new Map<string, Map<string, Record<string, unknown>>>();
  readonly singletons = new Map<string, Record<string, unknown>>();
  readonly seen: Seen[] = [];
  readonly faults: Fault[] = [];
  readonly schemaProblems: string[] = [];
  private nextPolicy = new Map<string, number>();

  constructor(readonly o: FakeFortiOptions) {
    for (const i of o.interfaces ?? [])
      this.table("system/interface").set(String(i.name), structuredClone(i));
    for (const v of o.vip6 ?? []) this.table("firewall/vip6").set(String(v.name), structuredClone(v));
    this.box = new HttpsBox(o, (r, res) => this.handle(r.method, r.url, r.auth, r.text, res));
  }

  get port(): number {
    return this.box.port;
  }

  start(host?: string, port?: number): Promise<string> {
    return this.box.start(host, port);
  }

  stop(): Promise<void> {
    return this.box.stop();
  }

  table(path: string): Map<string, Record<string, unknown>> {
    let t = this.tables.get(path);
    if (!t) {
      t = new Map();
      this.tables.set(path, t);
    }
    return t;
  }

  writes(): Seen[] {
    return this.seen.filter((s) => s.method !== "GET");
  }

  private reply(res: import("node:http").ServerResponse, status: number, body: Record<string, unknown>) {
    const text = JSON.stringify({
      http_status: status,
      vdom: "root",
      version: `v${this.o.version}`,
      build: 1234,
      serial: "FGT50E0000000000",
      ...body,
    });
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(text);
  }

  private error(
    res: import("node:http").ServerResponse,
    method: string,
    path: string,
    status: number,
    code: number | undefined,
    cli?: string,
  ) {
    const [a, b] = path.split("/");
    this.reply(res, status, {
      http_method: method,
      status: "error",
      path: a,
      name: b,
      ...(code !== undefined ? { error: code } : {}),
      ...(cli ? { cli_error: cli } : {}),
    });
  }

  private handle(
    method: string,
    rawUrl: string,
    auth: string | undefined,
    text: string,
    res: import("node:http").ServerResponse,
  ) {
    const url = new URL(rawUrl, "https://fgt");
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      return this.error(res, method, "", 400, -1);
    }
    this.seen.push({ method, path: url.pathname, vdom: url.searchParams.get("vdom"), body, auth });
    if (auth !== `Bearer ${this.o.token}`) return this.reply(res, 401, { status: "error" });
    const fault = this.faults.find(
      (f) => f.times > 0 && f.method === method && url.pathname.includes(f.path),
    );
    if (fault?.kind === "503") {
      fault.times--;
      res.writeHead(503, { "Content-Type": "text/html" });
      return res.end("<html>Service Unavailable</html>");
    }
    if (url.pathname === "/api/v2/monitor/system/status") {
      return this.reply(res, 200, {
        status: "success",
        results: { model_name: "FortiGate", model: "FGT50E" },
      });
    }
    if (!url.pathname.startsWith("/api/v2/cmdb/")) return this.error(res, method, "", 404, -3);
    const rest = url.pathname.slice("/api/v2/cmdb/".length).split("/").map(decodeURIComponent);
    const path = `${rest[0]}/${rest[1]}`;
    const mkey = rest[2];
    const ep = this.o.checker.endpoint(path);
    if (!ep || !this.o.checker.covers(ep, this.o.version)) return this.error(res, method, path, 404, -3);
    const keyName = ep.mkey;
    const done = (status: number, extra: Record<string, unknown> = {}) => {
      if (fault?.kind === "lost") {
        fault.times--;
        res.socket?.destroy();
        return;
      }
      this.reply(res, status, {
        http_method: method,
        status: "success",
        path: rest[0],
        name: rest[1],
        ...extra,
      });
    };
    const check = (b: Record<string, unknown>): boolean => {
      const problems = this.o.checker.check(path, b, this.o.version);
      if (problems.length) {
        this.schemaProblems.push(...problems);
        this.error(res, method, path, 500, -651, problems.join("; "));
        return false;
      }
      const dangling = this.dangling(path, b);
      if (dangling) {
        this.error(res, method, path, 500, -651, `node_check_object fail! for ${dangling}`);
        return false;
      }
      return true;
    };
    if (ep.singleton) {
      const cur = this.singletons.get(path) ?? {};
      if (method === "GET")
        return this.reply(res, 200, { http_method: "GET", status: "success", results: cur });
      if (method === "PUT" && body) {
        if (!check(body)) return;
        this.singletons.set(path, deepMerge(cur, body));
        return done(200);
      }
      return this.error(res, method, path, 405, undefined);
    }
    const table = this.table(path);
    if (method === "GET") {
      if (mkey === undefined)
        return this.reply(res, 200, { http_method: "GET", status: "success", results: [...table.values()] });
      const x = table.get(mkey);
      return x
        ? this.reply(res, 200, { http_method: "GET", status: "success", results: [x], mkey })
        : this.error(res, method, path, 404, -3);
    }
    if (method === "POST" && body) {
      if (!check(body)) return;
      let key = keyName ? body[keyName] : undefined;
      if ((keyName === "policyid" || keyName === "seq-num") && (key === undefined || key === 0)) {
        const n = Math.max(0, ...[...table.keys()].map(Number), this.nextPolicy.get(path) ?? 0) + 1;
        this.nextPolicy.set(path, n);
        key = n;
      }
      if (key === undefined) return this.error(res, method, path, 424, -651, "missing mkey");
      if (table.has(String(key))) return this.error(res, method, path, 500, -5, "object already exists");
      table.set(String(key), { ...structuredClone(body), [keyName!]: key });
      return done(200, { mkey: key });
    }
    if (method === "PUT" && body && mkey !== undefined) {
      const cur = table.get(mkey);
      if (!cur) return this.error(res, method, path, 404, -3);
      if (!check(body)) return;
      table.set(mkey, deepMerge(cur, body));
      return done(200, { mkey });
    }
    if (method === "DELETE" && mkey !== undefined) {
      if (!table.has(mkey)) return this.error(res, method, path, 404, -3);
      if (this.referenced(path, mkey)) return this.error(res, method, path, 500, -23, "entry is used");
      table.delete(mkey);
      return done(200, { mkey });
    }
    return this.error(res, method, path, 405, undefined);
  }

  /** A poolname, vip or interface that does not exist (FortiOS answers -651). */
  private dangling(path: string, b: Record<string, unknown>): string | undefined {
    for (const [field, table] of REFERENCES[path] ?? []) {
      for (const p of (b[field] as { name: string }[] | undefined) ?? []) {
        if (p.name !== "all" && !this.table(table).has(p.name)) return `${field} ${p.name}`;
      }
    }
    const ifs = this.table("system/interface");
    for (const f of ["srcintf", "dstintf"]) {
      const v = b[f];
      const names =
        typeof v === "string" ? [v] : Array.isArray(v) ? (v as { name: string }[]).map((x) => x.name) : [];
      for (const n of names) if (!ifs.has(n)) return `${f} ${n}`;
    }
    return undefined;
  }

  private referenced(path: string, key: string): boolean {
    for (const [from, refs] of Object.entries(REFERENCES)) {
      for (const [field, table] of refs) {
        if (table !== path) continue;
        for (const pol of this.table(from).values())
          if ((pol[field] as { name: string }[] | undefined)?.some((x) => x.name === key)) return true;
      }
    }
    return false;
  }
}

/** Per table, the fields that name objects of another table: [field, that table]. */
const REFERENCES: Record<string, [string, string][]> = {
  "firewall/policy": [
    ["poolname", "firewall/ippool"],
    ["poolname6", "firewall/ippool6"],
    ["dstaddr", "firewall/vip"],
    ["dstaddr6", "firewall/vip6"],
  ],
  "firewall/policy64": [["poolname", "firewall/ippool"]],
  "firewall/policy6": [
    ["poolname", "firewall/ippool6"],
    ["dstaddr", "firewall/vip6"],
  ],
};

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(a);
  for (const [k, v] of Object.entries(b)) {
    const have = out[k];
    if (
      v &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      have &&
      typeof have === "object" &&
      !Array.isArray(have)
    ) {
      out[k] = deepMerge(have as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = structuredClone(v);
  }
  return out;
}
