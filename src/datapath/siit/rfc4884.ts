/**
 * RFC 4884 (multi-part ICMP messages) while translating an ICMP error.
 *
 * The extension structure is copied as opaque bytes. What changes is the
 * "original datagram" (OP) in front of it: its length field counts 32-bit
 * words in ICMPv4 and 64-bit words in ICMPv6 (RFC 4884 §4.1, §4.5), it must
 * be at least 128 bytes long (§4.1; shorter ones are zero-padded, issue #396
 * of Jool), and the whole message must stay within the ICMP error size limit
 * (576 / 1280 bytes). Priority when something must go: keep the headers and
 * the first 128 bytes of the OP, then the whole extension (never cut: all or
 * nothing), then the rest of the OP (RFC 4884 §5.5 leaves the policy to the
 * implementation; this is the one Jool's graybox suite expects).
 */

import { copyBytes } from "./bytes.ts";

/**
 * RFC 4884 §4.1, §4.5, §5: the length in bytes of the original datagram an
 * ICMP error's length field announces (`field`, already in bytes), for a
 * payload of payloadLen bytes: 0 when there is no extension (the field is 0,
 * or covers the whole payload), -1 when it claims more than the payload.
 */
export function originalDatagramLength(field: number, payloadLen: number): number {
  if (field === 0 || field === payloadLen) return 0;
  return field > payloadLen ? -1 : field;
}

/** Output of {@link layoutIcmpExtension}, reused. */
export class ExtensionLayout {
  /** Bytes after the ICMP header: OP (+ padding + extension). */
  bodyLen = 0;
  /** Value for the ICMP length field (0 = no extension). */
  lengthField = 0;
}

/**
 * Arranges the translated OP (already at out[opStart, opStart+opLen)) and the
 * extension (inp[ieOff, ieOff+iel), iel may be 0 when there is none).
 *
 * @param hdrsLen   outer IP header + ICMP header length of the output
 * @param maxLen    576 (ICMPv4) or 1280 (ICMPv6)
 * @param alignBits 2 (ICMPv4, 32-bit words) or 3 (ICMPv6, 64-bit words)
 * @param hasExt    the input carried an extension (length field != 0 and < payload)
 * @param forceRemove the output type has no length field (PTB, Parameter Problem)
 */
export function layoutIcmpExtension(
  res: ExtensionLayout,
  out: Uint8Array,
  opStart: number,
  opLen: number,
  inp: Uint8Array,
  ieOff: number,
  iel: number,
  hdrsLen: number,
  maxLen: number,
  alignBits: number,
  hasExt: boolean,
  forceRemove: boolean,
): void {
  if (!hasExt) {
    res.bodyLen = Math.min(hdrsLen + opLen, maxLen) - hdrsLen;
    res.lengthField = 0;
    return;
  }
  const maxIel = maxLen - (hdrsLen + 128);
  if (forceRemove || iel > maxIel) {
    // The extension does not fit next to 128 bytes of OP: drop it entirely.
    res.bodyLen = Math.min(hdrsLen + opLen, maxLen) - hdrsLen;
    res.lengthField = 0;
    return;
  }
  let ipl = Math.min(hdrsLen + opLen + iel, maxLen) - iel - hdrsLen;
  ipl &= ~((1 << alignBits) - 1); // truncate to whole words; never add bytes here
  const pad = ipl < 128 ? 128 - ipl : 0;
  const padStart = opStart + ipl;
  out.fill(0, padStart, padStart + pad);
  copyBytes(inp, ieOff, out, padStart + pad, iel);
  res.bodyLen = ipl + pad + iel;
  res.lengthField = (ipl + pad) >>> alignBits;
}
