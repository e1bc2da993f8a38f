// FortiOS REST (CMDB) transport: /api/v2/cmdb/<path>[/<mkey>]?vdom=<vdom>, Authorization: Bearer.
// Upsert as Fortinet's own Ansible FortiOSHandler.set() does it (GET; absent → POST; present → PUT),
// and a POST that meets error -5 ("object already exists", a retry after a lost reply) becomes a PUT.
import type { Logger } from "../../util/log.ts";
import {
  isObject,
  type JsonObject,
  keyAt,
  numberAt,
  objectAt,
  objectsAt,
  optionalObjectAt,
  optionalStringAt,
  stringAt,
} from "../answer.ts";
import type { Vip6 } from "../diagnose.ts";
import {
  DeviceApiError,
  type Driver,
  type Ledger,
  orphanFromLedger,
  type Probe,
  type ReadResult,
} from "../driver.ts";
import {
  createHttpClient,
  DeviceHttpError,
  type HttpClient,
  type HttpResponse,
  type TlsOptions,
} from "../http.ts";
import type { Current } from "../model.ts";
import { type DesiredObject, MARKER } from "../model.ts";
import { commentField, isNumbered, keyField, MARKED_PATHS, markerComment } from "./objects.ts";

export const CMDB = "/api/v2/cmdb/";
export const STATUS = "/api/v2/monitor/system/status";

/** FortiOS internal error codes (shared/devices/fortios-notes.md, "Errors"). */
export const FORTI_ERRORS: Record<number, string> = {
  [-3]: "object not found",
  [-5]: "object already exists",
  [-23]: "object in use",
  [-61]: "command error",
  [-651]: "invalid value or reference",
};

export interface FortiDriverOptions {
  endpoint: string;
  token: string;
  vdom: string;
  tls: TlsOptions;
  log: Logger;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
}

const isSingleton = (o: { path: string; key?: string }) => o.key === undefined && !isNumbered(o.path);

/** "172.16.1.254 255.255.255.0" → "172.16.1.254/24" */
function v4WithLength(ipMask: string): string | undefined {
  const [ip, mask] = ipMask.trim().split(/\s+/);
  if (!ip || !mask || ip === "0.0.0.0") return undefined;
  const bits = mask.split(".").reduce((n, o) => n + Number(o).toString(2).replace(/0/g, "").length, 0);
  return `${ip}/${bits}`;
}

export function fortiErrorMessage(method: string, path: string, r: HttpResponse): string {
  const b = (r.body ?? {}) as { error?: number; cli_error?: string };
  const code =
    typeof b.error === "number"
      ? ` error ${b.error}${FORTI_ERRORS[b.error] ? ` (${FORTI_ERRORS[b.error]})` : ""}`
      : "";
  const cli = b.cli_error ? `: ${b.cli_error}` : "";
  return `${method} ${path}: HTTP ${r.status}${code}${cli}`;
}

export function createFortiDriver(o: FortiDriverOptions): Driver & {
  vip6(): Promise<Vip6[]>;
  policyTable(path: string): Promise<Record<string, unknown>[]>;
} {
  const http: HttpClient = createHttpClient({
    endpoint: o.endpoint,
    headers: { Authorization: `Bearer ${o.token}` },
    tls: o.tls,
    log: o.log,
    retries: o.retries,
    backoffMs: o.backoffMs,
    timeoutMs: o.timeoutMs,
  });
  const query = { vdom: o.vdom };
  /** policy or route object id → the policyid / seq-num the box gave it */
  const numbers = new Map<string, number>();
  // 500 without an internal code, and the gateway errors, are transient; -5/-651/... are answers.
  const retryable = (r: HttpResponse) =>
    [502, 503, 504].includes(r.status) ||
    (r.status === 500 && typeof (r.body as { error?: unknown } | undefined)?.error !== "number");

  async function call(method: string, path: string, body?: unknown, retry = true): Promise<HttpResponse> {
    const r = await http.request(method, path, { query, body, retry, retryable });
    if (r.status >= 400 && !(method === "GET" && r.status === 404)) {
      const code = (r.body as { error?: number } | undefined)?.error;
      throw new DeviceApiError(
        fortiErrorMessage(method, path, r),
        r.status,
        typeof code === "number" ? code : undefined,
      );
    }
    return r;
  }
  const url = (path: string, key?: string | number) =>
    `${CMDB}${path}${key === undefined ? "" : `/${encodeURIComponent(String(key))}`}`;
  /** The CMDB `results` of a GET: a table's rows, or a singleton's one object (an empty answer: none). */
  const results = (r: HttpResponse, where: string): JsonObject[] => {
    if (r.body === undefined) return [];
    const x = objectAt(r.body, `${where}: the answer`).results;
    return isObject(x) ? [x] : objectsAt(x, `${where}: results`);
  };
  /** GET a CMDB path; undefined when the box has no such path (404). */
  async function get(path: string, key?: string): Promise<JsonObject[] | undefined> {
    const u = url(path, key);
    const r = await call("GET", u);
    return r.status === 404 ? undefined : results(r, `GET ${u}`);
  }
  const lists = new Map<string, JsonObject[] | undefined>();
  async function list(path: string, fresh = false): Promise<JsonObject[] | undefined> {
    if (!fresh && lists.has(path)) return lists.get(path);
    const v = await get(path);
    lists.set(path, v);
    return v;
  }
  /** A policy or route of ours (the box numbered it): found by its comment; its number remembered. */
  async function findNumbered(o: DesiredObject, fresh: boolean): Promise<JsonObject | undefined> {
    const all = (await list(o.path, fresh)) ?? [];
    const mine = all.find((p) => p[commentField(o.path)] === markerComment(o.id));
    const key = keyField(o.path);
    if (mine) numbers.set(o.id, numberAt(mine[key], `GET ${url(o.path)}: ${key} of ${o.id}`));
    return mine;
  }

  return {
    vendor: "fortios",
    get requests() {
      return http.attempts;
    },
    close: () => http.close(),

    async probe(): Promise<Probe> {
      const r = await call("GET", STATUS);
      // the status monitor is on every FortiOS: a 404 here is not a FortiGate's API
      if (r.status === 404) throw new DeviceApiError(fortiErrorMessage("GET", STATUS, r), 404);
      const b = objectAt(r.body, `GET ${STATUS}: the answer`);
      const inResults = isObject(b.results) ? b.results.version : undefined;
      const version = optionalStringAt(b.version ?? inResults, `GET ${STATUS}: version`) ?? "";
      const where = `GET ${url("system/interface")}: results`;
      const ifs = (await list("system/interface", true)) ?? [];
      const interfaces = ifs.map((i, n) => {
        const addresses: string[] = [];
        const ip = optionalStringAt(i.ip, `${where}[${n}].ip`);
        const v4 = ip === undefined ? undefined : v4WithLength(ip);
        if (v4) addresses.push(v4);
        const ipv6 = optionalObjectAt(i.ipv6, `${where}[${n}].ipv6`);
        const v6 = optionalStringAt(ipv6?.["ip6-address"], `${where}[${n}].ipv6.ip6-address`);
        if (v6 && !v6.startsWith("::/")) addresses.push(v6);
        return { name: stringAt(i.name, `${where}[${n}].name`), addresses };
      });
      return { version: version.replace(/^v/, ""), interfaces };
    },

    async read(desired, ledger): Promise<ReadResult> {
      lists.clear();
      const current: Current = new Map();
      for (const d of desired) {
        if (isNumbered(d.path)) current.set(d.id, await findNumbered(d, false));
        else current.set(d.id, (await get(d.path, isSingleton(d) ? undefined : d.key))?.[0]);
      }
      const wanted = new Set(desired.map((d) => d.id));
      const orphans: DesiredObject[] = Object.values(ledger.entries)
        .filter((e) => !wanted.has(e.id) && !MARKED_PATHS.includes(e.path as (typeof MARKED_PATHS)[number]))
        .map(orphanFromLedger);
      for (const path of MARKED_PATHS) {
        const all = await list(path);
        for (const [n, x] of (all ?? []).entries()) {
          const comment = x[commentField(path)];
          const c = typeof comment === "string" ? comment : "";
          if (!c.startsWith(`${MARKER}: `)) continue;
          const id = c.slice(MARKER.length + 2);
          if (wanted.has(id)) continue;
          const key = keyAt(x[keyField(path)], `GET ${url(path)}: results[${n}].${keyField(path)}`);
          orphans.push({
            id,
            owners: [],
            path,
            key,
            body: {},
            dependsOn: [],
            ownership: "marked",
            removal: { kind: "delete" },
          });
        }
      }
      return { current, orphans };
    },

    async apply(change, _ledger: Ledger) {
      const obj = change.object;
      if (change.op === "delete") {
        if (obj.removal.kind === "reset") await call("PUT", url(obj.path, obj.key), obj.removal.body);
        else if (obj.removal.kind === "delete") {
          const r = await call("DELETE", url(obj.path, obj.key)).catch((e: unknown) => {
            if (e instanceof DeviceApiError && e.status === 404) return undefined; // already gone
            throw e;
          });
          void r;
        }
        return;
      }
      if (isSingleton(obj)) {
        await call("PUT", url(obj.path), obj.body);
        return;
      }
      if (isNumbered(obj.path)) {
        if (change.op === "update" && numbers.has(obj.id)) {
          await call("PUT", url(obj.path, numbers.get(obj.id)), obj.body);
          return;
        }
        // A retried POST would append a second policy: one attempt at a time, and before each
        // new attempt look for the comment in case the last one landed and only the reply was lost.
        for (let attempt = 0; ; attempt++) {
          try {
            const r = await call("POST", url(obj.path), obj.body, false);
            const mkey = (r.body as { mkey?: number } | undefined)?.mkey;
            if (typeof mkey === "number") numbers.set(obj.id, mkey);
            return;
          } catch (e) {
            const transient =
              e instanceof DeviceHttpError ||
              (e instanceof DeviceApiError &&
                (e.status >= 502 || (e.status === 500 && e.code === undefined)));
            if (!transient || attempt >= 4) throw e;
            await new Promise((res) => setTimeout(res, Math.min(200 * 2 ** attempt, 5000)));
            if (await findNumbered(obj, true)) return;
          }
        }
      }
      if (change.op === "update") {
        await call("PUT", url(obj.path, obj.key), obj.body);
        return;
      }
      try {
        await call("POST", url(obj.path), obj.body);
      } catch (e) {
        // -5: it exists (a POST whose reply was lost, or someone made it meanwhile): update it.
        if (e instanceof DeviceApiError && e.code === -5) await call("PUT", url(obj.path, obj.key), obj.body);
        else throw e;
      }
    },

    async finish() {},

    /** a policy table in the box's order (as last read), for the order diagnosis */
    async policyTable(path: string) {
      return (await list(path)) ?? [];
    },

    /** the box's vip6 objects, for the NDP diagnosis */
    async vip6() {
      const where = `GET ${url("firewall/vip6")}: results`;
      const all = (await list("firewall/vip6", true)) ?? [];
      return all.map((v, n) => ({
        name: stringAt(v.name, `${where}[${n}].name`),
        extip: optionalStringAt(v.extip, `${where}[${n}].extip`) ?? "",
        "ndp-reply": optionalStringAt(v["ndp-reply"], `${where}[${n}].ndp-reply`),
      }));
    },
  };
}

export { DeviceHttpError };
