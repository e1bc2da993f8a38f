// Test helpers: upstream answers written with dns-packet (an independent encoder), turned into the
// resolver's Replies, and answers decoded back with dns-packet for the assertions.

import dnsPacket from "dns-packet";
import type { Dns64Assignment } from "../../../src/planner/plan.ts";
import { compilePref64, compilePrefix6 } from "../../../src/services/dns64/addressing.ts";
import { type Reply, replyFromUpstream } from "../../../src/services/dns64/reply.ts";
import type { Dns64Config } from "../../../src/services/dns64/synth.ts";
import { parseMessage } from "../../../src/services/dns64/wire.ts";
import { prefixOf } from "../../../src/util/net.ts";
import { dns64Assignment } from "../../support/assignments.ts";

export type Packet = dnsPacket.Packet;
export type Answer = dnsPacket.Answer;

export function config(
  prefix = "64:ff9b::/96",
  extra: Partial<Omit<Dns64Config, "prefix">> = {},
): Dns64Config {
  return {
    prefix: compilePref64(prefixOf(prefix)),
    exclude: ["::ffff:0:0/96"].map((t) => compilePrefix6(prefixOf(t))),
    alwaysSynthesize: false,
    ...extra,
  };
}

/** Wire bytes of an upstream response to `name`/`type`. */
export function upstreamWire(
  name: string,
  type: dnsPacket.RecordType,
  opts: {
    rcode?: string;
    answers?: Answer[];
    authorities?: Answer[];
    additionals?: Answer[];
    flags?: number;
    id?: number;
  } = {},
): Uint8Array {
  const rcodeNum =
    { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 }[opts.rcode ?? "NOERROR"] ?? 0;
  const buf = dnsPacket.encode({
    type: "response",
    id: opts.id ?? 0,
    flags: (opts.flags ?? dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE) | rcodeNum,
    questions: [{ name, type, class: "IN" }],
    answers: opts.answers ?? [],
    authorities: opts.authorities ?? [],
    additionals: opts.additionals ?? [
      { type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, options: [] } as unknown as Answer,
    ],
  });
  return new Uint8Array(buf);
}

export function upstreamReply(...args: Parameters<typeof upstreamWire>): Reply {
  const wire = upstreamWire(...args);
  const m = parseMessage(wire);
  if (!m) throw new Error("test helper: upstream message does not parse");
  return replyFromUpstream(wire, m);
}

export const soa = (zone: string, ttl = 300, minimum = 120): Answer => ({
  type: "SOA",
  name: zone,
  ttl,
  class: "IN",
  data: {
    mname: `ns.${zone}`,
    rname: `hostmaster.${zone}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum,
  },
});

export const a = (name: string, ip: string, ttl = 300): Answer => ({
  type: "A",
  name,
  ttl,
  class: "IN",
  data: ip,
});
export const aaaa = (name: string, ip: string, ttl = 300): Answer => ({
  type: "AAAA",
  name,
  ttl,
  class: "IN",
  data: ip,
});
export const cname = (name: string, target: string, ttl = 300): Answer => ({
  type: "CNAME",
  name,
  ttl,
  class: "IN",
  data: target,
});

/** A decoded record, loosely typed for assertions. */
export interface Rec {
  type: string;
  name: string;
  ttl: number;
  class: string;
  // biome-ignore lint/suspicious/noExplicitAny: record data differs per type
  data: any;
}

export interface Decoded {
  id: number;
  flags: number;
  rcode: string;
  flag_tc: boolean;
  flag_ad: boolean;
  questions: { name: string; type: string }[];
  answers: Rec[];
  authorities: Rec[];
  additionals: Rec[];
}

export function decode(wire: Uint8Array): Decoded {
  return dnsPacket.decode(Buffer.from(wire)) as unknown as Decoded;
}

export function rcodeOf(wire: Uint8Array): number {
  return wire[3]! & 0x0f;
}

/** A client query in wire form. */
export function queryWire(
  name: string,
  type: dnsPacket.RecordType,
  opts: { id?: number; edns?: boolean; do?: boolean; cd?: boolean; udpSize?: number } = {},
): Uint8Array {
  const flags = dnsPacket.RECURSION_DESIRED | (opts.cd ? dnsPacket.CHECKING_DISABLED : 0);
  const additionals: Answer[] =
    opts.edns === false
      ? []
      : [
          {
            type: "OPT",
            name: ".",
            udpPayloadSize: opts.udpSize ?? 1232,
            flags: opts.do ? dnsPacket.DNSSEC_OK : 0,
            options: [],
          } as unknown as Answer,
        ];
  return new Uint8Array(
    dnsPacket.encode({
      type: "query",
      id: opts.id ?? 4242,
      flags,
      questions: [{ name, type, class: "IN" }],
      additionals,
    }),
  );
}

/** Expand an IPv6 address to 8 groups without zero compression, lower case (for comparisons). */
export function expand6(ip: string): string {
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  let s = ip.toLowerCase();
  if (v4) {
    const p = v4[1]!.split(".").map(Number);
    s = s.replace(v4[1]!, `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`);
  }
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined ? (tail ? tail.split(":") : []) : [];
  const fill = tail !== undefined ? new Array(8 - h.length - t.length).fill("0") : [];
  return [...h, ...fill, ...t].map((g) => Number.parseInt(g, 16).toString(16)).join(":");
}

/** A resolver on 127.0.0.1 for loopback tests: PREF64 64:ff9b::/96, one upstream, no rate limit. */
export function loopbackAssignment(
  listen: string,
  upstream: string,
  extra: Record<string, unknown> = {},
  name = "batch",
): Dns64Assignment {
  return dns64Assignment(
    {
      listen: [listen],
      prefix: "64:ff9b::/96",
      upstreams: [upstream],
      alwaysSynthesize: false,
      exclude: ["::ffff:0:0/96"],
      allowClients: ["127.0.0.0/8"],
      rateLimit: 0,
      nodeSelector: {},
      ...extra,
    },
    name,
  );
}
