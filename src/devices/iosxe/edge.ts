// IOS-XE: an EdgeTranslation where IOS-XE has the feature, refused by field where it has not.
//   SNAT44   ip nat pool + ip nat inside source list <ACL> pool <pool> [overload], or
//            ip nat inside source list <ACL> interface <outside> overload (the interface address);
//            the standard ACL permits the inside interfaces' IPv4 subnets
//   DNAT44   ip nat inside source static <internal> <external>, one per address
//   NPTv6    nat66 prefix inside <P> outside <Q> (RFC 6296), nat66 inside|outside on the interfaces
//   default  ip route 0.0.0.0 0.0.0.0 <gw>, ipv6 route ::/0 <gw>
//   ip nat inside|outside on the interfaces
// IOS-XE has no stateful NAT66 (an interface address or a pool) and no NAT66 of address ranges:
// snat66 modes interface and pool, dnat66 and inboundSnat66 are refused, naming the field.
import type { EdgeAssignment } from "../../planner/plan.ts";
import { format, parsePrefix, prefixRange, rangeSize } from "../../util/net.ts";
import type { DesiredObject, Diagnostic, InterfaceFacts } from "../model.ts";
import { canonicalPrefix, network4 } from "../model.ts";
import { IP_NAT_MODELLED, NAT66_MODELLED } from "./capabilities.ts";
import {
  canonicalName,
  cliObject,
  encodeKey,
  interfacePath,
  NAME_PREFIX,
  NATIVE,
  splitInterface,
} from "./objects.ts";

/** More static entries than this would be a configuration nobody reads; IOS has no range form. */
export const MAX_STATIC_NAT = 1024;

const NAT = `${NATIVE}/ip/Cisco-IOS-XE-nat:nat`;
const up = (t: string) => t.toUpperCase();

function ledger(
  owner: string,
  id: string,
  path: string,
  body: Record<string, unknown>,
  cli: DesiredObject["cli"],
  dependsOn: string[] = [],
): DesiredObject {
  return {
    id,
    owners: [owner],
    path,
    body,
    dependsOn,
    ownership: "ledger",
    removal: { kind: "delete" },
    cli,
  };
}

export function edgeTranslation(
  a: EdgeAssignment,
  interfaces: readonly InterfaceFacts[],
  out: Diagnostic[],
): DesiredObject[] {
  const owner = `EdgeTranslation/${a.name}`;
  const s = a.spec;
  const error = (field: string, message: string) =>
    out.push({ severity: "error", subject: owner, message: `spec.${field}: ${message}` });
  const objects: DesiredObject[] = [];
  const inside = s.insideInterfaces.map(canonicalName);
  const outside = canonicalName(s.outsideInterface);

  // What IOS-XE lacks: stateful NAT66 and NAT66 of ranges.
  if (s.snat66 && s.snat66.mode !== "nptv6") {
    error(
      "snat66.mode",
      `IOS-XE has no stateful NAT66 (${s.snat66.mode === "pool" ? "a pool" : "the interface address"}); it translates IPv6 by prefix only: use mode nptv6 (nat66 prefix, RFC 6296), or run this translation on a FortiGate`,
    );
  }
  if (s.dnat66.length)
    error(
      "dnat66",
      "IOS-XE has no NAT66 of address ranges (only NPTv6, nat66 prefix); run DNAT66 on a FortiGate",
    );
  if (s.inboundSnat66)
    error(
      "inboundSnat66",
      "IOS-XE has no stateful NAT66 to translate inbound senders with; run it on a FortiGate",
    );
  s.proxyNeighbors.forEach((n, i) => {
    if (n.linkLayerAddress !== undefined)
      error(
        `proxyNeighbors[${i}].linkLayerAddress`,
        `IOS-XE answers ARP and Neighbor Solicitations with its own MAC only; it cannot answer as ${n.linkLayerAddress}`,
      );
  });
  if (s.log)
    out.push({
      severity: "warning",
      subject: owner,
      message: "IOS-XE NAT logging (ip nat log translations) is not pushed by v6mostly; log is left out",
    });

  const v4 = s.snat44 !== undefined || s.dnat44.length > 0;
  const nptv6 = s.snat66?.mode === "nptv6" ? s.snat66.nptv6 : undefined;
  // ip nat inside|outside, nat66 inside|outside on the interfaces (YANG where modelled, else the CLI RPC).
  for (const [ifname, role] of [
    ...inside.map((i) => [i, "inside"] as const),
    [outside, "outside"] as const,
  ]) {
    const type = splitInterface(ifname)?.type ?? "";
    const settings = [
      ...(v4
        ? [
            {
              modelled: IP_NAT_MODELLED,
              path: "ip/Cisco-IOS-XE-nat:nat",
              value: { [role]: [null] },
              cli: `ip nat ${role}`,
            },
          ]
        : []),
      ...(nptv6
        ? [{ modelled: NAT66_MODELLED, path: "Cisco-IOS-XE-nat:nat66", value: role, cli: `nat66 ${role}` }]
        : []),
    ];
    const cliOnly: string[] = [];
    for (const x of settings) {
      if (!x.modelled.has(type)) {
        cliOnly.push(x.cli);
        continue;
      }
      const leaf = x.path.slice(x.path.lastIndexOf(":") + 1);
      objects.push(
        ledger(
          owner,
          `${leaf}/interface/${ifname}`,
          `${interfacePath(ifname)}/${x.path}`,
          { [`Cisco-IOS-XE-nat:${leaf}`]: x.value },
          { parent: `interface ${ifname}`, lines: [x.cli] },
        ),
      );
    }
    if (cliOnly.length)
      objects.push(
        cliObject(
          owner,
          ifname,
          cliOnly,
          cliOnly.map((l) => `no ${l}`),
        ),
      );
  }

  if (s.snat44) objects.push(...snat44(a, inside, outside, interfaces, error));

  // DNAT44: IOS's static inside NAT is one address per entry (RFC 2663 §4.1.1 static mapping).
  const statics = s.dnat44.reduce((n, m) => n + rangeSize(m.external), 0n);
  if (statics > BigInt(MAX_STATIC_NAT)) {
    error(
      "dnat44",
      `${statics} addresses: IOS-XE writes one ip nat inside source static per address; v6mostly sends at most ${MAX_STATIC_NAT}`,
    );
  } else {
    for (const m of s.dnat44) {
      for (let k = 0n; k < rangeSize(m.external); k++) {
        const local = format(4, m.internal.first + k);
        const global = format(4, m.external.first + k);
        objects.push(
          ledger(
            owner,
            `nat/static/${local}/${global}`,
            `${NAT}/inside/source/static/nat-static-transport-list=${local},${global}`,
            { "Cisco-IOS-XE-nat:nat-static-transport-list": [{ "local-ip": local, "global-ip": global }] },
            { lines: [`ip nat inside source static ${local} ${global}`] },
          ),
        );
      }
    }
  }

  if (nptv6) {
    const [i, o] = [up(canonicalPrefix(nptv6.inside)), up(canonicalPrefix(nptv6.outside))];
    objects.push(
      ledger(
        owner,
        `nat66/prefix/${i}`,
        `${NATIVE}/Cisco-IOS-XE-nat:nat66/prefix/inside-no-vrf/inside=${encodeKey(i)}`,
        { "Cisco-IOS-XE-nat:inside": [{ "inside-pfx": i, outside: o }] },
        { lines: [`nat66 prefix inside ${i} outside ${o}`] },
        ["ipv6/unicast-routing"],
      ),
    );
  }

  const v4gw = s.defaultRoute?.ipv4;
  if (v4gw) {
    objects.push(
      ledger(
        owner,
        "route/ipv4/default",
        `${NATIVE}/ip/route/ip-route-interface-forwarding-list=0.0.0.0,0.0.0.0`,
        {
          "Cisco-IOS-XE-native:ip-route-interface-forwarding-list": [
            { prefix: "0.0.0.0", mask: "0.0.0.0", "fwd-list": [{ fwd: format(4, v4gw.value) }] },
          ],
        },
        { lines: [`ip route 0.0.0.0 0.0.0.0 ${format(4, v4gw.value)}`] },
      ),
    );
  }
  const v6gw = s.defaultRoute?.ipv6;
  if (v6gw) {
    const gw = up(format(6, v6gw.value));
    objects.push(
      ledger(
        owner,
        "route/ipv6/default",
        `${NATIVE}/ipv6/route/ipv6-route-list=${encodeKey("::/0")}`,
        { "Cisco-IOS-XE-native:ipv6-route-list": [{ prefix: "::/0", "ipv6-fwd-list": [{ fwd: gw }] }] },
        { lines: [`ipv6 route ::/0 ${gw}`] },
        ["ipv6/unicast-routing"],
      ),
    );
  }
  return objects;
}

/**
 * SNAT44: IOS translates the sources a standard ACL permits (here the inside interfaces' IPv4
 * subnets), to a pool (one-to-one without overload, RFC 2663 §4.1.1; NAPT with, §4.1.2) or to the
 * outside interface's address.
 */
function snat44(
  a: EdgeAssignment,
  inside: readonly string[],
  outside: string,
  interfaces: readonly InterfaceFacts[],
  error: (field: string, message: string) => void,
): DesiredObject[] {
  const owner = `EdgeTranslation/${a.name}`;
  const s = a.spec;
  const snat = s.snat44!;
  const facts = (name: string) => interfaces.find((i) => canonicalName(i.name) === name)?.addresses ?? [];
  const subnets = inside.flatMap((name) => facts(name).flatMap((t) => ipv4Subnet(t) ?? []));
  if (subnets.length === 0) {
    error(
      "insideInterfaces",
      `IOS-XE translates the sources an access list permits, and no IPv4 subnet of ${inside.join(", ")} is known: list the box's interfaces in the ExternalDevice's spec.interfaces`,
    );
    return [];
  }
  const acl = `${NAME_PREFIX}edge-${a.name}`;
  const rules = subnets.map((n, i) => ({
    sequence: String((i + 1) * 10), // uint64: RFC 7951 §6.1 encodes it as a JSON string
    permit: { "std-ace": { "ipv4-address-prefix": n.number, mask: n.wildcard } },
  }));
  const objects: DesiredObject[] = [
    ledger(
      owner,
      `acl/${acl}`,
      `${NATIVE}/ip/access-list/Cisco-IOS-XE-acl:standard=${encodeKey(acl)}`,
      { "Cisco-IOS-XE-acl:standard": [{ name: acl, "access-list-seq-rule": rules }] },
      {
        lines: [
          `ip access-list standard ${acl}`,
          ...rules.map(
            (r) =>
              ` ${r.sequence} permit ${r.permit["std-ace"]["ipv4-address-prefix"]} ${r.permit["std-ace"].mask}`,
          ),
        ],
      },
    ),
  ];
  const overload = snat.mode === "overload" ? { "overload-new": [null] } : {};
  const word = snat.mode === "overload" ? " overload" : "";
  const pool = snat.pool[0];
  if (!pool) {
    objects.push(
      ledger(
        owner,
        `nat/source/${acl}`,
        `${NAT}/inside/source/list-interface/list=${encodeKey(acl)}`,
        { "Cisco-IOS-XE-nat:list": [{ id: acl, interface: [{ name: outside, "overload-new": [null] }] }] },
        { lines: [`ip nat inside source list ${acl} interface ${outside} overload`] },
        [`acl/${acl}`, `nat/interface/${outside}`],
      ),
    );
    return objects;
  }
  if (snat.pool.length > 1)
    error("snat44.pool", `IOS-XE's ip nat pool is one start-end range; pool lists ${snat.pool.length}`);
  // The pool's netmask: the outside interface's subnet when it holds the pool, else the smallest prefix that does.
  const onLink = facts(outside)
    .flatMap((t) => ipv4Subnet(t) ?? [])
    .find((n) => n.range.first <= pool.first && pool.last <= n.range.last);
  const length = onLink?.length ?? Math.min(30, 32 - (pool.first ^ pool.last).toString(2).length);
  const name = `${NAME_PREFIX}${a.name}-snat44`;
  const [start, end] = [format(4, pool.first), format(4, pool.last)];
  objects.push(
    ledger(
      owner,
      `nat/pool/${name}`,
      `${NAT}/pool=${encodeKey(name)}`,
      {
        "Cisco-IOS-XE-nat:pool": [
          { id: name, "start-address": start, "end-address": end, "prefix-length": length },
        ],
      },
      { lines: [`ip nat pool ${name} ${start} ${end} prefix-length ${length}`] },
    ),
    ledger(
      owner,
      `nat/source/${acl}`,
      `${NAT}/inside/source/list-pool/list=${encodeKey(acl)}`,
      { "Cisco-IOS-XE-nat:list": [{ id: acl, pool: [{ name, ...overload }] }] },
      { lines: [`ip nat inside source list ${acl} pool ${name}${word}`] },
      [`acl/${acl}`, `nat/pool/${name}`],
    ),
  );
  return objects;
}

/** "172.16.1.253/24" → its network, wildcard mask, length and span; undefined for IPv6 or junk. */
function ipv4Subnet(text: string) {
  const p = parsePrefix(text, 4, false);
  if (!p.ok) return undefined;
  const { number, mask } = network4(p.value);
  const wildcard = mask
    .split(".")
    .map((o) => 255 - Number(o))
    .join(".");
  return { number, wildcard, length: p.value.length, range: prefixRange(p.value) };
}
