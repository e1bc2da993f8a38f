/**
 * Why the stateful NAT64 refused a packet. Its own reasons are here; the SIIT
 * core under it counts its own (siit/result.ts DropReason). Both are
 * published together, by name, in `/translations` and the drops metric.
 */
import { namesByCode } from "../../util/codes.ts";
import { DropReason, dropReasonName } from "../siit/result.ts";

/** NAT64-specific reasons (SIIT's own reasons are counted by the SIIT core). */
export const Nat64Drop = {
  /** IPv6 source outside allowedSources (ICMPv6 1/1 sent). */
  SourceNotAllowed: 0,
  /** IPv6 destination outside pool6 / IPv4 destination outside pool4. */
  NotOurs: 1,
  /** No BIB entry / session for an incoming packet. */
  NoState: 2,
  /** Address-dependent filtering refused an incoming packet. */
  Filtered: 3,
  /** pool4 has no port left for a new BIB entry (ICMPv6 1/3 sent). */
  PoolExhausted: 4,
  /** The session limit is reached (ICMP error sent). */
  SessionLimit: 5,
  /** A non-first fragment: reassembly is not done. */
  Fragment: 6,
  /** Neither TCP, UDP nor ICMP. */
  UnsupportedProtocol: 7,
  /** Shorter than the headers the NAT64 needs to read. */
  Truncated: 8,
  /** The SIIT core refused the packet (see its counters). */
  Translation: 9,
  /** The unsolicited-SYN hold table is full. */
  SynHoldFull: 10,
  /** An IPv4 SYN held for simultaneous open (not a loss unless it times out). */
  SynHeld: 11,
  /** The client (IPv6 source aggregated to limits.clientPrefixLength) holds its limit of ports (ICMPv6 1/1 sent). */
  ClientPortLimit: 12,
  /** The client holds its limit of sessions (ICMPv6 1/1 sent for an outbound packet). */
  ClientSessionLimit: 13,
  /** RFC 6052 §3.1: the Well-Known Prefix with a non-global IPv4 address is never translated. */
  NonGlobalIpv4: 14,
} as const;

/** Published names by code: the reason with a lower-case initial ("sourceNotAllowed"). */
export const nat64DropNames: readonly string[] = namesByCode(Nat64Drop).map(
  (n) => n[0]!.toLowerCase() + n.slice(1),
);
/** How many NAT64 reasons there are: the length of Nat64Translator.drops. */
export const NAT64_DROP_COUNT = nat64DropNames.length;

/**
 * The published names of both drop counters in one index space: the NAT64's
 * reasons first ("noState"... at their Nat64Drop code), then the SIIT core's,
 * prefixed ("siit.Truncated"... at NAT64_DROP_COUNT + their DropReason code);
 * null where a code counts no drop (DropReason.None).
 */
export const DROP_NAMES: readonly (string | null)[] = [
  ...nat64DropNames,
  ...dropReasonName.map((n, code) => (code === DropReason.None ? null : `siit.${n}`)),
];

/** Drop counts by published name (zeros included), from counts in DROP_NAMES' order. */
export function namedDrops(counts: ArrayLike<number>): Record<string, number> {
  const r: Record<string, number> = {};
  DROP_NAMES.forEach((name, i) => {
    if (name !== null) r[name] = counts[i]!;
  });
  return r;
}
