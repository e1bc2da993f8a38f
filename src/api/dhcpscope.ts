// DhcpScope: a DHCPv4 scope (RFC 2131/2132) with option 108, IPv6-Only Preferred (RFC 8925).
import { z } from "zod";
import { contains, format, inRange, prefixRange } from "../util/net.ts";
import { duration } from "./duration.ts";
import { interfaceName, ipv4Address, localRef, nodeSelector, prefix, range } from "./fields.ts";
import { checkDisjoint, checkNodeInterface, issue, listed } from "./rules.ts";

/** RFC 8925 §3.4: MIN_V6ONLY_WAIT. */
export const MIN_V6ONLY_WAIT = 300;

/**
 * Options the server fills in itself from the scope's fields or the protocol; a raw `options`
 * entry must not fight them.
 */
export const MANAGED_OPTIONS: Record<number, string> = {
  1: "subnet mask (from subnet)",
  3: "router (from router)",
  6: "DNS servers (from dnsServers)",
  15: "domain name (from domainName)",
  50: "requested address (client only)",
  51: "lease time (from leaseTime)",
  52: "option overload (protocol)",
  53: "message type (protocol)",
  54: "server identifier (protocol)",
  55: "parameter request list (client only)",
  58: "renewal time (from leaseTime)",
  59: "rebinding time (from leaseTime)",
  61: "client identifier (client only)",
  108: "IPv6-Only Preferred (from ipv6OnlyPreferred)",
};

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

export const dhcpScopeSpec = z
  .strictObject({
    interface: interfaceName("the interface the scope serves"),
    subnet: prefix(4, "the IPv4 subnet of the link, e.g. 192.0.2.0/24"),
    ranges: z
      .array(range(4, "addresses to lease: a range a-b, a CIDR or one address"))
      .min(1)
      .describe("the dynamic pools"),
    exclude: z.array(range(4, "addresses never leased: a range a-b, a CIDR or one address")).default([]),
    router: ipv4Address("the default gateway (option 3)").optional(),
    serverAddress: ipv4Address(
      "the server's own address on the link (option 54, the source of replies); in cluster mode it moves with the node that serves the scope, so clients renew without waiting for T2; default: the interface's first address in subnet",
    ).optional(),
    dnsServers: z.array(ipv4Address("a DNS server (option 6)")).default([]),
    domainName: z.string().min(1).max(253).optional().describe("option 15"),
    leaseTime: duration()
      .refine((v) => v >= 60, { error: (i) => `${i.input}s is too short a lease; use at least 60s` })
      .default(3600)
      .describe("option 51; T1 and T2 (options 58, 59) are 50% and 87.5% of it"),
    // single-field rules sit on the field: they are reported even when another field fails
    // (a spec-wide refinement runs only once every field has parsed)
    ipv6OnlyPreferred: duration()
      .refine((v) => v >= MIN_V6ONLY_WAIT, {
        // RFC 8925 §3.4: a V6ONLY_WAIT below MIN_V6ONLY_WAIT is raised to it by clients; say so instead.
        error: (i) =>
          `${i.input}s is below MIN_V6ONLY_WAIT, 300 s (RFC 8925 §3.4); clients would wait 300 s anyway`,
      })
      .optional()
      .describe("option 108 V6ONLY_WAIT (RFC 8925), at least 300 s; omitted = option not sent"),
    reservations: z
      .array(
        z.strictObject({
          mac: z.string().describe("the client's hardware address, aa:bb:cc:dd:ee:ff"),
          address: ipv4Address("the address reserved for it"),
          hostname: z.string().optional(),
        }),
      )
      .default([]),
    options: z
      .array(
        z.strictObject({
          code: z.number().int().min(1).max(254).describe("DHCP option code"),
          hex: z.string().describe("the option's value as hex bytes, e.g. 0104c0a80101"),
        }),
      )
      .default([])
      .describe("raw options sent to every client"),
    maxLeasesPerMinute: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        "new bindings per minute on the interface, for clients the server does not know yet (renewals and reservations are not counted); a flood of new MACs or client identifiers binds no faster. Default: a quarter of the pool",
      ),
    poolReservePercent: z
      .number()
      .int()
      .min(0)
      .max(50)
      .default(10)
      .describe(
        "percent of the pool kept for clients that answer this server's OFFER: a REQUEST for an address it was not offered (a blind claim) never takes the last ones",
      ),
    nodeSelector: nodeSelector.default({}),
    deviceRef: localRef("ExternalDevice").optional(),
  })
  .superRefine((spec, ctx) => {
    checkNodeInterface(ctx, ["interface"], spec.interface, spec.deviceRef);
    const subnet = prefixRange(spec.subnet);
    const hosts =
      spec.subnet.length >= 31 ? subnet : { ...subnet, first: subnet.first + 1n, last: subnet.last - 1n };
    const where = `${spec.subnet}'s usable addresses ${format(4, hosts.first)}-${format(4, hosts.last)}`;
    spec.ranges.forEach((r, i) => {
      if (!contains(hosts, r)) issue(ctx, ["ranges", i], `${r} is not inside ${where}`);
    });
    checkDisjoint(ctx, listed(["ranges"], spec.ranges));
    spec.exclude.forEach((r, i) => {
      if (!contains(subnet, r)) issue(ctx, ["exclude", i], `${r} is not inside ${spec.subnet}`);
    });
    /** an address of the subnet's own (router, server) must be usable and never leased */
    const own = (field: "router" | "serverAddress") => {
      const a = spec[field];
      if (a === undefined) return;
      if (!inRange(hosts, 4, a.value)) issue(ctx, [field], `${a} is not inside ${where}`);
      else if (
        spec.ranges.some((p) => inRange(p, 4, a.value)) &&
        !spec.exclude.some((x) => inRange(x, 4, a.value))
      ) {
        issue(ctx, [field], `${a} lies inside ranges and would be leased to a client: add it to exclude`);
      }
    };
    own("router");
    own("serverAddress");
    const macs = new Map<string, number>();
    const addrs = new Map<string, number>();
    spec.reservations.forEach((res, i) => {
      if (!MAC.test(res.mac)) {
        issue(
          ctx,
          ["reservations", i, "mac"],
          `"${res.mac}" is not a MAC address (six hex pairs, aa:bb:cc:dd:ee:ff)`,
        );
      } else {
        const mac = res.mac.toLowerCase().replaceAll("-", ":");
        const before = macs.get(mac);
        if (before !== undefined)
          issue(ctx, ["reservations", i, "mac"], `${res.mac} is reserved twice (reservations[${before}])`);
        macs.set(mac, i);
      }
      const a = res.address.value;
      if (!inRange(hosts, 4, a))
        issue(ctx, ["reservations", i, "address"], `${res.address} is not inside ${where}`);
      if (spec.router !== undefined && a === spec.router.value) {
        issue(ctx, ["reservations", i, "address"], `${res.address} is the router's address`);
      }
      if (spec.serverAddress !== undefined && a === spec.serverAddress.value) {
        issue(ctx, ["reservations", i, "address"], `${res.address} is the server's address`);
      }
      const key = format(4, a);
      const before = addrs.get(key);
      if (before !== undefined)
        issue(
          ctx,
          ["reservations", i, "address"],
          `${res.address} is reserved twice (reservations[${before}])`,
        );
      addrs.set(key, i);
    });

    const codes = new Map<number, number>();
    spec.options.forEach((o, i) => {
      const managed = MANAGED_OPTIONS[o.code];
      if (managed)
        issue(
          ctx,
          ["options", i, "code"],
          `option ${o.code} is ${managed}; it cannot be set as a raw option`,
        );
      const before = codes.get(o.code);
      if (before !== undefined)
        issue(ctx, ["options", i, "code"], `option ${o.code} is listed twice (options[${before}])`);
      codes.set(o.code, i);
      const hex = o.hex.replace(/[:\s.]/g, "");
      if (!/^([0-9a-f]{2})*$/i.test(hex)) {
        issue(
          ctx,
          ["options", i, "hex"],
          `"${o.hex}" is not hex bytes (pairs of 0-9 a-f, e.g. 0104c0a80101)`,
        );
      } else if (hex.length === 0 || hex.length / 2 > 255) {
        issue(
          ctx,
          ["options", i, "hex"],
          `an option value is 1 to 255 bytes (RFC 2132 §2); this one is ${hex.length / 2}`,
        );
      }
    });
  });

export type DhcpScopeSpec = z.output<typeof dhcpScopeSpec>;
