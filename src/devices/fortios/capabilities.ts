// What a FortiOS version can do, from Fortinet's own version tables (shared/devices/fortios-notes.md,
// derived from the fortinet.fortios Ansible collection's versioned_schema).
import { atLeast, compareVersions, parseVersion, type Version } from "../version.ts";

/**
 * Fortinet tested these trains up to the patch given; later builds of the same train carry the same
 * schema ("until 6.2.7" means every 6.2.x). The seed's FortiGate runs 6.2.16.
 */
const TRAIN_END: Record<string, number> = { "6.0": 11, "6.2": 7 };

/** `since`/`until` from the schema, inclusive, with the train rule above. */
export function inVersionRange(v: Version, since?: string, until?: string): boolean {
  if (since && !atLeast(v, since)) return false;
  if (until && until !== "latest") {
    const u = parseVersion(until);
    if (compareVersions(v, u) > 0) {
      const train = `${u[0]}.${u[1]}`;
      const sameTrain = v[0] === u[0] && v[1] === u[1];
      if (!(sameTrain && TRAIN_END[train] === u[2])) return false;
    }
  }
  return true;
}

export interface FortiCapabilities {
  version: Version;
  /** ≤ 7.0.0: `config system nat64` holds the NAT64/DNS64 prefix; NAT64 is policy64 (+ vip64) */
  systemNat64: boolean;
  /** ≥ 7.0.1: `config system dns64`; NAT64 is a firewall policy with `nat64 enable` + an ippool with `nat64 enable` */
  nat64Policy: boolean;
  /** ≤ 6.2.x: IPv6 policies live in firewall/policy6; from 6.4.0 in firewall/policy (srcaddr6, dstaddr6, poolname6) */
  policy6: boolean;
  /** 7.0.8–7.0.12 and ≥ 7.2.4: vip6 has `ndp-reply` (answers Neighbor Solicitations for the VIP range) */
  vip6NdpReply: boolean;
  /** ≥ 7.6.1: RDNSS moves from the prefix list to ip6-rdnss-list */
  rdnssList: boolean;
  /** ≥ 7.6.0: ippool6 type nptv6 (RFC 6296 prefix translation) */
  nptv6: boolean;
}

export function capabilities(v: Version): FortiCapabilities {
  const ge = (since: string) => atLeast(v, since);
  return {
    version: v,
    systemNat64: !ge("7.0.1"),
    nat64Policy: ge("7.0.1"),
    policy6: inVersionRange(v, undefined, "6.2.7"),
    vip6NdpReply: inVersionRange(v, "7.0.8", "7.0.12") || ge("7.2.4"),
    rdnssList: ge("7.6.1"),
    nptv6: ge("7.6.0"),
  };
}
