// IOS-XE RESTCONF transport (RFC 8040): GET/PUT/DELETE under /restconf/data/, the
// Cisco-IOS-XE-cli-rpc RPC for what YANG does not model, and cisco-ia:save-config at the end
// (RESTCONF writes running-config only).
import type { Logger } from "../../util/log.ts";
import {
  type JsonObject,
  keyAt,
  objectAt,
  objectsAt,
  optionalObjectAt,
  optionalStringAt,
  stringAt,
} from "../answer.ts";
import {
  DeviceApiError,
  type Driver,
  type Ledger,
  orphanFromLedger,
  type Probe,
  type ReadResult,
} from "../driver.ts";
import { createHttpClient, type HttpClient, type HttpResponse, type TlsOptions } from "../http.ts";
import { type Current, type DesiredObject, order } from "../model.ts";
import { cliRpcBody, encodeKey, NAME_PREFIX, NATIVE } from "./render.ts";

export const DATA = "/restconf/data/";

/** Lists whose entries we name with NAME_PREFIX, in the order they may be created. */
const MARKED_LISTS = [
  { id: "dhcp/pool", path: `${NATIVE}/ip/dhcp/Cisco-IOS-XE-dhcp:pool`, key: "id" },
  { id: "acl", path: `${NATIVE}/ipv6/access-list/Cisco-IOS-XE-acl:named-acl`, key: "name" },
  { id: "nat64/pool", path: `${NATIVE}/Cisco-IOS-XE-nat:nat64/v4/pool`, key: "pool-name" },
  { id: "nat64/list", path: `${NATIVE}/Cisco-IOS-XE-nat:nat64/v6v4/list/list`, key: "id" },
];
export const CLI_RPC = "/restconf/operations/Cisco-IOS-XE-cli-rpc:config-ios-cli-rpc";
export const SAVE_CONFIG = "/restconf/operations/cisco-ia:save-config";
const MEDIA = "application/yang-data+json";

export interface IosxeDriverOptions {
  endpoint: string;
  username: string;
  password: string;
  tls: TlsOptions;
  log: Logger;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
}

/** RFC 8040 §7.1 errors body → one line. */
export function restconfErrorMessage(method: string, path: string, r: HttpResponse): string {
  const errs = (
    r.body as
      | { "ietf-restconf:errors"?: { error?: { "error-tag"?: string; "error-message"?: string }[] } }
      | undefined
  )?.["ietf-restconf:errors"]?.error;
  const first = errs?.[0];
  return `${method} ${path}: HTTP ${r.status}${first ? ` ${first["error-tag"] ?? ""}${first["error-message"] ? `: ${first["error-message"]}` : ""}` : ""}`;
}

/**
 * Values as IOS-XE gives them back differ in form from what we send (shared/devices/iosxe-notes.md,
 * pitfalls 2 and 6): upper-case IPv6, dotted hex. Compare normalised.
 */
export function iosxeSame(_field: string, want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => iosxeSame(_field, w, have[i]));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.entries(want as Record<string, unknown>).every(([k, v]) => {
      // a member may come back qualified or not
      const h =
        (have as Record<string, unknown>)[k] ??
        (have as Record<string, unknown>)[k.slice(k.indexOf(":") + 1)];
      return iosxeSame(k, v, h);
    });
  }
  if (typeof want === "string" && typeof have === "string") {
    if (_field === "hex-line")
      return want.replace(/\./g, "").toLowerCase() === have.replace(/\./g, "").toLowerCase();
    return want.toLowerCase() === have.toLowerCase();
  }
  if (
    (typeof want === "number" || typeof want === "string") &&
    (typeof have === "number" || typeof have === "string")
  )
    return String(want) === String(have);
  return false;
}

/** 255.255.255.0 → 24 */
function maskLength(mask: string): number {
  return mask.split(".").reduce((n, o) => n + Number(o).toString(2).replace(/0/g, "").length, 0);
}

export function createIosxeDriver(o: IosxeDriverOptions): Driver {
  const basic = Buffer.from(`${o.username}:${o.password}`).toString("base64");
  const http: HttpClient = createHttpClient({
    endpoint: o.endpoint,
    headers: { Authorization: `Basic ${basic}` },
    tls: o.tls,
    log: o.log,
    retries: o.retries,
    backoffMs: o.backoffMs,
    timeoutMs: o.timeoutMs,
  });
  const retryable = (r: HttpResponse) => {
    if ([502, 503, 504].includes(r.status)) return true;
    // RFC 8040 §7: lock-denied / in-use (409) clear once the other session's change is done.
    return r.status === 409 && /lock-denied|in-use/.test(JSON.stringify(r.body ?? ""));
  };
  async function call(method: string, path: string, body?: unknown): Promise<HttpResponse> {
    const r = await http.request(method, path, { body, contentType: MEDIA, retryable });
    if (r.status >= 400 && !(r.status === 404 && (method === "GET" || method === "DELETE"))) {
      throw new DeviceApiError(restconfErrorMessage(method, path, r), r.status);
    }
    return r;
  }
  const cli = (text: string) => call("POST", CLI_RPC, cliRpcBody(text));
  /** GET a data resource: its body, or undefined when the box has none (404, or 204 No Content). */
  async function get(path: string): Promise<JsonObject | undefined> {
    const r = await call("GET", `${DATA}${path}`);
    if (r.status === 404 || r.body === undefined) return undefined;
    return objectAt(r.body, `GET ${DATA}${path}: the answer`);
  }

  return {
    vendor: "iosxe",
    get requests() {
      return http.attempts;
    },
    close: () => http.close(),

    async probe(): Promise<Probe> {
      const versionPath = `${NATIVE}/version`;
      const v = await get(versionPath);
      const version =
        optionalStringAt(v?.["Cisco-IOS-XE-native:version"], `GET ${DATA}${versionPath}: version`) ?? "";
      const where = `GET ${DATA}${NATIVE}/interface: interface`;
      const tree = optionalObjectAt(
        (await get(`${NATIVE}/interface`))?.["Cisco-IOS-XE-native:interface"],
        where,
      );
      const interfaces = Object.entries(tree ?? {}).flatMap(([type, entries]) =>
        objectsAt(entries, `${where}.${type}`).map((e, n) => {
          const at = `${where}.${type}[${n}]`;
          const addresses: string[] = [];
          const ip = optionalObjectAt(e.ip, `${at}.ip`);
          const address = optionalObjectAt(ip?.address, `${at}.ip.address`);
          const p = optionalObjectAt(address?.primary, `${at}.ip.address.primary`);
          const a4 = optionalStringAt(p?.address, `${at}.ip.address.primary.address`);
          const mask = optionalStringAt(p?.mask, `${at}.ip.address.primary.mask`);
          if (a4 && mask) addresses.push(`${a4}/${maskLength(mask)}`);
          const ipv6 = optionalObjectAt(e.ipv6, `${at}.ipv6`);
          const v6 = optionalObjectAt(ipv6?.address, `${at}.ipv6.address`);
          for (const [i, x] of objectsAt(v6?.["prefix-list"], `${at}.ipv6.address.prefix-list`).entries())
            addresses.push(stringAt(x.prefix, `${at}.ipv6.address.prefix-list[${i}].prefix`).toLowerCase());
          return { name: `${type}${keyAt(e.name, `${at}.name`)}`, addresses };
        }),
      );
      return { version, interfaces };
    },

    async read(desired, ledger): Promise<ReadResult> {
      const current: Current = new Map();
      for (const d of desired) {
        if (d.path === "cli-rpc") {
          // Not readable over RESTCONF: what we last sent is the state we know.
          current.set(d.id, ledger.entries[d.id]?.body);
          continue;
        }
        current.set(d.id, await get(d.path));
      }
      const wanted = new Set(desired.map((d) => d.id));
      const orphans: DesiredObject[] = Object.values(ledger.entries)
        .filter((e) => !wanted.has(e.id))
        .map(orphanFromLedger);
      // Named objects carry our prefix: found even when the ledger is lost. The list (it names
      // the ACL and the pool) goes before them.
      const known = new Set([...wanted, ...orphans.map((o) => o.id)]);
      for (const m of MARKED_LISTS) {
        const body = await get(m.path);
        if (body === undefined) continue;
        const [member, list] = Object.entries(body)[0] ?? [];
        const where = `GET ${DATA}${m.path}: ${member}`;
        for (const [n, e] of objectsAt(list, where).entries()) {
          const name = keyAt(e[m.key], `${where}[${n}].${m.key}`);
          const id = `${m.id}/${name}`;
          if (!name.startsWith(NAME_PREFIX) || known.has(id)) continue;
          known.add(id);
          orphans.push({
            id,
            owners: [],
            path: `${m.path}=${encodeKey(name)}`,
            body: {},
            dependsOn: [],
            ownership: "marked",
            removal: { kind: "delete" },
          });
        }
      }
      return { current, orphans: order(orphans) };
    },

    async apply(change, ledger: Ledger) {
      const obj = change.object;
      if (change.op === "delete") {
        if (obj.removal.kind === "cli") await cli(obj.removal.text);
        else if (obj.removal.kind === "delete") await call("DELETE", `${DATA}${obj.path}`);
        return;
      }
      if (obj.path === "cli-rpc") {
        // A changed CLI object: undo what we sent last time, then send the new lines.
        const before = ledger.entries[obj.id];
        if (change.op === "update" && before?.removal.kind === "cli") await cli(before.removal.text);
        await cli(String(obj.body["config-clis"]));
        return;
      }
      await call("PUT", `${DATA}${obj.path}`, obj.body);
    },

    async finish(changed) {
      if (changed) await call("POST", SAVE_CONFIG);
    },
  };
}
