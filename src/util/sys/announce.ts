// Telling the link that addresses moved here, as keepalived and MetalLB's layer-2 mode do:
// - IPv4: ARP Announcements (RFC 5227 §3), ANNOUNCE_NUM = 2 of them ANNOUNCE_INTERVAL = 2 s
//   apart (§1.1), on a packet socket (src/util/sys/arp.ts);
// - IPv6: unsolicited Neighbor Advertisements (RFC 4861 §7.2.6) to all-nodes with the Override
//   flag, so that neighbours replace the cached link-layer address (§7.2.5), up to
//   MAX_NEIGHBOR_ADVERTISEMENT = 3 of them RetransTimer = 1 s apart (§10), on a raw ICMPv6
//   socket bound to the address itself (src/util/sys/raw6.ts).
// Neighbours that hold no entry for the address create none (RFC 4861 §7.2.5, Linux's arp_accept
// default): they resolve it when they next need it, and then only the new owner answers.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type Family, parseAddress } from "../net.ts";
import { ArpSender, arpAnnouncement } from "./arp.ts";
import { interfaceIndex } from "./libc.ts";
import { Icmp6Socket } from "./raw6.ts";

/** An address of this host to announce, and the interface it is on. */
export interface HostAddress {
  address: string;
  family: Family;
  dev: string;
}

/** RFC 5227 §1.1 */
export const ANNOUNCE_NUM = 2;
export const ANNOUNCE_INTERVAL_MS = 2000;
/** RFC 4861 §10 */
export const MAX_NEIGHBOR_ADVERTISEMENT = 3;
export const RETRANS_TIMER_MS = 1000;

const ICMP6_NEIGHBOR_ADVERT = 136;
const ND_OPT_TARGET_LINKADDR = 2;
const ALL_NODES = addressBytes("ff02::1");

export function addressBytes(text: string): Uint8Array {
  const a = parseAddress(text);
  if (!a.ok) throw new Error(a.error);
  const n = a.value.family === 4 ? 4 : 16;
  const b = new Uint8Array(n);
  let v = a.value.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

/**
 * An unsolicited Neighbor Advertisement (RFC 4861 §4.4, §7.2.6): Router and Solicited flags
 * clear, Override set, the target address, and a Target Link-Layer Address option (§4.6.1).
 * The checksum is left zero: the kernel fills it on a raw ICMPv6 socket (RFC 3542 §3.1).
 */
export function unsolicitedAdvert(target: Uint8Array, mac: Uint8Array): Uint8Array {
  if (target.length !== 16 || mac.length !== 6) throw new Error("NA for IPv6 over Ethernet only");
  const m = new Uint8Array(32);
  m[0] = ICMP6_NEIGHBOR_ADVERT;
  m[4] = 0x20; // R = 0 (0x80), S = 0 (0x40), O = 1 (0x20)
  m.set(target, 8);
  m[24] = ND_OPT_TARGET_LINKADDR;
  m[25] = 1; // length in units of 8 bytes
  m.set(mac, 26);
  return m;
}

/** The hardware address of an interface (from `ip -j link`, which sees this network namespace). */
export async function interfaceMac(dev: string): Promise<Uint8Array> {
  const { stdout } = await promisify(execFile)("ip", ["-j", "link", "show", "dev", dev]);
  const links = JSON.parse(stdout) as { address?: string }[];
  const text = links[0]?.address ?? "";
  const bytes = text.split(":").map((h) => Number.parseInt(h, 16));
  if (bytes.length !== 6 || bytes.some((b) => !Number.isInteger(b)))
    throw new Error(`interface ${dev} has no Ethernet address (${text || "none"})`);
  return Uint8Array.from(bytes);
}

export interface AnnounceSchedule {
  /** how many ARP Announcements, and the pause between them */
  arp: { count: number; intervalMs: number };
  /** how many unsolicited Neighbor Advertisements, and the pause between them */
  na: { count: number; intervalMs: number };
}

export const RFC_SCHEDULE: AnnounceSchedule = {
  arp: { count: ANNOUNCE_NUM, intervalMs: ANNOUNCE_INTERVAL_MS },
  na: { count: MAX_NEIGHBOR_ADVERTISEMENT, intervalMs: RETRANS_TIMER_MS },
};

/** A running round of announcements; stop() cancels what is left (ownership lost meanwhile). */
export interface Announcement {
  /** announcements sent so far, and send errors */
  readonly counts: { arp: number; na: number; errors: number };
  /** resolves when the last one was sent (or the round was stopped) */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Announce `addresses` (each on its interface, with that interface's hardware address) now and
 * then on the schedule. Errors are counted and given to `onError`; the round goes on.
 */
export function announce(
  addresses: readonly { host: HostAddress; mac: Uint8Array }[],
  schedule: AnnounceSchedule,
  onError: (e: Error, h: HostAddress) => void,
): Announcement {
  const counts = { arp: 0, na: 0, errors: 0 };
  /** the pending pause of each round, and how to end that round early */
  const waiting = new Map<NodeJS.Timeout, () => void>();
  let stopped = false;
  const rounds: Promise<void>[] = [];
  const each = (n: number, intervalMs: number, send: () => void) =>
    new Promise<void>((resolve) => {
      let left = n;
      const fire = () => {
        if (stopped) return resolve();
        send();
        if (--left <= 0) return resolve();
        const t = setTimeout(() => {
          waiting.delete(t);
          fire();
        }, intervalMs);
        waiting.set(t, resolve);
      };
      fire();
    });
  for (const { host, mac } of addresses) {
    const target = addressBytes(host.address);
    /** one announcement: a socket opened for it (the address may have just appeared), used, closed */
    const send = (what: "arp" | "na", transmit: () => void) => () => {
      try {
        transmit();
        counts[what]++;
      } catch (e) {
        counts.errors++;
        onError(e as Error, host);
      }
    };
    if (host.family === 4) {
      const packet = arpAnnouncement(mac, target);
      const arp = () => {
        const s = new ArpSender(interfaceIndex(host.dev));
        try {
          s.broadcast(packet);
        } finally {
          s.close();
        }
      };
      rounds.push(each(schedule.arp.count, schedule.arp.intervalMs, send("arp", arp)));
    } else {
      const message = unsolicitedAdvert(target, mac);
      const na = () => {
        // RFC 4861 §7.2.4: the source is an address of the interface, here the target itself
        const s = Icmp6Socket.open({ ifname: host.dev, types: [], hopLimit: 255, source: target });
        try {
          s.send(ALL_NODES, message);
        } finally {
          s.close();
        }
      };
      rounds.push(each(schedule.na.count, schedule.na.intervalMs, send("na", na)));
    }
  }
  return {
    counts,
    done: Promise.all(rounds).then(() => undefined),
    stop() {
      stopped = true;
      for (const [t, end] of waiting) {
        clearTimeout(t);
        end();
      }
      waiting.clear();
    },
  };
}
