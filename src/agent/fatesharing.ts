// Fate-sharing: never advertise a NAT64 that is not there.
//
// A RouterAdvert that announces a PREF64 (RFC 8781) and routes into it (RFC 4191), and a
// Dns64Resolver that synthesizes AAAA records (RFC 6147), send clients to a NAT64. When the
// Nat64Gateway with that prefix is not running on this host (it failed to start, it stopped, its
// workers died), they would send clients into a black hole. So, while it is down:
// - the RA leaves out the PREF64 option and the routes inside the prefix: the RA service sends
//   them with lifetime 0 (RFC 8781 §4: a lifetime of 0 means the prefix must no longer be used;
//   RFC 4191 §2.3 the same for a route) in the next advertisements, three at most as for every
//   removed option (so that one lost RA does not leave them standing), then omits them;
// - the DNS64 answers as a plain forwarder: no synthesized AAAA (IPv6-only clients without a CLAT
//   fall back to what they can reach) and no ipv4only.arpa answer (RFC 7050 discovery finds no
//   PREF64).
// Both return when the gateway runs again. Only a gateway of the same host counts: a PREF64 that
// belongs to another box (a FortiGate, another node) is left alone. `spec.fateSharing: false`
// turns it off per resource.
//
// Pure: the runtime (runtime.ts) knows which gateways run and hands each service the assignment
// gate() returns.
import type { Assignment, Nat64Assignment } from "../planner/plan.ts";
import { contains, type Prefix, prefixRange } from "../util/net.ts";

/** A Nat64Gateway of this host as the runtime sees it. */
export interface GatewayState {
  /** Kind/name, as logs and status name it */
  resource: string;
  prefix: Prefix;
  running: boolean;
  /** why it is not running (the start error, "stopped", "workers died") */
  why?: string;
}

export interface Gated {
  /** what the service runs: the assignment as planned, or with the NAT64's parts taken out */
  assignment: Assignment;
  /** set while something was taken out: which gateway is down, why, and what was withdrawn */
  withdrawn?: { gateway: string; why: string; what: string };
}

const samePrefix = (a: Prefix, b: Prefix) =>
  a.family === b.family && a.network === b.network && a.length === b.length;

/** The gateways of a runtime's assignments, for gate(). */
export function gatewaysOf(
  entries: Iterable<{ assignment: Assignment; running: boolean; why?: string }>,
  label: (a: Assignment) => string,
): GatewayState[] {
  const out: GatewayState[] = [];
  for (const e of entries) {
    if (e.assignment.kind !== "Nat64Gateway") continue;
    const a = e.assignment as Nat64Assignment;
    out.push({ resource: label(a), prefix: a.spec.prefix, running: e.running, why: e.why });
  }
  return out;
}

/** The gateways of this host whose prefix `a` sends clients to, with fate-sharing on (running or not). */
export function dependsOn(a: Assignment, gateways: readonly GatewayState[]): GatewayState[] {
  if (a.kind === "Dns64Resolver" && a.spec.fateSharing)
    return gateways.filter((g) => samePrefix(g.prefix, a.prefix));
  if (a.kind === "RouterAdvert" && a.spec.fateSharing) {
    const r = a.resolved;
    return gateways.filter(
      (g) =>
        (r.pref64 && samePrefix(g.prefix, r.pref64.prefix)) ||
        r.routes.some((x) => x.prefix.family === 6 && contains(prefixRange(g.prefix), prefixRange(x.prefix))),
    );
  }
  return [];
}

/** The assignment a service should run while `gateways` are as they are. */
export function gate(a: Assignment, gateways: readonly GatewayState[]): Gated {
  const down = dependsOn(a, gateways).filter((g) => !g.running);
  if (down.length === 0) return { assignment: a };
  switch (a.kind) {
    case "Dns64Resolver": {
      const g = down.find((x) => samePrefix(x.prefix, a.prefix));
      if (!g) return { assignment: a };
      return {
        assignment: { ...a, forwardOnly: true },
        withdrawn: { gateway: g.resource, why: g.why ?? "not running", what: `synthesis with ${a.prefix}` },
      };
    }
    case "RouterAdvert": {
      const r = a.resolved;
      const pref64Down = r.pref64 ? down.find((g) => samePrefix(g.prefix, r.pref64!.prefix)) : undefined;
      // a route into a prefix whose gateway is down (the PREF64 route of a non-default router)
      const inside = (p: Prefix) =>
        down.find((g) => p.family === 6 && contains(prefixRange(g.prefix), prefixRange(p)));
      const routes = r.routes.filter((x) => !inside(x.prefix));
      if (!pref64Down && routes.length === r.routes.length) return { assignment: a };
      const gone = r.routes.filter((x) => inside(x.prefix));
      const g = pref64Down ?? inside(gone[0]!.prefix)!;
      const what = [
        ...(pref64Down ? [`PREF64 ${r.pref64!.prefix}`] : []),
        ...gone.map((x) => `route ${x.prefix}`),
      ].join(", ");
      return {
        assignment: { ...a, resolved: { ...r, pref64: pref64Down ? undefined : r.pref64, routes } },
        withdrawn: { gateway: g.resource, why: g.why ?? "not running", what },
      };
    }
    default:
      return { assignment: a };
  }
}
