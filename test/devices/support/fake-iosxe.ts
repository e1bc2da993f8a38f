// A fake IOS-XE RESTCONF server over HTTPS: basic auth, /restconf/data GET/PUT/DELETE on a JSON
// tree (RFC 8040 replies: the target's member qualified with its module, 404 and 400 with an
// ietf-restconf:errors body), the Cisco-IOS-XE-cli-rpc RPC applied to a per-interface line set,
// and cisco-ia:save-config. Like the box, it hands back option hex dotted ("0000.0708") and IPv6
// in upper case, so the driver must compare normalised values.

import type { ServerResponse } from "node:http";
import { HttpsBox } from "./https-box.ts";

export interface SeenRc {
  method: string;
  path: string;
  body?: Record<string, unknown>;
  auth?: string;
}

/** Key leaves by list name (and its parent where two lists share a name). */
function keysOf(parent: string, list: string): string[] {
  if (list === "pool")
    return parent === "dhcp" || parent === "nat" ? ["id"] : parent === "list" ? ["name"] : ["pool-name"];
  const table: Record<string, string[]> = {
    BDI: ["name"],
    GigabitEthernet: ["name"],
    "named-acl": ["name"],
    list: ["id"],
    "low-high-address-list": ["low-address", "high-address"],
    "low-address-list": ["low-address"],
    standard: ["name"],
    interface: ["name"],
    "nat-static-transport-list": ["local-ip", "global-ip"],
    inside: ["inside-pfx"],
    "ip-route-interface-forwarding-list": ["prefix", "mask"],
    "ipv6-route-list": ["prefix"],
  };
  const k = table[list];
  if (!k) throw new Error(`fake: unknown list ${list}`);
  return k;
}

const local = (n: string) => n.slice(n.indexOf(":") + 1);
const restconfError = (tag: string, message: string) => ({
  "ietf-restconf:errors": {
    error: [{ "error-type": "application", "error-tag": tag, "error-message": message }],
  },
});

/** IOS's way of writing values back. */
function asTheBoxWritesIt(v: unknown, field = ""): unknown {
  if (Array.isArray(v)) return v.map((x) => asTheBoxWritesIt(x, field));
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [local(k), asTheBoxWritesIt(x, local(k))]),
    );
  }
  if (typeof v === "string" && field === "hex-line" && /^[0-9a-f]{8}$/i.test(v))
    return `${v.slice(0, 4)}.${v.slice(4)}`.toUpperCase();
  if (typeof v === "string" && v.includes(":") && /^[0-9a-f:/.]+$/i.test(v)) return v.toUpperCase();
  return v;
}

export class FakeIosxe {
  private readonly box: HttpsBox;
  readonly tree: Record<string, unknown> = {};
  readonly seen: SeenRc[] = [];
  /** lines under each interface set through the CLI RPC */
  readonly cli = new Map<string, Set<string>>();
  saves = 0;
  readonly faults: { method: string; path: string; kind: "409" | "lost"; times: number }[] = [];

  constructor(
    readonly o: {
      user: string;
      password: string;
      version: string;
      key: string;
      cert: string;
      interfaces: Record<string, unknown>;
    },
  ) {
    this.tree.native = { version: o.version, interface: structuredClone(o.interfaces) };
    this.box = new HttpsBox(o, (r, res) => this.handle(r.method, r.url, r.auth, r.text, res));
  }

  start(): Promise<string> {
    return this.box.start();
  }

  stop(): Promise<void> {
    return this.box.stop();
  }

  writes(): SeenRc[] {
    return this.seen.filter((s) => s.method !== "GET");
  }

  native(): Record<string, unknown> {
    return this.tree.native as Record<string, unknown>;
  }

  private send(res: ServerResponse, status: number, body?: unknown) {
    if (body === undefined) {
      res.writeHead(status);
      return res.end();
    }
    res.writeHead(status, { "Content-Type": "application/yang-data+json" });
    res.end(JSON.stringify(body));
  }

  private handle(
    method: string,
    rawUrl: string,
    auth: string | undefined,
    text: string,
    res: ServerResponse,
  ) {
    const url = new URL(rawUrl, "https://router");
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      return this.send(res, 400, restconfError("malformed-message", "invalid JSON"));
    }
    this.seen.push({ method, path: url.pathname, body, auth });
    const expected = `Basic ${Buffer.from(`${this.o.user}:${this.o.password}`).toString("base64")}`;
    if (auth !== expected) return this.send(res, 401, restconfError("access-denied", "access denied"));
    const fault = this.faults.find(
      (f) => f.times > 0 && f.method === method && url.pathname.includes(f.path),
    );
    if (fault?.kind === "409") {
      fault.times--;
      return this.send(
        res,
        409,
        restconfError("lock-denied", "the configuration database is locked by session 42"),
      );
    }
    const done = (status: number, b?: unknown) => {
      if (fault?.kind === "lost") {
        fault.times--;
        res.socket?.destroy();
        return;
      }
      this.send(res, status, b);
    };
    if (url.pathname === "/restconf/operations/cisco-ia:save-config" && method === "POST") {
      this.saves++;
      return done(200, { "cisco-ia:output": { result: "Save running config successful" } });
    }
    if (
      url.pathname === "/restconf/operations/Cisco-IOS-XE-cli-rpc:config-ios-cli-rpc" &&
      method === "POST"
    ) {
      const input = body?.["Cisco-IOS-XE-cli-rpc:input"] as { "config-clis"?: string } | undefined;
      if (!input?.["config-clis"])
        return this.send(res, 400, restconfError("missing-element", "config-clis"));
      this.runCli(input["config-clis"]);
      return done(200, { "Cisco-IOS-XE-cli-rpc:output": { result: "" } });
    }
    if (!url.pathname.startsWith("/restconf/data/Cisco-IOS-XE-native:native"))
      return this.send(res, 404, restconfError("invalid-value", "uri keypath not found"));
    const segs = url.pathname
      .slice("/restconf/data/".length)
      .split("/")
      .map((p) => {
        const eq = p.indexOf("=");
        return eq < 0
          ? { name: p }
          : {
              name: p.slice(0, eq),
              keys: p
                .slice(eq + 1)
                .split(",")
                .map(decodeURIComponent),
            };
      });
    // the module of the target, for the reply's member name
    let module = "Cisco-IOS-XE-native";
    for (const s of segs) if (s.name.includes(":")) module = s.name.slice(0, s.name.indexOf(":"));
    const last = segs[segs.length - 1]!;
    const member = `${module}:${local(last.name)}`;
    // Walk to the parent of the target.
    let node: Record<string, unknown> = this.tree;
    let parentName = "";
    for (let i = 0; i < segs.length - 1; i++) {
      const s = segs[i]!;
      const n = local(s.name);
      let next = node[n];
      if (s.keys) {
        const ks = keysOf(parentName, n);
        let list = next as Record<string, unknown>[] | undefined;
        if (!list) {
          if (method !== "PUT")
            return this.send(res, 404, restconfError("invalid-value", "uri keypath not found"));
          list = [];
          node[n] = list;
        }
        let entry = list.find((e) => ks.every((k, j) => String(e[k]) === s.keys![j]));
        if (!entry) {
          if (method !== "PUT")
            return this.send(res, 404, restconfError("invalid-value", "uri keypath not found"));
          entry = Object.fromEntries(ks.map((k, j) => [k, s.keys![j]]));
          list.push(entry);
        }
        next = entry;
      } else if (next === undefined) {
        if (method !== "PUT")
          return this.send(res, 404, restconfError("invalid-value", "uri keypath not found"));
        next = {};
        node[n] = next;
      }
      parentName = n;
      node = next as Record<string, unknown>;
    }
    const n = local(last.name);
    const find = (): { list?: Record<string, unknown>[]; index: number } => {
      if (!last.keys) return { index: n in node ? 0 : -1 };
      const list = (node[n] as Record<string, unknown>[] | undefined) ?? [];
      const ks = keysOf(parentName, n);
      return { list, index: list.findIndex((e) => ks.every((k, j) => String(e[k]) === last.keys![j])) };
    };
    const at = find();
    if (method === "GET") {
      if (at.index < 0) return this.send(res, 404, restconfError("invalid-value", "uri keypath not found"));
      return this.send(res, 200, { [member]: last.keys ? [at.list![at.index]] : node[n] });
    }
    if (method === "DELETE") {
      if (at.index < 0) return this.send(res, 404, restconfError("data-missing", "object not found"));
      if (last.keys) at.list!.splice(at.index, 1);
      else delete node[n];
      return done(204);
    }
    if (method === "PUT" && body) {
      const entries = Object.entries(body);
      if (entries.length !== 1 || local(entries[0]![0]) !== n)
        return this.send(res, 400, restconfError("malformed-message", `body must hold ${n} alone`));
      let value = asTheBoxWritesIt(entries[0]![1]);
      if (last.keys) {
        const arr = value as Record<string, unknown>[];
        const ks = keysOf(parentName, n);
        if (
          !Array.isArray(arr) ||
          arr.length !== 1 ||
          !ks.every((k, j) => String(arr[0]![k]).toLowerCase() === last.keys![j]!.toLowerCase())
        ) {
          return this.send(
            res,
            400,
            restconfError("invalid-value", "key leaf values do not match the URI (RFC 8040 §4.5)"),
          );
        }
        value = arr[0];
        const list = (node[n] as Record<string, unknown>[] | undefined) ?? [];
        node[n] = list;
        const created = at.index < 0;
        if (created) list.push(value as Record<string, unknown>);
        else list[at.index] = value as Record<string, unknown>;
        return done(created ? 201 : 204);
      }
      const created = at.index < 0;
      node[n] = value;
      return done(created ? 201 : 204);
    }
    return this.send(res, 405, restconfError("operation-not-supported", method));
  }

  private runCli(text: string) {
    let current: Set<string> | undefined;
    for (const raw of text.split("\n")) {
      if (!raw.trim()) continue;
      if (!raw.startsWith(" ")) {
        const m = /^interface (\S+)$/.exec(raw.trim());
        if (!m) throw new Error(`fake cli: ${raw}`);
        current = this.cli.get(m[1]!) ?? new Set();
        this.cli.set(m[1]!, current);
        continue;
      }
      const line = raw.trim();
      if (line.startsWith("no ")) {
        const what = line.slice(3);
        for (const l of [...current!])
          if (l === what || l.startsWith(`${what} `) || what.startsWith(l)) current!.delete(l);
      } else current!.add(line);
    }
  }
}

/** The seed ISR's interfaces as RESTCONF shows them. */
export const ISR_INTERFACES = {
  BDI: [
    { name: "1", ip: { address: { primary: { address: "192.168.1.254", mask: "255.255.255.0" } } } },
    {
      name: "10",
      ip: { address: { primary: { address: "172.16.1.253", mask: "255.255.255.0" } } },
      ipv6: { address: { "prefix-list": [{ prefix: "FC00::FFFF/64" }] }, enable: [null] },
    },
  ],
  GigabitEthernet: [{ name: "0/0/0" }, { name: "0/0/1" }],
};
