// RFC 4861 §6.2.7: a router reads the advertisements of other routers on the link and reports
// where they disagree with its own, since hosts then flip between the two answers. Pure.
import type { NdOption, RouterAdvertisement } from "./wire.ts";

export interface Inconsistency {
  /** what differs, e.g. "curHopLimit", "mtu", "prefix 2001:db8::/64 validLifetime" */
  field: string;
  ours: string | number | boolean;
  theirs: string | number | boolean;
  /** the rule it comes from */
  rule: string;
}

const RFC = "RFC 4861 §6.2.7";

export function compareAdvertisements(
  ours: RouterAdvertisement,
  theirs: RouterAdvertisement,
): Inconsistency[] {
  const out: Inconsistency[] = [];
  const add = (field: string, a: string | number | boolean, b: string | number | boolean, rule = RFC) =>
    out.push({ field, ours: a, theirs: b, rule });
  // "Cur Hop Limit values (except for the unspecified value of zero)"
  if (ours.curHopLimit !== 0 && theirs.curHopLimit !== 0 && ours.curHopLimit !== theirs.curHopLimit) {
    add("curHopLimit", ours.curHopLimit, theirs.curHopLimit);
  }
  // "Values of the M or O flags"
  if (ours.managed !== theirs.managed) add("managed (M flag)", ours.managed, theirs.managed);
  if (ours.otherConfig !== theirs.otherConfig)
    add("otherConfig (O flag)", ours.otherConfig, theirs.otherConfig);
  // "Reachable Time values (except for the unspecified value of zero)", same for Retrans Timer
  if (ours.reachableTime !== 0 && theirs.reachableTime !== 0 && ours.reachableTime !== theirs.reachableTime) {
    add("reachableTime", ours.reachableTime, theirs.reachableTime);
  }
  if (ours.retransTimer !== 0 && theirs.retransTimer !== 0 && ours.retransTimer !== theirs.retransTimer) {
    add("retransTimer", ours.retransTimer, theirs.retransTimer);
  }
  // "Values in the MTU options"
  const mtuA = first(ours.options, "mtu");
  const mtuB = first(theirs.options, "mtu");
  if (mtuA && mtuB && mtuA.mtu !== mtuB.mtu) add("mtu", mtuA.mtu, mtuB.mtu);
  // "Preferred and Valid Lifetimes for the same prefix". Our lifetimes are fixed (not decrementing
  // in real time), so any difference is reported.
  for (const a of ours.options) {
    if (a.type !== "prefixInformation") continue;
    for (const b of theirs.options) {
      if (b.type !== "prefixInformation" || b.prefix !== a.prefix || b.prefixLength !== a.prefixLength)
        continue;
      const name = `prefix ${a.prefix}/${a.prefixLength}`;
      if (a.validLifetime !== b.validLifetime) add(`${name} validLifetime`, a.validLifetime, b.validLifetime);
      if (a.preferredLifetime !== b.preferredLifetime)
        add(`${name} preferredLifetime`, a.preferredLifetime, b.preferredLifetime);
    }
  }
  // Not in §6.2.7, but what breaks an IPv6-mostly link: two NAT64 prefixes announced with a
  // lifetime; hosts may pick either (RFC 8781 §5).
  const p64A = first(ours.options, "pref64");
  const p64B = first(theirs.options, "pref64");
  if (
    p64A &&
    p64B &&
    p64A.lifetime > 0 &&
    p64B.lifetime > 0 &&
    (p64A.prefix !== p64B.prefix || p64A.prefixLength !== p64B.prefixLength)
  ) {
    add(
      "pref64",
      `${p64A.prefix}/${p64A.prefixLength}`,
      `${p64B.prefix}/${p64B.prefixLength}`,
      "RFC 8781 §5",
    );
  }
  return out;
}

function first<T extends NdOption["type"]>(
  options: readonly NdOption[],
  type: T,
): Extract<NdOption, { type: T }> | undefined {
  return options.find((o) => o.type === type) as Extract<NdOption, { type: T }> | undefined;
}

export function describeInconsistency(i: Inconsistency): string {
  return `${i.field}: ours ${i.ours}, theirs ${i.theirs} (${i.rule})`;
}
