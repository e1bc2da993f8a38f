// The DhcpScope spec compiled once into numbers the hot path can use.

import type { DhcpAssignment } from "../../planner/plan.ts";
import type { Address, Range } from "../../util/net.ts";
import { addrBytes, OPT, type OptionOut } from "./wire.ts";

export interface AddrRange {
  first: number;
  last: number;
}

export interface Reservation {
  address: number;
  hostname?: string;
}

export interface Scope {
  name: string;
  interface: string;
  /** the server's own address on the link: option 54 and the source of replies */
  serverId: number;
  network: number;
  mask: number;
  broadcast: number;
  pools: AddrRange[];
  exclude: AddrRange[];
  /** by MAC in lower-case aa:bb:cc:dd:ee:ff */
  reservations: Map<string, Reservation>;
  /** every reserved address, never leased to anyone else */
  reserved: Set<number>;
  leaseTime: number;
  renewalTime: number;
  rebindingTime: number;
  /** RFC 8925 V6ONLY_WAIT; undefined = option 108 never sent */
  v6OnlyWait?: number;
  /** options every ACK/OFFER carries, after 53 and 54 (1, 3, 6, 15 and raw ones) */
  configOptions: OptionOut[];
  /** how many addresses the pools can lease: ranges less exclusions, reservations and serverId */
  poolSize: number;
  /** new bindings per minute on this interface (spec.maxLeasesPerMinute, default a quarter of poolSize) */
  maxLeasesPerMinute: number;
  /** free addresses a claim without our OFFER never takes (spec.poolReservePercent of poolSize) */
  reserve: number;
  /** seconds an offered address is kept from other DISCOVERs while addresses are left (memory only) */
  offerHold: number;
  /** seconds a DECLINEd address stays out of the pool (RFC 2131 §4.3.3) */
  declineProbation: number;
}

const u32 = (b: bigint) => Number(b) >>> 0;

const addr = (a: Address): number => u32(a.value);

function ranges(list: readonly Range[]): AddrRange[] {
  return list.map((r) => ({ first: u32(r.first), last: u32(r.last) }));
}

/**
 * Seconds an OFFER keeps its address from other DISCOVERs. RFC 2131 §4.3.1 does not require the
 * server to reserve an offered address at all; §4.4.1 has a client retransmit its REQUEST after
 * about 4, 12 and 28 s, so 30 s covers its first three tries. Under pressure (no address left that
 * nobody holds) an unrequested offer is reclaimed sooner, oldest first (leases.ts).
 */
export const OFFER_HOLD = 30;

/**
 * The default budget of new bindings per minute: a quarter of the pool, so that a flood of new
 * clients needs at least four minutes to bind it all (and is counted meanwhile); at least 4, so
 * that a pool of a few addresses still takes a few new devices at once.
 */
export function defaultLeasesPerMinute(poolSize: number): number {
  return Math.max(4, Math.floor(poolSize / 4));
}

/** Addresses in `pools` (disjoint) outside `exclude` (may overlap), less the `single` addresses found there. */
export function poolSize(
  pools: readonly AddrRange[],
  exclude: readonly AddrRange[],
  single: number[],
): number {
  const inside = (a: number, rs: readonly AddrRange[]) => rs.some((r) => a >= r.first && a <= r.last);
  // exclusions merged, so that an address excluded twice is subtracted once
  const merged: AddrRange[] = [];
  for (const r of [...exclude].sort((x, y) => x.first - y.first)) {
    const last = merged[merged.length - 1];
    if (last && r.first <= last.last + 1) last.last = Math.max(last.last, r.last);
    else merged.push({ ...r });
  }
  let n = 0;
  for (const p of pools) {
    n += p.last - p.first + 1;
    for (const x of merged) n -= Math.max(0, Math.min(p.last, x.last) - Math.max(p.first, x.first) + 1);
  }
  for (const a of new Set(single)) if (inside(a, pools) && !inside(a, merged)) n--;
  return n;
}

export function normalizeMac(mac: string): string {
  return mac.toLowerCase().replaceAll("-", ":");
}

export function compileScope(
  a: DhcpAssignment,
  serverId: number,
  opts: Partial<Pick<Scope, "offerHold" | "declineProbation">> = {},
): Scope {
  const s = a.spec;
  const network = u32(s.subnet.network);
  const mask = s.subnet.length === 0 ? 0 : (0xffffffff << (32 - s.subnet.length)) >>> 0;
  const broadcast = (network | ~mask) >>> 0;
  const reservations = new Map<string, Reservation>();
  for (const r of s.reservations) {
    reservations.set(normalizeMac(r.mac), {
      address: addr(r.address),
      ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
    });
  }
  const configOptions: OptionOut[] = [[OPT.subnetMask, addrBytes(mask)]];
  if (s.router !== undefined) configOptions.push([OPT.router, addrBytes(addr(s.router))]);
  if (s.dnsServers.length) {
    const b = new Uint8Array(4 * s.dnsServers.length);
    s.dnsServers.forEach((d, i) => {
      b.set(addrBytes(addr(d)), 4 * i);
    });
    configOptions.push([OPT.dnsServers, b]);
  }
  if (s.domainName !== undefined)
    configOptions.push([OPT.domainName, new TextEncoder().encode(s.domainName)]);
  for (const o of s.options)
    configOptions.push([o.code, Uint8Array.from(Buffer.from(o.hex.replace(/[:\s.]/g, ""), "hex"))]);
  const pools = ranges(s.ranges);
  const exclude = ranges(s.exclude);
  const reserved = new Set([...reservations.values()].map((r) => r.address));
  const size = poolSize(pools, exclude, [...reserved, serverId]);
  return {
    name: a.name,
    interface: s.interface,
    serverId,
    network,
    mask,
    broadcast,
    pools,
    exclude,
    reservations,
    reserved,
    leaseTime: s.leaseTime,
    renewalTime: a.renewalTime,
    rebindingTime: a.rebindingTime,
    ...(s.ipv6OnlyPreferred !== undefined ? { v6OnlyWait: s.ipv6OnlyPreferred } : {}),
    configOptions,
    poolSize: size,
    maxLeasesPerMinute: s.maxLeasesPerMinute ?? defaultLeasesPerMinute(size),
    reserve: Math.floor((size * s.poolReservePercent) / 100),
    offerHold: opts.offerHold ?? OFFER_HOLD,
    declineProbation: opts.declineProbation ?? 3600,
  };
}

export function inSubnet(scope: Scope, a: number): boolean {
  return (a & scope.mask) >>> 0 === scope.network && a !== scope.network && a !== scope.broadcast;
}

export function excluded(scope: Scope, a: number): boolean {
  for (const r of scope.exclude) if (a >= r.first && a <= r.last) return true;
  return false;
}

export function inPools(scope: Scope, a: number): boolean {
  for (const r of scope.pools) if (a >= r.first && a <= r.last) return true;
  return false;
}

/** An address the pool may give to a client without a reservation. */
export function dynamic(scope: Scope, a: number): boolean {
  return inPools(scope, a) && !excluded(scope, a) && !scope.reserved.has(a) && a !== scope.serverId;
}
