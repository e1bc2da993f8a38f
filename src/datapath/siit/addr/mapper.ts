/**
 * The address-mapping step, kept apart from header translation so that a
 * stateful NAT64 (RFC 6146) can supply its own mapper that rewrites addresses
 * AND transport identifiers (ports, ICMP identifiers) from its BIB/sessions.
 *
 * The translator parses the packet, fills a preallocated {@link Flow}, calls
 * the mapper, then writes the addresses the mapper produced, writes back the
 * ports if the mapper changed them, and adjusts the checksums for both.
 */

import { LITTLE_ENDIAN, words } from "../words.ts";
import type { Eamt } from "./eamt.ts";
import type { Rfc6052Prefix } from "./rfc6052.ts";

/** Result bits of a mapping call. */
export const MAP_OK = 0;
/** The source address has no mapping (RFC 7915 §5.1 "untranslatable"). */
export const MAP_SRC_FAIL = 1;
/** The destination address has no mapping. */
export const MAP_DST_FAIL = 2;
/** The mapper refuses the packet (NAT64: no BIB entry, filtering). */
export const MAP_PROHIBITED = 4;

/** Per-packet transport view handed to the mapper; reused, never allocated per packet. */
export class Flow {
  /** Transport protocol as seen on the input side (6, 17, 1 or 58, or other). */
  proto = 0;
  /** True when srcPort/dstPort are meaningful (TCP, UDP, ICMP echo id in both). */
  hasPorts = false;
  srcPort = 0;
  dstPort = 0;
  /** The header being mapped is the packet quoted inside an ICMP error (roles reversed). */
  inner = false;
  /** The outer packet is an ICMP error. */
  icmpError = false;
  /** Second leg of a hairpinned packet (RFC 7757 Appendix B). */
  hairpin = false;

  reset(): void {
    this.proto = 0;
    this.hasPorts = false;
    this.srcPort = 0;
    this.dstPort = 0;
    this.inner = false;
    this.icmpError = false;
    this.hairpin = false;
  }
}

export interface AddressMapper {
  /**
   * IPv6→IPv4: reads the addresses at inp[src6], inp[dst6] (16 bytes each) and
   * writes IPv4 addresses at out[src4], out[dst4] (4 bytes each).
   * May change flow.srcPort / flow.dstPort. Returns MAP_OK or MAP_* bits.
   */
  map6to4(
    inp: Uint8Array,
    src6: number,
    dst6: number,
    out: Uint8Array,
    src4: number,
    dst4: number,
    flow: Flow,
  ): number;
  /** IPv4→IPv6, the mirror of {@link map6to4}. */
  map4to6(
    inp: Uint8Array,
    src4: number,
    dst4: number,
    out: Uint8Array,
    src6: number,
    dst6: number,
    flow: Flow,
  ): number;
  /** RFC 7757 Appendix B: does an IPv4 destination produced by map6to4 come straight back (hairpin)? */
  isHairpin4(a: Uint8Array, o: number): boolean;
}

/** The SIIT mapper: EAMT first (RFC 7757 §4), then the RFC 6052 pool6 prefix. */
export class SiitAddressMapper implements AddressMapper {
  private readonly hasEamt: boolean;

  constructor(
    readonly pool6: Rfc6052Prefix | null,
    readonly eamt: Eamt,
    readonly hairpinIntrinsic: boolean,
  ) {
    this.hasEamt = eamt.size > 0;
  }

  private one6to4(a: Uint8Array, o: number, out: Uint8Array, oo: number): boolean {
    if (this.hasEamt && this.eamt.map6to4(a, o, out, oo)) return true;
    return this.pool6?.extract(a, o, out, oo) ?? false;
  }

  private one4to6(a: Uint8Array, o: number, out: Uint8Array, oo: number, pool6Only: boolean): boolean {
    if (!pool6Only && this.hasEamt && this.eamt.map4to6(a, o, out, oo)) return true;
    if (this.pool6 === null) return false;
    this.pool6.embed(a, o, out, oo);
    return true;
  }

  map6to4(
    inp: Uint8Array,
    src6: number,
    dst6: number,
    out: Uint8Array,
    src4: number,
    dst4: number,
    _flow: Flow,
  ): number {
    if (LITTLE_ENDIAN && this.hasEamt && inp === out && ((src6 | dst6 | src4 | dst4) & 3) === 0) {
      const w = words(inp);
      if (w !== null) {
        let r = MAP_OK;
        if (!this.eamt.map6to4W(w, src6 >>> 2, src4 >>> 2) && !this.pool6?.extract(inp, src6, out, src4))
          r |= MAP_SRC_FAIL;
        if (!this.eamt.map6to4W(w, dst6 >>> 2, dst4 >>> 2) && !this.pool6?.extract(inp, dst6, out, dst4))
          r |= MAP_DST_FAIL;
        return r;
      }
    }
    let r = MAP_OK;
    if (!this.one6to4(inp, src6, out, src4)) r |= MAP_SRC_FAIL;
    if (!this.one6to4(inp, dst6, out, dst4)) r |= MAP_DST_FAIL;
    return r;
  }

  map4to6(
    inp: Uint8Array,
    src4: number,
    dst4: number,
    out: Uint8Array,
    src6: number,
    dst6: number,
    flow: Flow,
  ): number {
    // RFC 7757 Appendix B (intrinsic hairpinning): on the way back, the address
    // that stands for the original IPv6 source is translated with pool6 only,
    // so the destination host sees the sender through the RFC 6052 prefix.
    // For a quoted packet the roles are reversed.
    const srcPool6Only = flow.hairpin && !flow.inner;
    const dstPool6Only = flow.hairpin && flow.inner;
    if (LITTLE_ENDIAN && this.hasEamt && inp === out && ((src6 | dst6 | src4 | dst4) & 3) === 0) {
      const w = words(inp);
      if (w !== null) {
        let r = MAP_OK;
        if (!(!srcPool6Only && this.eamt.map4to6W(w, src4 >>> 2, src6 >>> 2))) {
          if (this.pool6 === null) r |= MAP_SRC_FAIL;
          else this.pool6.embed(inp, src4, out, src6);
        }
        if (!(!dstPool6Only && this.eamt.map4to6W(w, dst4 >>> 2, dst6 >>> 2))) {
          if (this.pool6 === null) r |= MAP_DST_FAIL;
          else this.pool6.embed(inp, dst4, out, dst6);
        }
        return r;
      }
    }
    let r = MAP_OK;
    if (!this.one4to6(inp, src4, out, src6, srcPool6Only)) r |= MAP_SRC_FAIL;
    if (!this.one4to6(inp, dst4, out, dst6, dstPool6Only)) r |= MAP_DST_FAIL;
    return r;
  }

  isHairpin4(a: Uint8Array, o: number): boolean {
    return this.hairpinIntrinsic && this.hasEamt && this.eamt.has4(a, o);
  }
}
