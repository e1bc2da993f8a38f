/**
 * SIIT (RFC 7915) translator configuration: the shape the service hands over
 * (addresses and prefixes as parsed once at the boundary, src/util/net.ts;
 * their plain data, which is what crosses to a worker thread) and its
 * compiled, byte-level form. Nothing here parses text, and nothing of it runs
 * on the packet path.
 */
import { type AddressData, type Family, maskOf, type PrefixData, toBytes } from "../../util/net.ts";
import { Eamt, type EamtEntryBytes } from "./addr/eamt.ts";
import { Rfc6052Prefix } from "./addr/rfc6052.ts";

export interface EamtEntry {
  /** IPv6 prefix, e.g. 2001:db8:3::/120. */
  ipv6: PrefixData;
  /** IPv4 prefix, e.g. 192.0.2.0/24. */
  ipv4: PrefixData;
}

export type HairpinMode = "intrinsic" | "off";

export interface SiitConfig {
  /** RFC 6052 prefix (/32 /40 /48 /56 /64 /96); null/absent = EAMT only. */
  pool6?: PrefixData | null;
  /** RFC 7757 explicit address mappings. */
  eamt?: EamtEntry[];
  /** RFC 7915 §4 / §6: IPv4 packets without DF are fragmented to this size. Default 1280. */
  lowestIpv6Mtu?: number;
  /** RFC 7915 §4.5: compute a checksum for unfragmented IPv4 UDP with checksum 0. Default false. */
  amendUdpChecksumZero?: boolean;
  /** RFC 6791: sources for ICMP errors whose source cannot be translated. */
  rfc6791Pool?: { ipv4?: AddressData[]; ipv6?: AddressData[] };
  /** Link MTU on the IPv4 side (output of 6→4), for Packet Too Big. Default 1500. */
  ipv4LinkMtu?: number;
  /** Link MTU on the IPv6 side (output of 4→6), for Fragmentation Needed and fragmenting. Default 1500. */
  ipv6LinkMtu?: number;
  /** The translator's own IPv4 address: source of ICMPv4 errors it generates (and RFC 6791 fallback). */
  ownIpv4?: AddressData | null;
  /** The translator's own IPv6 address: source of ICMPv6 errors it generates (and RFC 6791 fallback). */
  ownIpv6?: AddressData | null;
  /**
   * The ICMP errors the translator originates whose family has no own address above leave with
   * the unspecified source (0.0.0.0 / ::): the caller sends them through the host's own stack,
   * which picks its address on the route back to the error's destination (RFC 4443 §2.2 (c),
   * RFC 1812 §4.3.2.4; tun/loop.ts). Default false: without an own address they are not sent.
   */
  hostErrorSource?: boolean;
  /** RFC 7915 §4.1 / §5.1: set traffic class / TOS to zero instead of copying. Default false. */
  resetTrafficClass?: boolean;
  /** RFC 7757 Appendix B hairpinning. Default 'intrinsic'. */
  hairpinMode?: HairpinMode;
  /**
   * Answer packets with an untranslatable address with ICMP (destination:
   * unreachable / no route; source: administratively prohibited) instead of
   * dropping them silently. Default false (Jool hands them to the kernel).
   */
  icmpOnUntranslatable?: boolean;
}

export interface CompiledSiitConfig {
  pool6: Rfc6052Prefix | null;
  eamt: Eamt;
  lowestIpv6Mtu: number;
  amendUdpChecksumZero: boolean;
  /** 4 bytes per address. */
  rfc6791v4: Uint8Array;
  /** 16 bytes per address. */
  rfc6791v6: Uint8Array;
  ipv4LinkMtu: number;
  ipv6LinkMtu: number;
  ownIpv4: Uint8Array | null;
  ownIpv6: Uint8Array | null;
  /** Source of the ICMPv4 / ICMPv6 errors it originates: the own address, unspecified (the host picks), or none. */
  errorSource4: Uint8Array | null;
  errorSource6: Uint8Array | null;
  resetTrafficClass: boolean;
  hairpinMode: HairpinMode;
  icmpOnUntranslatable: boolean;
}

/** A prefix's network in bytes (host bits zero) and its length; throws on the wrong family. */
export function prefixBytes(p: PrefixData, family: Family, name: string): { bytes: Uint8Array; len: number } {
  if (p.family !== family) throw new Error(`${name} must be an IPv${family} prefix`);
  return { bytes: toBytes(family, p.network & maskOf(family, p.length)), len: p.length };
}

/** An address in bytes; throws on the wrong family. */
function addressBytes(a: AddressData, family: Family, name: string): Uint8Array {
  if (a.family !== family) throw new Error(`${name} must be an IPv${family} address`);
  return toBytes(family, a.value);
}

function mtu(v: number | undefined, def: number, min: number, name: string): number {
  const r = v ?? def;
  if (!Number.isInteger(r) || r < min || r > 65535)
    throw new Error(`${name} must be an integer in [${min}, 65535]`);
  return r;
}

/** Validates and compiles a {@link SiitConfig}. Throws on bad configuration (never on packets). */
export function compileSiitConfig(c: SiitConfig): CompiledSiitConfig {
  let pool6: Rfc6052Prefix | null = null;
  if (c.pool6) {
    const p = prefixBytes(c.pool6, 6, "pool6");
    pool6 = new Rfc6052Prefix(p.bytes, p.len);
  }
  const entries: EamtEntryBytes[] = (c.eamt ?? []).map((e) => {
    const p6 = prefixBytes(e.ipv6, 6, "eamt ipv6");
    const p4 = prefixBytes(e.ipv4, 4, "eamt ipv4");
    return { v6: p6.bytes, len6: p6.len, v4: p4.bytes, len4: p4.len };
  });
  const v4list = c.rfc6791Pool?.ipv4 ?? [];
  const v6list = c.rfc6791Pool?.ipv6 ?? [];
  const rfc6791v4 = new Uint8Array(4 * v4list.length);
  v4list.forEach((a, i) => {
    rfc6791v4.set(addressBytes(a, 4, "rfc6791Pool ipv4"), 4 * i);
  });
  const rfc6791v6 = new Uint8Array(16 * v6list.length);
  v6list.forEach((a, i) => {
    rfc6791v6.set(addressBytes(a, 6, "rfc6791Pool ipv6"), 16 * i);
  });
  const ownIpv4 = c.ownIpv4 ? addressBytes(c.ownIpv4, 4, "ownIpv4") : null;
  const ownIpv6 = c.ownIpv6 ? addressBytes(c.ownIpv6, 6, "ownIpv6") : null;
  const host = c.hostErrorSource ?? false;
  return {
    pool6,
    eamt: new Eamt(entries),
    // RFC 7915 §6: IPv6 minimum link MTU is 1280.
    lowestIpv6Mtu: mtu(c.lowestIpv6Mtu, 1280, 1280, "lowestIpv6Mtu"),
    amendUdpChecksumZero: c.amendUdpChecksumZero ?? false,
    rfc6791v4,
    rfc6791v6,
    // RFC 791: every IPv4 link carries 68 bytes (one 20-byte header + 48 bytes of fragment).
    ipv4LinkMtu: mtu(c.ipv4LinkMtu, 1500, 68, "ipv4LinkMtu"),
    ipv6LinkMtu: mtu(c.ipv6LinkMtu, 1500, 1280, "ipv6LinkMtu"),
    ownIpv4,
    ownIpv6,
    errorSource4: ownIpv4 ?? (host ? new Uint8Array(4) : null),
    errorSource6: ownIpv6 ?? (host ? new Uint8Array(16) : null),
    resetTrafficClass: c.resetTrafficClass ?? false,
    hairpinMode: c.hairpinMode ?? "intrinsic",
    icmpOnUntranslatable: c.icmpOnUntranslatable ?? false,
  };
}
