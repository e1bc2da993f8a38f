// IOS-XE (Cisco ISR 4000, Catalyst 8000): the RESTCONF resources and CLI lines a device's
// assignments need. RESTCONF paths and body shapes follow shared/devices/iosxe-notes.md; every body
// is an RFC 8040 §4.4.1 / RFC 7951 document whose top member is qualified with its module.
// What YANG does not model (`nat64 enable` on a BDI, `ipv6 nd ra nat64-prefix`) is carried by the
// Cisco-IOS-XE-cli-rpc RPC (17.9+), one object per interface and resource.

import type {
  Assignment,
  DeviceTarget,
  DhcpAssignment,
  Nat64Assignment,
  RaAssignment,
} from "../../planner/plan.ts";
import { type Address, format, type Prefix, type Span } from "../../util/net.ts";
import {
  asJson,
  complement,
  type DesiredObject,
  type Diagnostic,
  type InterfaceFacts,
  interfacesIn,
  interfacesOnSubnetOf,
  mergeObjects,
  network4,
} from "../model.ts";
import { type Version, versionText } from "../version.ts";
import { type IosxeCapabilities, iosxeCapabilities, NAT64_MODELLED } from "./capabilities.ts";
import { edgeTranslation } from "./edge.ts";
import {
  canonicalName,
  cliObject,
  encodeKey,
  interfacePath,
  NAME_PREFIX,
  NATIVE,
  splitInterface,
} from "./objects.ts";

export { encodeKey, NAME_PREFIX, NATIVE } from "./objects.ts";

export interface IosxeRenderInput {
  target: DeviceTarget;
  /** the version to render for (the box's, the device's, or --version) */
  version: Version;
  interfaces: readonly InterfaceFacts[];
}

export interface IosxeRendered {
  /** RESTCONF resources (path under /restconf/data/) and cli-rpc objects (path "cli-rpc") */
  objects: DesiredObject[];
  diagnostics: Diagnostic[];
}

/** IOS writes IPv6 in upper case; the running-config and RESTCONF replies do too. */
/** IOS shows addresses and prefixes in upper case, as the user wrote them otherwise. */
const up = (t: string | Prefix | Address) => String(t).toUpperCase();

export function renderIosxe(input: IosxeRenderInput): IosxeRendered {
  const caps = iosxeCapabilities(input.version);
  const diagnostics: Diagnostic[] = [];
  const objects: DesiredObject[] = [];
  const v6 = input.target.assignments.filter(
    (a) =>
      a.kind === "RouterAdvert" ||
      a.kind === "Nat64Gateway" ||
      (a.kind === "EdgeTranslation" && (a.spec.snat66?.mode === "nptv6" || a.spec.defaultRoute?.ipv6)),
  );
  if (v6.length) {
    objects.push({
      id: "ipv6/unicast-routing",
      owners: v6.map((a) => `${a.kind}/${a.name}`),
      path: `${NATIVE}/ipv6/unicast-routing`,
      body: { "Cisco-IOS-XE-native:unicast-routing": [null] },
      dependsOn: [],
      ownership: "shared",
      removal: { kind: "none" },
      cli: { lines: ["ipv6 unicast-routing"] },
    });
  }
  for (const a of input.target.assignments) {
    switch (a.kind) {
      case "DhcpScope":
        objects.push(...dhcp(a, diagnostics));
        break;
      case "Nat64Gateway":
        objects.push(...nat64(a, caps, input, diagnostics));
        break;
      case "RouterAdvert":
        objects.push(...routerAdvert(a, caps, diagnostics));
        break;
      case "Dns64Resolver":
        diagnostics.push({
          severity: "error",
          subject: `Dns64Resolver/${a.name}`,
          message: "IOS-XE has no DNS64; run this Dns64Resolver on a node or on a FortiGate",
        });
        break;
      case "EdgeTranslation":
        objects.push(...edgeTranslation(a, input.interfaces, diagnostics));
        break;
      default:
        unreachable(a);
    }
  }
  const unmodelled = objects.filter((o) => o.path === "cli-rpc");
  if (unmodelled.length > 0 && !caps.cliRpc) {
    diagnostics.push({
      severity: "error",
      subject: `ExternalDevice/${input.target.name}`,
      message: `IOS-XE ${versionText(caps.version)} has no CLI RPC (it arrives in 17.9.1), so RESTCONF cannot send ${unmodelled.map((o) => o.cli?.lines.join("; ")).join("; ")}: type them over SSH (\`v6mostly render iosxe --format ssh\` prints the session, with a revert timer)`,
      apiOnly: true,
    });
  }
  return { objects: asJson(mergeObjects(objects, diagnostics)), diagnostics };
}

function unreachable(a: never): never {
  throw new Error(`unknown assignment ${(a as Assignment).kind}`);
}

/** "00000708": option 108's V6ONLY_WAIT as the 4-byte hex IOS takes (RFC 8925 §3.1). */
export function option108Hex(seconds: number): string {
  return seconds.toString(16).padStart(8, "0");
}

function dhcp(a: DhcpAssignment, out: Diagnostic[]): DesiredObject[] {
  const owner = `DhcpScope/${a.name}`;
  const s = a.spec;
  const net = s.subnet;
  const name = `${NAME_PREFIX}${a.name}`;
  const id = `dhcp/pool/${name}`;
  const pool: Record<string, unknown> = { id: name, network: { "primary-network": network4(net) } };
  const lines = [` network ${network4(net).number} ${network4(net).mask}`];
  if (s.router) {
    pool["default-router"] = { "default-router-list": [s.router] };
    lines.push(` default-router ${s.router}`);
  }
  if (s.dnsServers.length) {
    pool["dns-server"] = { "dns-server-list": [...s.dnsServers] };
    lines.push(` dns-server ${s.dnsServers.join(" ")}`);
  }
  if (s.domainName) {
    pool["domain-name"] = s.domainName;
    lines.push(` domain-name ${s.domainName}`);
  }
  // IOS leases in days/hours/minutes; one day is its default and is not written.
  if (s.leaseTime !== 86400) {
    const days = Math.floor(s.leaseTime / 86400);
    const hours = Math.floor((s.leaseTime % 86400) / 3600);
    const minutes = Math.floor((s.leaseTime % 3600) / 60);
    if (s.leaseTime % 60 !== 0)
      out.push({
        severity: "warning",
        subject: owner,
        message: `IOS leases in whole minutes; ${s.leaseTime}s is rounded down`,
      });
    if (days > 365) out.push({ severity: "error", subject: owner, message: "IOS leases at most 365 days" });
    pool.lease = { "lease-value": { days, hours, minutes } };
    lines.push(` lease ${days} ${hours} ${minutes}`);
  }
  const options: { "option-range": number; "hex-new": { "hex-line": string } }[] = [];
  if (s.ipv6OnlyPreferred !== undefined) {
    // RFC 8925 §3.1: option 108 carries V6ONLY_WAIT, a 32-bit number of seconds.
    options.push({ "option-range": 108, "hex-new": { "hex-line": option108Hex(s.ipv6OnlyPreferred) } });
  }
  for (const o of s.options)
    options.push({ "option-range": o.code, "hex-new": { "hex-line": o.hex.toLowerCase() } });
  if (options.length) {
    pool.option = { "option-range": options };
    for (const o of options) lines.push(` option ${o["option-range"]} hex ${o["hex-new"]["hex-line"]}`);
  }
  if (s.reservations.length) {
    out.push({
      severity: "warning",
      subject: owner,
      message: "reservations are not pushed to IOS-XE yet (one host pool per client); they are left out",
    });
  }
  const objects: DesiredObject[] = [
    {
      id,
      owners: [owner],
      path: `${NATIVE}/ip/dhcp/Cisco-IOS-XE-dhcp:pool=${encodeKey(name)}`,
      body: { "Cisco-IOS-XE-dhcp:pool": [pool] },
      dependsOn: [],
      ownership: "ledger",
      removal: { kind: "delete" },
      cli: { lines: [`ip dhcp pool ${name}`, ...lines] },
    },
  ];
  // IOS leases every address of the pool's network that is not excluded: exclude what lies outside ranges.
  const subnet: Span = {
    family: 4,
    first: net.network,
    last: net.network + (1n << BigInt(32 - net.length)) - 1n,
  };
  const leased = s.ranges;
  const excluded = s.exclude;
  const holes = complement(subnet, leased);
  const all = mergeRanges([
    ...holes,
    ...excluded.filter((e) => !holes.some((h) => h.first <= e.first && e.last <= h.last)),
  ]);
  for (const r of all) {
    const lo = format(4, r.first);
    const hi = format(4, r.last);
    const single = r.first === r.last;
    objects.push({
      id: `dhcp/excluded/${lo}${single ? "" : `-${hi}`}`,
      owners: [owner],
      path: single
        ? `${NATIVE}/ip/dhcp/Cisco-IOS-XE-dhcp:excluded-address/low-address-list=${lo}`
        : `${NATIVE}/ip/dhcp/Cisco-IOS-XE-dhcp:excluded-address/low-high-address-list=${lo},${hi}`,
      body: single
        ? { "Cisco-IOS-XE-dhcp:low-address-list": [{ "low-address": lo }] }
        : { "Cisco-IOS-XE-dhcp:low-high-address-list": [{ "low-address": lo, "high-address": hi }] },
      dependsOn: [],
      ownership: "ledger",
      removal: { kind: "delete" },
      cli: { lines: [`ip dhcp excluded-address ${lo}${single ? "" : ` ${hi}`}`] },
    });
  }
  out.push({
    severity: "info",
    subject: owner,
    message: `IOS picks the pool by the subnet of the receiving interface (${s.interface} must have an address in ${s.subnet}); maxLeasesPerMinute is enforced by v6mostly's own server only`,
  });
  return objects;
}

function mergeRanges(ranges: readonly Span[]): Span[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Span[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.first <= last.last + 1n) {
      if (r.last > last.last) last.last = r.last;
    } else out.push({ family: r.family, first: r.first, last: r.last });
  }
  return out;
}

function nat64(
  a: Nat64Assignment,
  caps: IosxeCapabilities,
  input: IosxeRenderInput,
  out: Diagnostic[],
): DesiredObject[] {
  const owner = `Nat64Gateway/${a.name}`;
  const s = a.spec;
  if (s.mode !== "stateful") {
    out.push({
      severity: "error",
      subject: owner,
      message: "stateless NAT64 on IOS-XE is not driven by v6mostly yet; run SIIT on a node",
    });
    return [];
  }
  const acl = `${NAME_PREFIX}nat64-${a.name}`;
  const poolName = `${NAME_PREFIX}${a.name}`;
  const ranges = a.pool4;
  if (ranges.length > 1) {
    out.push({
      severity: "error",
      subject: owner,
      message: `IOS-XE's nat64 v4 pool is one start-end range; pool4 lists ${ranges.length}: only ${a.pool4[0]} is used`,
    });
  }
  const prefix = up(s.prefix);
  const objects: DesiredObject[] = [];
  const rules = s.allowedSources.map((src, i) => ({
    sequence: String((i + 1) * 10), // uint64: RFC 7951 §6.1 encodes it as a JSON string
    "ace-rule": { action: "permit", protocol: "ipv6", "source-prefix": up(src), "destination-any": [null] },
  }));
  objects.push({
    id: `acl/${acl}`,
    owners: [owner],
    path: `${NATIVE}/ipv6/access-list/Cisco-IOS-XE-acl:named-acl=${encodeKey(acl)}`,
    body: { "Cisco-IOS-XE-acl:named-acl": [{ name: acl, "access-list-seq-rule": rules }] },
    dependsOn: [],
    ownership: "ledger",
    removal: { kind: "delete" },
    cli: {
      lines: [
        `ipv6 access-list ${acl}`,
        ...rules.map((r) => ` sequence ${r.sequence} permit ipv6 ${r["ace-rule"]["source-prefix"]} any`),
      ],
    },
  });
  const r = ranges[0];
  if (r) {
    objects.push({
      id: `nat64/pool/${poolName}`,
      owners: [owner],
      path: `${NATIVE}/Cisco-IOS-XE-nat:nat64/v4/pool=${encodeKey(poolName)}`,
      body: {
        "Cisco-IOS-XE-nat:pool": [
          { "pool-name": poolName, "start-address": format(4, r.first), "end-address": format(4, r.last) },
        ],
      },
      dependsOn: [],
      ownership: "ledger",
      removal: { kind: "delete" },
      cli: { lines: [`nat64 v4 pool ${poolName} ${format(4, r.first)} ${format(4, r.last)}`] },
    });
    objects.push({
      id: `nat64/list/${acl}`,
      owners: [owner],
      path: `${NATIVE}/Cisco-IOS-XE-nat:nat64/v6v4/list/list=${encodeKey(acl)}`,
      body: { "Cisco-IOS-XE-nat:list": [{ id: acl, pool: [{ name: poolName, overload: [null] }] }] },
      dependsOn: [`acl/${acl}`, `nat64/pool/${poolName}`],
      ownership: "ledger",
      removal: { kind: "delete" },
      cli: { lines: [`nat64 v6v4 list ${acl} pool ${poolName} overload`] },
    });
  }
  objects.push({
    id: "nat64/prefix/stateful",
    owners: [owner],
    path: `${NATIVE}/Cisco-IOS-XE-nat:nat64/prefix/stateful`,
    body: { "Cisco-IOS-XE-nat:stateful": { "ipv6-prefix": prefix } },
    dependsOn: [],
    ownership: "ledger",
    removal: { kind: "delete" },
    cli: { lines: [`nat64 prefix stateful ${prefix}`] },
  });
  // nat64 enable on the inside (where allowedSources live) and the outside (where pool4 lives).
  const raInside = input.target.assignments
    .filter((x): x is RaAssignment => x.kind === "RouterAdvert")
    .filter((x) => x.spec.prefixes.some((p) => s.allowedSources.some((src) => covers(src, p.prefix))))
    .map((x) => x.spec.interface);
  const inside = unique([...s.allowedSources.flatMap((p) => interfacesIn(input.interfaces, p)), ...raInside]);
  const outside = s.uplinkInterface
    ? [s.uplinkInterface]
    : unique(ranges.flatMap((x) => interfacesOnSubnetOf(input.interfaces, x)));
  if (inside.length === 0) {
    out.push({
      severity: "error",
      subject: owner,
      message: `cannot tell the inside interface: no interface has an address in allowedSources (${s.allowedSources.join(", ")}); list the box's interfaces in the ExternalDevice's spec.interfaces`,
    });
  }
  if (outside.length === 0) {
    out.push({
      severity: "warning",
      subject: owner,
      message:
        "cannot tell the outside interface: set uplinkInterface or list the interface whose subnet holds pool4 in spec.interfaces; `nat64 enable` must be on it too",
    });
  }
  for (const ifname of unique([...outside, ...inside].map(canonicalName))) {
    const kind = splitInterface(ifname);
    if (kind && NAT64_MODELLED.has(kind.type)) {
      objects.push({
        id: `nat64/enable/${ifname}`,
        owners: [owner],
        path: `${interfacePath(ifname)}/Cisco-IOS-XE-nat:nat64`,
        body: { "Cisco-IOS-XE-nat:nat64": { enable: [null] } },
        dependsOn: [],
        ownership: "ledger",
        removal: { kind: "delete" },
        cli: { parent: `interface ${ifname}`, lines: ["nat64 enable"] },
      });
    } else objects.push(cliObject(owner, ifname, ["nat64 enable"], ["no nat64 enable"]));
  }
  void caps;
  return objects;
}

function covers(outer: Prefix, inner: Prefix): boolean {
  const len = outer.length;
  return inner.length >= len && inner.network >> BigInt(128 - len) === outer.network >> BigInt(128 - len);
}

const unique = <T>(xs: T[]) => [...new Set(xs)];

/** IOS-XE RA defaults (MaxRtrAdvInterval 200 s, router lifetime 1800 s) are not written. */
const IOS_RA_INTERVAL = 200;
const IOS_RA_LIFETIME = 1800;

function routerAdvert(a: RaAssignment, caps: IosxeCapabilities, out: Diagnostic[]): DesiredObject[] {
  const owner = `RouterAdvert/${a.name}`;
  const s = a.spec;
  const r = a.resolved;
  const ifname = canonicalName(s.interface);
  const objects: DesiredObject[] = [];
  const cliOnly: string[] = [];
  const cliUndo: string[] = [];
  if (r.rdnss.length) {
    const servers = r.rdnss.map((x) => x.address);
    if (caps.raDnsServerList) {
      objects.push({
        id: `nd/ra/dns/${ifname}`,
        owners: [owner],
        path: `${interfacePath(ifname)}/ipv6/nd/Cisco-IOS-XE-nd:ra/dns`,
        body: { "Cisco-IOS-XE-nd:dns": { "server-list": servers.map(up) } },
        dependsOn: ["ipv6/unicast-routing"],
        ownership: "ledger",
        removal: { kind: "delete" },
        cli: { parent: `interface ${ifname}`, lines: servers.map((x) => `ipv6 nd ra dns server ${x}`) },
      });
    } else {
      cliOnly.push(...servers.map((x) => `ipv6 nd ra dns server ${x}`));
      cliUndo.push(...servers.map((x) => `no ipv6 nd ra dns server ${x}`));
    }
  }
  // RFC 8781 PREF64: not in any IOS-XE YANG release; CLI only.
  if (r.pref64) {
    cliOnly.push(`ipv6 nd ra nat64-prefix ${up(r.pref64.prefix)}`);
    cliUndo.push(`no ipv6 nd ra nat64-prefix ${up(r.pref64.prefix)}`);
  }
  // RFC 4861 §6.2.1 intervals: IOS writes `ipv6 nd ra interval <max> <min>` (seconds).
  const defaultMin = Math.floor(0.33 * r.interval.max);
  if (r.interval.max !== IOS_RA_INTERVAL || r.interval.min !== defaultMin) {
    cliOnly.push(`ipv6 nd ra interval ${r.interval.max} ${r.interval.min}`);
    cliUndo.push("no ipv6 nd ra interval");
  }
  if (s.defaultRouter.lifetime !== IOS_RA_LIFETIME) {
    cliOnly.push(`ipv6 nd ra lifetime ${s.defaultRouter.lifetime}`);
    cliUndo.push("no ipv6 nd ra lifetime");
  }
  if (s.defaultRouter.preference !== "medium") {
    const p = s.defaultRouter.preference;
    cliOnly.push(`ipv6 nd router-preference ${p[0]!.toUpperCase()}${p.slice(1)}`);
    cliUndo.push("no ipv6 nd router-preference");
  }
  if (s.managed) {
    cliOnly.push("ipv6 nd managed-config-flag");
    cliUndo.push("no ipv6 nd managed-config-flag");
  }
  if (s.otherConfig) {
    cliOnly.push("ipv6 nd other-config-flag");
    cliUndo.push("no ipv6 nd other-config-flag");
  }
  for (const p of s.prefixes) {
    // IOS advertises the interface's own prefixes with valid 30 days, preferred 7 days, on-link and
    // autonomous; only a prefix that differs is written.
    const standard =
      p.validLifetime === 2592000 && p.preferredLifetime === 604800 && p.onLink && p.autonomous;
    if (standard) continue;
    const life = (x: number) => (x === 0xffffffff ? "infinite" : String(x));
    cliOnly.push(
      `ipv6 nd prefix ${up(p.prefix)} ${life(p.validLifetime)} ${life(p.preferredLifetime)}${p.onLink ? "" : " off-link"}${p.autonomous ? "" : " no-autoconfig"}`,
    );
    cliUndo.push(`no ipv6 nd prefix ${up(p.prefix)}`);
  }
  if (r.routes.length)
    out.push({
      severity: "warning",
      subject: owner,
      message: "Route Information options (RFC 4191) are not pushed to IOS-XE yet; routes are left out",
    });
  if (r.dnssl.length)
    out.push({
      severity: "warning",
      subject: owner,
      message: "IOS-XE sends no DNSSL option; dnssl is left out",
    });
  if (s.mtu !== undefined || s.hopLimit !== 64)
    out.push({
      severity: "info",
      subject: owner,
      message: "IOS-XE takes the RA MTU and hop limit from the interface; mtu and hopLimit are not pushed",
    });
  if (cliOnly.length) objects.push(cliObject(owner, ifname, cliOnly, cliUndo));
  return objects;
}

// ---------------------------------------------------------------------------------------------
// Whole texts: the CLI an engineer pastes, and the one RESTCONF tree yanglint checks.

/** The configuration as CLI, in the order the seed writes it: globals, DHCP, interfaces, ACLs, NAT64. */
export function renderIosxeCli(objects: readonly DesiredObject[]): string {
  const rank = (o: DesiredObject): number => {
    if (o.id === "ipv6/unicast-routing") return 0;
    if (o.id.startsWith("dhcp/pool")) return 1;
    if (o.id.startsWith("dhcp/excluded")) return 2;
    if (o.cli?.parent) return 3;
    if (o.id.startsWith("acl/")) return 4;
    return 5;
  };
  const sorted = [...objects].filter((o) => o.cli).sort((a, b) => rank(a) - rank(b));
  const blocks: string[][] = [];
  let lastRank = -1;
  const parents = new Map<string, string[]>();
  for (const o of sorted) {
    const k = rank(o);
    if (o.cli!.parent) {
      let lines = parents.get(o.cli!.parent);
      if (!lines) {
        lines = [o.cli!.parent];
        parents.set(o.cli!.parent, lines);
        blocks.push(lines);
      }
      lines.push(...o.cli!.lines.map((l) => ` ${l}`));
      lastRank = k;
      continue;
    }
    if (k !== lastRank || k === 1 || k === 4) blocks.push([]);
    blocks[blocks.length - 1]!.push(...o.cli!.lines);
    lastRank = k;
  }
  return `${blocks.map((b) => b.join("\n")).join("\n!\n")}\n!\nend\n`;
}

/** A RESTCONF body placed under its ancestors, so that yanglint can check it as a whole tree. */
export function wrapInNative(path: string, body: Record<string, unknown>): Record<string, unknown> {
  const segments = splitPath(path);
  if (segments[0]?.name !== NATIVE) throw new Error(`${path} is not under ${NATIVE}`);
  // RFC 7951 §4: a member is qualified with its module only where the module changes from its parent's.
  const modules: string[] = [];
  let mod = "";
  for (const seg of segments) {
    if (seg.name.includes(":")) mod = seg.name.slice(0, seg.name.indexOf(":"));
    modules.push(mod);
  }
  const parentModule = modules[segments.length - 2]!;
  let inner: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    const m = k.includes(":") ? k.slice(0, k.indexOf(":")) : parentModule;
    inner[m === parentModule ? local(k) : k] = v;
  }
  // The body's member replaces the last segment; build the ancestors from the inside out.
  for (let i = segments.length - 2; i >= 1; i--) {
    const seg = segments[i]!;
    const name = modules[i] === modules[i - 1] ? local(seg.name) : seg.name;
    const child = inner;
    if (seg.keys) {
      const keyNames = listKeys(local(seg.name));
      const entry: Record<string, unknown> = {};
      keyNames.forEach((k, j) => {
        entry[k] = seg.keys![j]!;
      });
      inner = { [name]: [{ ...entry, ...child }] };
    } else inner = { [name]: child };
  }
  return { [NATIVE]: inner };
}

/** Key leaves of the lists this driver writes into paths. */
export const LIST_KEYS: Record<string, string[]> = {
  BDI: ["name"],
  GigabitEthernet: ["name"],
  TenGigabitEthernet: ["name"],
  Loopback: ["name"],
  "Port-channel": ["name"],
  Tunnel: ["name"],
  Vlan: ["name"],
  pool: ["id"],
  "named-acl": ["name"],
  list: ["id"],
  "low-high-address-list": ["low-address", "high-address"],
  "low-address-list": ["low-address"],
  "nat-static-transport-list": ["local-ip", "global-ip"],
  inside: ["inside-pfx"],
  "ip-route-interface-forwarding-list": ["prefix", "mask"],
  "ipv6-route-list": ["prefix"],
};

/** Key leaves of a list; own properties only ("valueOf" is not a list of ours). */
const listKeys = (list: string): string[] => (Object.hasOwn(LIST_KEYS, list) ? LIST_KEYS[list]! : ["name"]);

const local = (name: string) => name.slice(name.indexOf(":") + 1);

export interface PathSegment {
  name: string;
  keys?: string[];
}

/** A malformed escape ("%" alone) stays as written instead of throwing. */
function safeDecode(t: string): string {
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}

/** `a/b:c=k1,k2/d` → segments with decoded keys (RFC 8040 §3.5.3). */
export function splitPath(path: string): PathSegment[] {
  return path.split("/").map((part) => {
    const eq = part.indexOf("=");
    if (eq < 0) return { name: part };
    return {
      name: part.slice(0, eq),
      keys: part
        .slice(eq + 1)
        .split(",")
        .map(safeDecode),
    };
  });
}

/** Every RESTCONF object merged into one native tree (what the box would hold). */
export function nativeTree(objects: readonly DesiredObject[]): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const o of objects) {
    if (o.path === "cli-rpc") continue;
    deepMerge(tree, wrapInNative(o.path, o.body));
  }
  return tree;
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const have = into[k];
    if (Array.isArray(v) && Array.isArray(have) && v.every((x) => x !== null && typeof x === "object")) {
      for (const entry of v as Record<string, unknown>[]) {
        const keyNames = listKeys(local(k));
        const same = (have as Record<string, unknown>[]).find(
          (h) => h && keyNames.every((kn) => kn in entry && h[kn] === entry[kn]),
        );
        if (same) deepMerge(same, entry);
        else (have as unknown[]).push(entry);
      }
    } else if (
      v &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      have &&
      typeof have === "object" &&
      !Array.isArray(have)
    ) {
      deepMerge(have as Record<string, unknown>, v as Record<string, unknown>);
    } else
      into[k] = Array.isArray(v)
        ? JSON.parse(JSON.stringify(v))
        : v && typeof v === "object"
          ? JSON.parse(JSON.stringify(v))
          : v;
  }
}

/** The cli-rpc input as RESTCONF sends it (`Cisco-IOS-XE-cli-rpc:input`). */
export function cliRpcBody(text: string): Record<string, unknown> {
  return { "Cisco-IOS-XE-cli-rpc:input": { "config-clis": text, timeout: 60 } };
}

/** The same input in the form yanglint validates (`-t rpc`). */
export function cliRpcForYanglint(text: string): Record<string, unknown> {
  return { "Cisco-IOS-XE-cli-rpc:config-ios-cli-rpc": { "config-clis": text, timeout: 60 } };
}
