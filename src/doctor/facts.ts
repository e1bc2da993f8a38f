// What the doctor observes on the client it runs on (I/O): Router Advertisements (after a Router
// Solicitation), DNS answers, a DHCPDISCOVER's OFFER (no lease is taken), TCP connections through
// the NAT64 prefix, and the local CLAT's configuration.

import { execFileSync } from "node:child_process";
import * as dgram from "node:dgram";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import {
  DHCPDISCOVER,
  DHCPOFFER,
  decode as decodeDhcp,
  encodeRequest,
  formatAddr,
  messageType,
  OPT,
  optionAddress,
  u8Bytes,
} from "../services/dhcp4/wire.ts";
import {
  decodeRouterAdvertisement,
  encodeRouterSolicitation,
  ICMP6_ROUTER_ADVERT,
  ipv6Bytes,
  ipv6Text,
} from "../services/ra/wire.ts";
import { describeSocketError } from "../util/net.ts";
import { type Icmp6Packet, Icmp6Socket, poll } from "../util/sys/raw6.ts";
import { udp4SocketOnDevice } from "../util/sys/udp4.ts";
import type { ClatConfig, RaFact } from "./diagnose.ts";
import { embed } from "./pref64.ts";

/** the interface of the IPv6 default route, else the first one that is up and not loopback */
export function defaultInterface(): string | undefined {
  try {
    const routes = JSON.parse(
      execFileSync("ip", ["-j", "-6", "route", "show", "default"], { encoding: "utf8" }) || "[]",
    ) as { dev?: string }[];
    if (routes[0]?.dev) return routes[0].dev;
  } catch {}
  return Object.keys(networkInterfaces()).find((n) => n !== "lo");
}

export function ownIpv6(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((a) => a.family === "IPv6" && !a.internal && !a.address.startsWith("fe80:"))
    .map((a) => a.address);
}

/** RFC 4861 §6.3.7: solicit, then collect the advertisements heard within `waitMs`. */
export async function listenRa(
  ifname: string,
  waitMs: number,
): Promise<{ adverts: RaFact[]; error?: string; waitedMs: number }> {
  let sock: Icmp6Socket;
  try {
    sock = Icmp6Socket.open({ ifname, types: [ICMP6_ROUTER_ADVERT], hopLimit: 255 });
  } catch (e) {
    return { adverts: [], error: (e as Error).message, waitedMs: 0 };
  }
  const t0 = Date.now();
  const adverts: RaFact[] = [];
  return await new Promise((resolve) => {
    let settle: NodeJS.Timeout | undefined;
    const finish = () => {
      poller.stop();
      clearTimeout(timer);
      if (settle) clearTimeout(settle);
      sock.close();
      resolve({ adverts, waitedMs: Date.now() - t0 });
    };
    const onPacket = (p: Icmp6Packet) => {
      // RFC 4861 §6.1.2: hosts ignore RAs with a hop limit other than 255
      if (p.hopLimit !== undefined && p.hopLimit !== 255) return;
      const d = decodeRouterAdvertisement(p.data);
      if (!d.ok) return;
      const ra = d.value;
      adverts.push({
        router: ipv6Text(p.source),
        routerLifetime: ra.routerLifetime,
        pref64: ra.options.flatMap((o) =>
          o.type === "pref64" ? [{ prefix: `${o.prefix}/${o.prefixLength}`, lifetime: o.lifetime }] : [],
        ),
        rdnss: ra.options.flatMap((o) => (o.type === "rdnss" ? o.servers : [])),
        prefixes: ra.options.flatMap((o) =>
          o.type === "prefixInformation" ? [`${o.prefix}/${o.prefixLength}`] : [],
        ),
      });
      // other routers on the link answer within a moment of the first (RFC 4861 §6.2.6: 0.5 s)
      settle ??= setTimeout(finish, 700);
    };
    const poller = poll(sock, onPacket, () => undefined);
    const timer = setTimeout(finish, waitMs);
    try {
      sock.send(ipv6Bytes("ff02::2"), encodeRouterSolicitation({ options: [] }));
    } catch {}
  });
}

function macOf(ifname: string): Uint8Array | undefined {
  try {
    const t = readFileSync(`/sys/class/net/${ifname}/address`, "utf8").trim();
    const b = t.split(":").map((x) => Number.parseInt(x, 16));
    return b.length === 6 && b.every((x) => x >= 0 && x <= 255) ? new Uint8Array(b) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One DHCPDISCOVER (RFC 2131 §4.4.1) listing option 108 in option 55 (RFC 8925 §3.1), broadcast
 * on `ifname`; the first OFFER for it is read. No DHCPREQUEST follows, so no lease is taken (the
 * server's offer lapses). Binding port 68 on a device needs root.
 */
export async function discover108(
  ifname: string,
  waitMs: number,
): Promise<{
  offered: boolean;
  option108?: number;
  server?: string;
  offer?: string;
  error?: string;
  needsRoot?: boolean;
}> {
  const mac = macOf(ifname);
  if (!mac) return { offered: false, error: `no MAC address for ${ifname}` };
  let fd: number;
  try {
    fd = udp4SocketOnDevice(ifname, 68);
  } catch (e) {
    const m = (e as Error).message;
    const root = /EACCES|EPERM|permission|not permitted/i.test(m);
    return {
      offered: false,
      error: root ? `binding UDP port 68 on ${ifname} needs root (${m})` : m,
      ...(root ? { needsRoot: true } : {}),
    };
  }
  const sock = dgram.createSocket({ type: "udp4" });
  const xid = (Math.random() * 0xffffffff) >>> 0;
  const chaddr = new Uint8Array(16);
  chaddr.set(mac);
  const msg = encodeRequest(
    // the broadcast flag: the client has no IPv4 address to receive a unicast OFFER on
    { htype: 1, hlen: 6, xid, flags: 0x8000, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr },
    [
      [OPT.messageType, u8Bytes(DHCPDISCOVER)],
      [
        OPT.parameterRequestList,
        new Uint8Array([OPT.subnetMask, OPT.router, OPT.dnsServers, OPT.v6OnlyPreferred]),
      ],
    ],
  );
  return await new Promise((resolve) => {
    let resend: NodeJS.Timeout | undefined;
    const done = (r: Awaited<ReturnType<typeof discover108>>) => {
      clearTimeout(timer);
      if (resend) clearInterval(resend);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ offered: false, error: `no DHCPOFFER on ${ifname} in ${Math.round(waitMs / 1000)} s` }),
      waitMs,
    );
    sock.on("message", (buf) => {
      const d = decodeDhcp(new Uint8Array(buf));
      if (!d.ok || d.msg.xid !== xid || messageType(d.msg) !== DHCPOFFER) return;
      const v = d.msg.options.get(OPT.v6OnlyPreferred);
      const server = optionAddress(d.msg, OPT.serverId);
      done({
        offered: true,
        offer: formatAddr(d.msg.yiaddr),
        ...(server !== undefined ? { server: formatAddr(server) } : {}),
        ...(v && v.length === 4 ? { option108: new DataView(v.buffer, v.byteOffset, 4).getUint32(0) } : {}),
      });
    });
    sock.on("error", (e) => done({ offered: false, error: e.message }));
    sock.bind({ fd }, () => {
      const send = () => sock.send(msg, 67, "255.255.255.255");
      send();
      // RFC 2131 §4.1: retransmit; a second try covers a lost first packet
      resend = setInterval(send, 2000);
    });
  });
}

/** A TCP connection to [addr]:port within `timeoutMs`. */
export async function tcpReach(
  addr: string,
  port: number,
  timeoutMs: number,
): Promise<{ ok: boolean; error?: string }> {
  return await new Promise((resolve) => {
    const s = connect({ host: addr, port, timeout: timeoutMs });
    s.once("connect", () => {
      s.destroy();
      resolve({ ok: true });
    });
    s.once("timeout", () => {
      s.destroy();
      resolve({ ok: false, error: `no answer in ${timeoutMs} ms` });
    });
    s.once("error", (e) => resolve({ ok: false, error: describeSocketError(e) }));
  });
}

/** TAYGA's configuration file (tayga.conf(5)): its own IPv6 address, its map sources, its prefix. */
export function parseTayga(text: string, source: string): ClatConfig {
  const kv = new Map<string, string>();
  const sources: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const [k, ...rest] = line.split(/\s+/);
    if (k === "map" && rest[1]) sources.push(rest[1].replace(/\/128$/, ""));
    else if (k && rest[0]) kv.set(k, rest[0]);
  }
  const prefix = kv.get("prefix");
  let ownIpv6 = kv.get("ipv6-addr");
  let implicit = false;
  // tayga.conf(5): without ipv6-addr, TAYGA's IPv6 address is its ipv4-addr mapped into the prefix
  if (!ownIpv6 && prefix && kv.get("ipv4-addr")) {
    ownIpv6 = embed(prefix, kv.get("ipv4-addr")!);
    implicit = true;
  }
  return {
    source,
    sources,
    ...(prefix ? { prefix } : {}),
    ...(ownIpv6 ? { ownIpv6 } : {}),
    ...(implicit ? { ownIpv6Implicit: true } : {}),
  };
}

/** clatd's configuration (clatd.conf: key=value): clat-v6-addr and plat-prefix. */
export function parseClatd(text: string, source: string): ClatConfig {
  const kv = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*(\S+)/.exec(raw.replace(/#.*/, ""));
    if (m) kv.set(m[1]!, m[2]!);
  }
  const src = kv.get("clat-v6-addr");
  const prefix = kv.get("plat-prefix");
  return { source, sources: src ? [src] : [], ...(prefix ? { prefix } : {}) };
}

/**
 * The local CLAT: `file` when given, else the configuration of a TAYGA or clatd running in this
 * network namespace (its -c argument, else its default file). A configuration file alone is not a
 * CLAT (Debian installs /etc/tayga.conf with the package), so nothing else is read.
 */
export function findClat(file?: string): ClatConfig | undefined {
  const read = (f: string) => {
    const text = readFileSync(f, "utf8");
    return /clat-v6-addr|plat-prefix|clat-dev/.test(text)
      ? parseClatd(text, `clatd ${f}`)
      : parseTayga(text, `TAYGA ${f}`);
  };
  if (file) return read(file);
  let myNet = "";
  try {
    myNet = readlinkSync("/proc/self/ns/net");
  } catch {}
  for (const pid of safeList("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const prog = argv.slice(0, 2).find((a) => /(^|\/)(tayga|clatd)$/.test(a));
      if (!prog) continue;
      if (readlinkSync(`/proc/${pid}/ns/net`) !== myNet) continue;
      const i = argv.findIndex((a) => a === "-c" || a === "--config");
      const conf = i >= 0 ? argv[i + 1] : prog.endsWith("clatd") ? "/etc/clatd.conf" : "/etc/tayga.conf";
      if (conf && existsSync(conf)) return read(conf);
    } catch {}
  }
  return undefined;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
