// FortiOS: an EdgeTranslation as the seed's FortiGate had it. Per version (capabilities.ts):
//   SNAT44   firewall ippool (one-to-one | overload) + a policy with nat enable (poolname)
//   DNAT44   firewall vip (extip, extintf, mappedip) + a policy whose dstaddr is the vip
//   SNAT66   a policy6 (≤ 6.2.x) or an IPv6 firewall policy (≥ 6.4.0) with nat enable, ippool6
//            for a pool; NPTv6 is ippool6 type nptv6 (≥ 7.6.0 only)
//   DNAT66   firewall vip6 + a policy6 / IPv6 policy whose dstaddr(6) is the vip6; inboundSnat66 is
//            its ippool6 with fixedport (the seed's "DNAT66用SNAT66プール")
//   default  router static (static6) with gateway and device
// From 6.4.0 the IPv6 policies are firewall/policy entries with srcaddr6/dstaddr6 (policy6 is gone);
// each direction and family stays a policy of its own, as an upgrade from 6.2 converts them.
import type { EdgeAssignment } from "../../planner/plan.ts";
import { format, formatRange, overlaps, type Range } from "../../util/net.ts";
import { canonicalPrefix, type DesiredObject, type Diagnostic } from "../model.ts";
import { versionText } from "../version.ts";
import type { FortiCapabilities } from "./capabilities.ts";
import { commentField, markerComment, NAME_PREFIX } from "./objects.ts";

/**
 * A marked object of ours, `name` under `path` (its id), found again by its comment. `keyed`: the
 * name is the object's mkey; otherwise the box numbers it (policies, routes).
 */
function marked(
  owner: string,
  path: string,
  name: string,
  body: Record<string, unknown>,
  dependsOn: string[] = [],
  keyed = true,
): DesiredObject {
  const id = `${path}/${name}`;
  return {
    id,
    owners: [owner],
    path,
    ...(keyed ? { key: name } : {}),
    body: { ...(keyed ? { name } : {}), ...body, [commentField(path)]: markerComment(id) },
    dependsOn,
    ownership: "marked",
    removal: { kind: "delete" },
  };
}

/** `base`, or `base-1`, `base-2` when there are several. */
const numbered = (base: string, i: number, n: number) => (n > 1 ? `${base}-${i + 1}` : base);

const names = (objects: readonly DesiredObject[]) => objects.map((o) => ({ name: o.key! }));

export function edgeTranslation(
  a: EdgeAssignment,
  caps: FortiCapabilities,
  out: Diagnostic[],
): DesiredObject[] {
  const owner = `EdgeTranslation/${a.name}`;
  const s = a.spec;
  const error = (field: string, message: string) =>
    out.push({ severity: "error", subject: owner, message: `spec.${field}: ${message}` });
  const base = `${NAME_PREFIX}${a.name}`;
  const inside = s.insideInterfaces.map((name) => ({ name }));
  const outside = [{ name: s.outsideInterface }];
  const all = [{ name: "all" }];
  const log = s.log ? { logtraffic: "all" } : {};
  const common = { action: "accept", schedule: "always", service: [{ name: "ALL" }], ...log };
  /** One policy of ours; IPv6 goes to policy6 (≤ 6.2.x) or to firewall/policy with the *6 fields. */
  const policy = (
    family: 4 | 6,
    name: string,
    dir: { srcintf: { name: string }[]; dstintf: { name: string }[] },
    dsts: DesiredObject[],
    nat: Record<string, unknown>,
    pools: DesiredObject[],
  ): DesiredObject => {
    const dstaddr = dsts.length ? names(dsts) : all;
    const v6 = family === 6 && !caps.policy6;
    const path = family === 6 && caps.policy6 ? "firewall/policy6" : "firewall/policy";
    const addr = v6 ? { srcaddr6: all, dstaddr6: dstaddr } : { srcaddr: all, dstaddr };
    const pool = pools.length ? { ippool: "enable", [v6 ? "poolname6" : "poolname"]: names(pools) } : {};
    const full = `${NAME_PREFIX}${name}`;
    const body = { name: full, ...dir, ...addr, ...common, ...nat, ...pool };
    return marked(
      owner,
      path,
      full,
      body,
      [...pools, ...dsts].map((o) => o.id),
      false,
    );
  };
  const objects: DesiredObject[] = [];
  /** the objects whose external addresses the box can answer neighbours for, with those addresses */
  const external: External[] = [];
  const outbound = { srcintf: inside, dstintf: outside };
  const inbound = { srcintf: outside, dstintf: inside };

  // SNAT44: RFC 2663 §4.1.1 (one-to-one) or §4.1.2 (overload); no pool = the interface's address.
  if (s.snat44) {
    const pool = s.snat44.pool;
    const pools = pool.map((r, i) =>
      marked(owner, "firewall/ippool", numbered(`${base}-snat44`, i, pool.length), {
        type: s.snat44!.mode === "oneToOne" ? "one-to-one" : "overload",
        startip: format(4, r.first),
        endip: format(4, r.last),
      }),
    );
    objects.push(...pools);
    external.push(...pools.map((o, i) => ({ object: o, range: pool[i]!, answer: "arp-reply" as const })));
    objects.push(policy(4, `snat44-${a.name}`, outbound, [], { nat: "enable" }, pools));
  }
  // DNAT44: static, external -> internal one to one.
  if (s.dnat44.length) {
    const vips = s.dnat44.map((m, i) =>
      marked(owner, "firewall/vip", numbered(`${base}-dnat44`, i, s.dnat44.length), {
        extip: formatRange(m.external),
        extintf: s.outsideInterface,
        mappedip: [{ range: formatRange(m.internal) }],
      }),
    );
    objects.push(...vips);
    external.push(
      ...vips.map((o, i) => ({ object: o, range: s.dnat44[i]!.external, answer: "arp-reply" as const })),
    );
    objects.push(policy(4, `dnat44-${a.name}`, inbound, vips, {}, []));
  }
  // SNAT66: the interface address, a pool, or NPTv6 (RFC 6296; ippool6 type nptv6 from 7.6.0).
  if (s.snat66) {
    let pools: DesiredObject[] = [];
    if (s.snat66.mode === "pool") {
      pools = s.snat66.pool.map((r, i) =>
        marked(owner, "firewall/ippool6", numbered(`${base}-snat66`, i, s.snat66!.pool.length), {
          startip: format(6, r.first),
          endip: format(6, r.last),
        }),
      );
    } else if (s.snat66.nptv6) {
      if (!caps.nptv6) {
        error(
          "snat66.nptv6",
          `FortiOS ${versionText(caps.version)} has no NPTv6 (ippool6 type nptv6 arrives in 7.6.0); use mode interface or pool, or run this translation on a 7.6 FortiGate or an IOS-XE device (nat66 prefix)`,
        );
      } else {
        pools = [
          marked(owner, "firewall/ippool6", `${base}-nptv6`, {
            type: "nptv6",
            "internal-prefix": canonicalPrefix(s.snat66.nptv6.inside),
            "external-prefix": canonicalPrefix(s.snat66.nptv6.outside),
          }),
        ];
      }
    }
    if (s.snat66.mode === "interface" || pools.length) {
      objects.push(...pools);
      objects.push(policy(6, `snat66-${a.name}`, outbound, [], { nat: "enable" }, pools));
    }
  }
  // DNAT66, and the senders of inbound DNAT66 traffic translated into inboundSnat66's pool.
  if (s.dnat66.length) {
    const vips = s.dnat66.map((m, i) =>
      marked(owner, "firewall/vip6", numbered(`${base}-dnat66`, i, s.dnat66.length), {
        extip: formatRange(m.external),
        mappedip: formatRange(m.internal),
      }),
    );
    const pools = (s.inboundSnat66?.pool ?? []).map((r, i, list) =>
      marked(owner, "firewall/ippool6", numbered(`${base}-in66`, i, list.length), {
        startip: format(6, r.first),
        endip: format(6, r.last),
      }),
    );
    objects.push(...vips, ...pools);
    external.push(
      ...vips.map((o, i) => ({ object: o, range: s.dnat66[i]!.external, answer: "ndp-reply" as const })),
    );
    const nat = pools.length ? { nat: "enable", fixedport: "enable" } : {};
    objects.push(policy(6, `dnat66-${a.name}`, inbound, vips, nat, pools));
  }
  answerNeighbours(a, caps, external, error);
  // The default route out of the outside link (the box numbers it: found again by its comment).
  const routes = [
    ["router/static", s.defaultRoute?.ipv4],
    ["router/static6", s.defaultRoute?.ipv6],
  ] as const;
  for (const [path, gateway] of routes) {
    if (gateway)
      objects.push(
        marked(owner, path, base, { gateway: gateway.text, device: s.outsideInterface }, [], false),
      );
  }
  return objects;
}

/** An object of ours holding external addresses, and how FortiOS answers neighbours for them. */
interface External {
  object: DesiredObject;
  range: Range;
  answer: "arp-reply" | "ndp-reply";
}

/**
 * proxyNeighbors on FortiOS: pools and VIPs answer ARP with the FortiGate's own MAC (`arp-reply`);
 * a vip6 answers Neighbor Solicitations only where it has `ndp-reply` (7.0.8–7.0.12, ≥ 7.2.4);
 * ippool6 addresses never. Another box's MAC cannot be given on any version.
 */
function answerNeighbours(
  a: EdgeAssignment,
  caps: FortiCapabilities,
  external: readonly External[],
  error: (field: string, message: string) => void,
): void {
  a.spec.proxyNeighbors.forEach((n, i) => {
    const field = `proxyNeighbors[${i}]`;
    if (n.linkLayerAddress !== undefined) {
      error(
        `${field}.linkLayerAddress`,
        `FortiOS answers ARP and Neighbor Solicitations with its own MAC only; it cannot answer as ${n.linkLayerAddress}`,
      );
      return;
    }
    const hit = external.filter((e) => overlaps(e.range, n.addresses));
    if (hit.length === 0) {
      error(
        `${field}.addresses`,
        `FortiOS answers no Neighbor Solicitation for ippool6 addresses (${n.addresses}); only a vip6 (dnat66) has ndp-reply`,
      );
    } else if (n.addresses.family === 6 && !caps.vip6NdpReply) {
      error(
        `${field}.addresses`,
        `FortiOS ${versionText(caps.version)} has no vip6 ndp-reply (7.0.8–7.0.12 and 7.2.4+): it does not answer Neighbor Solicitations for ${n.addresses}; upgrade and set it, route the range to the FortiGate on the upstream, or add static neighbours there`,
      );
    } else for (const e of hit) e.object.body[e.answer] = "enable";
  });
}
