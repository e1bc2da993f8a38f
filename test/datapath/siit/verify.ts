/** Independent parsers/checkers for translator outputs (used by the property tests). */
import { finish, read16, sum16 } from "../../../src/datapath/siit/checksum.ts";

export interface Parsed {
  version: 4 | 6;
  l4Proto: number;
  l4Off: number;
  /** The packet is a fragment (not the whole datagram). */
  fragment: boolean;
  firstFragment: boolean;
}

/** Parses an output; returns a string describing the problem if it is malformed. */
export function parseOutput(b: Uint8Array): Parsed | string {
  if (b.length < 20) return "shorter than 20 bytes";
  const v = b[0]! >>> 4;
  if (v === 4) {
    const ihl = (b[0]! & 15) * 4;
    if (ihl !== 20) return `IPv4 output with IHL ${ihl}`;
    if (read16(b, 2) !== b.length) return `IPv4 total length ${read16(b, 2)} != ${b.length}`;
    if (finish(sum16(b, 0, 20, 0)) !== 0) return "IPv4 header checksum does not verify";
    const f = read16(b, 6);
    const fragment = (f & 0x3fff) !== 0;
    return { version: 4, l4Proto: b[9]!, l4Off: 20, fragment, firstFragment: (f & 0x1fff) === 0 };
  }
  if (v === 6) {
    if (b.length < 40) return "IPv6 shorter than 40";
    if (read16(b, 4) + 40 !== b.length) return `IPv6 payload length ${read16(b, 4)} + 40 != ${b.length}`;
    let nh = b[6]!;
    let off = 40;
    let fragment = false;
    let first = true;
    if (nh === 44) {
      if (b.length < 48) return "fragment header truncated";
      fragment = true;
      first = (read16(b, 42) & 0xfff8) === 0;
      nh = b[40]!;
      off = 48;
    }
    return { version: 6, l4Proto: nh, l4Off: off, fragment, firstFragment: first };
  }
  return `version ${v}`;
}

/** Verifies the transport checksum of a complete (unfragmented) datagram. Null = ok or not checkable. */
export function l4ChecksumProblem(b: Uint8Array, p: Parsed): string | null {
  if (p.fragment) return null;
  const len = b.length - p.l4Off;
  const proto = p.l4Proto;
  let s: number;
  if (p.version === 4) {
    if (proto === 1) s = sum16(b, p.l4Off, len, 0);
    else if (proto === 6 || proto === 17) {
      if (proto === 17 && len >= 8 && read16(b, p.l4Off + 6) === 0) return null; // no checksum
      s = sum16(b, 12, 8, 0) + len + proto + sum16(b, p.l4Off, len, 0);
    } else return null;
  } else {
    if (proto !== 6 && proto !== 17 && proto !== 58) return null;
    s = sum16(b, 8, 32, 0) + (len >>> 16) + (len & 0xffff) + proto + sum16(b, p.l4Off, len, 0);
  }
  if ((proto === 6 && len < 20) || (proto === 17 && len < 8) || ((proto === 1 || proto === 58) && len < 8))
    return null;
  return finish(s) === 0 ? null : `transport (${proto}) checksum does not verify`;
}
