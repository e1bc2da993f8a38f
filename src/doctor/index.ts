// `v6mostly doctor`: observe (facts.ts), then judge (diagnose.ts).
import { getServers } from "node:dns";
import { chosenPrefix, type Facts } from "./diagnose.ts";
import { query } from "./dns.ts";
import { defaultInterface, discover108, findClat, listenRa, ownIpv6, tcpReach } from "./facts.ts";
import { embed } from "./pref64.ts";

export interface DoctorOptions {
  interface?: string;
  /** a DNS server to ask instead of the system resolver's */
  dns?: string;
  /** an IPv4 literal to reach through the NAT64 prefix, address[:port] */
  v4Literal: string;
  /** an IPv4-only name to check DNS64 synthesis with and to reach, name[:port] */
  v4Name: string;
  /** the local CLAT's configuration file (TAYGA or clatd); default: found automatically */
  clatConfig?: string;
  raWaitMs: number;
  dhcp: boolean;
  timeoutMs: number;
}

function hostPort(t: string, port: number): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(t);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: t, port };
}

export async function gather(o: DoctorOptions): Promise<Facts> {
  const ifname = o.interface ?? defaultInterface();
  const dnsServer = o.dns ?? getServers()[0]?.replace(/^\[|\](:\d+)?$/g, "") ?? "";
  const f: Facts = {
    ...(ifname ? { interface: ifname } : {}),
    dns: { server: dnsServer, source: o.dns ? "--dns" : dnsServer ? "system resolver" : "none" },
    reach: [],
    ownIpv6: ownIpv6(),
  };
  const v4name = hostPort(o.v4Name, 443);
  const v4lit = hostPort(o.v4Literal, 443);
  // the three slow observations run at the same time
  const [ra, dhcp, arpa, a, aaaa] = await Promise.all([
    ifname ? listenRa(ifname, o.raWaitMs) : Promise.resolve(undefined),
    o.dhcp && ifname ? discover108(ifname, Math.max(o.timeoutMs, 4000)) : Promise.resolve(undefined),
    dnsServer ? query(dnsServer, "ipv4only.arpa", "AAAA", o.timeoutMs) : Promise.resolve(undefined),
    dnsServer ? query(dnsServer, v4name.host, "A", o.timeoutMs) : Promise.resolve(undefined),
    dnsServer ? query(dnsServer, v4name.host, "AAAA", o.timeoutMs) : Promise.resolve(undefined),
  ]);
  if (ra) f.ra = ra;
  if (dhcp) f.dhcp = dhcp;
  if (arpa)
    f.ipv4onlyArpa = { aaaa: arpa.answers, rcode: arpa.rcode, ...(arpa.error ? { error: arpa.error } : {}) };
  if (a && aaaa) {
    const error = a.error ?? aaaa.error;
    f.v4name = { name: v4name.host, a: a.answers, aaaa: aaaa.answers, ...(error ? { error } : {}) };
  }
  const clat = findClat(o.clatConfig);
  if (clat) f.clat = clat;
  const { prefix } = chosenPrefix(f);
  if (prefix) {
    const lit6 = embed(prefix, v4lit.host);
    if (lit6) {
      const r = await tcpReach(lit6, v4lit.port, o.timeoutMs);
      f.reach.push({
        what: `IPv4 literal ${v4lit.host} through ${prefix}`,
        target: `[${lit6}]:${v4lit.port}`,
        ...r,
      });
    }
    const nameAddr = f.v4name?.aaaa[0] ?? (f.v4name?.a[0] ? embed(prefix, f.v4name.a[0]) : undefined);
    if (nameAddr) {
      const r = await tcpReach(nameAddr, v4name.port, o.timeoutMs);
      f.reach.push({ what: `IPv4-only name ${v4name.host}`, target: `[${nameAddr}]:${v4name.port}`, ...r });
    }
  }
  return f;
}
