/**
 * Verdicts and counted drop reasons. The translator never throws on packet
 * input: every refusal is one of these codes and bumps a counter.
 */
import { namesByCode } from "../../util/codes.ts";

export const Verdict = {
  /** Outputs are the translated packet (one, or several fragments), for the other side. */
  Translated: 0,
  /** Output is an ICMP error the translator generated, sent back to the input side. */
  IcmpReply: 1,
  /** Nothing to send; see the drop reason. */
  Drop: 2,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export const DropReason = {
  None: 0,
  /** Shorter than the headers it claims. */
  Truncated: 1,
  BadVersion: 2,
  BadHeaderLength: 3,
  BadTotalLength: 4,
  BadIpv4HeaderChecksum: 5,
  /** RFC 7915 §5.1: an extension header after the Fragment header (ICMPv6 1/1 sent). */
  ExtensionAfterFragment: 6,
  /** RFC 7915 §5.1: Routing header with Segments Left != 0 (ICMPv6 4/0 sent). */
  UnexpiredRoutingHeader: 7,
  /** RFC 7915 §4.1: unexpired IPv4 source route option (ICMPv4 3/5 sent). */
  UnexpiredSourceRoute: 8,
  /** TTL / hop limit would reach zero (ICMP Time Exceeded sent). */
  HopLimitExceeded: 9,
  /** An address has no mapping (not in pool6 / EAMT). */
  Untranslatable: 10,
  /** ICMP type/code without a counterpart (RFC 7915 §4.2 / §5.2 "silently drop"). */
  IcmpUntranslatable: 11,
  /** An ICMP error with a wrong checksum (it would be recomputed, so it is not carried). */
  IcmpBadChecksum: 12,
  /** An ICMP error quoting an ICMP error, or a quoted packet that cannot be translated. */
  BadInnerPacket: 13,
  /** RFC 7915 §4.5: IPv4 UDP with checksum 0 that may not be amended (ICMPv4 3/13 sent). */
  UdpChecksumZero: 14,
  /** Larger than the outgoing link MTU with DF (FN / PTB sent). */
  PacketTooBig: 15,
  /** RFC 4884 length field larger than the payload. */
  BadIcmpExtension: 16,
  /** The mapper refused the flow (NAT64: no state, filtering). */
  Prohibited: 17,
  /** An ICMP error would be needed but no source address is configured, or the rules forbid one. */
  NoIcmpErrorPossible: 18,
  /** A non-first fragment arrived where headers are required. */
  FragmentNotAllowed: 19,
  /** The translator-generated error could not be delivered (hairpin leg). */
  HairpinError: 20,
  /** A TCP super-packet (segmentation offload) that only the general path could translate. */
  Offload: 21,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** Reason names by code ("Truncated"...), as counters and logs print them. */
export const dropReasonName: readonly string[] = namesByCode(DropReason);
/** How many reasons there are: the length of a counter array indexed by DropReason. */
export const DROP_REASON_COUNT = dropReasonName.length;
