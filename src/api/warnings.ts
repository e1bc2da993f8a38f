// Advice on a valid resource: what the RFCs recommend against but allow. `validate` prints these
// as warnings (exit 0), the admission webhook returns them as AdmissionResponse warnings (kubectl
// prints "Warning: ..."), and the operator applies the resource as it is.
import { formatDuration } from "./duration.ts";
import type { Kind, Spec } from "./resources.ts";
import type { PathKey } from "./rules.ts";

export interface Advice {
  path: PathKey[];
  message: string;
}

export function warningsOf(kind: Kind, spec: unknown): Advice[] {
  if (kind === "RouterAdvert") return routerAdvertWarnings(spec as Spec<"RouterAdvert">);
  return [];
}

function routerAdvertWarnings(spec: Spec<"RouterAdvert">): Advice[] {
  const out: Advice[] = [];
  const max = spec.interval.max;
  // RFC 8106 §5.1 (RDNSS) and §5.2 (DNSSL), RFC 8781 §4 (PREF64): the lifetime SHOULD by default
  // be at least 3 × MaxRtrAdvInterval, so that one or two lost RAs do not expire it on the hosts.
  // Below interval.max is an error (routeradvert.ts); between the two, a warning.
  const check = (path: PathKey[], lifetime: number | undefined, rfc: string) => {
    if (lifetime === undefined || lifetime === 0 || lifetime < max || lifetime >= 3 * max) return;
    out.push({
      path,
      message: `${formatDuration(lifetime)} is less than 3 × interval.max (${formatDuration(3 * max)}): hosts drop it after a lost RA or two (${rfc} recommends at least 3 × MaxRtrAdvInterval)`,
    });
  };
  spec.rdnss.forEach((r, i) => {
    check(["spec", "rdnss", i, "lifetime"], r.lifetime, "RFC 8106 §5.1");
  });
  spec.dnssl.forEach((d, i) => {
    check(["spec", "dnssl", i, "lifetime"], d.lifetime, "RFC 8106 §5.2");
  });
  if (spec.pref64) check(["spec", "pref64", "lifetime"], spec.pref64.lifetime, "RFC 8781 §4");
  return out;
}
