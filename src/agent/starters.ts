// The services this build runs on a node, by kind. Loaded on demand: commands that run no service
// (validate, plan, render) never load the datapath's system-call bindings.
import type { Starters } from "../services/contract.ts";

export async function starters(): Promise<Starters> {
  const [dns64, ra, nat64, dhcp4] = await Promise.all([
    import("../services/dns64/index.ts"),
    import("../services/ra/index.ts"),
    import("../services/nat64/index.ts"),
    import("../services/dhcp4/index.ts"),
  ]);
  return {
    Dns64Resolver: dns64.startDns64,
    RouterAdvert: ra.startRouterAdvert,
    Nat64Gateway: nat64.startNat64Gateway,
    DhcpScope: dhcp4.startDhcpScope,
  };
}
