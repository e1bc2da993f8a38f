// Neighbor Solicitation in, Neighbor Advertisement out (RFC 4861 §4.3, §4.4, §7.1.1, §7.2.4), as
// whole IPv6 packets: the responder reads solicitations from a packet socket (the kernel neither
// checks nor strips anything for it) and sends its advertisements straight to the solicitor's
// hardware address. Pure: bytes in, a typed view, a drop reason or bytes out; never throws on
// what arrives.

export const ICMP6_NEIGHBOR_SOLICIT = 135;
export const ICMP6_NEIGHBOR_ADVERT = 136;
const IPPROTO_ICMPV6 = 58;
const IPV6_HEADER = 40;
/** type, code, checksum, reserved, target address */
const NS_MIN_LENGTH = 24;
const OPTION_SOURCE_LLA = 1;
const OPTION_TARGET_LLA = 2;
/** RFC 4861 §6.1, §7.1: every Neighbor Discovery message is sent and accepted with hop limit 255. */
export const ND_HOP_LIMIT = 255;

export const ALL_NODES = Uint8Array.from([0xff, 0x02, ...new Array(13).fill(0), 1]);

/** Why a received solicitation was dropped; the responder counts each. */
export type NsDrop =
  | "malformed"
  | "checksum"
  | "hopLimit"
  | "code"
  | "length"
  | "multicastTarget"
  | "optionLength"
  | "unspecifiedToUnicast"
  | "unspecifiedWithSourceLla";

export interface NeighborSolicitation {
  source: Uint8Array;
  destination: Uint8Array;
  target: Uint8Array;
  /** the Source Link-Layer Address option, when present */
  sourceLinkLayer?: Uint8Array;
}

export type NsRead = { ok: true; ns: NeighborSolicitation } | { ok: false; drop: NsDrop };

const isUnspecified = (a: Uint8Array): boolean => a.every((b) => b === 0);
const isMulticast = (a: Uint8Array): boolean => a[0] === 0xff;

/** ff02::1:ff00:0/104 (RFC 4291 §2.7.1) */
export function isSolicitedNode(a: Uint8Array): boolean {
  if (a.length !== 16 || a[0] !== 0xff || a[1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (a[i] !== 0) return false;
  return a[11] === 0x01 && a[12] === 0xff;
}

/** The solicited-node multicast address of `address` (RFC 4291 §2.7.1): ff02::1:ff + its low 24 bits. */
export function solicitedNode(address: Uint8Array): Uint8Array {
  const g = new Uint8Array(16);
  g[0] = 0xff;
  g[1] = 0x02;
  g[11] = 0x01;
  g[12] = 0xff;
  g.set(address.subarray(13, 16), 13);
  return g;
}

/** The Ethernet address an IPv6 multicast address maps to: 33:33 and its last 32 bits (RFC 2464 §7). */
export function multicastMac(group: Uint8Array): Uint8Array {
  const m = new Uint8Array(6);
  m[0] = 0x33;
  m[1] = 0x33;
  m.set(group.subarray(12, 16), 2);
  return m;
}

/** The ICMPv6 checksum (RFC 4443 §2.3) over the pseudo-header (RFC 8200 §8.1) and `message`. */
export function icmp6Checksum(source: Uint8Array, destination: Uint8Array, message: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 16; i += 2)
    sum += ((source[i]! << 8) | source[i + 1]!) + ((destination[i]! << 8) | destination[i + 1]!);
  sum += (message.length >>> 16) + (message.length & 0xffff) + IPPROTO_ICMPV6;
  const n = message.length;
  for (let i = 0; i + 1 < n; i += 2) sum += (message[i]! << 8) | message[i + 1]!;
  if (n & 1) sum += message[n - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * An IPv6 packet carrying a Neighbor Solicitation, validated as RFC 4861 §7.1.1 says, or the rule
 * that drops it. Extension headers are not followed (the socket's filter passes only packets
 * whose Next Header is ICMPv6); a packet longer than its Payload Length (Ethernet padding) is cut.
 */
export function readNeighborSolicitation(p: Uint8Array): NsRead {
  if (p.length < IPV6_HEADER || p[0]! >> 4 !== 6 || p[6] !== IPPROTO_ICMPV6)
    return { ok: false, drop: "malformed" };
  const payloadLength = (p[4]! << 8) | p[5]!;
  if (IPV6_HEADER + payloadLength > p.length) return { ok: false, drop: "malformed" };
  const m = p.subarray(IPV6_HEADER, IPV6_HEADER + payloadLength);
  if (m.length < 4 || m[0] !== ICMP6_NEIGHBOR_SOLICIT) return { ok: false, drop: "malformed" };
  const source = p.slice(8, 24);
  const destination = p.slice(24, 40);
  // §7.1.1: "The ICMP checksum is valid." (no kernel checks it on a packet socket)
  if (icmp6Checksum(source, destination, m) !== 0) return { ok: false, drop: "checksum" };
  // "The IP Hop Limit field has a value of 255, i.e., the packet could not possibly have been
  // forwarded by a router."
  if (p[7] !== ND_HOP_LIMIT) return { ok: false, drop: "hopLimit" };
  // "ICMP Code is 0."
  if (m[1] !== 0) return { ok: false, drop: "code" };
  // "ICMP length (derived from the IP length) is 24 or more octets."
  if (m.length < NS_MIN_LENGTH) return { ok: false, drop: "length" };
  const target = m.slice(8, 24);
  // "Target Address is not a multicast address."
  if (isMulticast(target)) return { ok: false, drop: "multicastTarget" };
  // "All included options have a length that is greater than zero." (and none runs past the end)
  let sourceLinkLayer: Uint8Array | undefined;
  for (let off = NS_MIN_LENGTH; off < m.length; ) {
    if (off + 2 > m.length) return { ok: false, drop: "optionLength" };
    const length = m[off + 1]! * 8;
    if (length === 0 || off + length > m.length) return { ok: false, drop: "optionLength" };
    if (m[off] === OPTION_SOURCE_LLA && length >= 8) sourceLinkLayer = m.slice(off + 2, off + 8);
    off += length;
  }
  if (isUnspecified(source)) {
    // "If the IP source address is the unspecified address, the IP destination address is a
    // solicited-node multicast address."
    if (!isSolicitedNode(destination)) return { ok: false, drop: "unspecifiedToUnicast" };
    // "If the IP source address is the unspecified address, there is no source link-layer
    // address option in the message."
    if (sourceLinkLayer) return { ok: false, drop: "unspecifiedWithSourceLla" };
  }
  return { ok: true, ns: { source, destination, target, sourceLinkLayer } };
}

export interface AdvertisementFlags {
  router: boolean;
  solicited: boolean;
  override: boolean;
}

/**
 * An IPv6 packet carrying a Neighbor Advertisement (RFC 4861 §4.4) for `target` with the Target
 * Link-Layer Address option, hop limit 255, checksum filled in.
 */
export function neighborAdvertisement(o: {
  source: Uint8Array;
  destination: Uint8Array;
  target: Uint8Array;
  targetLinkLayer: Uint8Array;
  flags: AdvertisementFlags;
}): Uint8Array {
  const messageLength = 32;
  const p = new Uint8Array(IPV6_HEADER + messageLength);
  p[0] = 0x60;
  p[4] = 0;
  p[5] = messageLength;
  p[6] = IPPROTO_ICMPV6;
  p[7] = ND_HOP_LIMIT;
  p.set(o.source, 8);
  p.set(o.destination, 24);
  const m = p.subarray(IPV6_HEADER);
  m[0] = ICMP6_NEIGHBOR_ADVERT;
  m[4] = (o.flags.router ? 0x80 : 0) | (o.flags.solicited ? 0x40 : 0) | (o.flags.override ? 0x20 : 0);
  m.set(o.target, 8);
  m[24] = OPTION_TARGET_LLA;
  m[25] = 1;
  m.set(o.targetLinkLayer, 26);
  const c = icmp6Checksum(o.source, o.destination, m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return p;
}

/**
 * The advertisement that answers `ns` for an address we answer for on another node's behalf
 * (RFC 4861 §7.2.4), and the IPv6 address it goes to:
 * - "If the source of the solicitation is the unspecified address, the node MUST set the
 *   Solicited flag to zero and multicast the advertisement to the all-nodes address. Otherwise,
 *   the node MUST set the Solicited flag to one and unicast the advertisement to the Source
 *   Address of the solicitation."
 * - Override: "If the Target Address is either an anycast address or a unicast address for which
 *   the node is providing proxy service, or the Target Link-Layer Address option is not included,
 *   the Override flag SHOULD be set to zero." We are that proxy, so O = 0: a neighbour that holds
 *   another link-layer address for the target keeps it (§7.2.5) until its own Neighbor
 *   Unreachability Detection drops it, and then takes ours; the owner's own advertisement, if it
 *   ever sends one, wins over ours ("nodes give preference to non-proxy advertisements").
 * - Router: 0. The addresses answered for are translated services (DNAT, pools), not routers
 *   (§4.4 "R ... indicates that the sender is a router"); Linux's proxy NDP sends 0 as well unless
 *   its proxy entry says `router`.
 * - The Target Link-Layer Address option is always included (§7.2.4: MUST when the solicitation
 *   was multicast; here it is the whole point: another box's address).
 */
export function answerSolicitation(
  ns: NeighborSolicitation,
  ourAddress: Uint8Array,
  linkLayerAddress: Uint8Array,
): { packet: Uint8Array; destination: Uint8Array; dad: boolean } {
  const dad = isUnspecified(ns.source);
  const destination = dad ? ALL_NODES : ns.source;
  const packet = neighborAdvertisement({
    source: ourAddress,
    destination,
    target: ns.target,
    targetLinkLayer: linkLayerAddress,
    flags: { router: false, solicited: !dad, override: false },
  });
  return { packet, destination, dad };
}

/** Build a Neighbor Solicitation packet (for tests, fixtures and the bench; fields may be made wrong on purpose). */
export function neighborSolicitation(o: {
  source: Uint8Array;
  destination: Uint8Array;
  target: Uint8Array;
  sourceLinkLayer?: Uint8Array;
  hopLimit?: number;
  code?: number;
  /** options appended as they are (e.g. one with length 0) */
  rawOptions?: Uint8Array;
  /** cut the ICMPv6 message to this many bytes (the checksum still covers what is sent) */
  truncateTo?: number;
  corruptChecksum?: boolean;
}): Uint8Array {
  const slla = o.sourceLinkLayer ? 8 : 0;
  const raw = o.rawOptions?.length ?? 0;
  const full = new Uint8Array(NS_MIN_LENGTH + slla + raw);
  full[0] = ICMP6_NEIGHBOR_SOLICIT;
  full[1] = o.code ?? 0;
  full.set(o.target, 8);
  if (o.sourceLinkLayer) {
    full[24] = OPTION_SOURCE_LLA;
    full[25] = 1;
    full.set(o.sourceLinkLayer, 26);
  }
  if (o.rawOptions) full.set(o.rawOptions, NS_MIN_LENGTH + slla);
  const m = full.subarray(0, o.truncateTo ?? full.length);
  const c = icmp6Checksum(o.source, o.destination, m) ^ (o.corruptChecksum ? 0x5555 : 0);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  const p = new Uint8Array(IPV6_HEADER + m.length);
  p[0] = 0x60;
  p[4] = m.length >> 8;
  p[5] = m.length & 0xff;
  p[6] = IPPROTO_ICMPV6;
  p[7] = o.hopLimit ?? ND_HOP_LIMIT;
  p.set(o.source, 8);
  p.set(o.destination, 24);
  p.set(m, IPV6_HEADER);
  return p;
}

/** What an advertisement packet says (for tests and tools), or undefined when it is not one. */
export function readNeighborAdvertisement(p: Uint8Array):
  | {
      destination: Uint8Array;
      hopLimit: number;
      target: Uint8Array;
      flags: AdvertisementFlags;
      targetLinkLayer?: Uint8Array;
      checksumOk: boolean;
    }
  | undefined {
  if (p.length < IPV6_HEADER + NS_MIN_LENGTH || p[6] !== IPPROTO_ICMPV6) return undefined;
  const m = p.subarray(IPV6_HEADER, IPV6_HEADER + ((p[4]! << 8) | p[5]!));
  if (m[0] !== ICMP6_NEIGHBOR_ADVERT || m.length < NS_MIN_LENGTH) return undefined;
  const tlla = m.length >= 32 && m[24] === OPTION_TARGET_LLA && m[25] === 1 ? m.slice(26, 32) : undefined;
  return {
    destination: p.slice(24, 40),
    hopLimit: p[7]!,
    target: m.slice(8, 24),
    flags: { router: (m[4]! & 0x80) !== 0, solicited: (m[4]! & 0x40) !== 0, override: (m[4]! & 0x20) !== 0 },
    targetLinkLayer: tlla,
    checksumOk: icmp6Checksum(p.slice(8, 24), p.slice(24, 40), m) === 0,
  };
}
