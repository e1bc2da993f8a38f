// The services this build runs on a node, by kind. Loaded on demand: commands that run no service
// (validate, plan, render) never load the datapath's system-call bindings.
import type { DhcpAssignment } from "../planner/plan.ts";
import type { Starters } from "../services/contract.ts";
import type { LeaseStore } from "../services/dhcp4/store.ts";

export interface StarterOptions {
  /** where a DhcpScope keeps its leases; undefined (or none returned): the journal file under the state directory */
  dhcpStore?: (a: DhcpAssignment) => LeaseStore | undefined;
}

export async function starters(opts: StarterOptions = {}): Promise<Starters> {
  const [dns64, ra, nat64, dhcp4, edge] = await Promise.all([
    import("../services/dns64/index.ts"),
    import("../services/ra/index.ts"),
    import("../services/nat64/index.ts"),
    import("../services/dhcp4/index.ts"),
    import("../services/edge/index.ts"),
  ]);
  return {
    Dns64Resolver: dns64.startDns64,
    RouterAdvert: ra.startRouterAdvert,
    Nat64Gateway: nat64.startNat64Gateway,
    DhcpScope: (a, ctx) => dhcp4.startDhcpScope(a, ctx, { store: opts.dhcpStore?.(a) }),
    EdgeTranslation: (a, ctx) => edge.startEdgeTranslation(a, ctx),
  };
}
