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
  maxLeasesPerMinute: number;
  /** seconds an offered address stays set aside for the client (memory only) */
  offerHold: number;
  /** seconds a DECLINEd address stays out of the pool (RFC 2131 §4.3.3) */
  declineProbation: number;
}

const u32 = (b: bigint) => Number(b) >>> 0;

const addr = (a: Address): number => u32(a.value);

function ranges(list: readonly Range[]): AddrRange[] {
  return list.map((r) => ({ first: u32(r.first), last: u32(r.last) }));
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
  return {
    name: a.name,
    interface: s.interface,
    serverId,
    network,
    mask,
    broadcast,
    pools: ranges(s.ranges),
    exclude: ranges(s.exclude),
    reservations,
    reserved: new Set([...reservations.values()].map((r) => r.address)),
    leaseTime: s.leaseTime,
    renewalTime: a.renewalTime,
    rebindingTime: a.rebindingTime,
    ...(s.ipv6OnlyPreferred !== undefined ? { v6OnlyWait: s.ipv6OnlyPreferred } : {}),
    configOptions,
    maxLeasesPerMinute: s.maxLeasesPerMinute,
    offerHold: opts.offerHold ?? 60,
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
