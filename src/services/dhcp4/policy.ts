// What the server answers (RFC 2131 §4.3, RFC 8925 §3.3): given the scope, the lease table and a
// client message, the reply to send, where to send it (§4.1), and the lease to record. Pure apart
// from reading the table (and taking a token of the new-binding budget for a client it does not
// know: leases.ts says what a flood of new clients can and cannot take).
import { type Claim, type Lease, type LeaseView, liveBinding } from "./leases.ts";
import { dynamic, inSubnet, normalizeMac, type Scope } from "./scope.ts";
import {
  addrBytes,
  BOOTREPLY,
  BOOTREQUEST,
  DHCPACK,
  DHCPDECLINE,
  DHCPDISCOVER,
  DHCPINFORM,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  type DhcpMessage,
  hardwareAddress,
  hex,
  isBroadcast,
  MIN_MAX_MESSAGE,
  macText,
  messageType,
  OPT,
  type OptionOut,
  optionAddress,
  type ReplyFields,
  requests,
  u8Bytes,
  u32Bytes,
} from "./wire.ts";

/** Where a reply goes (RFC 2131 §4.1). */
export type Destination =
  /** to the relay agent, port 67 */
  | { kind: "relay"; address: number }
  /** to the client's own address, port 68 */
  | { kind: "unicast"; address: number }
  /** to 255.255.255.255, port 68, on the interface */
  | { kind: "broadcast" }
  /** to yiaddr at the client's hardware address (it has no address yet to answer ARP) */
  | { kind: "link"; address: number; hwaddr: Uint8Array };

export interface Reply {
  type: number;
  fields: ReplyFields;
  options: OptionOut[];
  maxSize: number;
  to: Destination;
}

export interface Decision {
  reply?: Reply;
  /** a lease record to store before the reply leaves */
  lease?: Lease;
  /** an address set aside for the client until `until` (memory only) */
  offer?: { client: string; address: number; until: number };
  /** the client chose another server: forget our offer */
  clearOffer?: string;
  /** why nothing is sent (counted by the server) */
  drop?: string;
  /** RFC 8925: the reply told the client to go IPv6-only */
  v6only?: boolean;
}

/** RFC 2131 §4.2: the client identifier (option 61) if present, else htype + chaddr. */
export function clientKey(m: DhcpMessage): string {
  const id = m.options.get(OPT.clientId);
  if (id && id.length > 0) return `id:${hex(id)}`;
  return `hw:${m.htype}:${hex(hardwareAddress(m))}`;
}

function hostnameOf(m: DhcpMessage): string | undefined {
  const h = m.options.get(OPT.hostName);
  if (!h || h.length === 0) return undefined;
  const t = Buffer.from(h)
    .toString("latin1")
    .replace(/[^\x20-\x7e]/g, "?");
  return t.slice(0, 63);
}

function reservationOf(scope: Scope, m: DhcpMessage) {
  if (m.htype !== 1 || m.hlen !== 6) return undefined;
  return scope.reservations.get(normalizeMac(macText(hardwareAddress(m))));
}

/** §4.1: the destination of an OFFER or ACK. */
function destination(m: DhcpMessage, yiaddr: number): Destination {
  if (m.giaddr !== 0) return { kind: "relay", address: m.giaddr };
  if (m.ciaddr !== 0) return { kind: "unicast", address: m.ciaddr };
  if (isBroadcast(m) || m.htype !== 1 || m.hlen !== 6 || yiaddr === 0) return { kind: "broadcast" };
  return { kind: "link", address: yiaddr, hwaddr: hardwareAddress(m) };
}

function maxSizeOf(m: DhcpMessage): number {
  const v = m.options.get(OPT.maxMessageSize);
  // RFC 2132 §9.10: the largest DHCP message the client accepts; at least 576.
  const n = v && v.length === 2 ? (v[0]! << 8) | v[1]! : MIN_MAX_MESSAGE;
  return Math.max(MIN_MAX_MESSAGE, n) - 28; // IP and UDP headers
}

function baseOptions(scope: Scope, type: number, m: DhcpMessage): OptionOut[] {
  const o: OptionOut[] = [
    [OPT.messageType, u8Bytes(type)],
    [OPT.serverId, addrBytes(scope.serverId)],
  ];
  // RFC 6842: a server echoes the client identifier.
  const id = m.options.get(OPT.clientId);
  if (id && id.length > 0) o.push([OPT.clientId, id]);
  return o;
}

function configuration(
  scope: Scope,
  m: DhcpMessage,
  withLease: boolean,
): { options: OptionOut[]; v6only: boolean } {
  const o: OptionOut[] = [];
  if (withLease) {
    o.push([OPT.leaseTime, u32Bytes(scope.leaseTime)]);
    o.push([OPT.renewalTime, u32Bytes(scope.renewalTime)]);
    o.push([OPT.rebindingTime, u32Bytes(scope.rebindingTime)]);
  }
  o.push(...scope.configOptions);
  // RFC 8925 §3.3.1: option 108 only when the client asks for it (option 55) and the scope is
  // IPv6-mostly; its value is V6ONLY_WAIT.
  const v6only = scope.v6OnlyWait !== undefined && requests(m, OPT.v6OnlyPreferred);
  if (v6only) o.push([OPT.v6OnlyPreferred, u32Bytes(scope.v6OnlyWait!)]);
  return { options: o, v6only };
}

function reply(
  scope: Scope,
  m: DhcpMessage,
  type: number,
  yiaddr: number,
  extra: OptionOut[],
  to: Destination,
  ciaddr = 0,
): Reply {
  return {
    type,
    fields: {
      op: BOOTREPLY,
      htype: m.htype,
      hlen: m.hlen,
      xid: m.xid,
      flags: m.flags,
      ciaddr,
      yiaddr,
      siaddr: 0,
      giaddr: m.giaddr,
      chaddr: m.chaddr,
    },
    options: [...baseOptions(scope, type, m), ...extra],
    maxSize: maxSizeOf(m),
    to,
  };
}

/** §4.3.2: a DHCPNAK; broadcast, or to the relay with the broadcast bit set. */
function nak(scope: Scope, m: DhcpMessage, why: string): Decision {
  const r = reply(
    scope,
    m,
    DHCPNAK,
    0,
    [[OPT.message, new TextEncoder().encode(why)]],
    m.giaddr !== 0 ? { kind: "relay", address: m.giaddr } : { kind: "broadcast" },
  );
  r.fields.flags = m.giaddr !== 0 ? m.flags | 0x8000 : m.flags;
  // Table 3: a NAK carries no lease or configuration options.
  return { reply: r };
}

/**
 * The address to offer, in the order of §4.3.1: the client's reservation, the address its offer
 * still holds, its current or previous binding, the address it asks for, a new one from the pool.
 * An OFFER takes no token of the new-binding budget: it binds nothing, and under pressure its
 * address is reclaimed (leases.ts).
 */
function choose(
  scope: Scope,
  view: LeaseView,
  m: DhcpMessage,
  client: string,
  now: number,
): { address?: number; drop?: string } {
  const res = reservationOf(scope, m);
  if (res) {
    if (view.available(res.address, client, now)) return { address: res.address };
    return { drop: "reserved address in use" };
  }
  const offer = view.offerFor(client);
  if (offer && view.offerable(offer.address, client, now)) return { address: offer.address };
  const mine = view.byClient(client);
  if (
    mine &&
    dynamic(scope, mine.address) &&
    mine.state !== "declined" &&
    view.offerable(mine.address, client, now)
  )
    return { address: mine.address };
  const asked = optionAddress(m, OPT.requestedAddress);
  if (asked !== undefined && dynamic(scope, asked) && view.offerable(asked, client, now))
    return { address: asked };
  const a = view.allocate(client, now);
  if (a === undefined) return { drop: "pool exhausted" };
  return { address: a };
}

/**
 * Whether a client this server does not know may have a new binding now: a token of the budget,
 * and for a claim without our offer, a free address beyond the pool's reserve. A reason to drop
 * the message, or undefined.
 */
function refuseNew(
  scope: Scope,
  view: LeaseView,
  claim: Claim,
  client: string,
  now: number,
): string | undefined {
  if (claim === "blind" && view.free(now) <= scope.reserve) return REFUSED_RESERVE;
  if (!view.admit(claim, client, now)) return REFUSED_BUDGET;
  return undefined;
}

/** Why a new client got nothing (counted as drop_rate_limited and drop_pool_reserve). */
export const REFUSED_BUDGET = "rate limited (maxLeasesPerMinute)";
export const REFUSED_RESERVE = "pool reserve (a claim without our offer)";

function bind(scope: Scope, m: DhcpMessage, client: string, address: number, now: number): Lease {
  const hostname = hostnameOf(m);
  return {
    address,
    client,
    hwaddr: macText(hardwareAddress(m)),
    state: "bound",
    expires: now + scope.leaseTime,
    ...(hostname !== undefined ? { hostname } : {}),
  };
}

function ack(scope: Scope, m: DhcpMessage, client: string, address: number, now: number): Decision {
  const { options, v6only } = configuration(scope, m, true);
  const r = reply(scope, m, DHCPACK, address, options, destination(m, address), m.ciaddr);
  return { reply: r, lease: bind(scope, m, client, address, now), v6only };
}

/** ACK `address`; for a client this server does not know, only as a new binding `refuseNew` allows. */
function grant(
  scope: Scope,
  view: LeaseView,
  m: DhcpMessage,
  client: string,
  address: number,
  claim: Claim,
  now: number,
): Decision {
  const known = view.byClient(client) !== undefined || reservationOf(scope, m) !== undefined;
  const why = known ? undefined : refuseNew(scope, view, claim, client, now);
  return why ? { drop: why } : ack(scope, m, client, address, now);
}

/** Whether `address` may be bound to this client (reservation rules, pool, other clients' bindings). */
function acceptable(
  scope: Scope,
  view: LeaseView,
  m: DhcpMessage,
  client: string,
  address: number,
  now: number,
): boolean {
  const res = reservationOf(scope, m);
  if (res) return res.address === address && view.available(address, client, now);
  if (!dynamic(scope, address)) return false;
  return view.available(address, client, now);
}

export function decide(scope: Scope, view: LeaseView, m: DhcpMessage, now: number): Decision {
  if (m.op !== BOOTREQUEST) return { drop: "not a BOOTREQUEST" };
  const type = messageType(m);
  if (type === undefined) return { drop: "no message type" };
  if (m.hlen > 16) return { drop: "hlen above 16" };
  // A relayed message belongs to this scope only if the relay sits on its subnet.
  if (m.giaddr !== 0 && !inSubnet(scope, m.giaddr)) return { drop: "relay outside the subnet" };
  const client = clientKey(m);

  switch (type) {
    case DHCPDISCOVER: {
      // §4.3.1
      const c = choose(scope, view, m, client, now);
      if (c.address === undefined) return { drop: c.drop ?? "no address" };
      const { options, v6only } = configuration(scope, m, true);
      const r = reply(scope, m, DHCPOFFER, c.address, options, destination(m, c.address));
      // RFC 8925 §3.3.1 allows yiaddr 0.0.0.0 in an OFFER with option 108; v6mostly offers a real
      // address (docs/dhcp4.md says why) but only holds it in memory, for `offerHold` seconds at most.
      return { reply: r, offer: { client, address: c.address, until: now + scope.offerHold }, v6only };
    }

    case DHCPREQUEST: {
      const serverId = optionAddress(m, OPT.serverId);
      const requested = optionAddress(m, OPT.requestedAddress);
      if (serverId !== undefined) {
        // SELECTING: the client answers an OFFER; it names the server it chose.
        if (serverId !== scope.serverId) return { clearOffer: client, drop: "client chose another server" };
        if (requested === undefined || m.ciaddr !== 0) return { drop: "SELECTING without requested address" };
        // It answers our OFFER if we offered it that address (even if a DISCOVER under pressure
        // took the address for another offer since: the first REQUEST wins).
        const offer = view.offerFor(client);
        const claim: Claim = offer && offer.address === requested && offer.until > now ? "offered" : "blind";
        if (acceptable(scope, view, m, client, requested, now))
          return grant(scope, view, m, client, requested, claim, now);
        return nak(scope, m, "requested address not available");
      }
      if (requested !== undefined && m.ciaddr === 0) {
        // INIT-REBOOT: the client checks its remembered address.
        if (!inSubnet(scope, requested)) return nak(scope, m, "wrong network");
        const mine = view.byClient(client);
        if (
          mine &&
          mine.address === requested &&
          mine.state !== "declined" &&
          acceptable(scope, view, m, client, requested, now)
        ) {
          return ack(scope, m, client, requested, now);
        }
        // This server is the only one for the scope (the planner guarantees it), so it answers
        // authoritatively instead of staying silent on an unknown client (§4.3.2 leaves that to
        // servers that are not alone).
        if (acceptable(scope, view, m, client, requested, now))
          return grant(scope, view, m, client, requested, "blind", now);
        return nak(scope, m, "requested address not available");
      }
      if (m.ciaddr !== 0) {
        // RENEWING (unicast) or REBINDING (broadcast): extend the binding of ciaddr.
        if (!inSubnet(scope, m.ciaddr)) return nak(scope, m, "wrong network");
        const mine = view.byClient(client);
        if (
          mine &&
          mine.address === m.ciaddr &&
          liveBinding(mine, now) &&
          acceptable(scope, view, m, client, m.ciaddr, now)
        ) {
          return ack(scope, m, client, m.ciaddr, now);
        }
        if (acceptable(scope, view, m, client, m.ciaddr, now))
          return grant(scope, view, m, client, m.ciaddr, "blind", now);
        return nak(scope, m, "address not yours");
      }
      return { drop: "REQUEST without ciaddr or requested address" };
    }

    case DHCPDECLINE: {
      // §4.3.3: the address is in use by someone else; keep it out of the pool for a while.
      const serverId = optionAddress(m, OPT.serverId);
      if (serverId !== undefined && serverId !== scope.serverId)
        return { drop: "DECLINE for another server" };
      const requested = optionAddress(m, OPT.requestedAddress);
      const mine = view.byClient(client);
      if (requested === undefined || !mine || mine.address !== requested)
        return { drop: "DECLINE of an address not offered" };
      return {
        lease: { ...mine, state: "declined", expires: now + scope.declineProbation },
        drop: "DECLINE (no reply)",
      };
    }

    case DHCPRELEASE: {
      // §4.3.4: the client gives its address back.
      const mine = view.byClient(client);
      if (!mine || mine.address !== m.ciaddr || mine.state !== "bound")
        return { drop: "RELEASE of an address not bound" };
      return { lease: { ...mine, state: "released", expires: now }, drop: "RELEASE (no reply)" };
    }

    case DHCPINFORM: {
      // §4.3.5: configuration only, no lease; sent to ciaddr.
      if (m.ciaddr === 0 && m.giaddr === 0) return { drop: "INFORM without ciaddr" };
      const { options } = configuration(scope, m, false);
      const to: Destination =
        m.giaddr !== 0
          ? { kind: "relay", address: m.giaddr }
          : isBroadcast(m)
            ? { kind: "broadcast" }
            : { kind: "unicast", address: m.ciaddr };
      return { reply: reply(scope, m, DHCPACK, 0, options, to, m.ciaddr) };
    }

    default:
      return { drop: `message type ${type} from a client` };
  }
}
