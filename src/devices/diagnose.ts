// The mistakes the seed's author spent weeks on, said up front.
//  - The NAT64 ACL (allowedSources) must cover the clients' prefix, or their traffic to the PREF64
//    is not translated (IOS-XE dynamic NAT64 translates only sources the ACL permits).
//  - A source inside the NAT64 prefix is dropped (IOS-XE stateful NAT64 restriction; RFC 6052 §5.1
//    leaves such addresses untranslatable), so clients must not number from it and the ACL must not
//    reach into it (a CLAT that sources from the prefix would be caught and then dropped).
//  - FortiOS before 7.0.8 (and 7.2.0-7.2.3) has no vip6 `ndp-reply`: it does not answer Neighbor
//    Solicitations for VIP6 addresses (shared/devices/fortios-notes.md, "VIP6 and Neighbor Solicitation").

import type { DeviceTarget, Nat64Assignment, RaAssignment } from "../planner/plan.ts";
import { contains, overlaps, type Prefix, prefixRange } from "../util/net.ts";
import { capabilities } from "./fortios/capabilities.ts";
import type { Diagnostic } from "./model.ts";
import { type Version, versionText } from "./version.ts";

const coversRange = (outer: Prefix, inner: Prefix) => contains(prefixRange(outer), prefixRange(inner));
const overlapsRange = (x: Prefix, y: Prefix) => overlaps(prefixRange(x), prefixRange(y));

export function diagnose(target: DeviceTarget, vendor: "fortios" | "iosxe"): Diagnostic[] {
  const out: Diagnostic[] = [];
  const gateways = target.assignments.filter(
    (a): a is Nat64Assignment => a.kind === "Nat64Gateway" && a.spec.mode === "stateful",
  );
  const ras = target.assignments.filter((a): a is RaAssignment => a.kind === "RouterAdvert");
  for (const g of gateways) {
    const subject = `Nat64Gateway/${g.name}`;
    const acl = vendor === "iosxe" ? "the NAT64 ACL" : "the NAT64 policy's sources";
    for (const ra of ras) {
      for (const p of ra.spec.prefixes) {
        if (!p.autonomous) continue;
        if (!g.spec.allowedSources.some((src) => coversRange(src, p.prefix))) {
          out.push({
            severity: "warning",
            subject,
            message: `clients on ${ra.spec.interface} number themselves from ${p.prefix} (RouterAdvert/${ra.name}) but ${acl} (allowedSources ${g.spec.allowedSources.join(", ")}) does not cover it: their traffic to ${g.spec.prefix} would not be translated; add ${p.prefix} to allowedSources`,
          });
        }
        if (overlapsRange(p.prefix, g.spec.prefix)) {
          out.push({
            severity: "error",
            subject,
            message: `RouterAdvert/${ra.name} hands out ${p.prefix}, which overlaps the NAT64 prefix ${g.spec.prefix}: a source inside the NAT64 prefix is dropped, not translated; number clients from a prefix outside it`,
          });
        }
      }
      if (ra.resolved.pref64 && ra.resolved.pref64.prefix.network !== g.spec.prefix.network) {
        out.push({
          severity: "warning",
          subject: `RouterAdvert/${ra.name}`,
          message: `announces PREF64 ${ra.resolved.pref64.prefix} but Nat64Gateway/${g.name} on this device translates ${g.spec.prefix}: a CLAT would send to a prefix nobody translates`,
        });
      }
    }
    for (const src of g.spec.allowedSources) {
      if (overlapsRange(src, g.spec.prefix)) {
        out.push({
          severity: "error",
          subject,
          message: `${acl} permits ${src}, which reaches into the NAT64 prefix ${g.spec.prefix}: it would catch a CLAT's source taken from the prefix, and such a source is dropped, not translated; give the CLAT an address outside ${g.spec.prefix} and narrow allowedSources to the clients' prefix`,
        });
      }
    }
  }
  return out;
}

/** A vip6 on the box, as `device plan` reads it. */
export interface Vip6 {
  name: string;
  extip: string;
  "ndp-reply"?: string;
}

/** FortiOS VIP6 and Neighbor Discovery: what the box will not do, and what to do instead. */
export function diagnoseVip6(version: Version, vips: readonly Vip6[], uplinkAddress?: string): Diagnostic[] {
  const caps = capabilities(version);
  const out: Diagnostic[] = [];
  for (const v of vips) {
    const subject = `vip6 ${v.name}`;
    if (!caps.vip6NdpReply) {
      out.push({
        severity: "warning",
        subject,
        message: `FortiOS ${versionText(version)} has no ndp-reply on vip6 (it arrives in 7.0.8, and in 7.2.4 on 7.2): the FortiGate does not answer Neighbor Solicitations for ${v.extip}, so the upstream cannot reach it. Instead: route ${v.extip} on the upstream router to the FortiGate's own address${uplinkAddress ? ` (${uplinkAddress})` : ""} so no ND is needed, or add static neighbour entries on the upstream, or upgrade to 7.2.4+ and set ndp-reply enable`,
      });
    } else if (v["ndp-reply"] === "disable") {
      out.push({
        severity: "warning",
        subject,
        message: `ndp-reply is disable: the FortiGate does not answer Neighbor Solicitations for ${v.extip}; set ndp-reply enable`,
      });
    }
  }
  return out;
}

/** Interface names of a policy field: a table of {name} (firewall/policy) or a string (policy64). */
function intfNames(v: unknown): string[] {
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.map((x) => String((x as { name?: unknown } | null)?.name)) : [];
}

/**
 * FortiOS evaluates policies top-down and appends new ones at the end: a deny policy of the box's
 * own above ours, on the same interfaces, would take the traffic first.
 * `table` is the policy table in the box's order; our policies carry `comment`.
 */
export function diagnosePolicyOrder(
  path: string,
  ours: readonly { comment: string; srcintf: unknown; dstintf: unknown }[],
  table: readonly Record<string, unknown>[],
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const p of ours) {
    const at = table.findIndex((x) => x.comments === p.comment);
    const above = at < 0 ? table : table.slice(0, at);
    const src = intfNames(p.srcintf);
    const dst = intfNames(p.dstintf);
    const meets = (a: string[], b: string[]) => a.some((x) => x === "any" || b.includes(x));
    for (const x of above) {
      if (x.action !== "deny" || x.status === "disable") continue;
      if (!meets(intfNames(x.srcintf), src) || !meets(intfNames(x.dstintf), dst)) continue;
      const id = String(x.policyid);
      out.push({
        severity: "warning",
        subject: `${path} ${id}${x.name ? ` (${String(x.name)})` : ""}`,
        message: `denies ${src.join(",")} -> ${dst.join(",")} above v6mostly's policy (FortiOS takes the first match, and new policies go last): move ours above it, e.g. PUT /api/v2/cmdb/${path}/<our policyid>?action=move&before=${id}`,
      });
    }
  }
  return out;
}
