// RFC 4861 §6.1: which received solicitations and advertisements are valid. Pure: it reads what
// the socket reported (source, hop limit) and the message bytes. The ICMPv6 checksum is checked by
// the kernel for raw ICMPv6 sockets before the message reaches us.
import {
  type Decoded,
  decodeRouterAdvertisement,
  decodeRouterSolicitation,
  ICMP6_ROUTER_ADVERT,
  ICMP6_ROUTER_SOLICIT,
  type RouterAdvertisement,
  type RouterSolicitation,
} from "./wire.ts";

export interface ReceivedMessage {
  data: Uint8Array;
  source: Uint8Array;
  /** IPv6 Hop Limit as received; undefined when the kernel did not report it */
  hopLimit?: number;
}

const isUnspecified = (a: Uint8Array) => a.every((x) => x === 0);
/** fe80::/10 */
export const isLinkLocal = (a: Uint8Array) => a[0] === 0xfe && ((a[1] ?? 0) & 0xc0) === 0x80;

export type Message = { kind: "rs"; rs: RouterSolicitation } | { kind: "ra"; ra: RouterAdvertisement };

/** Decode and validate; an error names the RFC rule that drops the message. */
export function validateMessage(m: ReceivedMessage): Decoded<Message> {
  const type = m.data[0];
  if (type !== ICMP6_ROUTER_SOLICIT && type !== ICMP6_ROUTER_ADVERT)
    return { ok: false, error: `ICMPv6 type ${type} is not RS or RA` };
  // §6.1.1 and §6.1.2: "The IP Hop Limit field has a value of 255", "ICMP Code is 0".
  if (m.hopLimit !== 255)
    return {
      ok: false,
      error: `hop limit ${m.hopLimit ?? "unknown"}, not 255 (RFC 4861 §6.1): it came from off-link`,
    };
  if (m.data[1] !== 0) return { ok: false, error: `ICMP code ${m.data[1]}, not 0 (RFC 4861 §6.1)` };
  if (type === ICMP6_ROUTER_SOLICIT) {
    const rs = decodeRouterSolicitation(m.data);
    if (!rs.ok) return rs;
    // §6.1.1: "If the IP source address is the unspecified address, there is no source link-layer
    // address option in the message."
    if (isUnspecified(m.source) && rs.value.options.some((o) => o.type === "sourceLinkAddress")) {
      return {
        ok: false,
        error: "solicitation from :: carries a source link-layer address option (RFC 4861 §6.1.1)",
      };
    }
    return { ok: true, value: { kind: "rs", rs: rs.value } };
  }
  // §6.1.2: "IP Source Address is a link-local address."
  if (!isLinkLocal(m.source))
    return { ok: false, error: "advertisement from a source that is not link-local (RFC 4861 §6.1.2)" };
  const ra = decodeRouterAdvertisement(m.data);
  if (!ra.ok) return ra;
  return { ok: true, value: { kind: "ra", ra: ra.value } };
}
