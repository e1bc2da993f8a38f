// `v6mostly ra listen -i IFACE [-o json] [--count N] [--timeout D] [--solicit]`
import type { Command } from "commander";
import { parseDuration } from "../../api/duration.ts";
import { describeAdvertisement, terminalJson } from "../../services/ra/describe.ts";
import { isLinkLocal } from "../../services/ra/receive.ts";
import {
  decodeRouterAdvertisement,
  encodeRouterSolicitation,
  ICMP6_ROUTER_ADVERT,
  ipv6Bytes,
  ipv6Text,
  toHex,
} from "../../services/ra/wire.ts";
import { type Icmp6Packet, Icmp6Socket, poll } from "../../util/sys/raw6.ts";

interface ListenOptions {
  interface: string;
  output: string;
  count?: string;
  timeout?: string;
  solicit?: boolean;
}

export function register(program: Command): void {
  const ra = program.command("ra").description("Router Advertisement tools");
  ra.command("listen")
    .description(
      "print every Router Advertisement on a link, decoded (PREF64, RDNSS, DNSSL, routes included)",
    )
    .requiredOption("-i, --interface <name>", "the interface to listen on")
    .option("-o, --output <format>", "text or json (one JSON object per line)", "text")
    .option("-c, --count <n>", "exit after this many advertisements")
    .option("-t, --timeout <duration>", "exit after this long (300, 30s, 2m)")
    .option("-s, --solicit", "send a Router Solicitation first, so routers answer at once")
    .addHelpText(
      "after",
      `
Runs until Ctrl-C, --count or --timeout. Needs CAP_NET_RAW (root). Advertisements that hosts
would ignore are printed too, with the reason (hop limit not 255, source not link-local,
malformed options), since that is what one looks for when a network misbehaves.

Whoever sends an RA chooses its text: control and format characters reach the terminal escaped,
as \\x1b or \\u{202e} (a backslash as \\\\), DNSSL names as dig shows them (\\027); in JSON as \\u001b.

Exit status: 0, or 1 when --timeout ends the listening before --count advertisements arrived
(before any, without --count), 2 on errors (no such interface, no permission).

Examples:
  v6mostly ra listen -i br-lan
  v6mostly ra listen -i eth0 --solicit --count 1 -o json`,
    )
    .action(async (opts: ListenOptions) => {
      const code = await listen(opts);
      process.exitCode = code;
    });
}

async function listen(opts: ListenOptions): Promise<number> {
  if (opts.output !== "text" && opts.output !== "json")
    throw new Error(`--output must be text or json, not "${opts.output}"`);
  const count = opts.count === undefined ? undefined : Number(opts.count);
  if (count !== undefined && (!Number.isInteger(count) || count < 1))
    throw new Error(`--count must be a positive whole number`);
  let timeoutMs: number | undefined;
  if (opts.timeout !== undefined) {
    const d = parseDuration(opts.timeout);
    if (!d.ok) throw new Error(`--timeout: ${d.error}`);
    timeoutMs = d.seconds * 1000;
  }
  let sock: Icmp6Socket;
  try {
    sock = Icmp6Socket.open({ ifname: opts.interface, types: [ICMP6_ROUTER_ADVERT], hopLimit: 255 });
  } catch (e) {
    process.stderr.write(`v6mostly ra listen: ${(e as Error).message}\n`);
    return 2;
  }
  if (opts.solicit) {
    try {
      // RFC 4861 §6.3.7: to all-routers; from our link-local (the kernel picks it), no SLLA needed.
      sock.send(ipv6Bytes("ff02::2"), encodeRouterSolicitation({ options: [] }));
    } catch (e) {
      process.stderr.write(`v6mostly ra listen: sending the solicitation failed: ${(e as Error).message}\n`);
    }
  }
  let seen = 0;
  process.stderr.write(`listening on ${opts.interface} for Router Advertisements\n`);
  return await new Promise<number>((resolve) => {
    const finish = (code: number) => {
      poller.stop();
      if (timer) clearTimeout(timer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      sock.close();
      resolve(code);
    };
    const onSignal = () => finish(0);
    const onPacket = (p: Icmp6Packet) => {
      seen++;
      process.stdout.write(
        opts.output === "json" ? `${terminalJson(record(opts.interface, p))}\n` : text(opts.interface, p),
      );
      if (count !== undefined && seen >= count) finish(0);
    };
    const poller = poll(sock, onPacket, (e) => process.stderr.write(`v6mostly ra listen: ${e.message}\n`));
    const timer =
      timeoutMs === undefined ? undefined : setTimeout(() => finish(seen >= (count ?? 1) ? 0 : 1), timeoutMs);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/** Why hosts would ignore it (RFC 4861 §6.1.2), or undefined. */
function problem(p: Icmp6Packet): string | undefined {
  if (p.hopLimit !== 255)
    return `hop limit ${p.hopLimit ?? "unknown"} (not 255: hosts ignore it, RFC 4861 §6.1.2)`;
  if (!isLinkLocal(p.source)) return "source is not link-local (hosts ignore it, RFC 4861 §6.1.2)";
  if (p.data[1] !== 0) return `ICMP code ${p.data[1]} (not 0)`;
  return undefined;
}

function record(ifname: string, p: Icmp6Packet) {
  const d = decodeRouterAdvertisement(p.data);
  return {
    time: new Date().toISOString(),
    interface: ifname,
    source: ipv6Text(p.source),
    destination: p.destination ? ipv6Text(p.destination) : undefined,
    hopLimit: p.hopLimit,
    problem: problem(p) ?? (d.ok ? undefined : d.error),
    advertisement: d.ok ? d.value : undefined,
    hex: toHex(p.data),
  };
}

function text(ifname: string, p: Icmp6Packet): string {
  const r = record(ifname, p);
  const lines = [
    `${r.time} RA from ${r.source} on ${ifname} to ${r.destination ?? "?"}, ${p.data.length} bytes`,
  ];
  if (r.problem) lines.push(`  ! ${r.problem}`);
  if (r.advertisement) for (const l of describeAdvertisement(r.advertisement)) lines.push(`  ${l}`);
  return `${lines.join("\n")}\n\n`;
}
