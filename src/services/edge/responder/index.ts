// The neighbour responder: on one interface, answers ARP requests (RFC 826) for configured IPv4
// addresses and Neighbor Solicitations (RFC 4861 §7.2.3, §7.2.4) for configured IPv6 addresses
// with a configured link-layer address: another box's (a FortiGate whose DNAT addresses it never
// announces itself), or by default the interface's own. README.md next to this file says what it
// answers, the RFC rules and its limits.
//
// I/O lives here only: two packet sockets (src/util/sys/packet.ts) drained by one timer, the
// solicited-node memberships (src/util/sys/mcast6.ts). Parsing and building are pure (arp.ts,
// nd.ts), as are the address sets (targets.ts) and the rate limits (ratelimit.ts).
import type { Logger } from "../../../util/log.ts";
import { addressOf, formatRange, type Range, toBytes } from "../../../util/net.ts";
import { interfaceMac } from "../../../util/sys/announce.ts";
import { ETH_P_ARP } from "../../../util/sys/arp.ts";
import { MulticastGroups6 } from "../../../util/sys/mcast6.ts";
import { BPF, ETH_P_IPV6, type Frame, PacketSocket, PacketType } from "../../../util/sys/packet.ts";
import { readLink } from "../../ra/link.ts";
import { arpReply, readArpRequest } from "./arp.ts";
import { answerSolicitation, ICMP6_NEIGHBOR_SOLICIT, multicastMac, readNeighborSolicitation } from "./nd.ts";
import { AnswerLimiter } from "./ratelimit.ts";
import { groupPlan, inRanges4, MAX_GROUPS, Ranges6 } from "./targets.ts";

export interface NeighbourResponderOptions {
  interface: string;
  /** IPv4 addresses to answer ARP requests for */
  ipv4: Range[];
  /** IPv6 addresses to answer Neighbor Solicitations for */
  ipv6: Range[];
  /** the link-layer address to answer with, aa:bb:cc:dd:ee:ff; default the interface's own */
  linkLayerAddress?: string;
  log: Logger;
  /** answers per second, all solicitors together (default 1000); one solicitor gets half of it */
  ratePerSecond?: number;
}

export interface NeighbourResponder {
  /** Leave the multicast groups, close the sockets. Counters stay readable. */
  stop(): Promise<void>;
  /** Counters: what arrived, what was answered, every drop by reason. */
  stats(): Record<string, number>;
}

export const DEFAULT_RATE = 1000;
/** How often the sockets are drained, and how much per drain (see raw6.ts for why a timer). */
const POLL_MS = 10;
const BURST = 1024;

/**
 * Only IPv6 packets whose Next Header is ICMPv6 and whose ICMPv6 type is Neighbor Solicitation
 * reach the socket; everything else the interface carries stays in the kernel.
 */
const NS_FILTER = [
  { code: BPF.loadByte, jt: 0, jf: 0, k: 6 }, // IPv6 Next Header
  { code: BPF.jumpIfEqual, jt: 0, jf: 3, k: 58 },
  { code: BPF.loadByte, jt: 0, jf: 0, k: 40 }, // ICMPv6 type
  { code: BPF.jumpIfEqual, jt: 0, jf: 1, k: ICMP6_NEIGHBOR_SOLICIT },
  { code: BPF.return, jt: 0, jf: 0, k: 0xffff },
  { code: BPF.return, jt: 0, jf: 0, k: 0 },
];

/** aa:bb:cc:dd:ee:ff, an individual (not group) address: RFC 4861 §4.6.1 names one interface. */
export function parseMac(text: string, what: string): Uint8Array {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text))
    throw new Error(`${what}: "${text}" is not a MAC address (six hex pairs, aa:bb:cc:dd:ee:ff)`);
  const mac = Uint8Array.from(text.split(":").map((h) => Number.parseInt(h, 16)));
  if (mac[0]! & 1)
    throw new Error(`${what}: ${text} is a group (multicast) address; an answer names one interface`);
  return mac;
}

/** A MAC as one number (48 bits fit a double exactly): the rate limiter's key, built without a string. */
const macKey = (m: Uint8Array): number => {
  let k = 0;
  for (let i = 0; i < m.length && i < 6; i++) k = k * 256 + m[i]!;
  return k;
};
const macText = (m: Uint8Array): string => [...m].map((b) => b.toString(16).padStart(2, "0")).join(":");

export async function startNeighbourResponder(o: NeighbourResponderOptions): Promise<NeighbourResponder> {
  for (const [family, ranges] of [[4, o.ipv4] as const, [6, o.ipv6] as const]) {
    const wrong = ranges.find((r) => r.family !== family);
    if (wrong) throw new Error(`neighbour responder: ${wrong} is not an IPv${family} range (ipv${family})`);
  }
  const rate = o.ratePerSecond ?? DEFAULT_RATE;
  if (!(rate > 0)) throw new Error(`neighbour responder: ratePerSecond ${rate} must be above 0`);
  const ownMac = await interfaceMac(o.interface);
  const mac = o.linkLayerAddress === undefined ? ownMac : parseMac(o.linkLayerAddress, "linkLayerAddress");

  const counters: Record<string, number> = {};
  const count = (name: string, n = 1) => {
    counters[name] = (counters[name] ?? 0) + n;
  };
  const limiter = new AnswerLimiter(rate, Date.now());
  const ranges6 = new Ranges6(o.ipv6);
  const log = o.log.child({ service: "neighbour-responder", interface: o.interface });

  const sockets: PacketSocket[] = [];
  const groups = new MulticastGroups6(o.interface);
  const close = () => {
    for (const s of sockets) s.close();
    groups.close();
  };
  let arp: PacketSocket | undefined;
  let nd: PacketSocket | undefined;
  let linkLocal: Uint8Array = new Uint8Array(16);
  try {
    if (o.ipv4.length > 0) {
      arp = PacketSocket.open({ ifname: o.interface, protocol: ETH_P_ARP });
      sockets.push(arp);
    }
    if (o.ipv6.length > 0) {
      // Advertisements come from our link-local address (RFC 4861 §7.2.4 "an address assigned to
      // the interface"); wait for it to leave DAD.
      linkLocal = toBytes(6, addressOf((await readLink(o.interface)).linkLocal, 6).value);
      const plan = groupPlan(o.ipv6);
      nd = PacketSocket.open({
        ifname: o.interface,
        protocol: ETH_P_IPV6,
        filter: NS_FILTER,
        allMulticast: plan.kind === "allMulticast",
      });
      sockets.push(nd);
      if (plan.kind === "groups") for (const g of plan.groups) groups.join(g);
      else
        log.warn(
          { needed: plan.needed, limit: MAX_GROUPS },
          "the IPv6 ranges need more solicited-node groups than the limit: receiving all multicast instead (on an MLD-snooping switch, solicitations for them may not reach this port)",
        );
      counters["ipv6.groups"] = groups.size;
      counters["ipv6.allMulticast"] = plan.kind === "allMulticast" ? 1 : 0;
    }
  } catch (e) {
    close();
    throw e;
  }

  /** What became of an ARP frame: the name of the counter it goes to. */
  function onArp(f: Frame): string {
    if (f.packetType === PacketType.otherHost) return "arp.drop.notForUs";
    const r = readArpRequest(f.data);
    if (!r.ok) return `arp.drop.${r.drop}`;
    const q = r.request;
    if (!inRanges4(o.ipv4, q.targetProtocol)) return "arp.drop.outOfRange";
    // An announcement (RFC 5227 §3, sender = target address): someone else claims an address we
    // answer for. Not a question; counted so that the conflict shows.
    if (q.senderProtocol === q.targetProtocol) return "arp.drop.announcement";
    if (!limiter.allow(macKey(f.source), Date.now())) return "arp.drop.rateLimited";
    count("arp.sendErrors", arp!.enqueue(arpReply(q, mac), q.senderHardware));
    return "arp.answered";
  }

  /** What became of a Neighbor Solicitation: the name of the counter it goes to. */
  function onSolicitation(f: Frame): string {
    if (f.packetType === PacketType.otherHost) return "ns.drop.notForUs";
    if (f.truncated) return "ns.drop.malformed";
    // unicast to our MAC: a neighbour's reachability probe (§7.3.3), when we answer with our own
    if (f.packetType === PacketType.host) count("ns.unicast");
    const r = readNeighborSolicitation(f.data);
    if (!r.ok) return `ns.drop.${r.drop}`;
    const ns = r.ns;
    // §7.2.3: only targets this node answers for; the rest are someone else's.
    if (!ranges6.has(ns.target)) return "ns.drop.outOfRange";
    if (!limiter.allow(macKey(f.source), Date.now())) return "ns.drop.rateLimited";
    const a = answerSolicitation(ns, linkLocal, mac);
    // Straight to the solicitor's hardware address (its Source Link-Layer Address option, else the
    // frame's source), so the kernel never has to resolve it first; all-nodes for DAD.
    const to = a.dad ? multicastMac(a.destination) : (ns.sourceLinkLayer ?? f.source);
    count("ns.sendErrors", nd!.enqueue(a.packet, to));
    return a.dad ? "ns.answeredDad" : "ns.answered";
  }

  /** Up to BURST frames from the socket, answers sent a batch at a time; true when it may hold more. */
  function drain(sock: PacketSocket | undefined, handle: (f: Frame) => string, what: string): boolean {
    if (!sock) return false;
    for (let done = 0; done < BURST; ) {
      let n: number;
      try {
        n = sock.receiveMany();
      } catch (e) {
        count(`${what}.receiveErrors`);
        log.debug({ err: (e as Error).message }, "receive failed");
        return false;
      }
      for (let i = 0; i < n; i++) count(handle(sock.frame(i)));
      count(`${what}.received`, n);
      count(`${what}.sendErrors`, sock.flush());
      if (n === 0) return false;
      done += n;
    }
    return true;
  }

  // Every POLL_MS; while a socket still holds frames, again at once (setImmediate lets timers and
  // I/O run in between), so a flood is read as fast as it comes instead of overflowing the buffer.
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    const more = drain(arp, onArp, "arp");
    if (drain(nd, onSolicitation, "ns") || more) setImmediate(tick);
  };
  const timer = setInterval(tick, POLL_MS);

  log.info(
    {
      ipv4: o.ipv4.map(formatRange),
      ipv6: o.ipv6.map(formatRange),
      linkLayerAddress: macText(mac),
      own: macText(mac) === macText(ownMac),
      groups: groups.size,
      allMulticast: counters["ipv6.allMulticast"] === 1,
      ratePerSecond: rate,
    },
    "neighbour responder started",
  );

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      close();
      counters["ipv6.groups"] = 0;
      log.info({ stats: { ...counters } }, "neighbour responder stopped");
    },
    stats: () => ({ ...counters }),
  };
}
