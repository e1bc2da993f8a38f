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
  // Each kind's module on its first start: a `run` of one Nat64Gateway holds neither DNS64's, RA's
  // nor DHCP's code in its heap (about 1 MiB; bench:nat64-memory).
  return {
    Dns64Resolver: async (a, ctx) => (await import("../services/dns64/index.ts")).startDns64(a, ctx),
    RouterAdvert: async (a, ctx) => (await import("../services/ra/index.ts")).startRouterAdvert(a, ctx),
    Nat64Gateway: async (a, ctx) => (await import("../services/nat64/index.ts")).startNat64Gateway(a, ctx),
    DhcpScope: async (a, ctx) =>
      (await import("../services/dhcp4/index.ts")).startDhcpScope(a, ctx, { store: opts.dhcpStore?.(a) }),
    EdgeTranslation: async (a, ctx) =>
      (await import("../services/edge/index.ts")).startEdgeTranslation(a, ctx),
  };
}
