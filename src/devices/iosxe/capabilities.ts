// What an IOS-XE release models in YANG and what it can take over RESTCONF
// (shared/devices/iosxe-notes.md and iosxe-yang/README.md, checked against the 17.9.1, 17.12.1 and
// 17.15.1 module sets).
import { atLeast, type Version } from "../version.ts";

export interface IosxeCapabilities {
  version: Version;
  /** Cisco-IOS-XE-cli-rpc (config-ios-cli-rpc) first appears in 17.9.1 */
  cliRpc: boolean;
  /** `ipv6 nd ra dns server` as the ra/dns/server-list leaf-list (17.9+); 17.7 has one `server` leaf */
  raDnsServerList: boolean;
}

export function iosxeCapabilities(v: Version): IosxeCapabilities {
  return { version: v, cliRpc: atLeast(v, "17.9.1"), raDnsServerList: atLeast(v, "17.9.1") };
}

/** Interface types whose nat64 the Cisco-IOS-XE-nat model augments (never BDI, in any 17.x). */
export const NAT64_MODELLED = new Set([
  "GigabitEthernet",
  "TenGigabitEthernet",
  "Port-channel",
  "Loopback",
  "Tunnel",
]);

/** Interface types whose `nat66 inside|outside` leaf the model augments (not BDI in 17.9–17.15). */
export const NAT66_MODELLED = new Set([
  "GigabitEthernet",
  "TenGigabitEthernet",
  "Port-channel",
  "Loopback",
  "Tunnel",
  "Vlan",
]);

/** Interface types whose `ip nat inside|outside` (ip/nat) the model augments: those, and BDI. */
export const IP_NAT_MODELLED = new Set([...NAT66_MODELLED, "BDI"]);
