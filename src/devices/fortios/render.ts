// FortiOS: the CMDB objects a device's assignments need, per version, and their CLI text.
// Object model per version (shared/devices/fortios-notes.md, "Version differences"):
//   ≤ 7.0.0  config system nat64 (prefix + DNS64), NAT64 = firewall policy64 + an IPv4 ippool
//   ≥ 7.0.1  config system dns64, NAT64 = firewall policy with nat64 enable + ippool with nat64 enable
import { formatDuration } from "../../api/duration.ts";
import type {
  Assignment,
  DeviceTarget,
  Dns64Assignment,
  Nat64Assignment,
  RaAssignment,
} from "../../planner/plan.ts";
import { format } from "../../util/net.ts";
import {
  asJson,
  canonicalPrefix,
  type DesiredObject,
  type Diagnostic,
  type InterfaceFacts,
  interfaceHolding,
  interfacesIn,
  interfacesOnSubnetOf,
  mergeObjects,
} from "../model.ts";
import { type Version, versionText } from "../version.ts";
import { capabilities, type FortiCapabilities, inVersionRange } from "./capabilities.ts";
import { edgeTranslation } from "./edge.ts";
import { isNumbered, keyField, markerComment, NAME_PREFIX } from "./objects.ts";

export interface FortiRenderInput {
  target: DeviceTarget;
  /** the version to render for (the box's, the device's, or --version) */
  version: Version;
  /** the box's interfaces (ExternalDevice spec.interfaces, or read from the box) */
  interfaces: readonly InterfaceFacts[];
}

export interface FortiRendered {
  objects: DesiredObject[];
  diagnostics: Diagnostic[];
}

export { keyField, markerComment, NAME_PREFIX } from "./objects.ts";

export function renderFortios(input: FortiRenderInput): FortiRendered {
  const caps = capabilities(input.version);
  const diagnostics: Diagnostic[] = [];
  const objects: DesiredObject[] = [];
  for (const a of input.target.assignments) {
    const subject = `${a.kind}/${a.name}`;
    switch (a.kind) {
      case "Dns64Resolver":
        objects.push(...dns64(a, caps, input.interfaces, diagnostics));
        break;
      case "Nat64Gateway":
        objects.push(...nat64(a, caps, input.interfaces, diagnostics));
        break;
      case "RouterAdvert":
        objects.push(...routerAdvert(a, caps, diagnostics));
        break;
      case "DhcpScope":
        diagnostics.push({
          severity: "error",
          subject,
          message:
            "a DHCP server on FortiOS (config system dhcp server) is not driven by v6mostly yet; run this DhcpScope on a node or on an IOS-XE device",
        });
        break;
      case "EdgeTranslation":
        objects.push(...edgeTranslation(a, caps, diagnostics));
        break;
      default:
        unreachable(a);
    }
  }
  return { objects: asJson(mergeObjects(objects, diagnostics)), diagnostics };
}

function unreachable(a: never): never {
  throw new Error(`unknown assignment ${(a as Assignment).kind}`);
}

const onOff = (b: boolean) => (b ? "enable" : "disable");

/** The singleton that holds the NAT64 prefix (≤ 7.0.0) or the DNS64 prefix (≥ 7.0.1). */
function prefixSingleton(
  owner: string,
  caps: FortiCapabilities,
  body: Record<string, unknown>,
): DesiredObject {
  const path = caps.systemNat64 ? "system/nat64" : "system/dns64";
  return {
    id: path,
    owners: [owner],
    path,
    body: { status: "enable", ...body },
    dependsOn: [],
    ownership: "ledger",
    removal: { kind: "reset", body: { status: "disable" } },
  };
}

function dns64(
  a: Dns64Assignment,
  caps: FortiCapabilities,
  interfaces: readonly InterfaceFacts[],
  out: Diagnostic[],
): DesiredObject[] {
  const owner = `Dns64Resolver/${a.name}`;
  const objects: DesiredObject[] = [];
  if (a.prefix.length !== 96) {
    out.push({
      severity: "error",
      subject: owner,
      message: `FortiOS synthesizes only with a /96 prefix; ${a.prefix} is a /${a.prefix.length}`,
    });
    return [];
  }
  // `config system nat64` (≤ 7.0.0) / `config system dns64` (≥ 7.0.1). The CLI reference gives
  // always-synthesize-aaaa-record enable as the default, so it is always sent.
  objects.push(
    prefixSingleton(owner, caps, {
      [caps.systemNat64 ? "nat64-prefix" : "dns64-prefix"]: canonicalPrefix(a.prefix),
      "always-synthesize-aaaa-record": onOff(a.spec.alwaysSynthesize),
    }),
  );
  // `config system dns-server`: one entry per interface that holds a listen address.
  const served = new Set<string>();
  for (const l of a.spec.listen) {
    if (l.port !== 53) {
      out.push({
        severity: "warning",
        subject: owner,
        message: `listen ${l}: FortiOS serves DNS on port 53 only`,
      });
    }
    const name = interfaceHolding(interfaces, l);
    if (!name) {
      out.push({
        severity: "error",
        subject: owner,
        message: `no interface of the FortiGate holds ${l.host}; list the box's interfaces in the ExternalDevice's spec.interfaces (\`device plan\` reads them from the box)`,
      });
      continue;
    }
    if (served.has(name)) continue;
    served.add(name);
    objects.push({
      id: `system/dns-server/${name}`,
      owners: [owner],
      path: "system/dns-server",
      key: name,
      body: { name, mode: "forward-only" },
      dependsOn: [caps.systemNat64 ? "system/nat64" : "system/dns64"],
      ownership: "ledger",
      removal: { kind: "delete" },
    });
  }
  out.push({
    severity: "info",
    subject: owner,
    message: `FortiOS forwards to the servers of \`config system dns\` (set primary ${a.spec.upstreams[0]}${a.spec.upstreams[1] ? `, secondary ${a.spec.upstreams[1]}` : ""} there); that table is outside the schema v6mostly checks, so it is left as the box has it`,
  });
  out.push({
    severity: "info",
    subject: owner,
    message: `FortiOS answers every client on ${[...served].join(", ") || "the serving interface"}; allowClients (${a.spec.allowClients.join(", ")}) is enforced by which interfaces serve DNS, so keep WAN interfaces out of listen`,
  });
  return objects;
}

function nat64(
  a: Nat64Assignment,
  caps: FortiCapabilities,
  interfaces: readonly InterfaceFacts[],
  out: Diagnostic[],
): DesiredObject[] {
  const owner = `Nat64Gateway/${a.name}`;
  const s = a.spec;
  if (s.mode !== "stateful") {
    out.push({
      severity: "error",
      subject: owner,
      message: "FortiOS offers stateful NAT64 only; stateless SIIT runs on a node",
    });
    return [];
  }
  if (s.prefix.length !== 96) {
    out.push({
      severity: "error",
      subject: owner,
      message: `FortiOS NAT64 needs a /96 prefix; ${s.prefix} is a /${s.prefix.length}`,
    });
    return [];
  }
  const objects: DesiredObject[] = [];
  if (caps.systemNat64)
    objects.push(prefixSingleton(owner, caps, { "nat64-prefix": canonicalPrefix(s.prefix) }));
  else if (canonicalPrefix(s.prefix) !== "64:ff9b::/96") {
    out.push({
      severity: "warning",
      subject: owner,
      message: `FortiOS ${versionText(caps.version)} matches NAT64 destinations with the policy's dstaddr6; an address6 object for ${s.prefix} is outside the schema v6mostly checks, so dstaddr6 is "all": create one for ${s.prefix} and put it in dstaddr6 of the policy`,
    });
  }
  const ranges = a.pool4;
  const pools = ranges.map((r, i) => {
    const name = `${NAME_PREFIX}${a.name}${ranges.length > 1 ? `-${i + 1}` : ""}`;
    const id = `firewall/ippool/${name}`;
    const body: Record<string, unknown> = {
      name,
      type: "overload",
      startip: format(4, r.first),
      endip: format(4, r.last),
      comments: markerComment(id),
    };
    if (caps.nat64Policy) body.nat64 = "enable";
    return {
      id,
      owners: [owner],
      path: "firewall/ippool",
      key: name,
      body,
      dependsOn: [],
      ownership: "marked",
      removal: { kind: "delete" },
    } satisfies DesiredObject;
  });
  objects.push(...pools);
  const inside = [...new Set(s.allowedSources.flatMap((p) => interfacesIn(interfaces, p)))];
  const outside = s.uplinkInterface
    ? [s.uplinkInterface]
    : [...new Set(ranges.flatMap((r) => interfacesOnSubnetOf(interfaces, r)))];
  if (inside.length === 0) {
    out.push({
      severity: "error",
      subject: owner,
      message: `no FortiGate interface has an address in allowedSources (${s.allowedSources.join(", ")}); list the box's interfaces in the ExternalDevice's spec.interfaces`,
    });
  }
  if (outside.length !== 1) {
    out.push({
      severity: "error",
      subject: owner,
      message:
        outside.length === 0
          ? "cannot tell the uplink: set uplinkInterface, or list the interface whose subnet holds pool4 in spec.interfaces"
          : `pool4 lies on the subnets of ${outside.join(", ")}; set uplinkInterface to say which is the uplink`,
    });
  }
  out.push({
    severity: "warning",
    subject: owner,
    message: `the policy matches IPv6 sources by interface (${inside.join(", ") || "?"}) with srcaddr6 "all": address6 objects for allowedSources are outside the schema v6mostly checks, so keep other prefixes off those interfaces`,
  });
  if (inside.length === 0 || outside.length !== 1) return objects;
  const all = [{ name: "all" }];
  for (const i of inside) {
    const poolname = pools.map((p) => ({ name: p.key }));
    if (caps.nat64Policy) {
      const id = `firewall/policy/${NAME_PREFIX}nat64-${a.name}-${i}`;
      objects.push({
        id,
        owners: [owner],
        path: "firewall/policy",
        body: {
          name: `${NAME_PREFIX}nat64-${a.name}-${i}`,
          srcintf: [{ name: i }],
          dstintf: [{ name: outside[0] }],
          action: "accept",
          nat64: "enable",
          srcaddr: all,
          dstaddr: all,
          srcaddr6: all,
          dstaddr6: all,
          schedule: "always",
          service: [{ name: "ALL" }],
          ippool: "enable",
          poolname,
          comments: markerComment(id),
        },
        dependsOn: pools.map((p) => p.id),
        ownership: "marked",
        removal: { kind: "delete" },
      });
    } else {
      const id = `firewall/policy64/${NAME_PREFIX}nat64-${a.name}-${i}`;
      const body: Record<string, unknown> = {
        srcintf: i,
        dstintf: outside[0],
        srcaddr: all,
        dstaddr: all,
        action: "accept",
        status: "enable",
        schedule: "always",
        service: [{ name: "ALL" }],
        ippool: "enable",
        poolname,
        comments: markerComment(id),
      };
      // policy64 has a name field on 6.4.0 and 6.4.4–7.0.0 only.
      if (inVersionRange(caps.version, "6.4.0", "6.4.0") || inVersionRange(caps.version, "6.4.4", "7.0.0")) {
        body.name = `${NAME_PREFIX}nat64-${a.name}-${i}`;
      }
      objects.push({
        id,
        owners: [owner],
        path: "firewall/policy64",
        body,
        dependsOn: ["system/nat64", ...pools.map((p) => p.id)],
        ownership: "marked",
        removal: { kind: "delete" },
      });
    }
  }
  return objects;
}

function routerAdvert(a: RaAssignment, caps: FortiCapabilities, out: Diagnostic[]): DesiredObject[] {
  const owner = `RouterAdvert/${a.name}`;
  const s = a.spec;
  const r = a.resolved;
  if (r.pref64) {
    out.push({
      severity: "warning",
      subject: owner,
      message: `FortiOS cannot send the PREF64 option (RFC 8781) in any version v6mostly knows; clients with a CLAT learn ${r.pref64.prefix} from DNS64 (RFC 7050, ipv4only.arpa) instead, or send the RA from a node or an IOS-XE device`,
    });
  }
  if (r.routes.length > 0)
    out.push({
      severity: "warning",
      subject: owner,
      message: "FortiOS sends no Route Information options (RFC 4191); routes are left out",
    });
  if (s.defaultRouter.preference !== "medium") {
    out.push({
      severity: "warning",
      subject: owner,
      message: "FortiOS sends the default router preference medium only",
    });
  }
  const rdnss = r.rdnss.map((x) => x.address);
  const prefixList = s.prefixes.map((p) => {
    const entry: Record<string, unknown> = {
      prefix: canonicalPrefix(p.prefix),
      "autonomous-flag": onOff(p.autonomous),
      "onlink-flag": onOff(p.onLink),
      "valid-life-time": p.validLifetime,
      "preferred-life-time": p.preferredLifetime,
    };
    // RFC 8106 RDNSS/DNSSL: per prefix until 7.6.0, interface lists from 7.6.1.
    if (!caps.rdnssList && rdnss.length) entry.rdnss = rdnss.join(" ");
    if (!caps.rdnssList && r.dnssl.length) entry.dnssl = r.dnssl.map((d) => ({ domain: d.domain }));
    return entry;
  });
  if (!caps.rdnssList && rdnss.length && prefixList.length === 0) {
    out.push({
      severity: "warning",
      subject: owner,
      message: `FortiOS before 7.6.1 sends RDNSS with a prefix only; add a prefix or RDNSS ${rdnss.join(", ")} is not sent`,
    });
  }
  const ipv6: Record<string, unknown> = {
    "ip6-send-adv": "enable",
    "ip6-max-interval": r.interval.max,
    "ip6-min-interval": r.interval.min,
    "ip6-default-life": s.defaultRouter.lifetime,
    "ip6-manage-flag": onOff(s.managed),
    "ip6-other-flag": onOff(s.otherConfig),
    "ip6-prefix-list": prefixList,
  };
  if (s.mtu !== undefined) ipv6["ip6-link-mtu"] = s.mtu;
  if (caps.rdnssList) {
    ipv6["ip6-rdnss-list"] = r.rdnss.map((x) => ({ rdnss: x.address, "rdnss-life-time": x.lifetime }));
    ipv6["ip6-dnssl-list"] = r.dnssl.map((x) => ({ domain: x.domain, "dnssl-life-time": x.lifetime }));
  }
  if (s.hopLimit !== 64)
    out.push({
      severity: "info",
      subject: owner,
      message: `FortiOS sends its own hop limit; hopLimit ${s.hopLimit} is not set`,
    });
  out.push({
    severity: "info",
    subject: owner,
    message: `RA every ${formatDuration(r.interval.min)}-${formatDuration(r.interval.max)} on ${s.interface}`,
  });
  return [
    {
      id: `system/interface/${s.interface}`,
      owners: [owner],
      path: "system/interface",
      key: s.interface,
      body: { name: s.interface, ipv6 },
      dependsOn: [],
      ownership: "ledger",
      removal: { kind: "reset", body: { ipv6: { "ip6-send-adv": "disable" } } },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// CLI text, as `show` prints it and an engineer types it.

/** Fields whose values FortiOS prints in quotes (free text and object names). */
const QUOTED = new Set([
  "name",
  "comments",
  "comment",
  "schedule",
  "device",
  "srcintf",
  "dstintf",
  "extintf",
  "arp-intf",
  "dnsfilter-profile",
  "interface",
  "alias",
]);

function cliValue(field: string, v: unknown): string {
  if (typeof v === "number") return String(v);
  const t = String(v);
  return QUOTED.has(field) ? JSON.stringify(t) : t;
}

function cliLines(body: Record<string, unknown>, depth: number, skip: string | undefined): string[] {
  const pad = "    ".repeat(depth);
  const lines: string[] = [];
  for (const [field, v] of Object.entries(body)) {
    if (field === skip) continue;
    if (Array.isArray(v)) {
      const rows = v as Record<string, unknown>[];
      const simple = rows.every((row) => Object.keys(row).length === 1);
      if (simple) {
        if (rows.length === 0) continue;
        lines.push(
          `${pad}set ${field} ${rows.map((row) => JSON.stringify(String(Object.values(row)[0]))).join(" ")}`,
        );
      } else {
        lines.push(`${pad}config ${field}`);
        for (const row of rows) {
          const [key, first] = Object.entries(row)[0]!;
          lines.push(`${pad}    edit ${typeof first === "number" ? first : JSON.stringify(String(first))}`);
          lines.push(...cliLines(row, depth + 2, key));
          lines.push(`${pad}    next`);
        }
        lines.push(`${pad}end`);
      }
    } else if (v !== null && typeof v === "object") {
      lines.push(`${pad}config ${field}`);
      lines.push(...cliLines(v as Record<string, unknown>, depth + 1, undefined));
      lines.push(`${pad}end`);
    } else lines.push(`${pad}set ${field} ${cliValue(field, v)}`);
  }
  return lines;
}

/**
 * The objects as CLI: `config <path>` / `edit <key>` / `set …` / `next` / `end`. Policies and
 * routes we find by their comment are written `edit 0` (FortiOS allocates the next free id).
 */
export function renderFortiCli(objects: readonly DesiredObject[]): string {
  const out: string[] = [];
  let i = 0;
  const list = [...objects];
  while (i < list.length) {
    const path = list[i]!.path;
    const group: DesiredObject[] = [];
    while (i < list.length && list[i]!.path === path) group.push(list[i++]!);
    out.push(`config ${path.replace("/", " ")}`);
    for (const o of group) {
      const singleton = o.key === undefined && !isNumbered(path);
      if (singleton) {
        out.push(...cliLines(o.body, 1, undefined));
        continue;
      }
      out.push(`    edit ${o.key === undefined ? "0" : JSON.stringify(o.key)}`);
      out.push(...cliLines(o.body, 2, o.key === undefined ? undefined : keyField(path)));
      out.push("    next");
    }
    out.push("end");
  }
  return `${out.join("\n")}\n`;
}

/** Stanzas grouped by path, in an order FortiOS accepts (referenced objects first). */
export function cliOrder(objects: readonly DesiredObject[]): DesiredObject[] {
  const rank = (p: string) =>
    [
      "system/interface",
      "system/nat64",
      "system/dns64",
      "system/dns-server",
      "firewall/ippool",
      "firewall/ippool6",
      "firewall/vip",
      "firewall/vip6",
      "firewall/policy64",
      "firewall/policy",
      "firewall/policy6",
      "router/static",
      "router/static6",
    ].indexOf(p);
  return [...objects].sort((a, b) => rank(a.path) - rank(b.path));
}
