// EdgeTranslation: address translation where a LAN meets an upstream it cannot route through (the
// seed's home gateway hands out one /64 and routes nothing behind it). Outbound SNAT44 (NAPT or
// Basic NAT, RFC 2663 §4.1) and SNAT66 (the interface address, a pool, or NPTv6, RFC 6296);
// inbound DNAT44 and DNAT66 of external ranges to internal ranges of equal size; the neighbours
// to answer for on the outside link; the default route out of it.
import { z } from "zod";
import { contains, overlaps, type Prefix, prefixRange, type Range, rangeSize } from "../util/net.ts";
import { interfaceName, ipv4Address, ipv6Address, localRef, nodeSelector, prefix, range } from "./fields.ts";
import { checkDisjoint, checkNodeInterface, issue, listed, type PathKey } from "./rules.ts";

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

/** An inbound static mapping: each external address to the internal address at the same offset. */
const mapping = (family: 4 | 6, what: string) =>
  z
    .strictObject({
      external: range(
        family,
        `the external ${what} addresses on the outside link: a range a-b, a CIDR or one address`,
      ),
      internal: range(family, `the internal ${what} addresses they map to, in order, as many as external`),
    })
    .describe(`a static ${what} destination mapping, external -> internal, one to one`);

export const edgeTranslationSpec = z
  .strictObject({
    insideInterfaces: z
      .array(interfaceName("an interface toward the LAN (the translated side)"))
      .min(1)
      .describe("the LAN side: traffic from these interfaces to outsideInterface is source-translated"),
    outsideInterface: interfaceName(
      "the interface toward the upstream (the home gateway's link); external addresses live on its link",
    ),
    snat44: z
      .strictObject({
        pool: z
          .array(range(4, "outside IPv4 addresses: a range a-b, a CIDR or one address"))
          .default([])
          .describe(
            "the addresses translated traffic leaves from; empty = the outside interface's own address",
          ),
        mode: z
          .enum(["overload", "oneToOne"])
          .default("overload")
          .describe(
            "overload: NAPT, many inside hosts share the pool by port (RFC 2663 §4.1.2); oneToOne: Basic NAT, each inside host gets a pool address of its own (RFC 2663 §4.1.1)",
          ),
      })
      .optional()
      .describe("outbound IPv4 source translation; absent = IPv4 is not translated outbound"),
    dnat44: z
      .array(mapping(4, "IPv4"))
      .default([])
      .describe("inbound IPv4 destination translation (static, RFC 2663 §4.1.1)"),
    snat66: z
      .strictObject({
        mode: z
          .enum(["interface", "pool", "nptv6"])
          .default("interface")
          .describe(
            "interface: the outside interface's address (NAPT66); pool: addresses of pool; nptv6: stateless prefix translation, ports kept (RFC 6296)",
          ),
        pool: z
          .array(range(6, "outside IPv6 addresses: a range a-b, a CIDR or one address"))
          .default([])
          .describe("mode pool: the addresses translated traffic leaves from"),
        nptv6: z
          .strictObject({
            inside: prefix(6, "the inside prefix (the LAN's, often a ULA)"),
            outside: prefix(6, "the outside prefix it is translated to, of the same length"),
          })
          .optional()
          .describe("mode nptv6: the prefix pair (RFC 6296)"),
      })
      .optional()
      .describe("outbound IPv6 source translation; absent = IPv6 is routed untranslated"),
    dnat66: z
      .array(mapping(6, "IPv6"))
      .default([])
      .describe("inbound IPv6 destination translation (static ranges)"),
    inboundSnat66: z
      .strictObject({
        pool: z
          .array(range(6, "inside IPv6 addresses: a range a-b, a CIDR or one address"))
          .min(1)
          .describe("inside addresses inbound senders are translated to"),
      })
      .optional()
      .describe(
        "source translation of inbound DNAT66 traffic, so that replies come back through this box when the LAN's default router is another one (the seed's ISR)",
      ),
    proxyNeighbors: z
      .array(
        z.strictObject({
          addresses: range(
            undefined,
            "external addresses of this resource to answer ARP / Neighbor Solicitations for: a range a-b, a CIDR or one address",
          ),
          linkLayerAddress: z
            .string()
            .optional()
            .describe(
              "the MAC to answer with (aa:bb:cc:dd:ee:ff), e.g. another box's; default: the outside interface's own",
            ),
        }),
      )
      .default([])
      .describe(
        "neighbours to answer for on the outside link, so that the upstream reaches external addresses it has no route for (RFC 4861 §7.2.4 proxy advertisements; RFC 826 for ARP)",
      ),
    defaultRoute: z
      .strictObject({
        ipv4: ipv4Address("the IPv4 next hop on the outside link").optional(),
        ipv6: ipv6Address("the IPv6 next hop on the outside link").optional(),
      })
      .optional()
      .describe("default routes out of outsideInterface"),
    log: z.boolean().default(false).describe("log every translated session (FortiOS logtraffic all)"),
    nodeSelector: nodeSelector.default({}),
    deviceRef: localRef("ExternalDevice").optional(),
  })
  .superRefine((spec, ctx) => {
    spec.insideInterfaces.forEach((name, i) => {
      checkNodeInterface(ctx, ["insideInterfaces", i], name, spec.deviceRef);
      const before = spec.insideInterfaces.indexOf(name);
      if (before < i)
        issue(ctx, ["insideInterfaces", i], `${name} is listed twice (insideInterfaces[${before}])`);
    });
    checkNodeInterface(ctx, ["outsideInterface"], spec.outsideInterface, spec.deviceRef);
    const alsoInside = spec.insideInterfaces.indexOf(spec.outsideInterface);
    if (alsoInside >= 0) {
      issue(
        ctx,
        ["outsideInterface"],
        `${spec.outsideInterface} is also insideInterfaces[${alsoInside}]; an interface is inside or outside, not both (traffic between them could not be told to translate or not)`,
      );
    }
    if (!spec.snat44 && spec.dnat44.length === 0 && !spec.snat66 && spec.dnat66.length === 0) {
      issue(ctx, [], "translates nothing: set at least one of snat44, dnat44, snat66, dnat66");
    }
    if (spec.snat44) {
      // RFC 2663 §4.1.1: Basic NAT binds each inside address to an outside address of its own.
      if (spec.snat44.mode === "oneToOne" && spec.snat44.pool.length === 0) {
        issue(
          ctx,
          ["snat44", "pool"],
          "oneToOne gives each inside host an outside address of its own (Basic NAT, RFC 2663 §4.1.1): list them in pool, or use mode overload with the interface address",
        );
      }
      checkDisjoint(ctx, listed(["snat44", "pool"], spec.snat44.pool));
    }
    checkMappings(ctx, "dnat44", spec.dnat44);
    checkMappings(ctx, "dnat66", spec.dnat66);
    if (spec.snat66) checkSnat66(ctx, spec.snat66);
    if (spec.inboundSnat66) {
      if (spec.dnat66.length === 0)
        issue(ctx, ["inboundSnat66"], "translates the senders of inbound DNAT66 traffic; there is no dnat66");
      checkDisjoint(ctx, listed(["inboundSnat66", "pool"], spec.inboundSnat66.pool));
    }
    // Only addresses this resource translates may be answered for: answering for any other
    // address on the outside link takes that host's traffic.
    const external: Range[] = [
      ...(spec.snat44?.pool ?? []),
      ...spec.dnat44.map((m) => m.external),
      ...(spec.snat66?.pool ?? []),
      ...(spec.snat66?.nptv6 ? [prefixRange(spec.snat66.nptv6.outside)] : []),
      ...spec.dnat66.map((m) => m.external),
    ];
    spec.proxyNeighbors.forEach((n, i) => {
      if (!external.some((e) => contains(e, n.addresses))) {
        issue(
          ctx,
          ["proxyNeighbors", i, "addresses"],
          `${n.addresses} is not an external address of this resource (snat44.pool, dnat44[].external, snat66.pool, snat66.nptv6.outside or dnat66[].external); answering for it would take another host's traffic`,
        );
      }
      const mac = n.linkLayerAddress;
      if (mac === undefined) return;
      if (!MAC.test(mac)) {
        issue(
          ctx,
          ["proxyNeighbors", i, "linkLayerAddress"],
          `"${mac}" is not a MAC address (six hex pairs, aa:bb:cc:dd:ee:ff)`,
        );
      } else if (Number.parseInt(mac.slice(0, 2), 16) & 1) {
        // IEEE 802: the I/G bit (least significant bit of the first octet) marks a group address.
        issue(
          ctx,
          ["proxyNeighbors", i, "linkLayerAddress"],
          `${mac} is a group (multicast) address; a neighbour answer names one interface (RFC 4861 §4.6.1)`,
        );
      }
    });
    checkDisjoint(
      ctx,
      spec.proxyNeighbors.map((n, i) => ({ path: ["proxyNeighbors", i, "addresses"], value: n.addresses })),
    );
  });

type Mapping = { external: Range; internal: Range };

/** Equal sizes (a static mapping is one to one, RFC 2663 §4.1.1), no address mapped twice. */
function checkMappings(ctx: z.RefinementCtx, field: "dnat44" | "dnat66", maps: readonly Mapping[]): void {
  maps.forEach((m, i) => {
    const a = rangeSize(m.external);
    const b = rangeSize(m.internal);
    if (a !== b) {
      issue(
        ctx,
        [field, i],
        `external ${m.external} holds ${a} addresses but internal ${m.internal} holds ${b}; a static mapping is one to one (RFC 2663 §4.1.1), so both sides need the same size`,
      );
    }
  });
  const side = (key: "external" | "internal") =>
    maps.map((m, i) => ({ path: [field, i, key] as PathKey[], value: m[key] }));
  checkDisjoint(ctx, side("external"));
  checkDisjoint(ctx, side("internal"));
}

type Snat66 = NonNullable<z.output<typeof edgeTranslationSpec>["snat66"]>;

function checkSnat66(ctx: z.RefinementCtx, s: Snat66): void {
  if (s.mode === "pool" && s.pool.length === 0)
    issue(ctx, ["snat66", "pool"], "mode pool translates to the addresses of pool; list at least one");
  if (s.mode !== "pool" && s.pool.length > 0)
    issue(ctx, ["snat66", "pool"], `pool is for mode pool; mode is ${s.mode}`);
  if (s.mode === "nptv6" && !s.nptv6)
    issue(ctx, ["snat66", "nptv6"], "mode nptv6 needs the prefix pair: nptv6: { inside, outside }");
  if (s.mode !== "nptv6" && s.nptv6)
    issue(ctx, ["snat66", "nptv6"], `nptv6 is for mode nptv6; mode is ${s.mode}`);
  checkDisjoint(ctx, listed(["snat66", "pool"], s.pool));
  if (s.nptv6) nptv6Problems(ctx, s.nptv6.inside, s.nptv6.outside);
}

/** RFC 6296: a 1:1, checksum-neutral mapping between two prefixes of one length, /64 or shorter. */
function nptv6Problems(ctx: z.RefinementCtx, inside: Prefix, outside: Prefix): void {
  if (inside.length !== outside.length) {
    issue(
      ctx,
      ["snat66", "nptv6", "outside"],
      `${outside} is a /${outside.length} but inside ${inside} is a /${inside.length}; NPTv6 maps prefixes of one length address for address (RFC 6296 §1, a 1:1 relationship)`,
    );
  }
  for (const [key, p] of [
    ["inside", inside],
    ["outside", outside],
  ] as const) {
    if (p.length > 64) {
      issue(
        ctx,
        ["snat66", "nptv6", key],
        `${p} is longer than /64; translate whole /64 subnets (interface identifiers are 64 bits, RFC 4291 §2.5.1), whose checksum-neutral adjustment lands in the subnet ID or the interface identifier (RFC 6296 §3.4)`,
      );
    }
  }
  if (overlaps(prefixRange(inside), prefixRange(outside)))
    issue(ctx, ["snat66", "nptv6", "outside"], `${outside} overlaps inside ${inside}`);
}

export type EdgeTranslationSpec = z.output<typeof edgeTranslationSpec>;
