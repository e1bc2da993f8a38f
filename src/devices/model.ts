// The vendor-neutral core of the device drivers: the objects a box must hold (rendered from the
// planner's assignments), what the box holds now, and the difference between the two as an ordered
// list of changes. Pure functions only; reading and writing the box is in ./apply.ts and the
// vendors' transport modules.
import {
  type Family,
  format,
  type Prefix,
  parseAddress,
  parsePrefix,
  prefixRange,
  type Range,
  type Span,
} from "../util/net.ts";

/** The text every object we create carries, so that a later run can find (and remove) it. */
export const MARKER = "managed by v6mostly";

/** How a later run knows that an object is ours. */
export type Ownership =
  /** the object carries MARKER (a comment field or a name prefix): found by listing the box */
  | "marked"
  /** the object cannot carry a mark (a singleton, an interface setting): the ledger remembers it */
  | "ledger"
  /** shared with the box's own configuration (ipv6 unicast-routing): set, never removed */
  | "shared";

export interface DesiredObject {
  /** stable identity across runs, e.g. "firewall/ippool/v6m-home" */
  id: string;
  /** the resources that need it, "Nat64Gateway/home" */
  owners: string[];
  /** vendor path: a FortiOS cmdb path ("firewall/ippool") or a RESTCONF data path */
  path: string;
  /** FortiOS: the mkey value (absent for singletons and for policies found by name) */
  key?: string;
  /** the fields we set; fields we do not name are left as the box has them */
  body: Record<string, unknown>;
  /** ids that must exist before this one (a policy needs its pool) */
  dependsOn: string[];
  ownership: Ownership;
  /**
   * The object as CLI lines (IOS-XE), under `parent` ("interface BDI10") when it is an interface
   * setting. The whole CLI text is put together from these.
   */
  cli?: { parent?: string; lines: string[] };
  /** how to undo it when no resource wants it any more (ledger objects) */
  removal: Removal;
}

/**
 * Bodies as the JSON the box receives: addresses and prefixes from a resource (util/net.ts values)
 * become the text the user wrote, exactly as sending them would make them; diffs compare this.
 */
export function asJson(objects: readonly DesiredObject[]): DesiredObject[] {
  return objects.map((o) => ({ ...o, body: JSON.parse(JSON.stringify(o.body)) as Record<string, unknown> }));
}

export type Removal =
  | { kind: "delete" }
  /** put these fields (e.g. FortiOS singletons: status disable) */
  | { kind: "reset"; body: Record<string, unknown> }
  /** IOS-XE settings only the CLI can undo */
  | { kind: "cli"; text: string }
  | { kind: "none" };

export interface Diagnostic {
  severity: "error" | "warning" | "info";
  /** "Nat64Gateway/home", or the device ("ExternalDevice/isr") */
  subject: string;
  message: string;
  /**
   * A problem only for sending the configuration through the box's API (`device apply`,
   * `render --format requests`); the CLI text an engineer types is not affected by it.
   */
  apiOnly?: boolean;
}

export type ChangeOp = "create" | "update" | "delete";

export interface Change {
  op: ChangeOp;
  object: DesiredObject;
  /** update: the fields that differ, with the box's value and ours */
  fields: { field: string; have: unknown; want: unknown }[];
}

/** What the box holds for one desired object: its body, or undefined when absent. */
export type Current = Map<string, Record<string, unknown> | undefined>;

/**
 * The changes that take the box from `current` to `desired`, in dependency order: creates and
 * updates first (dependencies before dependants), then deletes of `orphans` (dependants first).
 * `same` decides field equality (vendors normalise case, dotted hex, option lists).
 */
export function diff(
  desired: readonly DesiredObject[],
  current: Current,
  orphans: readonly DesiredObject[] = [],
  same: (field: string, want: unknown, have: unknown) => boolean = defaultSame,
): Change[] {
  const out: Change[] = [];
  for (const o of order(desired)) {
    const have = current.get(o.id);
    if (have === undefined) {
      out.push({ op: "create", object: o, fields: [] });
      continue;
    }
    const fields = differingFields(o.body, have, same);
    if (fields.length > 0) out.push({ op: "update", object: o, fields });
  }
  for (const o of order(orphans).reverse()) out.push({ op: "delete", object: o, fields: [] });
  return out;
}

/** Fields of `want` whose value on the box differs. Fields the box has and we do not set are ignored. */
export function differingFields(
  want: Record<string, unknown>,
  have: Record<string, unknown>,
  same: (field: string, want: unknown, have: unknown) => boolean = defaultSame,
): { field: string; have: unknown; want: unknown }[] {
  const out: { field: string; have: unknown; want: unknown }[] = [];
  for (const [field, value] of Object.entries(want)) {
    if (!same(field, value, have[field])) out.push({ field, have: have[field], want: value });
  }
  return out;
}

/** Structural equality where objects in `want` only constrain the keys they name. */
export function defaultSame(field: string, want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => defaultSame(field, w, have[i]));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.entries(want as Record<string, unknown>).every(([k, v]) =>
      defaultSame(k, v, (have as Record<string, unknown>)[k]),
    );
  }
  if (typeof want === "string" && typeof have === "string") return want.toLowerCase() === have.toLowerCase();
  if (typeof want === "number" && typeof have === "string") return String(want) === have;
  return false;
}

/** Dependencies before dependants; ties keep the rendering order. Cycles are broken at the first repeat. */
export function order(objects: readonly DesiredObject[]): DesiredObject[] {
  const byId = new Map(objects.map((o) => [o.id, o]));
  const out: DesiredObject[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (o: DesiredObject) => {
    if (state.get(o.id)) return;
    state.set(o.id, "visiting");
    for (const d of o.dependsOn) {
      const dep = byId.get(d);
      if (dep) visit(dep);
    }
    state.set(o.id, "done");
    out.push(o);
  };
  for (const o of objects) visit(o);
  return out;
}

/**
 * Merge objects that two resources both need (a FortiOS singleton shared by DNS64 and NAT64).
 * A field both set to different values is a conflict: the later resource's value is dropped
 * and reported.
 */
export function mergeObjects(objects: readonly DesiredObject[], diagnostics: Diagnostic[]): DesiredObject[] {
  const out = new Map<string, DesiredObject>();
  for (const o of objects) {
    const had = out.get(o.id);
    if (!had) {
      out.set(o.id, { ...o, owners: [...o.owners], body: { ...o.body }, dependsOn: [...o.dependsOn] });
      continue;
    }
    for (const [k, v] of Object.entries(o.body)) {
      if (k in had.body && !defaultSame(k, had.body[k], v)) {
        diagnostics.push({
          severity: "error",
          subject: o.owners.join(", "),
          message: `${o.id}: ${k} is ${JSON.stringify(had.body[k])} for ${had.owners.join(", ")}; cannot also be ${JSON.stringify(v)}`,
        });
      } else had.body[k] = v;
    }
    had.owners.push(...o.owners.filter((x) => !had.owners.includes(x)));
    had.dependsOn.push(...o.dependsOn.filter((x) => !had.dependsOn.includes(x)));
  }
  return [...out.values()];
}

// ---------------------------------------------------------------------------------------------
// The box's interfaces: which one holds an address, which ones sit in a prefix.

export interface InterfaceFacts {
  name: string;
  /** address/length as configured, host bits kept */
  addresses: string[];
}

interface ParsedInterfaceAddress {
  family: Family;
  address: bigint;
  subnet: Range;
}

function parseInterfaceAddress(text: string): ParsedInterfaceAddress | undefined {
  const p = parsePrefix(text, undefined, false);
  if (!p.ok) return undefined;
  const a = parseAddress(text.slice(0, text.indexOf("/")));
  if (!a.ok) return undefined;
  return { family: p.value.family, address: a.value.value, subnet: prefixRange(p.value) };
}

/** The interface whose subnet holds `address` (the one that has it as its own address first). */
export function interfaceHolding(
  interfaces: readonly InterfaceFacts[],
  a: { family: Family; value: bigint } | { family: Family; address: bigint },
): string | undefined {
  const value = "value" in a ? a.value : a.address;
  let onSubnet: string | undefined;
  for (const i of interfaces) {
    for (const t of i.addresses) {
      const x = parseInterfaceAddress(t);
      if (!x || x.family !== a.family) continue;
      if (x.address === value) return i.name;
      if (!onSubnet && x.subnet.first <= value && value <= x.subnet.last) onSubnet = i.name;
    }
  }
  return onSubnet;
}

/** Interfaces with an address inside `prefix` (e.g. the NAT64 clients' /64). */
export function interfacesIn(interfaces: readonly InterfaceFacts[], prefix: Prefix): string[] {
  const r = prefixRange(prefix);
  return interfaces
    .filter((i) =>
      i.addresses.some((t) => {
        const x = parseInterfaceAddress(t);
        return x !== undefined && x.family === r.family && r.first <= x.address && x.address <= r.last;
      }),
    )
    .map((i) => i.name);
}

/** Interfaces whose subnet overlaps the range (pool4 lives on the uplink's subnet). */
export function interfacesOnSubnetOf(interfaces: readonly InterfaceFacts[], range: Range): string[] {
  return interfaces
    .filter((i) =>
      i.addresses.some((t) => {
        const x = parseInterfaceAddress(t);
        return (
          x !== undefined &&
          x.family === range.family &&
          x.subnet.first <= range.last &&
          range.first <= x.subnet.last
        );
      }),
    )
    .map((i) => i.name);
}

// ---------------------------------------------------------------------------------------------
// Small address helpers the renderers share.

/** 255.255.255.0 for a /24. */
export function netmask4(length: number): string {
  return format(4, (0xffffffffn << BigInt(32 - length)) & 0xffffffffn);
}

/** The network and mask of an IPv4 prefix. */
export function network4(p: Prefix): { number: string; mask: string } {
  return { number: format(4, p.network), mask: netmask4(p.length) };
}

/** Canonical lower-case prefix text, fd00:ff9b::/96. */
export function canonicalPrefix(p: Prefix): string {
  return `${format(p.family, p.network)}/${p.length}`;
}

/**
 * The ranges of `outer` not covered by `inner`, from outer.first + 1 (the network address is never
 * leased) to outer.last: what IOS must be told to exclude when the scope leases only `inner`.
 */
export function complement(outer: Span, inner: readonly Span[]): Span[] {
  const sorted = [...inner].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Span[] = [];
  let next = outer.first + 1n;
  for (const r of sorted) {
    if (r.first > next) out.push({ family: outer.family, first: next, last: r.first - 1n });
    if (r.last + 1n > next) next = r.last + 1n;
  }
  if (next <= outer.last) out.push({ family: outer.family, first: next, last: outer.last });
  return out;
}
