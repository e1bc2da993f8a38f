// From a RouterAdvert assignment to the Router Advertisement this node sends (pure).
//
// RFC 4861 §6.2.3 says what goes into an advertisement; the options follow the configuration:
// source link-layer address, MTU, Prefix Information (RFC 4861 §4.6.2), Route Information
// (RFC 4191 §2.3), RDNSS and DNSSL (RFC 8106 §5), PREF64 (RFC 8781 §4).

import type { RaAssignment } from "../../planner/plan.ts";
import { format } from "../../util/net.ts";
import {
  encodeRouterAdvertisement,
  type NdOption,
  PREF64_PLC_LENGTHS,
  type RouterAdvertisement,
} from "./wire.ts";

/** What the service learns about the interface before it advertises. */
export interface Link {
  name: string;
  index: number;
  /** the link-local address RAs are sent from (RFC 4861 §6.1.2: hosts drop others) */
  linkLocal: string;
  /** link-layer address for the source link-layer option; absent on links without one (tun) */
  mac?: string;
  /** the interface MTU */
  mtu: number;
}

const U32 = 0xffffffff;

/**
 * Problems that make the configuration impossible to advertise, independent of the interface: what
 * the wire format needs beyond the schema's rules (an assignment is always parsed by the schema
 * first, from a file or from a NodeConfig).
 */
export function configProblems(a: RaAssignment): string[] {
  const problems: string[] = [];
  const r = a.resolved;
  if (
    !(
      r.interval.min >= 3 &&
      r.interval.min <= 0.75 * r.interval.max &&
      r.interval.max >= 4 &&
      r.interval.max <= 1800
    )
  ) {
    problems.push(
      `interval ${r.interval.min}s-${r.interval.max}s: MinRtrAdvInterval must be 3s to 0.75 × MaxRtrAdvInterval, MaxRtrAdvInterval 4s to 1800s (RFC 4861 §6.2.1)`,
    );
  }
  a.spec.prefixes.forEach((p, i) => {
    if (p.validLifetime > U32 || p.preferredLifetime > U32)
      problems.push(`spec.prefixes.${i}: lifetimes are 32-bit seconds (at most 4294967295, "infinity")`);
  });
  r.rdnss.forEach((x, i) => {
    if (x.lifetime > U32) problems.push(`rdnss.${i}.lifetime: ${x.lifetime}s does not fit 32 bits`);
  });
  r.dnssl.forEach((x, i) => {
    if (x.lifetime > U32) problems.push(`dnssl.${i}.lifetime: ${x.lifetime}s does not fit 32 bits`);
  });
  r.routes.forEach((x, i) => {
    if (x.lifetime > U32) problems.push(`routes.${i}.lifetime: ${x.lifetime}s does not fit 32 bits`);
  });
  if (r.pref64) {
    const p = r.pref64.prefix;
    if (!(PREF64_PLC_LENGTHS as readonly number[]).includes(p.length)) {
      problems.push(
        `pref64.prefix: /${p.length} has no PREF64 prefix length code (RFC 8781 §4: /32 /40 /48 /56 /64 /96)`,
      );
    }
    if (r.pref64.lifetime > 65528)
      problems.push(`pref64.lifetime: ${r.pref64.lifetime}s is more than 65528s (RFC 8781 §4)`);
  }
  if (problems.length === 0) {
    try {
      encodeRouterAdvertisement(
        buildAdvertisement(a, { name: a.spec.interface, index: 0, linkLocal: "fe80::1", mtu: 65535 }),
      );
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

/** Problems between this configuration and the interface it is to run on. */
export function linkProblems(a: RaAssignment, link: Link): string[] {
  const problems: string[] = [];
  if (a.spec.mtu !== undefined && a.spec.mtu > link.mtu) {
    problems.push(
      `spec.mtu ${a.spec.mtu} is more than the MTU of ${link.name} (${link.mtu}): hosts would send packets this link cannot carry (RFC 4861 §6.2.1 AdvLinkMTU)`,
    );
  }
  const size = encodeRouterAdvertisement(buildAdvertisement(a, link)).length + 40;
  if (size > link.mtu) {
    problems.push(
      `the advertisement is ${size} bytes with its IPv6 header, more than the MTU of ${link.name} (${link.mtu}); advertise fewer options`,
    );
  }
  return problems;
}

export interface BuildOptions {
  /** RFC 4861 §6.2.5: the last advertisement when the service stops */
  final?: boolean;
  /** options withdrawn by a configuration change, sent with lifetime 0 for a few advertisements */
  withdrawn?: readonly NdOption[];
}

/** Group consecutive entries that share a lifetime into one option, as radvd's blocks do. */
function groupByLifetime<T extends { lifetime: number }>(
  items: readonly T[],
): { lifetime: number; items: T[] }[] {
  const out: { lifetime: number; items: T[] }[] = [];
  for (const x of items) {
    const last = out[out.length - 1];
    if (last && last.lifetime === x.lifetime && last.items.length < 127) last.items.push(x);
    else out.push({ lifetime: x.lifetime, items: [x] });
  }
  return out;
}

export function buildAdvertisement(a: RaAssignment, link: Link, o: BuildOptions = {}): RouterAdvertisement {
  const s = a.spec;
  const r = a.resolved;
  // RFC 4861 §6.2.5: a final advertisement has Router Lifetime 0. Like radvd's defaults
  // (AdvRemoveRoute, FlushRDNSS, FlushDNSSL) the routes, DNS servers, search domains and the
  // PREF64 that point at this router are withdrawn with it; prefixes stay (addresses in them
  // remain valid on the link).
  const final = o.final === true;
  // Options in radvd's order (prefixes, routes, RDNSS, DNSSL, MTU, source link-layer address), so
  // that an advertisement is byte for byte what radvd sends for the same configuration; PREF64,
  // which radvd 2.19 lacks, comes last.
  const options: NdOption[] = [];
  for (const p of s.prefixes) {
    options.push({
      type: "prefixInformation",
      prefix: format(6, p.prefix.network),
      prefixLength: p.prefix.length,
      onLink: p.onLink,
      autonomous: p.autonomous,
      routerAddress: false,
      validLifetime: p.validLifetime,
      preferredLifetime: p.preferredLifetime,
    });
  }
  for (const x of r.routes) {
    options.push({
      type: "routeInformation",
      prefix: format(6, x.prefix.network),
      prefixLength: x.prefix.length,
      preference: x.preference,
      lifetime: final ? 0 : x.lifetime,
    });
  }
  for (const g of groupByLifetime(r.rdnss)) {
    options.push({
      type: "rdnss",
      lifetime: final ? 0 : g.lifetime,
      servers: g.items.map((x) => format(6, x.address.value)),
    });
  }
  for (const g of groupByLifetime(r.dnssl)) {
    options.push({ type: "dnssl", lifetime: final ? 0 : g.lifetime, domains: g.items.map((x) => x.domain) });
  }
  if (s.mtu !== undefined) options.push({ type: "mtu", mtu: s.mtu });
  if (link.mac) options.push({ type: "sourceLinkAddress", address: link.mac });
  if (r.pref64) {
    options.push({
      type: "pref64",
      prefix: format(6, r.pref64.prefix.network),
      prefixLength: r.pref64.prefix.length,
      lifetime: final ? 0 : r.pref64.lifetime,
    });
  }
  options.push(...(o.withdrawn ?? []));
  return {
    curHopLimit: s.hopLimit,
    managed: s.managed,
    otherConfig: s.otherConfig,
    homeAgent: false,
    // RFC 4191 §2.2: the preference is meaningless (and sent as medium) when the lifetime is 0.
    preference: s.defaultRouter.lifetime === 0 || final ? "medium" : s.defaultRouter.preference,
    proxy: false,
    routerLifetime: final ? 0 : s.defaultRouter.lifetime,
    reachableTime: 0,
    retransTimer: 0,
    options,
  };
}

/** A stable key for an option's identity (what it is about, not its lifetime). */
function identity(o: NdOption): string | undefined {
  switch (o.type) {
    case "prefixInformation":
      return `prefix ${o.prefix}/${o.prefixLength}`;
    case "routeInformation":
      return `route ${o.prefix}/${o.prefixLength}`;
    case "pref64":
      return `pref64 ${o.prefix}/${o.prefixLength}`;
    default:
      return undefined;
  }
}

/**
 * What a configuration change takes away, as options with lifetime 0, so that hosts drop them now
 * rather than when their old lifetime runs out (RFC 9096 §3.5 for prefixes: preferred and valid 0,
 * which hosts clamp to two hours under RFC 4862 §5.5.3 e).
 */
export function withdrawnOptions(before: RouterAdvertisement, after: RouterAdvertisement): NdOption[] {
  const out: NdOption[] = [];
  const keys = new Set(after.options.map(identity).filter((k) => k !== undefined));
  const servers = new Set(after.options.flatMap((o) => (o.type === "rdnss" ? o.servers : [])));
  const domains = new Set(
    after.options.flatMap((o) => (o.type === "dnssl" ? o.domains.map((d) => d.toLowerCase()) : [])),
  );
  for (const o of before.options) {
    const k = identity(o);
    if (k !== undefined && !keys.has(k)) {
      if (o.type === "prefixInformation") out.push({ ...o, validLifetime: 0, preferredLifetime: 0 });
      if (o.type === "routeInformation" || o.type === "pref64") out.push({ ...o, lifetime: 0 });
    }
    if (o.type === "rdnss") {
      const gone = o.servers.filter((x) => !servers.has(x));
      if (gone.length) out.push({ type: "rdnss", lifetime: 0, servers: gone });
    }
    if (o.type === "dnssl") {
      const gone = o.domains.filter((x) => !domains.has(x.toLowerCase()));
      if (gone.length) out.push({ type: "dnssl", lifetime: 0, domains: gone });
    }
  }
  return out;
}
