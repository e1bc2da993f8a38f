// Nat64Gateway: stateful NAT64 (RFC 6146) or stateless SIIT (RFC 7915) with EAMT (RFC 7757).
import { z } from "zod";
import { type Prefix, prefixRange } from "../util/net.ts";
import { duration } from "./duration.ts";
import { interfaceName, linuxInterfaceName, localRef, nodeSelector, prefix, range } from "./fields.ts";
import { checkDisjoint, checkNodeInterface, issue, listed } from "./rules.ts";

/** RFC 6052 §2.2: the prefix lengths an IPv4-embedded IPv6 address can use. */
export const PREF64_LENGTHS = [32, 40, 48, 56, 64, 96] as const;

/**
 * A NAT64 prefix (PREF64) check, shared by every resource that names one. Returns an error sentence.
 * RFC 6052 §2.2: the length is one of six, and bits 64 to 71 (the "u" octet) are zero.
 */
export function pref64Problem(p: Prefix): string | undefined {
  if (!(PREF64_LENGTHS as readonly number[]).includes(p.length)) {
    return `/${p.length} is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)`;
  }
  if (((p.network >> 56n) & 0xffn) !== 0n) {
    return `${p.text}: bits 64 to 71 of a NAT64 prefix must be zero (RFC 6052 §2.2, the "u" octet)`;
  }
  if (p.network >> 120n === 0xffn) return `${p.text} is multicast; a NAT64 prefix must be unicast`;
  if (p.network >> 118n === 0x3fan) return `${p.text} is link-local; a NAT64 prefix must be routable`;
  return undefined;
}

export const pref64 = prefix(
  6,
  "the NAT64 prefix (PREF64), RFC 6052: /32, /40, /48, /56, /64 or /96",
).superRefine((p, ctx) => {
  const problem = pref64Problem(p);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const eamtEntry = z
  .strictObject({
    ipv6: prefix(6, "the IPv6 side of the mapping"),
    ipv4: prefix(4, "the IPv4 side of the mapping"),
  })
  .describe("an Explicit Address Mapping (RFC 7757)");

const timeouts = z
  .strictObject({
    udp: duration().default(300).describe("UDP session lifetime (RFC 6146 §3.5.1: at least 2 minutes)"),
    icmp: duration().default(60).describe("ICMP query session lifetime (RFC 6146 §3.5.3)"),
    tcpEstablished: duration()
      .default(7440)
      .describe("established TCP session (RFC 6146 §3.5.2.2: at least 2h4m)"),
    tcpTransitory: duration().default(240).describe("TCP session while opening or closing (at least 4m)"),
  })
  .describe("session timers");

const limits = z
  .strictObject({
    clientPrefixLength: z
      .number()
      .int()
      .min(32)
      .max(128)
      .default(64)
      .describe(
        "a client is an IPv6 source aggregated to this prefix length: 64 (the default) counts a whole /64 as one client, so a host cannot dodge the limits with more addresses; 128 counts each address (a flat LAN whose hosts share one /64)",
      ),
    portsPerClient: z
      .number()
      .int()
      .min(1)
      .default(16384)
      .describe(
        "pool4 ports (and ICMP identifiers), all protocols together, one client may hold: RFC 6888 §3 REQ-4, like Cisco IOS `ip nat translation max-entries host`",
      ),
    sessionsPerClient: z
      .number()
      .int()
      .min(1)
      .default(65536)
      .describe("sessions (RFC 6146 §3.2) one client's mappings may hold: RFC 6888 §3 REQ-5"),
  })
  .describe(
    "stateful: limits per client, so one client cannot take every port or session (drops counted as clientPortLimit, clientSessionLimit)",
  );

export const nat64GatewaySpec = z
  .strictObject({
    prefix: pref64.prefault("64:ff9b::/96"),
    mode: z.enum(["stateful", "stateless"]).default("stateful").describe("stateful NAT64 or stateless SIIT"),
    pool4: z
      .array(range(4, "IPv4 addresses the IPv6 clients share: a range a-b, a CIDR or one address"))
      .default([])
      .describe("stateful: the IPv4 addresses translated traffic leaves from (NAPT, overload)"),
    allowedSources: z
      .array(prefix(6))
      .default([])
      .describe("stateful: only these IPv6 sources are translated; required, never an open relay"),
    filtering: z
      .enum(["endpointIndependent", "addressDependent"])
      .default("endpointIndependent")
      .describe("RFC 4787 filtering of inbound IPv4 packets for an existing mapping"),
    eamt: z.array(eamtEntry).default([]).describe("stateless: explicit address mappings (RFC 7757)"),
    lowestIpv6Mtu: z
      .number()
      .int()
      .min(1280)
      .max(65535)
      .default(1280)
      .describe("RFC 7915 §4: MTU assumed for IPv6 paths"),
    amendUdpChecksumZero: z
      .boolean()
      .default(false)
      .describe("RFC 7915 §4.5: compute a checksum for IPv4 UDP with 0"),
    rfc6791Pool: z
      .strictObject({
        ipv4: z.array(range(4, "IPv4 addresses: a range a-b, a CIDR or one address")).default([]),
        ipv6: z.array(range(6, "IPv6 addresses: a range a-b, a CIDR or one address")).default([]),
      })
      .default({ ipv4: [], ipv6: [] })
      .describe("sources for ICMP errors whose real source cannot be translated (RFC 6791)"),
    uplinkInterface: interfaceName(
      "the interface where pool4 lives (ARP for pool4 is answered there)",
    ).optional(),
    tunName: linuxInterfaceName("the TUN device's name").default("nat64"),
    mtu: z.number().int().min(1280).max(65535).default(1500).describe("the TUN device's MTU"),
    queues: z
      .number()
      .int()
      .min(1)
      .max(8)
      .default(1)
      .describe(
        "packet workers, one per TUN queue (IFF_MULTI_QUEUE); stateful: each owns 1/queues of pool4's ports (docs/nat64.md)",
      ),
    offload: z
      .boolean()
      .default(true)
      .describe(
        "segmentation and checksum offload on the TUN device: TCP super-packets, and UDP ones on Linux 6.2+ (up to 64 KiB; docs/nat64.md)",
      ),
    timeouts: timeouts.default({ udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240 }),
    limits: limits.default({ clientPrefixLength: 64, portsPerClient: 16384, sessionsPerClient: 65536 }),
    nodeSelector: nodeSelector.default({}),
    deviceRef: localRef("ExternalDevice").optional(),
  })
  .superRefine((spec, ctx) => {
    checkNodeInterface(ctx, ["uplinkInterface"], spec.uplinkInterface, spec.deviceRef);
    if (spec.mode === "stateful") {
      if (spec.pool4.length === 0) {
        issue(ctx, ["pool4"], "stateful NAT64 needs at least one IPv4 address in pool4");
      }
      if (spec.allowedSources.length === 0) {
        issue(
          ctx,
          ["allowedSources"],
          "list the IPv6 client prefixes that may use this NAT64 (for example your LAN's /64); v6mostly never translates for everyone",
        );
      }
      if (spec.eamt.length > 0)
        issue(ctx, ["eamt"], "eamt is for stateless mode (SIIT, RFC 7757); remove it or set mode: stateless");
    } else {
      if (spec.pool4.length > 0) {
        issue(
          ctx,
          ["pool4"],
          "pool4 is for stateful mode (NAPT); stateless SIIT maps addresses 1:1 through prefix and eamt",
        );
      }
      if (spec.allowedSources.length > 0)
        issue(ctx, ["allowedSources"], "allowedSources applies to stateful mode only");
    }
    checkDisjoint(ctx, listed(["pool4"], spec.pool4));
    checkDisjoint(ctx, listed(["rfc6791Pool", "ipv4"], spec.rfc6791Pool.ipv4));
    checkDisjoint(ctx, listed(["rfc6791Pool", "ipv6"], spec.rfc6791Pool.ipv6));
    spec.pool4.forEach((t, i) => {
      const { first, last } = t;
      if (first <= 0xffffffn)
        issue(ctx, ["pool4", i], `${t} includes 0.0.0.0/8, which cannot be a source address`);
      else if (first <= 0x7fffffffn && last >= 0x7f000000n)
        issue(ctx, ["pool4", i], `${t} includes loopback 127.0.0.0/8`);
      else if (last >= 0xe0000000n)
        issue(ctx, ["pool4", i], `${t} includes multicast or reserved space (224.0.0.0 and up)`);
    });
    // RFC 7757 §3.2: an EAMT entry maps a block to a block of the same size (same suffix length).
    spec.eamt.forEach((e, i) => {
      if (128 - e.ipv6.length !== 32 - e.ipv4.length) {
        issue(
          ctx,
          ["eamt", i],
          `${e.ipv6} holds 2^${128 - e.ipv6.length} addresses but ${e.ipv4} holds 2^${32 - e.ipv4.length}; an EAMT entry maps blocks of equal size (RFC 7757 §3.2): use /${96 + e.ipv4.length} with ${e.ipv4}`,
        );
      }
    });
    checkDisjoint(
      ctx,
      spec.eamt.map((e, i) => ({ path: ["eamt", i, "ipv6"], value: e.ipv6 })),
    );
    checkDisjoint(
      ctx,
      spec.eamt.map((e, i) => ({ path: ["eamt", i, "ipv4"], value: e.ipv4 })),
    );
    // A source inside the NAT64 prefix cannot be told apart from a translated IPv4 address: RFC 6052 §5.1
    // leaves such packets to be dropped, and the seed's ISR did exactly that to a CLAT's source.
    spec.allowedSources.forEach((t, i) => {
      if (overlapsPrefix(t, spec.prefix)) {
        issue(
          ctx,
          ["allowedSources", i],
          `${t} overlaps the NAT64 prefix ${spec.prefix}; sources inside the prefix are not translated (give a CLAT an address outside it)`,
        );
      }
    });
    const t = spec.timeouts;
    if (t.udp < 120)
      issue(ctx, ["timeouts", "udp"], `${t.udp}s is below the 2 minutes RFC 6146 §3.5.1 requires for UDP`);
    if (t.tcpEstablished < 7440) {
      issue(
        ctx,
        ["timeouts", "tcpEstablished"],
        `${t.tcpEstablished}s is below 2h4m (RFC 6146 §3.5.2.2, TCP_EST)`,
      );
    }
    if (t.tcpTransitory < 240) {
      issue(
        ctx,
        ["timeouts", "tcpTransitory"],
        `${t.tcpTransitory}s is below 4m (RFC 6146 §3.5.2.2, TCP_TRANS)`,
      );
    }
    if (t.icmp < 1) issue(ctx, ["timeouts", "icmp"], "must be at least 1 second");
  });

function overlapsPrefix(a: Prefix, b: Prefix): boolean {
  const x = prefixRange(a);
  const y = prefixRange(b);
  return x.first <= y.last && y.first <= x.last;
}

export type Nat64GatewaySpec = z.output<typeof nat64GatewaySpec>;
