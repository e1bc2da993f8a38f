// radvd (Debian's 2.19) as the byte reference: the same configuration through radvd and through
// our service, each advertisement received on the host side by `v6mostly ra listen -o json`;
// the bytes must be equal apart from the checksum and PREF64 (radvd 2.19 has no PREF64, RFC 8781),
// which we append as the last option. Also the final advertisement on SIGTERM.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeOption, toHex } from "../../../src/services/ra/wire.ts";
import { Lab, missing, type Proc } from "./lab.ts";
import { fullSpecYaml } from "./support.ts";

const CLI = "src/cli/main.ts";

interface Heard {
  source: string;
  hopLimit: number;
  hex: string;
  problem?: string;
  advertisement?: { routerLifetime: number };
}

/** Checksum (bytes 2-3) zeroed: the kernel computes it over addresses that differ between runs. */
const noChecksum = (hex: string) => `${hex.slice(0, 4)}0000${hex.slice(8)}`;

async function listen(lab: Lab, count: number): Promise<Proc> {
  const p = lab.node(lab.h, CLI, [
    "ra",
    "listen",
    "-i",
    lab.hif,
    "--solicit",
    "--count",
    String(count),
    "--timeout",
    "30",
    "-o",
    "json",
  ]);
  await p.until(() => p.lines.length >= 1, 20_000, "the first advertisement");
  return p;
}

test("radvd and v6mostly send the same bytes for the same configuration (PREF64 aside), final RA too", async (t) => {
  const why = missing(["radvd"]);
  if (why) return t.skip(why);
  const lab = new Lab("b");
  const dir = mkdtempSync(join(tmpdir(), "v6m-ra-"));
  t.after(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  lab.setup({ hostAcceptsRa: false });

  // The configuration of support.ts's fullSpecYaml, written for radvd.
  const conf = join(dir, "radvd.conf");
  writeFileSync(
    conf,
    `interface ${lab.rif} {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvCurHopLimit 64;
  AdvDefaultLifetime 1800;
  AdvDefaultPreference low;
  AdvLinkMTU 1400;
  AdvSourceLLAddress on;
  prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 86400; AdvPreferredLifetime 14400; };
  route 2001:db8:64::/96 { AdvRoutePreference high; AdvRouteLifetime 1800; };
  RDNSS 2001:db8:1::53 2001:db8:1::54 { AdvRDNSSLifetime 1800; };
  DNSSL home.arpa example.net { AdvDNSSLLifetime 1800; };
};
`,
  );
  const radvd = lab.start(lab.r, ["radvd", "-C", conf, "-p", join(dir, "radvd.pid"), "-n", "-m", "stderr"]);
  await radvd.until(() => radvd.stderr.includes("started") || radvd.exitCode !== undefined, 10_000, "radvd");
  const heardRadvd = await listen(lab, 2);
  radvd.signal("SIGTERM"); // radvd's final advertisement ("sending stop adverts")
  await radvd.exited(10_000);
  await heardRadvd.exited(15_000);
  const [radvdRa, radvdFinal] = heardRadvd.json<Heard>();
  assert.ok(radvdRa && radvdFinal, heardRadvd.stderr);

  const yaml = join(dir, "ra.yaml");
  writeFileSync(yaml, fullSpecYaml(lab.rif));
  const sender = lab.node(lab.r, "test/services/ra/fixtures/sender.ts", [yaml]);
  await sender.until(
    () => sender.json<{ event: string }>().find((e) => e.event === "started"),
    30_000,
    "our sender",
  );
  const heardOurs = await listen(lab, 1);
  await heardOurs.exited(15_000);
  // until the final advertisement (a periodic one may come first), at most 8 s
  const finalListener = lab.node(lab.h, CLI, [
    "ra",
    "listen",
    "-i",
    lab.hif,
    "--count",
    "2",
    "--timeout",
    "8",
    "-o",
    "json",
  ]);
  await finalListener.until(() => finalListener.stderr.includes("listening on"), 20_000, "the listener");
  sender.signal("SIGTERM");
  await sender.exited(10_000);
  await finalListener.until(
    () => finalListener.json<Heard>().some((h) => h.advertisement?.routerLifetime === 0),
    10_000,
    "the final advertisement",
  );
  const [ours] = heardOurs.json<Heard>();
  const oursFinal = finalListener.json<Heard>().find((h) => h.advertisement?.routerLifetime === 0);
  assert.ok(ours, heardOurs.stderr);
  assert.ok(oursFinal, `final RA not heard: ${finalListener.lines.join("\n")}`);

  const pref64 = (lifetime: number) =>
    toHex(encodeOption({ type: "pref64", prefix: "2001:db8:64::", prefixLength: 96, lifetime }));
  assert.equal(pref64(1800), "2602070820010db80064000000000000");
  assert.equal(ours.source, radvdRa.source, "both from the router's link-local");
  assert.equal(ours.hopLimit, 255);
  assert.equal(radvdRa.problem, undefined);
  assert.equal(ours.problem, undefined);
  // the whole advertisement, header and every option, byte for byte
  assert.equal(noChecksum(ours.hex), noChecksum(radvdRa.hex) + pref64(1800));
  // radvd's stop advertisement: router lifetime 0, routes and DNS withdrawn (its defaults
  // AdvRemoveRoute, FlushRDNSS, FlushDNSSL); ours the same, plus PREF64 withdrawn
  // One deliberate difference: radvd keeps the default router preference bits (low, 11) in its
  // final advertisement; RFC 4191 §2.2 says a sender MUST set them to 00 when the Router Lifetime
  // is 0, as ours does. Byte 5 holds M, O, H, Prf and P.
  const flags = (hex: string) => Number.parseInt(hex.slice(10, 12), 16);
  assert.equal(flags(radvdFinal.hex) & 0x18, 0x18, "radvd 2.19: Prf still 'low' with lifetime 0");
  assert.equal(flags(oursFinal.hex) & 0x18, 0, "ours: Prf 00 with lifetime 0 (RFC 4191 §2.2)");
  const prfCleared = (hex: string) =>
    `${hex.slice(0, 10)}${(flags(hex) & ~0x18).toString(16).padStart(2, "0")}${hex.slice(12)}`;
  assert.equal(noChecksum(oursFinal.hex), prfCleared(noChecksum(radvdFinal.hex)) + pref64(0));
});
