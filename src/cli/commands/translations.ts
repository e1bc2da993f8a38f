// `v6mostly translations [--status-address ADDR] [-o json]`: the live NAT64 table of a running
// `v6mostly run`, read from its status server (GET /translations), printed the way IOS
// `show nat64 translations` does, plus the counters.
import type { Command } from "commander";
import { DEFAULT_STATUS_ADDRESS } from "../../agent/status.ts";
import type { TranslationsTopic } from "../../services/nat64/index.ts";
import { table } from "../output.ts";

function v6(addr: string, port: number): string {
  return `[${addr}]:${port}`;
}

/** One block per resource: the session table (two lines per session, as IOS prints) and counters. */
export function renderTranslations(all: Record<string, TranslationsTopic>): string {
  const out: string[] = [];
  for (const [resource, t] of Object.entries(all)) {
    out.push(`${resource} (${t.mode}, ${t.tun}, prefix ${t.prefix}, pool4 ${t.pool4.join(", ") || "-"})`);
    const rows: string[][] = [];
    for (const s of t.sessions) {
      // IOS: Proto | Original IPv4 | Translated IPv4, then Translated IPv6 | Original IPv6 below.
      rows.push([
        s.proto,
        `${s.remote4}:${s.remotePort}`,
        v6(s.remote6, s.remotePort),
        s.state,
        `${s.expiresIn}s`,
      ]);
      rows.push(["", `${s.ipv4}:${s.port4}`, v6(s.ipv6, s.port6), s.static ? "static" : "", ""]);
    }
    out.push(
      table(
        ["Proto", "Original IPv4 / Translated IPv4", "Translated IPv6 / Original IPv6", "State", "Expires"],
        rows,
      ),
    );
    const age =
      t.sessionsAgeMs === undefined
        ? " (no table from the packet workers yet)"
        : ` (table from ${(t.sessionsAgeMs / 1000).toFixed(1)} s ago: the workers send it once a second; the counters below are at most 0.25 s old)`;
    out.push(
      `Total number of translations: ${t.totalSessions}${t.truncated ? ` (${t.sessions.length} shown)` : ""}${age}`,
    );
    const c = t.counters;
    out.push(
      `Packets 6->4 ${c.packets6to4 ?? 0} (${c.bytes6to4 ?? 0} bytes), 4->6 ${c.packets4to6 ?? 0} (${c.bytes4to6 ?? 0} bytes); ICMP errors sent ${c.icmpErrorsSent ?? 0}`,
    );
    out.push(
      `BIB entries tcp ${c.bibTcp ?? 0} udp ${c.bibUdp ?? 0} icmp ${c.bibIcmp ?? 0}; pool4 ports in use tcp ${c.poolUsedTcp ?? 0} udp ${c.poolUsedUdp ?? 0} icmp ${c.poolUsedIcmp ?? 0} of ${c.poolCapacity ?? 0} each`,
    );
    out.push(
      `TCP/UDP super-packets (offload) ${c.gsoPackets ?? 0}, cut in software ${c.gsoSoftwareSegmented ?? 0}, dropped ${c.offloadDrops ?? 0}; packets passed between workers ${c.handoffs ?? 0}, ring full ${c.handoffDrops ?? 0}`,
    );
    const drops = Object.entries(t.drops);
    out.push(`Drops: ${drops.length ? drops.map(([k, v]) => `${k} ${v}`).join(", ") : "none"}`);
    out.push("");
  }
  if (out.length === 0) out.push("No Nat64Gateway is running there.");
  return out.join("\n");
}

export function register(program: Command): void {
  program
    .command("translations")
    .description(
      "show the live NAT64 translation table of a running `v6mostly run` (like show nat64 translations)",
    )
    .option("--status-address <addr>", "the status server of the running process", DEFAULT_STATUS_ADDRESS)
    .option("-o, --output <format>", "text or json", "text")
    .action(async (opts: { statusAddress: string; output: string }) => {
      const url = `http://${opts.statusAddress}/translations`;
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      } catch (e) {
        throw new Error(
          `cannot reach ${url}: ${(e as Error).cause ?? (e as Error).message} (is \`v6mostly run\` running with --status-address?)`,
        );
      }
      if (res.status === 404) throw new Error(`${url}: no translations published (no Nat64Gateway running)`);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      const body = (await res.json()) as Record<string, TranslationsTopic>;
      if (opts.output === "json") process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      else process.stdout.write(`${renderTranslations(body)}\n`);
    });
}
