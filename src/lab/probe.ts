// The probe that runs inside a client namespace (`v6mostly lab probe`, hidden): resolves the
// lab's names through the client's DNS server and opens one HTTP connection per matrix column.
// The lab's web servers answer with the source address they saw, which is how the lab tells the
// path (routed, NAT64, CLAT) without trusting the client's view.
import { request } from "node:http";
import { networkInterfaces } from "node:os";
import { query } from "../doctor/dns.ts";
import { SERVERS } from "./addressing.ts";
import type { Column, ProbeResult } from "./matrix.ts";

export interface ProbeInput {
  /** the DNS server the client uses (learned from RDNSS or DHCP), or null when it has none */
  dns: string | null;
  timeoutMs?: number;
}

/** GET / from host:port; the lab's servers answer `{"from": "<source they saw>"}`. */
export async function fetchFrom(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ seenFrom?: string; localAddress?: string; localPort?: number; error?: string }> {
  return await new Promise((resolve) => {
    const req = request({ host, port, path: "/", method: "GET", timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.on("end", () => {
        try {
          const j = JSON.parse(body) as { from?: string };
          resolve({
            seenFrom: j.from,
            localAddress: req.socket?.localAddress,
            localPort: req.socket?.localPort,
          });
        } catch {
          resolve({ error: `unexpected answer: ${body.slice(0, 80)}` });
        }
      });
    });
    let local: string | undefined;
    req.on("socket", (s) => s.on("connect", () => (local = s.localAddress)));
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (e) =>
      resolve({ error: `${host}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, localAddress: local }),
    );
    req.end();
  });
}

/** the client's own addresses: IPv6 other than link-local and loopback, IPv4 other than loopback */
export function ownAddresses(): { ipv6: string[]; ipv4: string[] } {
  const ipv6: string[] = [];
  const ipv4: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv6" && !a.address.startsWith("fe80:")) ipv6.push(a.address);
      if (a.family === "IPv4") ipv4.push(a.address);
    }
  }
  return { ipv6, ipv4 };
}

/**
 * The four columns. Names are resolved like getaddrinfo does on a host that prefers IPv6
 * (RFC 6724 with a global IPv6 address): AAAA and A are both asked; the AAAA is used when there is
 * one and the client has IPv6, the A otherwise.
 */
export async function probe(
  input: ProbeInput,
): Promise<{ results: ProbeResult[]; own: { ipv6: string[]; ipv4: string[] } }> {
  const t = input.timeoutMs ?? 3000;
  const own = ownAddresses();
  const hasV6 = own.ipv6.length > 0;
  const port = SERVERS.httpPort;
  const results: ProbeResult[] = [];
  const connect = async (column: Column, dest: string, dns?: ProbeResult["dns"]) => {
    const r = await fetchFrom(dest, port, t);
    results.push({ column, destination: dest, ...r, ...(dns ? { dns } : {}) });
  };
  const resolveName = async (name: string): Promise<ProbeResult["dns"]> => {
    if (!input.dns) return { aaaa: [], a: [], error: "the client has no DNS server" };
    const [aaaa, a] = await Promise.all([query(input.dns, name, "AAAA", t), query(input.dns, name, "A", t)]);
    const error = aaaa.error ?? a.error;
    return { aaaa: aaaa.answers, a: a.answers, ...(error ? { error } : {}) };
  };
  // IPv6 FQDN: the dual-stack name over IPv6 (the seed's "ping6 google.com")
  {
    const dns = await resolveName(SERVERS.dualName);
    const dest = dns?.aaaa[0];
    if (dest) await connect("v6-fqdn", dest, dns);
    else results.push({ column: "v6-fqdn", dns, error: dns?.error ?? `no AAAA for ${SERVERS.dualName}` });
  }
  await connect("v6-literal", SERVERS.dual6);
  // IPv4 FQDN: the A-only name (the seed's "ping yahoo.co.jp")
  {
    const dns = await resolveName(SERVERS.v4onlyName);
    const dest = (hasV6 ? dns?.aaaa[0] : undefined) ?? dns?.a[0];
    if (dest) await connect("v4-fqdn", dest, dns);
    else
      results.push({ column: "v4-fqdn", dns, error: dns?.error ?? `no address for ${SERVERS.v4onlyName}` });
  }
  await connect("v4-literal", SERVERS.v4only4);
  return { results, own };
}
