// `v6mostly lab check`: the seed's matrix, measured. For each DNS64 state and each client, the
// probe runs inside the client's namespace; the path of each connection is told by the source
// address the server saw and confirmed in the router's NAT64 translation table.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLAT, CLIENTS, LAN, PREF64, SERVERS } from "./addressing.ts";
import { inNs, inNsAsync, selfCommand, sleep } from "./exec.ts";
import {
  type Cell,
  COLUMNS,
  classify,
  compare,
  type Dns64State,
  type Finding,
  type ProbeResult,
  type SessionEvidence,
} from "./matrix.ts";
import type { LabState } from "./state.ts";
import { ipv4Of, ns, type Progress, refreshDhcp, routerNs, STATUS_ADDRESS } from "./topology.ts";

export interface CheckReport {
  cells: Cell[];
  findings: Finding[];
  ok: boolean;
  /** the router's NAT64 counters and drops after the probes, when it publishes them */
  nat64?: { counters: Record<string, number>; drops: Record<string, number> };
}

interface ReadyDetail {
  resource: string;
  running: boolean;
  error?: string;
}

function status<T>(s: LabState, topic: string): T | undefined {
  const out = inNs(routerNs(s), ["curl", "-s", "-m", "2", `http://${STATUS_ADDRESS}/${topic}`], {
    allowFail: true,
  });
  try {
    return JSON.parse(out) as T;
  } catch {
    return undefined;
  }
}

function sessions(s: LabState): SessionEvidence[] | undefined {
  const t = status<Record<string, { sessions?: SessionEvidence[] }>>(s, "translations");
  if (!t || "error" in t) return undefined;
  const all = Object.values(t).flatMap((x) => x.sessions ?? []);
  return Object.keys(t).length ? all : undefined;
}

/**
 * The DNS server each client uses. DNS64 on: what the network told it (RDNSS from the RA, DNS
 * servers from the DHCP lease). DNS64 off: the lab's authoritative server, a resolver without
 * DNS64 (the seed's FortiGate with DNS64 disabled).
 */
function dnsFor(s: LabState, id: string, ipv6: boolean, dns64: Dns64State): string | null {
  if (dns64 === "off") return ipv6 ? SERVERS.dns6 : SERVERS.dns4;
  if (ipv6) return s.learned.rdnss ?? null;
  return s.learned.lease4?.[id]?.dns[0] ?? null;
}

function routerErrors(s: LabState): string[] {
  let text = "";
  try {
    text = readFileSync(join(s.dir, "router.log"), "utf8");
  } catch {
    return ["no router.log"];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; resource?: string; error?: string };
      if ((j.level ?? 0) >= 50)
        out.push(`${j.resource ?? "v6mostly"}: ${j.msg}${j.error ? `: ${j.error}` : ""}`);
    } catch {}
  }
  return out;
}

export async function check(s: LabState, progress: Progress): Promise<CheckReport> {
  const findings: Finding[] = [];
  const cells: Cell[] = [];
  // DHCP as it is now (the clients keep trying); the other problems of `up` stand
  refreshDhcp(s);
  for (const pr of s.learned.problems ?? []) {
    if (!pr.startsWith("DHCPv4:")) findings.push({ name: "lab up", ok: false, detail: pr });
  }

  const ready = await progress.step("router: what v6mostly runs (/readyz)", () =>
    status<{ ready: boolean; detail: ReadyDetail[] }>(s, "readyz"),
  );
  for (const kind of ["Nat64Gateway", "Dns64Resolver", "RouterAdvert", "DhcpScope"]) {
    const d = ready?.detail?.find((x) => x.resource.startsWith(`${kind}/`));
    findings.push({
      name: `router runs ${kind}`,
      ok: d?.running === true,
      detail: d
        ? d.running
          ? d.resource
          : `${d.resource} does not run: ${d.error ?? "no reason given"}`
        : "not in /readyz (is the router up?)",
    });
  }

  // what the router's services logged as errors (pino level 50 and up), e.g. a packet worker that died
  const errors = routerErrors(s);
  findings.push({
    name: "router: no errors in router.log",
    ok: errors.length === 0,
    detail: errors.length ? errors.slice(0, 5).join("; ") : "none",
  });

  // RFC 8925: the CLAT client asked for option 108, got it, and took no IPv4 address.
  const v6only = s.learned.v6only?.c4;
  const c4v4 = ipv4Of(ns(s, "c4")).filter((a) => a !== CLAT.hostIpv4);
  findings.push({
    name: "RFC 8925: the CLAT client gets option 108 and takes no IPv4 lease",
    ok: v6only !== undefined && c4v4.length === 0,
    detail: v6only
      ? `dhclient: ${v6only.reason}${v6only.seconds !== undefined ? `, V6ONLY_WAIT ${v6only.seconds} s` : ""}; IPv4 on eth0: ${c4v4.join(", ") || "none"}`
      : `no option 108 answer seen${s.learned.lease4?.c4 ? `; it took the lease ${s.learned.lease4.c4.address}` : ""}`,
  });
  for (const id of ["c1", "c2"]) {
    const l = s.learned.lease4?.[id];
    findings.push({
      name: `DHCPv4: ${id} (does not ask for option 108) gets a lease`,
      ok: l?.address.startsWith("192.0.2.") === true,
      detail: l ? `${l.address}, router ${l.router ?? "-"}, DNS ${l.dns.join(", ") || "-"}` : "no lease",
    });
  }
  findings.push({
    name: "CLAT: PREF64 learned from the router",
    ok: s.learned.pref64 === PREF64,
    detail: s.learned.pref64 ? `${s.learned.pref64} (${s.learned.pref64Source})` : "none",
  });
  findings.push({
    name: "IPv6 clients: RDNSS learned from the RA",
    ok: s.learned.rdnss === LAN.router6,
    detail: s.learned.rdnss ?? "none",
  });

  for (const dns64 of ["on", "off"] as const) {
    for (const c of CLIENTS) {
      const C = ns(s, c.id);
      const dns = dnsFor(s, c.id, c.ipv6, dns64);
      const out = await progress
        .step(`DNS64 ${dns64}: ${c.label} (DNS ${dns ?? "none"})`, async () => {
          const r = await inNsAsync(C, [...selfCommand(), "lab", "probe", "--dns", dns ?? "none"], 60_000);
          try {
            return JSON.parse(r.stdout) as {
              results: ProbeResult[];
              own: { ipv6: string[]; ipv4: string[] };
            };
          } catch {
            throw new Error(`the probe in ${C} failed: ${r.stderr.trim().slice(0, 400)}`);
          }
        })
        .catch((e: Error) => e);
      if (out instanceof Error) {
        for (const col of COLUMNS) {
          cells.push(
            compare(c.kind, dns64, col, { path: "x", evidence: out.message, unavailable: out.message }),
          );
        }
        continue;
      }
      const own6 = out.own.ipv6.filter((a) => a !== CLAT.hostIpv6 && a !== CLAT.taygaIpv6);
      const own4 = out.own.ipv4.filter((a) => a !== CLAT.hostIpv4);
      const observe = (table: SessionEvidence[] | undefined) =>
        COLUMNS.map((col) => {
          const r = out.results.find((x) => x.column === col) ?? { column: col, error: "not probed" };
          let observed = classify(r, own6, own4, table);
          // A client that should have IPv4 and got no lease cannot be measured on IPv4.
          if (c.ipv4 && !s.learned.lease4?.[c.id] && observed.path === "x") {
            observed = { ...observed, unavailable: "the client has no DHCPv4 lease" };
          }
          if (dns64 === "on" && !dns && (col === "v6-fqdn" || col === "v4-fqdn")) {
            observed = { ...observed, unavailable: "the client learned no DNS server" };
          }
          return compare(c.kind, dns64, col, observed);
        });
      // The NAT64 publishes its table about once a second (later on a busy machine): read it
      // until this client's connections show, for at most 8 s.
      let row = observe(sessions(s));
      for (
        let t = 0;
        t < 16 && row.some((x) => /translation table/.test(x.observed.unavailable ?? ""));
        t++
      ) {
        await sleep(500);
        row = observe(sessions(s));
      }
      cells.push(...row);
    }
  }
  const ok = cells.every((c) => c.ok) && findings.every((f) => f.ok);
  const t = status<Record<string, { counters?: Record<string, number>; drops?: Record<string, number> }>>(
    s,
    "translations",
  );
  const nat = t ? Object.values(t)[0] : undefined;
  return {
    cells,
    findings,
    ok,
    ...(nat?.counters ? { nat64: { counters: nat.counters, drops: nat.drops ?? {} } } : {}),
  };
}

/** The evidence behind each cell and the NAT64's counters, for `check -v`. */
export function renderEvidence(r: CheckReport): string {
  const lines = ["Evidence (what the server saw, the translation table):"];
  for (const c of r.cells)
    lines.push(`  DNS64 ${c.dns64} ${c.client} ${c.column}: ${c.observed.path}: ${c.observed.evidence}`);
  if (r.nat64) {
    const k = r.nat64.counters;
    lines.push(
      `NAT64 counters: ${k.packets6to4 ?? 0} packets 6->4, ${k.packets4to6 ?? 0} packets 4->6, sessions tcp ${k.sessionsTcp ?? 0} udp ${k.sessionsUdp ?? 0} icmp ${k.sessionsIcmp ?? 0}; drops ${JSON.stringify(r.nat64.drops)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
