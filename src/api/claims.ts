// Address space every node and device shares: a stateful NAT64's pool4, a DHCP scope's ranges and
// an edge translation's SNAT44 pool and DNAT44 external ranges must not overlap each other,
// wherever the resources run (one address cannot serve two of them). `validate` reports a clash
// as a problem of the later resource; the planner leaves that resource out (the older one keeps
// its place).
import { overlaps, type Range } from "../util/net.ts";
import { type AnyResource, objectLabel } from "./resources.ts";

interface Claim {
  what: string;
  /** the field that holds it, for messages */
  path: string;
  ranges: readonly Range[];
}

/** The addresses a resource takes for itself. */
export function claims(r: AnyResource): Claim[] {
  if (r.kind === "Nat64Gateway" && r.spec.mode === "stateful")
    return [{ what: "pool4", path: "spec.pool4", ranges: r.spec.pool4 }];
  if (r.kind === "DhcpScope") return [{ what: "DHCP range", path: "spec.ranges", ranges: r.spec.ranges }];
  if (r.kind === "EdgeTranslation") {
    return [
      { what: "SNAT44 pool", path: "spec.snat44.pool", ranges: r.spec.snat44?.pool ?? [] },
      { what: "DNAT44 external range", path: "spec.dnat44", ranges: r.spec.dnat44.map((m) => m.external) },
    ].filter((c) => c.ranges.length > 0);
  }
  return [];
}

export interface AddressClash {
  /** the later resource, whose claim overlaps */
  resource: AnyResource;
  /** the earlier one, which keeps the addresses */
  with: AnyResource;
  /** the later resource's field */
  path: string;
  message: string;
}

/** Every resource whose claim overlaps an earlier one's, in `ordered` order (the first keeps its place). */
export function addressClashes(ordered: readonly AnyResource[]): AddressClash[] {
  const claimed: ({ r: AnyResource } & Claim)[] = [];
  const out: AddressClash[] = [];
  for (const r of ordered) {
    const mine = claims(r);
    const clash = mine
      .map((m) => ({ m, c: claimed.find((c) => c.ranges.some((a) => m.ranges.some((b) => overlaps(a, b)))) }))
      .find((x) => x.c);
    if (clash?.c) {
      out.push({
        resource: r,
        with: clash.c.r,
        path: clash.m.path,
        message: `its ${clash.m.what} overlaps the ${clash.c.what} of ${objectLabel(clash.c.r)}: one address cannot serve both`,
      });
    } else claimed.push(...mine.map((m) => ({ r, ...m })));
  }
  return out;
}
