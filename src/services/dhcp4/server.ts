// The DHCPv4 server's I/O: a UDP socket on port 67 bound to the scope's interface
// (SO_BINDTODEVICE, so it hears and answers that link only), a packet socket for replies to
// clients that have no address yet (RFC 2131 §4.1), the lease table, the store, and counters.
import { spawnSync } from "node:child_process";
import * as dgram from "node:dgram";
import * as os from "node:os";
import type { Logger } from "../../util/log.ts";
import { interfaceIndex, MSG_DONTWAIT, sendto, sockaddrIn } from "../../util/sys/libc.ts";
import { ipv4UdpDatagram, LinkSender, udp4SocketOnDevice } from "../../util/sys/udp4.ts";
import { type Lease, LeaseTable } from "./leases.ts";
import { type Decision, decide, REFUSED_BUDGET, REFUSED_RESERVE, type Reply } from "./policy.ts";
import type { Scope } from "./scope.ts";
import type { LeaseStore } from "./store.ts";
import {
  DHCPDISCOVER,
  type DhcpMessage,
  decode,
  encode,
  formatAddr,
  MESSAGE_TYPE_NAMES,
  messageType,
  parseAddr,
} from "./wire.ts";

export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;
/** DISCOVERs waiting beyond this many are shed, oldest first */
export const MAX_DISCOVER_BACKLOG = 512;

/**
 * The first IPv4 address of `ifname` inside the scope's subnet, or undefined. Asks iproute2
 * (`ip -j addr`), which lists addresses of interfaces without carrier too (Node's
 * os.networkInterfaces() leaves out interfaces that are not running, e.g. a bridge without ports
 * or an unplugged cable); falls back to os.networkInterfaces() without iproute2.
 */
export function interfaceAddress(ifname: string, network: number, mask: number): number | undefined {
  const inSubnet = (text: string) => {
    const n = parseAddr(text);
    return (n & mask) >>> 0 === network ? n : undefined;
  };
  const r = spawnSync("ip", ["-4", "-j", "addr", "show", "dev", ifname], { encoding: "utf8" });
  if (r.status === 0) {
    try {
      const links = JSON.parse(r.stdout) as { addr_info?: { family?: string; local?: string }[] }[];
      for (const l of links) {
        for (const a of l.addr_info ?? []) {
          const n = a.family === "inet" && a.local ? inSubnet(a.local) : undefined;
          if (n !== undefined) return n;
        }
      }
      return undefined;
    } catch {
      // fall through
    }
  }
  for (const a of os.networkInterfaces()[ifname] ?? []) {
    const n = a.family === "IPv4" ? inSubnet(a.address) : undefined;
    if (n !== undefined) return n;
  }
  return undefined;
}

export class Dhcp4Server {
  readonly table: LeaseTable;
  private socket?: dgram.Socket;
  /** the socket's descriptor (owned by `socket`): replies go out with sendto(2) directly */
  private fd = -1;
  private link?: LinkSender;
  private timer?: NodeJS.Timeout;
  private others: DhcpMessage[] = [];
  private discovers: DhcpMessage[] = [];
  private discoverHead = 0;
  private scheduled = false;
  /** new clients refused since the last warning, and when it was logged (ms) */
  private refused = 0;
  private warnedAt = 0;
  private readonly counters: Record<string, number> = {
    received: 0,
    replies: 0,
    dropped: 0,
    malformed: 0,
    v6onlyReplies: 0,
    storeErrors: 0,
    sendErrors: 0,
    internalErrors: 0,
  };

  constructor(
    private scope: Scope,
    private readonly store: LeaseStore,
    private readonly log: Logger,
  ) {
    this.table = new LeaseTable(scope);
  }

  load(leases: Lease[]): void {
    for (const l of leases) this.table.put(l);
  }

  async start(): Promise<void> {
    const fd = udp4SocketOnDevice(this.scope.interface, SERVER_PORT);
    const s = dgram.createSocket({ type: "udp4", recvBufferSize: 1 << 20 });
    s.on("message", (msg, rinfo) => this.receive(msg, rinfo.address));
    s.on("error", (e) => this.log.error({ err: e.message }, "dhcp4 socket error"));
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.bind({ fd }, () => {
        s.off("error", reject);
        resolve();
      });
    });
    this.socket = s;
    this.fd = fd;
    this.link = new LinkSender(interfaceIndex(this.scope.interface));
    this.timer = setInterval(() => this.table.expireOffers(nowSeconds()), 10_000);
    this.timer.unref();
  }

  setScope(scope: Scope): void {
    this.scope = scope;
    this.table.setScope(scope);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const s = this.socket;
    this.socket = undefined;
    this.fd = -1;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    this.link?.close();
    this.link = undefined;
  }

  private count(key: string, n = 1): void {
    this.counters[key] = (this.counters[key] ?? 0) + n;
  }

  /**
   * One datagram from the link. Never throws: every failure is a counted drop. Messages are
   * decided in batches (setImmediate): REQUESTs and the rest before DISCOVERs, so that under
   * overload exchanges already begun complete, and DISCOVERs past `MAX_DISCOVER_BACKLOG` are shed
   * oldest first (they are stale by then; the client retransmits).
   */
  receive(bytes: Uint8Array, _from: string): void {
    this.count("received");
    const d = decode(bytes);
    if (!d.ok) {
      this.count("malformed");
      this.count(`drop_${key(d.reason)}`);
      return;
    }
    const t = messageType(d.msg);
    this.count(`rx_${MESSAGE_TYPE_NAMES[t ?? 0] ?? "unknown"}`);
    if (t === DHCPDISCOVER) {
      this.discovers.push(d.msg);
      if (this.discovers.length - this.discoverHead > MAX_DISCOVER_BACKLOG) {
        this.discoverHead++;
        this.count("shedDiscovers");
      }
    } else this.others.push(d.msg);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const others = this.others;
    const discovers = this.discovers;
    const head = this.discoverHead;
    this.others = [];
    this.discovers = [];
    this.discoverHead = 0;
    const now = nowSeconds();
    for (const m of others) this.handle(m, now);
    for (let i = head; i < discovers.length; i++) this.handle(discovers[i]!, now);
  }

  private handle(m: DhcpMessage, now: number): void {
    try {
      this.apply(decide(this.scope, this.table, m, now));
    } catch (e) {
      this.count("internalErrors");
      this.log.error({ err: (e as Error).message }, "dhcp4: message dropped on an internal error");
    }
  }

  private apply(d: Decision): void {
    if (d.clearOffer) this.table.clearOffer(d.clearOffer);
    if (d.offer) this.table.setOffer(d.offer.client, d.offer.address, d.offer.until);
    if (d.drop) {
      this.count("dropped");
      this.count(`drop_${key(d.drop)}`);
      if (d.drop === REFUSED_BUDGET || d.drop === REFUSED_RESERVE) this.warnRefused();
    }
    if (d.lease) {
      const lease = d.lease;
      this.table.put(lease);
      this.count(`lease_${lease.state}`);
      // The reply leaves only once the record is durable (store.ts).
      this.store.save([lease]).then(
        () => {
          if (d.reply) this.send(d.reply, d.v6only === true);
        },
        (e: Error) => {
          this.count("storeErrors");
          this.log.error({ err: e.message }, "dhcp4: lease not stored, reply withheld");
        },
      );
      if (lease.state === "bound")
        this.log.debug({ address: formatAddr(lease.address), client: lease.hwaddr }, "lease bound");
      return;
    }
    if (d.reply) this.send(d.reply, d.v6only === true);
  }

  /** At most one warning a minute while new clients are refused: a flood of new MACs looks like this. */
  private warnRefused(): void {
    this.refused++;
    const t = Date.now();
    if (t - this.warnedAt < 60_000) return;
    const now = nowSeconds();
    this.log.warn(
      {
        refused: this.refused,
        maxLeasesPerMinute: this.scope.maxLeasesPerMinute,
        free: this.table.free(now),
        reserve: this.scope.reserve,
      },
      "dhcp4: new clients refused (budget of new bindings spent, or only the pool's reserve left): many new MACs or client identifiers on the link?",
    );
    this.warnedAt = t;
    this.refused = 0;
  }

  private send(r: Reply, v6only: boolean): void {
    const s = this.socket;
    if (!s) return;
    const bytes = encode(r.fields, r.options, r.maxSize);
    if (!bytes) {
      this.count("sendErrors");
      this.log.warn("dhcp4: options do not fit the client's message size");
      return;
    }
    this.count("replies");
    this.count(`tx_${MESSAGE_TYPE_NAMES[r.type] ?? r.type}`);
    if (v6only) this.count("v6onlyReplies");
    const out = (address: number, port: number) => {
      // sendto(2) straight on the descriptor: a third of the cost of dgram's send() per reply
      // (measured: 7 µs against 19 µs). A full socket buffer (EAGAIN) falls back to dgram's queue.
      const to = sockaddrIn(
        new Uint8Array([address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255]),
        port,
      );
      if (this.fd >= 0 && sendto(this.fd, bytes, bytes.length, MSG_DONTWAIT, to, to.length) === bytes.length)
        return;
      s.send(bytes, port, formatAddr(address), (e) => {
        if (e) this.count("sendErrors");
      });
    };
    switch (r.to.kind) {
      case "relay":
        out(r.to.address, SERVER_PORT);
        return;
      case "unicast":
        out(r.to.address, CLIENT_PORT);
        return;
      case "broadcast":
        out(0xffffffff, CLIENT_PORT);
        return;
      case "link":
        try {
          // §4.1: unicast to the client's hardware address and yiaddr; it cannot answer ARP yet.
          this.link!.send(
            ipv4UdpDatagram(this.scope.serverId, r.to.address, SERVER_PORT, CLIENT_PORT, bytes),
            r.to.hwaddr,
          );
          this.count("linkUnicast");
        } catch {
          this.count("linkUnicastFallbacks");
          out(0xffffffff, CLIENT_PORT);
        }
        return;
    }
  }

  stats(): Record<string, number> {
    const now = nowSeconds();
    return {
      ...this.counters,
      leasesBound: this.table.boundCount(now),
      poolFree: this.table.free(now),
      offersHeld: this.table.offerCount(),
      offersReclaimed: this.table.reclaimed,
      ...Object.fromEntries(Object.entries(this.store.stats()).map(([k, v]) => [`store_${k}`, v])),
    };
  }
}

function key(reason: string): string {
  return reason
    .replace(/\(.*?\)/g, "")
    .trim()
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toLowerCase();
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
