// The planner: pure functions from validated resources (and, in cluster mode, the nodes) to what
// each node and each ExternalDevice must run. References are resolved and defaults derived here
// so that the runtimes (agent, standalone `run`, device drivers) read one finished answer.
// Conflicts are reported, never thrown: the older resource keeps its place, the newer one is left
// out where it conflicts and says why.

import { createHash } from "node:crypto";
import { addressClashes } from "../api/claims.ts";
import {
  type AnyResource,
  type Kind,
  objectLabel,
  type Resource,
  type Source,
  type Spec,
} from "../api/resources.ts";
import { PREF64_MAX_LIFETIME } from "../api/routeradvert.ts";
import { Address, type Endpoint, overlaps, type Prefix, prefixRange, type Range } from "../util/net.ts";
import { type NodeInfo, selects } from "./nodes.ts";
import { splitPool4 } from "./pool4.ts";

/** Who an assignment is for: the resource's identity, carried from the YAML or the API to the runtime. */
export interface AssignmentIdentity {
  namespace: string;
  name: string;
  /** the API server's uid and generation (absent for files) */
  uid?: string;
  generation?: number;
}

export interface Nat64Assignment extends AssignmentIdentity {
  kind: "Nat64Gateway";
  spec: Spec<"Nat64Gateway">;
  /** this target's share of pool4 (all of it on a device or a single node) */
  pool4: Range[];
  pool4Count: number;
  pool4Total: number;
}

/**
 * An assignment that several nodes are candidates for and one serves at a time (cluster mode):
 * the node holding `lease` runs it and carries `addresses`; the others stand by
 * (src/agent/ownership). See `ownership()` for which assignments get one.
 */
export interface Ownership {
  /** the coordination.k8s.io/v1 Lease to hold, in the operator's namespace */
  lease: string;
  /** where the addresses go; absent: the interface whose own subnet holds each address, found on the node */
  interface?: string;
  /** addresses that move with the active node (plain, no prefix length), in the spec's order */
  addresses: Address[];
}

export interface Dns64Assignment extends AssignmentIdentity {
  kind: "Dns64Resolver";
  spec: Spec<"Dns64Resolver">;
  /** spec.prefix, or the referenced Nat64Gateway's prefix */
  prefix: Prefix;
  /** cluster mode, listening on addresses of its own: one node at a time serves them */
  owner?: Ownership;
  /**
   * Set by the node runtime, never by the planner: the Nat64Gateway with this prefix is not running
   * on this host, so the resolver answers as a plain forwarder (src/agent/fatesharing.ts).
   */
  forwardOnly?: boolean;
}

/** Every optional lifetime and interval filled in from RFC defaults. */
export interface RaConfig {
  interval: { min: number; max: number };
  rdnss: { address: Address; lifetime: number }[];
  dnssl: { domain: string; lifetime: number }[];
  pref64?: { prefix: Prefix; lifetime: number };
  routes: { prefix: Prefix; preference: "high" | "medium" | "low"; lifetime: number }[];
}

export interface RaAssignment extends AssignmentIdentity {
  kind: "RouterAdvert";
  spec: Spec<"RouterAdvert">;
  resolved: RaConfig;
}

export interface DhcpAssignment extends AssignmentIdentity {
  kind: "DhcpScope";
  spec: Spec<"DhcpScope">;
  /** RFC 2131 §4.4.5 defaults: T1 = 0.5 × lease, T2 = 0.875 × lease */
  renewalTime: number;
  rebindingTime: number;
  /** cluster mode: one node at a time serves the scope (two would lease one address twice) */
  owner?: Ownership;
}

export interface EdgeAssignment extends AssignmentIdentity {
  kind: "EdgeTranslation";
  spec: Spec<"EdgeTranslation">;
}

/** What a node or device runs, by kind: the kinds that run on nodes. */
export interface AssignmentByKind {
  Nat64Gateway: Nat64Assignment;
  Dns64Resolver: Dns64Assignment;
  RouterAdvert: RaAssignment;
  DhcpScope: DhcpAssignment;
  EdgeTranslation: EdgeAssignment;
}

export type NodeKind = keyof AssignmentByKind;
export type Assignment = AssignmentByKind[NodeKind];

export interface Target {
  name: string;
  assignments: Assignment[];
}

export interface DeviceTarget extends Target {
  namespace: string;
  vendor: "fortios" | "iosxe";
  version?: string;
}

export interface Conflict {
  /** the resource left out */
  resource: string;
  source: Source;
  /** the resource that keeps its place */
  with: string;
  /** node or device where it happens; empty when it is about address space everywhere */
  where: string;
  message: string;
}

export interface Unplaced {
  resource: string;
  source: Source;
  reason: string;
}

export interface Plan {
  mode: "cluster" | "standalone";
  nodes: Target[];
  devices: DeviceTarget[];
  conflicts: Conflict[];
  unplaced: Unplaced[];
}

export interface PlanOptions {
  /** cluster mode: the nodes and their labels; absent = standalone on `standaloneNode` */
  nodes?: readonly NodeInfo[];
  /** standalone mode: the name of this host (default "localhost") */
  standaloneNode?: string;
}

const id = (r: AnyResource) => objectLabel(r);
/** references resolve within the referring resource's namespace */
const nsKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** Older first (creationTimestamp), then in the order the files list them. */
function byAge(resources: readonly AnyResource[]): AnyResource[] {
  return resources
    .map((r, i) => ({ r, i }))
    .sort((a, b) => {
      const ta = a.r.creationTimestamp ?? "";
      const tb = b.r.creationTimestamp ?? "";
      return ta === tb ? a.i - b.i : ta < tb ? -1 : 1;
    })
    .map((x) => x.r);
}

export function plan(resources: readonly AnyResource[], options: PlanOptions = {}): Plan {
  const standalone = options.nodes === undefined;
  const nodes: readonly NodeInfo[] = options.nodes ?? [
    { name: options.standaloneNode ?? "localhost", labels: {} },
  ];
  const out: Plan = {
    mode: standalone ? "standalone" : "cluster",
    nodes: nodes.map((n) => ({ name: n.name, assignments: [] })),
    devices: [],
    conflicts: [],
    unplaced: [],
  };
  const ordered = byAge(resources);
  const gateways = new Map(
    ordered
      .filter((r) => r.kind === "Nat64Gateway")
      .map((r) => [nsKey(r.namespace, r.name), r as Resource<"Nat64Gateway">]),
  );
  const devices = new Map(
    ordered
      .filter((r) => r.kind === "ExternalDevice")
      .map((r) => [nsKey(r.namespace, r.name), r as Resource<"ExternalDevice">]),
  );
  const nodeTarget = new Map(out.nodes.map((t) => [t.name, t]));
  const deviceTarget = (namespace: string, name: string): DeviceTarget | undefined => {
    let t = out.devices.find((d) => d.namespace === namespace && d.name === name);
    const dev = devices.get(nsKey(namespace, name));
    if (!t && dev) {
      t = { name, namespace, vendor: dev.spec.vendor, version: dev.spec.version, assignments: [] };
      out.devices.push(t);
    }
    return t;
  };

  // Address space is shared by every node and device (api/claims.ts): the older resource keeps it.
  const excluded = new Set<AnyResource>();
  for (const c of addressClashes(ordered)) {
    excluded.add(c.resource);
    out.conflicts.push({
      resource: id(c.resource),
      source: c.resource.source,
      with: id(c.with),
      where: "",
      message: c.message,
    });
  }

  for (const r of ordered) {
    if (r.kind === "ExternalDevice" || excluded.has(r)) continue;
    const deviceRef = (r.spec as { deviceRef?: { name: string } }).deviceRef;
    const resolved = resolve(r, gateways);
    if (!resolved.ok) {
      out.unplaced.push({ resource: id(r), source: r.source, reason: resolved.error });
      continue;
    }
    if (deviceRef) {
      const t = deviceTarget(r.namespace, deviceRef.name);
      if (!t) {
        out.unplaced.push({
          resource: id(r),
          source: r.source,
          reason: `no ExternalDevice named "${deviceRef.name}"`,
        });
        continue;
      }
      place(t, r, resolved.value, `device ${t.name}`, out.conflicts);
      continue;
    }
    const chosen = standalone ? [...nodes] : nodes.filter((n) => selects(r.spec.nodeSelector, n));
    if (chosen.length === 0) {
      const sel = Object.entries(r.spec.nodeSelector)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      out.unplaced.push({
        resource: id(r),
        source: r.source,
        reason: `no node matches nodeSelector {${sel}}`,
      });
      continue;
    }
    // Cluster mode: an assignment one node at a time must serve goes to every matching node as a
    // candidate, with the Lease that elects the active one.
    const owner = standalone ? undefined : ownership(resolved.value);
    const value = owner ? { ...resolved.value, owner } : resolved.value;
    if (r.kind === "Nat64Gateway") {
      const a = resolved.value as Nat64Assignment;
      const shares = splitPool4(
        a.spec.pool4,
        chosen.map((n) => n.name),
      );
      for (const node of chosen) {
        const share = shares.find((s) => s.node === node.name);
        const mine: Nat64Assignment = share ? { ...a, pool4: share.ranges, pool4Count: share.count } : a; // stateless: every node translates with the whole mapping
        place(nodeTarget.get(node.name)!, r, mine, `node ${node.name}`, out.conflicts);
      }
      continue;
    }
    for (const node of chosen)
      place(nodeTarget.get(node.name)!, r, value, `node ${node.name}`, out.conflicts);
  }
  return out;
}

/** The IPv4 addresses a resource takes for itself on a link: no other resource may use them. */
/**
 * Which assignments are served by one node at a time in cluster mode, and what moves with it:
 * - a DhcpScope, always (two servers on one range would lease one address twice); its
 *   serverAddress, when set, moves with it (clients renew by unicast to it, RFC 2131 §4.4.5).
 *   Also with one candidate: a node that joins later must not start a second server.
 * - a Dns64Resolver that listens on addresses of its own (not a wildcard, not loopback): those
 *   addresses exist once on the link. One that listens only on wildcards or loopback runs on
 *   every selected node, each answering on its own addresses: no owner.
 * - a RouterAdvert: none. Several routers advertising the same prefixes, RDNSS and PREF64 on one
 *   link is what RFC 4861 §6.2.7 expects; hosts keep every router and fail over by Neighbor
 *   Unreachability Detection (§7.3, §6.3.6). Each node advertises from its own link-local address
 *   (src/agent/ownership/README.md says why no moving router address yet).
 */
export function ownership(a: Assignment): Ownership | undefined {
  switch (a.kind) {
    case "DhcpScope":
      return {
        lease: ownerLeaseName(a),
        interface: a.spec.interface,
        addresses: a.spec.serverAddress === undefined ? [] : [a.spec.serverAddress],
      };
    case "Dns64Resolver": {
      const byHost = new Map(
        a.spec.listen.filter(movable).map((e) => [e.host, new Address(e.family, e.address, e.host)]),
      );
      const own = [...byHost.values()];
      return own.length ? { lease: ownerLeaseName(a), addresses: own } : undefined;
    }
    default:
      return undefined;
  }
}

/** Not a wildcard (0.0.0.0, ::) and not loopback (127.0.0.0/8, ::1): an address one node carries. */
function movable(e: Endpoint): boolean {
  if (e.address === 0n) return false;
  if (e.family === 4) return e.address >> 24n !== 127n;
  return e.address !== 1n;
}

/**
 * The Lease that elects the node serving an assignment: v6mostly-owner-<namespace>-<kind>-<name>,
 * a valid object name (RFC 1123 subdomain, at most 253 characters; a longer one is cut and ends
 * with a hash of the whole so that two long names stay apart).
 */
export function ownerLeaseName(a: { kind: NodeKind; namespace: string; name: string }): string {
  return objectNameOf(`v6mostly-owner-${a.namespace}-${a.kind.toLowerCase()}-${a.name}`);
}

/** `text` as an object name: lower case, [a-z0-9.-], at most 253 characters (cut, with a hash of the whole). */
export function objectNameOf(text: string): string {
  const full = text.toLowerCase().replace(/[^a-z0-9.-]/g, "-");
  if (full.length <= 253) return full;
  return `${full.slice(0, 244)}-${createHash("sha256").update(full).digest("hex").slice(0, 8)}`;
}

/** The assignment with references resolved and defaults derived, before any split. */
function resolve(
  r: AnyResource,
  gateways: Map<string, Resource<"Nat64Gateway">>,
): { ok: true; value: Assignment } | { ok: false; error: string } {
  const gatewayPrefix = (name: string) => gateways.get(nsKey(r.namespace, name))?.spec.prefix;
  const identity: AssignmentIdentity = {
    namespace: r.namespace,
    name: r.name,
    ...(r.uid === undefined ? {} : { uid: r.uid }),
    ...(r.generation === undefined ? {} : { generation: r.generation }),
  };
  switch (r.kind) {
    case "Nat64Gateway": {
      const pool = r.spec.pool4;
      const total = pool.reduce((n, x) => n + Number(x.last - x.first + 1n), 0);
      return {
        ok: true,
        value: {
          kind: r.kind,
          ...identity,
          spec: r.spec,
          pool4: [...r.spec.pool4],
          pool4Count: total,
          pool4Total: total,
        },
      };
    }
    case "Dns64Resolver": {
      const ref = r.spec.nat64GatewayRef?.name;
      const prefix = r.spec.prefix ?? (ref ? gatewayPrefix(ref) : undefined);
      if (!prefix) return { ok: false, error: `nat64GatewayRef: no Nat64Gateway named "${ref}"` };
      return { ok: true, value: { kind: r.kind, ...identity, spec: r.spec, prefix } };
    }
    case "RouterAdvert": {
      const s = r.spec;
      const max = s.interval.max;
      // RFC 4861 §6.2.1: MinRtrAdvInterval defaults to 0.33 × Max when Max >= 9 s, else Max (kept below 0.75 × Max).
      const min = s.interval.min ?? (max >= 9 ? Math.floor(0.33 * max) : Math.floor(0.75 * max));
      // RFC 8106 §5.1, RFC 4191 and radvd: option lifetimes default to 3 × MaxRtrAdvInterval.
      const three = 3 * max;
      let pref64: RaConfig["pref64"];
      if (s.pref64) {
        const ref = s.pref64.nat64GatewayRef?.name;
        const prefix = s.pref64.prefix ?? (ref ? gatewayPrefix(ref) : undefined);
        if (!prefix) return { ok: false, error: `pref64.nat64GatewayRef: no Nat64Gateway named "${ref}"` };
        // RFC 8781 §4: the lesser of 3 × MaxRtrAdvInterval and 8191 × 8 s, in units of 8 s (rounded up).
        const lifetime = Math.min(Math.ceil((s.pref64.lifetime ?? three) / 8) * 8, PREF64_MAX_LIFETIME);
        pref64 = { prefix, lifetime };
      }
      return {
        ok: true,
        value: {
          kind: r.kind,
          ...identity,
          spec: s,
          resolved: {
            interval: { min, max },
            rdnss: s.rdnss.map((x) => ({ address: x.address, lifetime: x.lifetime ?? three })),
            dnssl: s.dnssl.map((x) => ({ domain: x.domain, lifetime: x.lifetime ?? three })),
            pref64,
            routes: s.routes.map((x) => ({
              prefix: x.prefix,
              preference: x.preference,
              lifetime: x.lifetime ?? three,
            })),
          },
        },
      };
    }
    case "DhcpScope": {
      const lease = r.spec.leaseTime;
      return {
        ok: true,
        value: {
          kind: r.kind,
          ...identity,
          spec: r.spec,
          renewalTime: Math.floor(lease * 0.5),
          rebindingTime: Math.floor(lease * 0.875),
        },
      };
    }
    case "EdgeTranslation":
      return { ok: true, value: { kind: r.kind, ...identity, spec: r.spec } };
    default:
      return { ok: false, error: `${(r as { kind: Kind }).kind} does not run on nodes` };
  }
}

/** Add an assignment to a target unless it conflicts with one placed there before. */
function place(t: Target, r: AnyResource, a: Assignment, where: string, conflicts: Conflict[]): void {
  for (const other of t.assignments) {
    const message = clash(a, other);
    if (message) {
      conflicts.push({
        resource: id(r),
        source: r.source,
        with: objectLabel(other),
        where,
        message,
      });
      return;
    }
  }
  t.assignments.push(a);
}

/** Why two assignments cannot share one node or device, or undefined. */
function clash(a: Assignment, b: Assignment): string | undefined {
  if (a.kind !== b.kind) return undefined;
  switch (a.kind) {
    case "RouterAdvert":
      return a.spec.interface === (b as RaAssignment).spec.interface
        ? `interface ${a.spec.interface} already has RouterAdvert/${b.name}: one RA sender per interface`
        : undefined;
    case "DhcpScope": {
      const o = b as DhcpAssignment;
      if (a.spec.interface === o.spec.interface) {
        return `interface ${a.spec.interface} already has DhcpScope/${b.name}: one DHCP scope per interface`;
      }
      const x = a.spec.subnet;
      const y = o.spec.subnet;
      if (overlaps(prefixRange(x), prefixRange(y))) {
        return `subnet ${a.spec.subnet} overlaps ${o.spec.subnet} of DhcpScope/${b.name} on another interface`;
      }
      return undefined;
    }
    case "Nat64Gateway": {
      const o = b as Nat64Assignment;
      if (a.spec.tunName === o.spec.tunName)
        return `TUN device ${a.spec.tunName} is already used by Nat64Gateway/${b.name}`;
      const x = a.spec.prefix;
      const y = o.spec.prefix;
      if (overlaps(prefixRange(x), prefixRange(y))) {
        return `prefix ${a.spec.prefix} overlaps ${o.spec.prefix} of Nat64Gateway/${b.name}: packets could not be told apart`;
      }
      return undefined;
    }
    case "EdgeTranslation":
      return a.spec.outsideInterface === (b as EdgeAssignment).spec.outsideInterface
        ? `outside interface ${a.spec.outsideInterface} already has EdgeTranslation/${b.name}: one edge translation per outside interface`
        : undefined;
    case "Dns64Resolver": {
      const mine = a.spec.listen;
      const theirs = (b as Dns64Assignment).spec.listen;
      for (const e of mine) {
        const hit = theirs.find((f) => sameSocket(e, f));
        if (hit)
          return `listen ${socketText(e)} is already taken by Dns64Resolver/${b.name} (${socketText(hit)})`;
      }
      return undefined;
    }
  }
}

/**
 * Two listeners collide on one port when the addresses are equal or either is a wildcard that
 * covers the other (0.0.0.0 covers IPv4; :: covers both families on Linux by default).
 */
function sameSocket(a: Endpoint, b: Endpoint): boolean {
  if (a.port !== b.port) return false;
  if (a.family === b.family && a.address === b.address) return true;
  const wild = (e: Endpoint, other: Endpoint) =>
    e.address === 0n && (e.family === 6 || e.family === other.family);
  return wild(a, b) || wild(b, a);
}

function socketText(e: Endpoint): string {
  return e.family === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
