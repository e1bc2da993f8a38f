// The RA service against the Linux kernel as the host, in network namespaces: SLAAC, default
// route via our link-local, MTU, the RFC 4191 route, RDNSS/DNSSL/PREF64 handed to userspace
// (ND_USEROPT), tshark's decoding of every option, an RS from rdisc6 answered, and the final
// advertisement on SIGTERM removing the host's default route.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { NdOption } from "../../../src/services/ra/wire.ts";
import { Lab, linkLocalOf, missing, sh, waitUntil } from "./lab.ts";
import { fullSpecYaml } from "./support.ts";

const SENDER = "test/services/ra/fixtures/sender.ts";
const USEROPT = "test/services/ra/fixtures/nduseropt.ts";

interface UserOpt {
  ifindex: number;
  options: NdOption[];
}

function hostState(lab: Lab) {
  const addrs = JSON.parse(sh(lab.h, ["ip", "-6", "-j", "addr", "show", "dev", lab.hif])) as {
    addr_info: { local: string; prefixlen: number; scope: string }[];
  }[];
  const routes = JSON.parse(sh(lab.h, ["ip", "-6", "-j", "route", "show", "dev", lab.hif])) as {
    dst: string;
    gateway?: string;
    protocol?: string;
    pref?: string;
    expires?: number;
  }[];
  const mtu = Number(sh(lab.h, ["sysctl", "-n", `net.ipv6.conf.${lab.hif}.mtu`]).trim());
  return { addrs: addrs[0]?.addr_info ?? [], routes, mtu };
}

test("the Linux kernel as host: SLAAC, default route, MTU, RIO route, ND_USEROPT, tshark, rdisc6, SIGTERM", async (t) => {
  const why = missing(["tshark", "rdisc6"]);
  if (why) return t.skip(why);
  const lab = new Lab("a");
  const dir = mkdtempSync(join(tmpdir(), "v6m-ra-"));
  t.after(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  lab.setup();
  // The default interval (max 600 s): after the first advertisement the next unsolicited one is at
  // least 16 s away, so an answer to rdisc6 within its wait can only be the solicited one.
  const config = join(dir, "ra.yaml");
  writeFileSync(
    config,
    fullSpecYaml(lab.rif).replace("interval: { min: 3s, max: 4s }", "interval: { max: 600s }"),
  );

  const useropt = lab.node(lab.h, USEROPT);
  await useropt.until(() => useropt.lines.length > 0, 20_000, "the netlink listener");
  const pcap = join(dir, "ra.pcap");
  const capture = lab.start(lab.h, ["tshark", "-n", "-i", lab.hif, "-f", "icmp6", "-w", pcap]);
  await capture.until(() => capture.stderr.includes("Capturing on"), 20_000, "tshark to start");

  const sender = lab.node(lab.r, SENDER, [config]);
  const started = await sender.until(
    () => sender.json<{ event: string }>().find((e) => e.event !== undefined),
    30_000,
    "the sender",
  );
  assert.equal(started.event, "started", JSON.stringify(started));
  const routerLl = linkLocalOf(lab.r, lab.rif);
  assert.ok(routerLl);

  // The kernel configures itself from our advertisement.
  const state = await waitUntil(
    () => {
      const s = hostState(lab);
      const slaac = s.addrs.find((a) => a.local.startsWith("2001:db8:1:0:") && a.prefixlen === 64);
      const def = s.routes.find((r) => r.dst === "default");
      const rio = s.routes.find((r) => r.dst === "2001:db8:64::/96");
      return slaac && def && rio && s.mtu === 1400 ? { ...s, slaac, def, rio } : undefined;
    },
    15_000,
    "SLAAC address, default route, RIO route and MTU on the host",
  );
  assert.equal(state.def.gateway, routerLl, "default route via our link-local");
  assert.equal(state.def.protocol, "ra");
  assert.equal(state.def.pref, "low", "default router preference (RFC 4191 §2.2)");
  assert.equal(state.rio.gateway, routerLl, "the PREF64 route via our link-local (RFC 4191 §2.3)");
  assert.equal(state.rio.pref, "high");
  assert.equal(state.mtu, 1400);

  // RDNSS, DNSSL and PREF64 reach userspace through ND_USEROPT.
  const seen = () => useropt.json<UserOpt>().flatMap((m) => m.options ?? []);
  await useropt.until(
    () => ["rdnss", "dnssl", "pref64"].every((k) => seen().some((o) => o.type === k)),
    10_000,
    "ND_USEROPT messages",
  );
  assert.deepEqual(
    seen().find((o) => o.type === "rdnss"),
    { type: "rdnss", lifetime: 1800, servers: ["2001:db8:1::53", "2001:db8:1::54"] },
  );
  assert.deepEqual(
    seen().find((o) => o.type === "dnssl"),
    { type: "dnssl", lifetime: 1800, domains: ["home.arpa", "example.net"] },
  );
  assert.deepEqual(
    seen().find((o) => o.type === "pref64"),
    { type: "pref64", prefix: "2001:db8:64::", prefixLength: 96, lifetime: 1800 },
  );

  // rdisc6 solicits and prints our answer (rdisc6 does not decode PREF64).
  await new Promise((r) => setTimeout(r, 3200)); // past MIN_DELAY_BETWEEN_RAS since the first RA
  // up to three solicitations (7.5 s, still well before the next unsolicited RA): a loaded machine
  // can delay our answer past one 2.5 s wait
  const rdisc = sh(lab.h, ["rdisc6", "-1", "-r", "3", "-w", "2500", lab.hif]);
  assert.match(rdisc, new RegExp(`from ${routerLl}`));
  assert.match(rdisc, /Recursive DNS server\s*:\s*2001:db8:1::53/);
  assert.match(rdisc, /DNS search list\s*:\s*home\.arpa/);
  assert.match(rdisc, /MTU\s*:\s*1400/);
  assert.match(rdisc, /Route\s*:\s*2001:db8:64::\/96/);
  assert.match(rdisc, /Prefix\s*:\s*2001:db8:1::\/64/);
  sender.send("stats");
  const stats = await sender.until(
    () => sender.json<{ event: string; stats: Record<string, number> }>().find((e) => e.event === "stats"),
    5000,
    "stats",
  );
  assert.ok(stats.stats.solicitationsReceived! >= 1, JSON.stringify(stats.stats));
  assert.ok(stats.stats.advertisementsSolicited! >= 1, JSON.stringify(stats.stats));

  // SIGTERM: the final advertisement (router lifetime 0) removes the default and RIO routes now.
  sender.signal("SIGTERM");
  assert.equal(await sender.exited(10_000), 0);
  await waitUntil(
    () => !hostState(lab).routes.some((r) => r.dst === "default" || r.dst === "2001:db8:64::/96"),
    5000,
    "routes removed",
  );
  await useropt.until(
    () => seen().some((o) => o.type === "pref64" && o.lifetime === 0),
    5000,
    "PREF64 withdrawn",
  );

  // tshark decodes every option with the values we sent.
  await new Promise((r) => setTimeout(r, 500)); // let tshark write the last packet
  capture.signal("SIGINT");
  await capture.exited(10_000);
  const fields = [
    "ipv6.src",
    "ipv6.hlim",
    "icmpv6.checksum.status",
    "icmpv6.nd.ra.cur_hop_limit",
    "icmpv6.nd.ra.flag.prf",
    "icmpv6.nd.ra.router_lifetime",
    "icmpv6.opt.type",
    "icmpv6.opt.linkaddr",
    "icmpv6.opt.mtu",
    "icmpv6.opt.prefix",
    "icmpv6.opt.prefix.length",
    "icmpv6.opt.prefix.flag.l",
    "icmpv6.opt.prefix.flag.a",
    "icmpv6.opt.prefix.valid_lifetime",
    "icmpv6.opt.prefix.preferred_lifetime",
    "icmpv6.opt.route_info.flag.route_preference",
    "icmpv6.opt.route_lifetime",
    "icmpv6.opt.rdnss.lifetime",
    "icmpv6.opt.rdnss",
    "icmpv6.opt.dnssl.lifetime",
    "icmpv6.opt.dnssl",
    "icmpv6.opt.pref64.scaled_lifetime",
    "icmpv6.opt.pref64.plc",
    "icmpv6.opt.pref64.prefix",
  ];
  const out = sh(undefined, [
    "tshark",
    "-n",
    "-r",
    pcap,
    "-Y",
    "icmpv6.type == 134",
    "-T",
    "fields",
    "-E",
    "separator=\t",
    "-E",
    "aggregator=|",
    ...fields.flatMap((f) => ["-e", f]),
  ]);
  const rows = out
    .trim()
    .split("\n")
    .map((l) => Object.fromEntries(l.split("\t").map((v, i) => [fields[i]!, v])));
  // the first (or, when the capture started late, the solicited) one, and the final one
  assert.ok(rows.length >= 2, `advertisements captured: ${rows.length}`);
  const first = rows[0]!;
  const final = rows[rows.length - 1]!;
  const mac = sh(lab.r, ["cat", `/sys/class/net/${lab.rif}/address`]).trim();
  const expected: Record<string, string> = {
    "ipv6.src": routerLl,
    "ipv6.hlim": "255",
    "icmpv6.checksum.status": "1",
    "icmpv6.nd.ra.cur_hop_limit": "64",
    "icmpv6.nd.ra.flag.prf": "3",
    "icmpv6.nd.ra.router_lifetime": "1800",
    // PIO, RIO, RDNSS, DNSSL, MTU, SLLA, PREF64
    "icmpv6.opt.type": "3|24|25|31|5|1|38",
    "icmpv6.opt.linkaddr": mac,
    "icmpv6.opt.mtu": "1400",
    "icmpv6.opt.prefix": "2001:db8:1::|2001:db8:64::",
    "icmpv6.opt.prefix.length": "64|96",
    "icmpv6.opt.prefix.flag.l": "1",
    "icmpv6.opt.prefix.flag.a": "1",
    "icmpv6.opt.prefix.valid_lifetime": "86400",
    "icmpv6.opt.prefix.preferred_lifetime": "14400",
    "icmpv6.opt.route_info.flag.route_preference": "1",
    "icmpv6.opt.route_lifetime": "1800",
    "icmpv6.opt.rdnss.lifetime": "1800",
    "icmpv6.opt.rdnss": "2001:db8:1::53|2001:db8:1::54",
    "icmpv6.opt.dnssl.lifetime": "1800",
    "icmpv6.opt.dnssl": "home.arpa|example.net",
    "icmpv6.opt.pref64.scaled_lifetime": "225",
    "icmpv6.opt.pref64.plc": "0x0000",
    "icmpv6.opt.pref64.prefix": "2001:db8:64::",
  };
  assert.deepEqual(first, expected);
  assert.equal(final["icmpv6.nd.ra.router_lifetime"], "0");
  assert.equal(final["icmpv6.nd.ra.flag.prf"], "0");
  assert.equal(final["icmpv6.opt.route_lifetime"], "0");
  assert.equal(final["icmpv6.opt.rdnss.lifetime"], "0");
  assert.equal(final["icmpv6.opt.pref64.scaled_lifetime"], "0");
  // solicited answer within MAX_RA_DELAY_TIME + poll slack is checked by the stats above; every
  // advertisement came from the link-local with hop limit 255
  for (const r of rows) {
    assert.equal(r["ipv6.src"], routerLl);
    assert.equal(r["ipv6.hlim"], "255");
  }
});
