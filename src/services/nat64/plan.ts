// What a Nat64Gateway needs from its host and its packet workers, decided before anything is
// touched. Pure: the assignment and the options in, a finished plan out; the uplink's subnets are
// an input of `proxyArp` (read by host.ts), so everything here is testable without root.

import type { Pool4Range } from "../../datapath/nat64/pool4.ts";
import type { Nat64Config } from "../../datapath/nat64/translator.ts";
import type { IcmpRate } from "../../datapath/siit/icmpRate.ts";
import { Rfc6052Prefix, type SiitConfig } from "../../datapath/siit/index.ts";
import type { Nat64Assignment } from "../../planner/plan.ts";
import { format4, format6 } from "../../util/addrtext.ts";
import { Address, format, type Prefix, prefixRange, type Range, toBytes } from "../../util/net.ts";

export interface GatewayOptions {
  /** Session timers in seconds, overriding spec.timeouts (tests: the schema enforces RFC 6146's minimums). */
  timeouts?: Partial<Nat64Config["timeouts"]>;
  /** Session limit of the gateway (default one session per pool4 port and protocol), shared by its workers. */
  maxSessions?: number;
  /** Ports handed out per pool4 address (default 1024-65535; ICMP identifiers too). */
  portMin?: number;
  portMax?: number;
  /** Rate of the ICMP errors the translator originates (default 1000/s, bursts of 50; RFC 4443 §2.4 f). */
  icmpRate?: IcmpRate;
  /** Largest number of sessions published in /translations (default 2000). */
  snapshotLimit?: number;
  /** Skip the preflight (tests that fake a missing piece on purpose). */
  skipPreflight?: boolean;
  /**
   * Packet loop flavour: "poll" (non-blocking reads and poll(), the default) or "blocking"
   * (blocking read() woken by datagrams; see WorkerInput.loop). Benchmarks compare both.
   */
  loop?: "poll" | "blocking";
  /** TUN queues, one worker each (default spec.queues). */
  queues?: number;
  /** Segmentation and checksum offload on the TUN device (default spec.offload). */
  offload?: boolean;
}

/** What the host gets: the device's settings, routes into it, proxy ARP on the uplink (host.ts). */
export interface HostPlan {
  tunName: string;
  mtu: number;
  /** IPv6 prefixes routed into the device. */
  routes6: string[];
  /** IPv4 CIDRs routed into the device. */
  routes4: string[];
  uplink?: string;
  /** pool4 addresses answered for on the uplink (proxy ARP). */
  proxy4: string[];
}

/** An inclusive range of IPv4 addresses as 32-bit numbers. */
export interface Span4 {
  first: number;
  last: number;
}

export interface GatewayPlan {
  resource: string;
  mode: "stateful" | "stateless";
  pool4: Pool4Range[];
  /** IPv4 addresses the gateway answers for on the uplink: pool4, or the IPv4 side of the EAMT */
  answered: Span4[];
  /** routes, device settings and the uplink; `proxy4` is filled by `proxyArp` once the uplink is read */
  host: HostPlan;
  queues: number;
  loop: "poll" | "blocking";
  offload: boolean;
  /** the translator's configuration: `nat64` for stateful, `siit` for stateless */
  nat64?: Nat64Config;
  siit?: SiitConfig;
  /** the prefix's image of 0.0.0.1: never a real destination, used to wake a blocking loop */
  wake: { bytes: Uint8Array; text: string };
  snapshotLimit: number;
  /** decisions the plan made that the operator should hear about */
  notes: string[];
}

/** Most proxy ARP entries one gateway installs (a /20 of pool4 on the uplink's subnet). */
export const PROXY_ARP_LIMIT = 4096;
/** Most RFC 6791 pool addresses handed to the translator. */
const RFC6791_LIMIT = 256;

function span4(r: Range): Span4 {
  return { first: Number(r.first), last: Number(r.last) };
}

/** network/length in canonical text (what `ip route` takes) */
function prefixText(p: Prefix): string {
  return `${format(p.family, p.network)}/${p.length}`;
}

/** Every address of the ranges, up to `limit`. */
function addresses(list: readonly Range[], limit: number): Address[] {
  const out: Address[] = [];
  for (const r of list) {
    for (let a = r.first; a <= r.last && out.length < limit; a++)
      out.push(new Address(r.family, a, format(r.family, a)));
  }
  return out;
}

/** The RFC 6052 image (§2.2) of the IPv4 address `a` under the IPv6 `prefix`. */
export function embed4(prefix: Prefix, a: number): { bytes: Uint8Array; text: string } {
  const bytes = new Uint8Array(16);
  new Rfc6052Prefix(toBytes(6, prefix.network), prefix.length).embed(toBytes(4, BigInt(a)), 0, bytes, 0);
  return { bytes, text: format6(bytes) };
}

export function planGateway(
  a: Nat64Assignment,
  opts: GatewayOptions = {},
  resource = `Nat64Gateway/${a.name}`,
): GatewayPlan {
  const spec = a.spec;
  const stateful = spec.mode === "stateful";
  const notes: string[] = [];
  const pool4: Pool4Range[] = (stateful ? a.pool4 : []).map((r) => ({
    ...span4(r),
    portMin: opts.portMin ?? 1024,
    portMax: opts.portMax ?? 65535,
  }));
  const eamt4 = stateful ? [] : spec.eamt.map((e) => prefixRange(e.ipv4));

  // The ICMP errors the translator originates leave from the host's own address on the route back
  // to their destination, as the kernel picks it (SiitConfig.hostErrorSource): never an address
  // made up inside the prefix or pool4. No own address, so the RFC 6791 pool has no fallback.
  const siitCommon: SiitConfig = {
    lowestIpv6Mtu: spec.lowestIpv6Mtu,
    amendUdpChecksumZero: spec.amendUdpChecksumZero,
    rfc6791Pool: {
      ipv4: addresses(spec.rfc6791Pool.ipv4, RFC6791_LIMIT),
      ipv6: addresses(spec.rfc6791Pool.ipv6, RFC6791_LIMIT),
    },
    ipv4LinkMtu: spec.mtu,
    ipv6LinkMtu: spec.mtu,
    ownIpv4: null,
    ownIpv6: null,
    hostErrorSource: true,
  };

  const routes4: string[] = [];
  for (const r of pool4) routes4.push(...rangeToCidrs(r.first, r.last));
  for (const e of stateful ? [] : spec.eamt) routes4.push(`${format(4, e.ipv4.network)}/${e.ipv4.length}`);

  const asked = opts.queues ?? spec.queues;
  const queues = Math.max(1, Math.min(8, Math.floor(asked) || 1));
  let loop = opts.loop ?? "poll";
  // Stateful workers wake each other through an eventfd polled next to the TUN queue.
  if (stateful && queues > 1 && loop === "blocking") {
    notes.push("stateful NAT64 on several queues runs the poll loop");
    loop = "poll";
  }

  const t = spec.timeouts;
  const nat64: Nat64Config | undefined = stateful
    ? {
        pool6: spec.prefix,
        pool4,
        allowedSources: spec.allowedSources,
        filtering: spec.filtering,
        timeouts: {
          udp: opts.timeouts?.udp ?? t.udp,
          icmp: opts.timeouts?.icmp ?? t.icmp,
          tcpEstablished: opts.timeouts?.tcpEstablished ?? t.tcpEstablished,
          tcpTransitory: opts.timeouts?.tcpTransitory ?? t.tcpTransitory,
          tcpIncomingSyn: opts.timeouts?.tcpIncomingSyn ?? 6,
        },
        maxSessions: opts.maxSessions,
        icmpRate: opts.icmpRate,
        limits: {
          prefixLength: spec.limits.clientPrefixLength,
          ports: spec.limits.portsPerClient,
          sessions: spec.limits.sessionsPerClient,
        },
        hopLimitMode: "tun",
        siit: siitCommon,
      }
    : undefined;
  const siit: SiitConfig | undefined = stateful
    ? undefined
    : {
        ...siitCommon,
        pool6: spec.prefix,
        eamt: spec.eamt,
        hairpinMode: "intrinsic",
      };

  return {
    resource,
    mode: spec.mode,
    pool4,
    answered: stateful ? pool4.map(({ first, last }) => ({ first, last })) : eamt4.map(span4),
    host: {
      tunName: spec.tunName,
      mtu: spec.mtu,
      // Only the prefix goes into the device on the IPv6 side: the IPv6 side of an EAMT entry is
      // usually a local client, reached through its own link.
      routes6: [prefixText(spec.prefix)],
      routes4,
      uplink: spec.uplinkInterface,
      proxy4: [],
    },
    queues,
    loop,
    offload: opts.offload ?? spec.offload,
    nat64,
    siit,
    wake: embed4(spec.prefix, 1),
    snapshotLimit: opts.snapshotLimit ?? 2000,
    notes,
  };
}

/** The answered addresses that sit on one of the uplink's IPv4 subnets: those need proxy ARP. */
export function proxyArp(
  answered: readonly Span4[],
  subnets: readonly Span4[],
  limit = PROXY_ARP_LIMIT,
): string[] {
  const out: string[] = [];
  for (const r of answered) {
    for (let a = r.first; a <= r.last && out.length < limit; a++) {
      if (subnets.some((s) => a >= s.first && a <= s.last)) out.push(format4(a));
    }
  }
  return out;
}

/** Splits an inclusive IPv4 range into CIDR blocks. */
export function rangeToCidrs(first: number, last: number): string[] {
  const out: string[] = [];
  let a = first;
  while (a <= last) {
    let size = 32;
    while (size > 0) {
      const block = 2 ** (32 - (size - 1));
      if (a % block !== 0 || a + block - 1 > last) break;
      size--;
    }
    out.push(`${format4(a)}/${size}`);
    a += 2 ** (32 - size);
  }
  return out;
}
