// RouterAdvert: RFC 4861 Router Advertisements with RFC 8106 RDNSS/DNSSL, RFC 8781 PREF64 and
// RFC 4191 Route Information and default router preference.
import { z } from "zod";
import { isLinkLocal6, isMulticast } from "../util/net.ts";
import { duration, formatDuration } from "./duration.ts";
import { interfaceName, ipv6Address, localRef, nodeSelector, prefix } from "./fields.ts";
import { pref64 } from "./nat64gateway.ts";
import { checkNodeInterface, issue, type PathKey } from "./rules.ts";

/** RFC 8781 §4: the PREF64 option's lifetime is 13 bits in units of 8 s. */
export const PREF64_MAX_LIFETIME = 8191 * 8;
/** RFC 4861 §6.2.1 as updated by RFC 8319: AdvDefaultLifetime is at most 65535 s. */
export const MAX_ROUTER_LIFETIME = 65535;
export const INFINITY = 0xffffffff;

const preference = z.enum(["high", "medium", "low"]).default("medium").describe("RFC 4191 preference");

const prefixInfo = z
  .strictObject({
    prefix: prefix(6, "an on-link IPv6 prefix, /64 for SLAAC"),
    onLink: z.boolean().default(true).describe("L flag: the prefix is on this link"),
    autonomous: z.boolean().default(true).describe("A flag: hosts form addresses in it (SLAAC)"),
    validLifetime: duration({ infinity: true }).default(2592000).describe('seconds, or "infinity"'),
    preferredLifetime: duration({ infinity: true }).default(604800).describe('seconds, or "infinity"'),
  })
  .describe("a Prefix Information option (RFC 4861 §4.6.2)");

const domainName = z
  .string()
  .describe("a DNS search domain")
  .superRefine((t, ctx) => {
    const name = t.endsWith(".") ? t.slice(0, -1) : t;
    const labels = name.split(".");
    if (
      name.length === 0 ||
      name.length > 253 ||
      labels.some((l) => !/^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l))
    ) {
      ctx.addIssue({
        code: "custom",
        message: `"${t}" is not a domain name (labels of 1 to 63 letters, digits or "-", dot-separated)`,
      });
    }
  });

export const routerAdvertSpec = z
  .strictObject({
    interface: interfaceName("the interface to advertise on"),
    prefixes: z.array(prefixInfo).default([]),
    rdnss: z
      .array(
        z.strictObject({
          address: ipv6Address("a recursive DNS server's IPv6 address"),
          lifetime: duration({ infinity: true })
            .optional()
            .describe("default 3 × interval.max (RFC 8106 §5.1)"),
        }),
      )
      .default([])
      .describe("Recursive DNS Server options (RFC 8106)"),
    dnssl: z
      .array(
        z.strictObject({
          domain: domainName,
          lifetime: duration({ infinity: true })
            .optional()
            .describe("default 3 × interval.max (RFC 8106 §5.2)"),
        }),
      )
      .default([])
      .describe("DNS Search List options (RFC 8106)"),
    pref64: z
      .strictObject({
        prefix: pref64.optional(),
        nat64GatewayRef: localRef("Nat64Gateway whose prefix to announce").optional(),
        lifetime: duration().optional().describe("at most 65528 s; default 3 × interval.max (RFC 8781 §4)"),
      })
      .optional()
      .describe("the PREF64 option (RFC 8781): tells clients the NAT64 prefix"),
    routes: z
      .array(
        z.strictObject({
          prefix: prefix(6, "a prefix reachable through this router"),
          preference,
          lifetime: duration({ infinity: true }).optional().describe("default 3 × interval.max"),
        }),
      )
      .default([])
      .describe(
        "Route Information options (RFC 4191), e.g. the PREF64 route while another router stays default",
      ),
    fateSharing: z
      .boolean()
      .default(true)
      .describe(
        "while the Nat64Gateway with the PREF64's prefix is not running on this host, withdraw the PREF64 and the routes into that prefix (lifetime 0 once, RFC 8781 §4, RFC 4191), then leave them out; they return when it runs again",
      ),
    defaultRouter: z
      .strictObject({
        lifetime: duration().default(1800).describe("router lifetime; 0 = not a default router"),
        preference,
      })
      .default({ lifetime: 1800, preference: "medium" }),
    mtu: z.number().int().min(1280).max(65535).optional().describe("MTU option; omitted = not sent"),
    hopLimit: z
      .number()
      .int()
      .min(0)
      .max(255)
      .default(64)
      .describe("Cur Hop Limit for hosts; 0 = unspecified"),
    managed: z.boolean().default(false).describe("M flag: addresses from DHCPv6"),
    otherConfig: z.boolean().default(false).describe("O flag: other configuration from DHCPv6"),
    interval: z
      .strictObject({
        min: duration().optional().describe("MinRtrAdvInterval; default max / 3"),
        max: duration().default(600).describe("MaxRtrAdvInterval, 4 to 1800 s"),
      })
      .default({ max: 600 }),
    nodeSelector: nodeSelector.default({}),
    deviceRef: localRef("ExternalDevice").optional(),
  })
  .superRefine((spec, ctx) => {
    checkNodeInterface(ctx, ["interface"], spec.interface, spec.deviceRef);
    const max = spec.interval.max;
    // RFC 4861 §6.2.1: MaxRtrAdvInterval 4..1800 s; MinRtrAdvInterval 3 s..0.75 × Max.
    if (max < 4 || max > 1800) {
      issue(ctx, ["interval", "max"], `${max}s is outside 4s to 1800s (RFC 4861 §6.2.1, MaxRtrAdvInterval)`);
    }
    const min = spec.interval.min;
    if (min !== undefined && (min < 3 || min > 0.75 * max)) {
      issue(
        ctx,
        ["interval", "min"],
        `${min}s is outside 3s to 0.75 × max = ${Math.floor(0.75 * max)}s (RFC 4861 §6.2.1, MinRtrAdvInterval)`,
      );
    }
    const life = spec.defaultRouter.lifetime;
    if (life !== 0 && (life < max || life > MAX_ROUTER_LIFETIME)) {
      issue(
        ctx,
        ["defaultRouter", "lifetime"],
        `${formatDuration(life)} must be 0 (not a default router) or between interval.max (${formatDuration(max)}) and 65535s (RFC 4861 §6.2.1, RFC 8319)`,
      );
    }
    if (life === 0 && spec.defaultRouter.preference !== "medium") {
      issue(ctx, ["defaultRouter", "preference"], "must be medium when lifetime is 0 (RFC 4191 §2.2)");
    }
    spec.prefixes.forEach((p, i) => {
      if (p.autonomous && p.prefix.length !== 64) {
        issue(
          ctx,
          ["prefixes", i, "prefix"],
          `hosts ignore a /${p.prefix.length} for SLAAC: prefix plus the 64-bit interface identifier must make 128 bits (RFC 4862 §5.5.3); use a /64 or set autonomous: false`,
        );
      }
      if (isLinkLocal6(p.prefix.network))
        issue(ctx, ["prefixes", i, "prefix"], "a link-local prefix is never advertised (RFC 4861 §6.2.3)");
      if (isMulticast(6, p.prefix.network))
        issue(ctx, ["prefixes", i, "prefix"], "a multicast prefix cannot be on-link");
      if (p.preferredLifetime > p.validLifetime) {
        issue(
          ctx,
          ["prefixes", i, "preferredLifetime"],
          "is longer than validLifetime; hosts ignore such a prefix (RFC 4862 §5.5.3 c)",
        );
      }
    });
    spec.rdnss.forEach((r, i) => {
      if (r.address.value === 0n || isMulticast(6, r.address.value)) {
        issue(ctx, ["rdnss", i, "address"], `${r.address} cannot be a DNS server's address`);
      }
      lifetimeVersusInterval(ctx, ["rdnss", i, "lifetime"], r.lifetime, max, "RFC 8106 §5.1");
    });
    spec.dnssl.forEach((d, i) => {
      lifetimeVersusInterval(ctx, ["dnssl", i, "lifetime"], d.lifetime, max, "RFC 8106 §5.2");
    });
    if (spec.pref64) {
      const p = spec.pref64;
      if (p.prefix === undefined && p.nat64GatewayRef === undefined) {
        issue(ctx, ["pref64", "prefix"], "set prefix (the PREF64 to announce) or nat64GatewayRef");
      }
      if (p.prefix !== undefined && p.nat64GatewayRef !== undefined) {
        issue(ctx, ["pref64", "nat64GatewayRef"], "set prefix or nat64GatewayRef, not both");
      }
      if (p.lifetime !== undefined && p.lifetime > PREF64_MAX_LIFETIME) {
        issue(
          ctx,
          ["pref64", "lifetime"],
          `${p.lifetime}s is more than the PREF64 option can carry: at most 65528s (RFC 8781 §4, 13 bits in units of 8 s)`,
        );
      }
      lifetimeVersusInterval(ctx, ["pref64", "lifetime"], p.lifetime, max, "RFC 8781 §4");
    }
    spec.routes.forEach((r, i) => {
      lifetimeVersusInterval(ctx, ["routes", i, "lifetime"], r.lifetime, max, "RFC 4191 §2.3");
    });
  });

/**
 * An option whose lifetime is shorter than the time between two RAs expires on the hosts before
 * it is refreshed: clients lose their DNS server or PREF64 between advertisements.
 */
function lifetimeVersusInterval(
  ctx: z.RefinementCtx,
  path: PathKey[],
  lifetime: number | undefined,
  max: number,
  rfc: string,
) {
  if (lifetime === undefined || lifetime === 0) return;
  if (lifetime < max) {
    issue(
      ctx,
      path,
      `${formatDuration(lifetime)} is shorter than interval.max (${formatDuration(max)}): hosts would drop it between advertisements (${rfc}; 3 × interval.max is the usual value)`,
    );
  }
}

export type RouterAdvertSpec = z.output<typeof routerAdvertSpec>;
