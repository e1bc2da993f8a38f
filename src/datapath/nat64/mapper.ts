/**
 * The NAT64 address mapper handed to the SIIT core. The NAT64 decides every
 * address and port BEFORE the packet is translated (RFC 6146 §3.4 incoming
 * tuple, §3.5 filtering and updating, §3.6 outgoing tuple); the mapper only
 * writes those prepared values when the RFC 7915 code (§3.7) asks, for the
 * outer header and for the header quoted inside an ICMP error. So the SIIT
 * fast path and its general path may call it more than once without side
 * effects.
 */
import { type AddressMapper, type Flow, MAP_OK } from "../siit/index.ts";

export class PreparedTuple4 {
  readonly src = new Uint8Array(4);
  readonly dst = new Uint8Array(4);
  sport = 0;
  dport = 0;
  setSrc(a: number): void {
    this.src[0] = a >>> 24;
    this.src[1] = (a >>> 16) & 0xff;
    this.src[2] = (a >>> 8) & 0xff;
    this.src[3] = a & 0xff;
  }
  setDst(a: number): void {
    this.dst[0] = a >>> 24;
    this.dst[1] = (a >>> 16) & 0xff;
    this.dst[2] = (a >>> 8) & 0xff;
    this.dst[3] = a & 0xff;
  }
}

export class PreparedTuple6 {
  readonly src = new Uint8Array(16);
  readonly dst = new Uint8Array(16);
  sport = 0;
  dport = 0;
}

function put(src: Uint8Array, out: Uint8Array, o: number, n: number): void {
  for (let i = 0; i < n; i++) out[o + i] = src[i]!;
}

export class Nat64Mapper implements AddressMapper {
  readonly outer4 = new PreparedTuple4();
  readonly inner4 = new PreparedTuple4();
  readonly outer6 = new PreparedTuple6();
  readonly inner6 = new PreparedTuple6();

  map6to4(
    _inp: Uint8Array,
    _s: number,
    _d: number,
    out: Uint8Array,
    src4: number,
    dst4: number,
    flow: Flow,
  ): number {
    const t = flow.inner ? this.inner4 : this.outer4;
    put(t.src, out, src4, 4);
    put(t.dst, out, dst4, 4);
    if (flow.hasPorts) {
      flow.srcPort = t.sport;
      flow.dstPort = t.dport;
    }
    return MAP_OK;
  }

  map4to6(
    _inp: Uint8Array,
    _s: number,
    _d: number,
    out: Uint8Array,
    src6: number,
    dst6: number,
    flow: Flow,
  ): number {
    const t = flow.inner ? this.inner6 : this.outer6;
    put(t.src, out, src6, 16);
    put(t.dst, out, dst6, 16);
    if (flow.hasPorts) {
      flow.srcPort = t.sport;
      flow.dstPort = t.dport;
    }
    return MAP_OK;
  }

  /** Hairpinning (RFC 6146 §3.8) is done by the NAT64 itself, with a lookup on the way back. */
  isHairpin4(): boolean {
    return false;
  }
}
