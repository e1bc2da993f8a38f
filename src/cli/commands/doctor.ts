// `v6mostly doctor`: run on a client of an IPv6-mostly network; says what is wrong and where.
import type { Command } from "commander";
import { parseDuration } from "../../api/duration.ts";
import { diagnose, exitCode, render } from "../../doctor/diagnose.ts";
import { gather } from "../../doctor/index.ts";

interface Opts {
  interface?: string;
  dns?: string;
  v4Literal: string;
  v4Name: string;
  clatConfig?: string;
  raWait: string;
  dhcp: boolean;
  timeout: string;
  output: string;
}

export function register(program: Command): void {
  program
    .command("doctor")
    .description(
      "check this client's IPv6-mostly network: PREF64 (RA and RFC 7050), DNS64, DHCP option 108, NAT64 reachability, the local CLAT",
    )
    .option("-i, --interface <name>", "the interface to check (default: the one of the IPv6 default route)")
    .option("--dns <addr>", "the DNS server to ask (default: the system resolver's first server)")
    .option(
      "--v4-literal <addr[:port]>",
      "an IPv4 address to reach through the NAT64 prefix (TCP)",
      "8.8.8.8:443",
    )
    .option(
      "--v4-name <name[:port]>",
      "an IPv4-only name: DNS64 must synthesize its AAAA, and it must be reachable",
      "ipv4.google.com:443",
    )
    .option(
      "--clat-config <file>",
      "the local CLAT's configuration (tayga.conf or clatd.conf); default: a running TAYGA's, /etc/tayga.conf, /etc/clatd.conf",
    )
    .option("--ra-wait <duration>", "how long to listen for Router Advertisements after soliciting", "4s")
    .option("--no-dhcp", "do not send a DHCPDISCOVER")
    .option("-t, --timeout <duration>", "per DNS query and TCP connection", "3s")
    .option("-o, --output <format>", "text or json", "text")
    .addHelpText(
      "after",
      `
What it does: sends a Router Solicitation and reads the RAs (PREF64, RFC 8781); asks the DNS server
for ipv4only.arpa AAAA (RFC 7050 discovery) and for the IPv4-only name's A and AAAA (DNS64
synthesis); sends one DHCPDISCOVER asking for option 108 (RFC 8925) and reads the OFFER, without
taking a lease; opens TCP connections to the IPv4 literal and the name through the NAT64 prefix;
reads the local CLAT's configuration (TAYGA, clatd) and checks its source addresses.

Root is needed for the RA and DHCP parts (raw ICMPv6 socket, UDP port 68 on a device); without it
they are reported as not checked. Exit status 1 when a problem is found.

Example:
  sudo v6mostly doctor -i eth0
  sudo v6mostly doctor --dns fd00:64:1::1 --v4-literal 203.0.113.10:80 --v4-name v4only.lab.example:80`,
    )
    .action(async (o: Opts) => {
      const d = (t: string, what: string) => {
        const p = parseDuration(t);
        if (!p.ok) throw new Error(`${what}: ${p.error}`);
        return p.seconds * 1000;
      };
      const facts = await gather({
        ...(o.interface ? { interface: o.interface } : {}),
        ...(o.dns ? { dns: o.dns } : {}),
        v4Literal: o.v4Literal,
        v4Name: o.v4Name,
        ...(o.clatConfig ? { clatConfig: o.clatConfig } : {}),
        raWaitMs: d(o.raWait, "--ra-wait"),
        dhcp: o.dhcp,
        timeoutMs: d(o.timeout, "--timeout"),
      });
      const findings = diagnose(facts);
      process.stdout.write(
        o.output === "json" ? `${JSON.stringify({ facts, findings }, null, 2)}\n` : render(facts, findings),
      );
      process.exitCode = exitCode(findings);
    });
}
