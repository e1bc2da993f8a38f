/**
 * Per-translator mutable state shared by the per-direction modules: the
 * compiled configuration, the address mapper, a reusable {@link Flow} and the
 * scratch fields through which the pure functions report what happened.
 * Nothing here is allocated per packet.
 */
import { type AddressMapper, Flow, MAP_DST_FAIL, MAP_PROHIBITED } from "./addr/mapper.ts";
import type { CompiledSiitConfig } from "./config.ts";
import { DropReason } from "./result.ts";

/** Return code of a translation function: drop, reason in ctx.reason. */
export const FAIL_DROP = -1;
/** Return code: drop and answer the sender with ctx.errType/errCode/errRest. */
export const FAIL_ICMP = -2;

export class XlatContext {
  readonly flow = new Flow();
  /** Reason of the last FAIL_DROP / FAIL_ICMP. */
  reason: number = DropReason.None;
  /** Translator-generated ICMP error to send back (type, code, 32-bit rest of header). */
  errType = 0;
  errCode = 0;
  errRest = 0;
  /** Set by the 4→6 path when the translated datagram must be fragmented to this size. */
  fragmentTo = 0;
  /** Set by the 6→4 path when the (DF-clear) IPv4 packet must be fragmented to this size. */
  fragmentTo4 = 0;
  /** Set by the 4→6 path when it wrote a Fragment header. */
  wroteFragHeader = false;
  /**
   * Checksum offload (set by the caller per packet, see tun/offload.ts): the
   * input's TCP/UDP checksum field holds only the pseudo-header sum, the rest
   * is left to the device (the kernel's CHECKSUM_PARTIAL). The fast path keeps
   * it so, writing the output's pseudo-header sum; the general path completes
   * the checksum first and clears the flag. After a call, still set means the
   * output is partial too, its checksum range starting at csumStart.
   */
  csumPartial = false;
  /** Offset of the transport header from the packet's start (input, then output). */
  csumStart = 0;
  /** Offset of the checksum field from csumStart (TCP 16, UDP 6). */
  csumOffset = 0;
  /**
   * Segmentation offload: the input is a TCP super-packet to be cut into
   * segments of this many payload bytes after translation (0: a plain packet).
   * Size rules (link MTUs, DF) apply to a segment; only the fast path keeps
   * super-packets whole, and the general path refuses them (DropReason.Offload).
   */
  gsoSize = 0;

  constructor(
    public cfg: CompiledSiitConfig,
    public mapper: AddressMapper,
    /** RFC 7915 §5.1 Identification for unfragmented IPv4 packets without DF. */
    public nextIpv4Id: () => number,
  ) {}

  drop(reason: number): number {
    this.reason = reason;
    return FAIL_DROP;
  }

  /**
   * The mapper refused the packet's addresses. MAP_PROHIBITED is the
   * mapper's call (a NAT64 answers with its own errors). An untranslatable
   * address is dropped (as Jool does) or, with `icmpOnUntranslatable`, answered:
   * destination → ICMPv6 1/0 (no route) / ICMPv4 3/1 (host unreachable);
   * source → ICMPv6 1/1 / ICMPv4 3/13 (administratively prohibited). A packet
   * quoted in an ICMP error (`inner`) only makes the error a bad one.
   */
  unmapped(r: number, fromV6: boolean, inner: boolean): number {
    if (inner) return this.drop(r & MAP_PROHIBITED ? DropReason.Prohibited : DropReason.BadInnerPacket);
    if (r & MAP_PROHIBITED) return this.drop(DropReason.Prohibited);
    if (!this.cfg.icmpOnUntranslatable || this.flow.icmpError) return this.drop(DropReason.Untranslatable);
    const dst = (r & MAP_DST_FAIL) !== 0;
    return fromV6
      ? this.icmp(DropReason.Untranslatable, 1, dst ? 0 : 1, 0)
      : this.icmp(DropReason.Untranslatable, 3, dst ? 1 : 13, 0);
  }

  icmp(reason: number, type: number, code: number, rest: number): number {
    this.reason = reason;
    this.errType = type;
    this.errCode = code;
    this.errRest = rest >>> 0;
    return FAIL_ICMP;
  }
}
