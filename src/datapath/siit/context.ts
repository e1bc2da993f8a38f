/**
 * Per-translator mutable state shared by the per-direction modules: the
 * compiled configuration, the address mapper, a reusable {@link Flow} and the
 * scratch fields through which the pure functions report what happened.
 * Nothing here is allocated per packet.
 */
import { type AddressMapper, Flow } from "./addr/mapper.ts";
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
  /** Set by the 4→6 path when it wrote a Fragment header. */
  wroteFragHeader = false;

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

  icmp(reason: number, type: number, code: number, rest: number): number {
    this.reason = reason;
    this.errType = type;
    this.errCode = code;
    this.errRest = rest >>> 0;
    return FAIL_ICMP;
  }
}
