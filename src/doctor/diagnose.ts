// The doctor's judgement (pure): from what was observed on the client (facts.ts) to findings in
// plain words, each saying what is wrong and where. Tested without a network in test/lab/.
import { extract, prefixesFromIpv4onlyArpa, WKA, within } from "./pref64.ts";

export interface RaFact {
  router: string;
  routerLifetime: number;
  pref64: { prefix: string; lifetime: number }[];
  rdnss: string[];
  prefixes: string[];
}

export interface ClatConfig {
  /** where it was read */
  source: string;
  /** the translator's own IPv6 address; for TAYGA without ipv6-addr: its IPv4 inside the prefix */
  ownIpv6?: string;
  ownIpv6Implicit?: boolean;
  /** IPv6 sources the CLAT translates the host's IPv4 to (TAYGA map lines, clatd clat-v6-addr) */
  sources: string[];
  /** the NAT64 prefix it translates to */
  prefix?: string;
}

export interface Facts {
  interface?: string;
  /** undefined: not tried; error: could not listen (no root, no such interface) */
  ra?: { adverts: RaFact[]; error?: string; waitedMs: number };
  dns: { server: string; source: "--dns" | "system resolver" | "none" };
  /** AAAA of ipv4only.arpa (RFC 7050 §3) */
  ipv4onlyArpa?: { aaaa: string[]; rcode: string; error?: string };
  /** the IPv4-only name: its A and AAAA through the DNS server */
  v4name?: { name: string; a: string[]; aaaa: string[]; error?: string };
  dhcp?: {
    offered: boolean;
    option108?: number;
    server?: string;
    offer?: string;
    error?: string;
    needsRoot?: boolean;
  };
  /** TCP connections through the NAT64 prefix */
  reach: { what: string; target: string; ok: boolean; error?: string }[];
  clat?: ClatConfig;
  /** the host's own IPv6 addresses (global/ULA) */
  ownIpv6: string[];
}

export type Severity = "ok" | "warn" | "fail" | "info";

export interface Finding {
  check: string;
  severity: Severity;
  /** what was seen, in plain words */
  detail: string;
  /** what is wrong and where, and what to do; for warn and fail */
  advice?: string;
}

/** The NAT64 prefix the doctor goes on with: the RA's, else RFC 7050's. */
export function chosenPrefix(f: Facts): { prefix?: string; from?: string } {
  const fromRa = f.ra?.adverts.flatMap((a) => a.pref64.filter((p) => p.lifetime > 0).map((p) => p.prefix))[0];
  if (fromRa) return { prefix: fromRa, from: "RA (RFC 8781)" };
  const from7050 = prefixesFromIpv4onlyArpa(f.ipv4onlyArpa?.aaaa ?? [])[0];
  if (from7050) return { prefix: from7050, from: "ipv4only.arpa (RFC 7050)" };
  return {};
}

export function diagnose(f: Facts): Finding[] {
  const out: Finding[] = [];
  const add = (check: string, severity: Severity, detail: string, advice?: string) =>
    out.push({ check, severity, detail, ...(advice ? { advice } : {}) });

  // 1. Router Advertisements and PREF64 (RFC 8781)
  const raPrefixes = [
    ...new Set(
      f.ra?.adverts.flatMap((a) => a.pref64.filter((p) => p.lifetime > 0).map((p) => p.prefix)) ?? [],
    ),
  ];
  if (!f.ra) add("RA PREF64", "info", "not checked");
  else if (f.ra.error)
    add(
      "RA PREF64",
      "warn",
      `could not listen for Router Advertisements: ${f.ra.error}`,
      "run the doctor as root (it needs a raw ICMPv6 socket), or check the interface name with -i",
    );
  else if (f.ra.adverts.length === 0)
    add(
      "RA PREF64",
      "fail",
      `no Router Advertisement on ${f.interface} in ${Math.round(f.ra.waitedMs / 1000)} s, even after a Router Solicitation`,
      "no IPv6 router answers on this link: check that the router sends RAs on this interface (v6mostly: a RouterAdvert for it), and that nothing filters ICMPv6",
    );
  else if (raPrefixes.length === 0)
    add(
      "RA PREF64",
      "warn",
      `RA from ${f.ra.adverts.map((a) => a.router).join(", ")} without a PREF64 option`,
      "the router does not announce the NAT64 prefix (RFC 8781): CLATs (macOS, iOS, Android) then fall back to RFC 7050 discovery through DNS64. Add pref64 to the RouterAdvert (Cisco: ipv6 nd ra nat64-prefix)",
    );
  else if (raPrefixes.length > 1)
    add(
      "RA PREF64",
      "warn",
      `several NAT64 prefixes announced: ${raPrefixes.join(", ")}`,
      "hosts pick one; announce a single PREF64 per link (RFC 8781 §5)",
    );
  else add("RA PREF64", "ok", `${raPrefixes[0]} from ${f.ra.adverts.map((a) => a.router).join(", ")}`);

  // 2. RFC 7050 discovery and DNS64 for ipv4only.arpa (RFC 8880)
  const arpa = f.ipv4onlyArpa;
  const from7050 = prefixesFromIpv4onlyArpa(arpa?.aaaa ?? []);
  if (f.dns.source === "none")
    add(
      "DNS64 (ipv4only.arpa)",
      "fail",
      "no DNS server to ask",
      "give one with --dns, or configure the resolver (RDNSS in the RA, or DHCP)",
    );
  else if (!arpa) add("DNS64 (ipv4only.arpa)", "info", "not checked");
  else if (arpa.error)
    add(
      "DNS64 (ipv4only.arpa)",
      "fail",
      `${f.dns.server}: ${arpa.error}`,
      `the DNS server ${f.dns.server} (${f.dns.source}) does not answer; check that it runs and lets this client ask (v6mostly: Dns64Resolver listen and allowClients)`,
    );
  else if (arpa.aaaa.length === 0)
    add(
      "DNS64 (ipv4only.arpa)",
      "fail",
      `${f.dns.server} has no AAAA for ipv4only.arpa (rcode ${arpa.rcode})`,
      `the DNS server ${f.dns.server} (${f.dns.source}) does not do DNS64: IPv6-only hosts without a CLAT cannot reach IPv4-only names, and RFC 7050 discovery finds no prefix. Point the clients at a DNS64 (the RA's RDNSS, DHCP option 6) or turn DNS64 on`,
    );
  else if (from7050.length === 0)
    add(
      "DNS64 (ipv4only.arpa)",
      "fail",
      `AAAA for ipv4only.arpa do not embed ${WKA.join(" or ")}: ${arpa.aaaa.join(", ")}`,
      "the DNS64 synthesizes with an invalid prefix or rewrites ipv4only.arpa; RFC 8880 §7.2 says a DNS64 answers it with the well-known addresses under its own prefix",
    );
  else
    add("DNS64 (ipv4only.arpa)", "ok", `${arpa.aaaa.join(", ")} -> prefix ${from7050.join(", ")} (RFC 7050)`);

  if (raPrefixes.length && from7050.length && !from7050.some((p) => raPrefixes.includes(p)))
    add(
      "PREF64 agreement",
      "fail",
      `the RA says ${raPrefixes.join(", ")} but DNS64 synthesizes with ${from7050.join(", ")}`,
      "the router's RA and the DNS64 disagree on the NAT64 prefix: CLAT traffic and DNS64 traffic go to different translators. Make the RouterAdvert's pref64 and the Dns64Resolver's prefix the same (v6mostly: both nat64GatewayRef to one Nat64Gateway)",
    );
  else if (raPrefixes.length && from7050.length)
    add("PREF64 agreement", "ok", `RA and ipv4only.arpa agree on ${from7050[0]}`);

  const { prefix } = chosenPrefix(f);

  // 3. DNS64 synthesis for an IPv4-only name (RFC 6147 §5.1)
  const v4 = f.v4name;
  if (v4) {
    if (v4.error && v4.a.length === 0 && v4.aaaa.length === 0)
      add(
        `DNS64 synthesis (${v4.name})`,
        "fail",
        `${f.dns.server}: ${v4.error}`,
        `the DNS server ${f.dns.server} gave no answer for ${v4.name}`,
      );
    else if (v4.a.length === 0)
      add(
        `DNS64 synthesis (${v4.name})`,
        "warn",
        `${v4.name} has no A record`,
        "choose an IPv4-only name with --v4-name",
      );
    else if (v4.aaaa.length === 0)
      add(
        `DNS64 synthesis (${v4.name})`,
        "fail",
        `${v4.name} has A ${v4.a.join(", ")} but no AAAA`,
        `no DNS64 on ${f.dns.server}: an IPv6-only host without a CLAT cannot reach ${v4.name}`,
      );
    else {
      const wrong = v4.aaaa.filter((a) => !prefix || !v4.a.includes(extract(prefix, a) ?? ""));
      if (wrong.length)
        add(
          `DNS64 synthesis (${v4.name})`,
          "fail",
          `AAAA ${wrong.join(", ")} does not embed ${v4.a.join(" or ")} under ${prefix ?? "any known NAT64 prefix"}`,
          "the DNS64 synthesizes with another prefix than the one the network announces (or the name has a real AAAA: choose an IPv4-only name with --v4-name)",
        );
      else add(`DNS64 synthesis (${v4.name})`, "ok", `A ${v4.a.join(", ")} -> AAAA ${v4.aaaa.join(", ")}`);
    }
  }

  // 4. DHCPv4 option 108 (RFC 8925)
  const d = f.dhcp;
  if (!d) add("DHCPv4 option 108", "info", "not checked");
  else if (d.needsRoot)
    add(
      "DHCPv4 option 108",
      "info",
      `not checked: ${d.error}`,
      "run the doctor as root to send a DHCPDISCOVER (it takes no lease)",
    );
  else if (d.error && !d.offered)
    add(
      "DHCPv4 option 108",
      "warn",
      d.error,
      "no DHCPv4 server answered on this link; IPv4-only and dual-stack clients get no address here",
    );
  else if (d.option108 === undefined)
    add(
      "DHCPv4 option 108",
      "warn",
      `${d.server} offered ${d.offer} without option 108`,
      `the DHCP server ${d.server} does not send IPv6-Only Preferred (RFC 8925): hosts that could live IPv6-only with a CLAT take an IPv4 lease anyway. Configure it (Cisco: option 108 hex 00000708; v6mostly: DhcpScope ipv6OnlyPreferred); FortiOS 6.2 cannot send it`,
    );
  else
    add(
      "DHCPv4 option 108",
      "ok",
      `${d.server} offers option 108 = ${d.option108} s (V6ONLY_WAIT); the doctor took no lease`,
    );

  // 5. the local CLAT's addresses (the seed author's clatd + TAYGA problem)
  const c = f.clat;
  if (c) {
    const nat64 = prefix ?? c.prefix;
    const inside = [...(c.ownIpv6 ? [c.ownIpv6] : []), ...c.sources].filter((a) => nat64 && within(nat64, a));
    if (nat64 && inside.length) {
      const own = c.ownIpv6 && inside.includes(c.ownIpv6);
      add(
        "CLAT source address",
        "fail",
        `your CLAT's source ${inside.join(", ")} is inside the NAT64 prefix ${nat64} (${c.source})`,
        `translators drop such sources (an address inside the NAT64 prefix stands for an IPv4 host, RFC 6052 §2, so it cannot be an IPv6 client's; Cisco counts them in NAT64_DROP_SC_*) — the seed author's clatd problem. ${own && c.ownIpv6Implicit ? "TAYGA took its own address from ipv4-addr inside the prefix because ipv6-addr is not set: " : ""}set ${c.source.includes("clatd") ? "clat-v6-addr" : "ipv6-addr and the map line"} to an address of your LAN's /64 that the NAT64 accepts (its allowedSources / ACL)`,
      );
    } else if (c.prefix && prefix && c.prefix !== prefix)
      add(
        "CLAT prefix",
        "fail",
        `your CLAT translates to ${c.prefix} but the network's NAT64 prefix is ${prefix} (${c.source})`,
        "set the CLAT's prefix (TAYGA: prefix; clatd: plat-prefix) to the announced PREF64, or let it learn the prefix from the RA",
      );
    else {
      const outsideLan = c.sources.filter(
        (s) => f.ownIpv6.length && !f.ownIpv6.some((o) => sameSlash64(o, s)),
      );
      if (outsideLan.length)
        add(
          "CLAT source address",
          "warn",
          `your CLAT's source ${outsideLan.join(", ")} is not in a /64 of this host`,
          "replies to it need a route back to this host (answer Neighbor Solicitations for it: proxy NDP), and the NAT64 must accept it (allowedSources)",
        );
      else
        add(
          "CLAT source address",
          "ok",
          `${c.sources.join(", ") || "no source configured"} outside the NAT64 prefix (${c.source})`,
        );
    }
  }

  // 6. reachability through the NAT64
  for (const r of f.reach) {
    if (r.ok) add(`reach ${r.what}`, "ok", `${r.target} answered`);
    else
      add(
        `reach ${r.what}`,
        "fail",
        `${r.target}: ${r.error ?? "no answer"}`,
        prefix
          ? `no connection through the NAT64 prefix ${prefix}: check the route for it on the router (it must lead to the translator), that the NAT64 accepts your source ${f.ownIpv6[0] ?? ""} (allowedSources / the ACL), and that its pool4 is routed back (v6mostly: \`v6mostly translations\` on the router shows sessions and drops)`
          : "no NAT64 prefix is known (neither the RA nor DNS64 gave one)",
      );
  }
  if (!prefix && f.reach.length === 0)
    add(
      "reach through NAT64",
      "fail",
      "not tried: no NAT64 prefix known",
      "the network announces no PREF64 and its DNS does no DNS64",
    );
  return out;
}

function sameSlash64(a: string, b: string): boolean {
  return within(`${a}/64`, b);
}

export function exitCode(findings: Finding[]): number {
  return findings.some((f) => f.severity === "fail") ? 1 : 0;
}

export function render(f: Facts, findings: Finding[]): string {
  const mark: Record<Severity, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", info: "--  " };
  const lines = [
    f.interface
      ? `v6mostly doctor on ${f.interface} (DNS ${f.dns.server || "none"}, ${f.dns.source})`
      : `v6mostly doctor: no interface to check (no IPv6 default route, no interface up but loopback); DNS ${f.dns.server || "none"} (${f.dns.source})`,
    "",
  ];
  for (const x of findings) {
    lines.push(`${mark[x.severity]} ${x.check}: ${x.detail}`);
    if (x.advice && x.severity !== "ok") lines.push(`     -> ${x.advice}`);
  }
  const bad = findings.filter((x) => x.severity === "fail").length;
  lines.push("", bad ? `${bad} problem(s) found.` : "No problem found.");
  return `${lines.join("\n")}\n`;
}
