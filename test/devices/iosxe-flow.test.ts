// plan / apply / verify against a fake IOS-XE RESTCONF server: the seed's ISR configured from
// examples/seed, the CLI RPC for what YANG lacks, save-config once at the end, a second apply that
// sends nothing, drift, removal, a locked datastore retried, and every body sent checked by yanglint.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { formatRun } from "../../src/cli/commands/device.ts";
import { applyDevice, ledgerPath, planDevice } from "../../src/devices/apply.ts";
import { cliRpcForYanglint, wrapInNative } from "../../src/devices/iosxe/render.ts";
import { FakeIosxe, ISR_INTERFACES } from "./support/fake-iosxe.ts";
import { boxHarness } from "./support/harness.ts";
import { device, seedIsrAt } from "./support/seed.ts";
import { hasYanglint, yangValidate } from "./support/yang.ts";

const PASSWORD = "isr-secret-pw-7d1e93b0c2";
const h = boxHarness({ needsShared: true });
const { skip } = h;

/** The seed's resources pointed at the fake; interfaces left for the driver to read from the box. */
const seedAt = (endpoint: string, drop: string[] = []) => seedIsrAt(endpoint, h.pki.caFile, drop);

async function setup(version = "17.12") {
  const fake = h.track(
    new FakeIosxe({
      user: "admin",
      password: PASSWORD,
      version,
      key: h.pki.key,
      cert: h.pki.cert,
      interfaces: ISR_INTERFACES,
    }),
  );
  const endpoint = await fake.start();
  return {
    fake,
    endpoint,
    dev: device(seedAt(endpoint), "isr"),
    ...h.runOptions({ V6M_TEST_ISR_PASSWORD: PASSWORD }),
  };
}

test("the seed's ISR from examples/seed: apply, CLI RPC for BDI, save-config last, second apply sends nothing", {
  skip,
}, async () => {
  const { fake, dev, opts, logs } = await setup();
  const plan = await planDevice(dev, opts);
  assert.equal(plan.condition.reason, "Pending", plan.condition.message);
  assert.equal(fake.writes().length, 0);
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  const n = fake.native();
  const pool = (
    (n.ip as Record<string, Record<string, unknown>>).dhcp!.pool as Record<string, unknown>[]
  )[0]!;
  assert.equal(pool.id, "v6m-lan");
  assert.deepEqual(
    pool.option,
    { "option-range": [{ "option-range": 108, "hex-new": { "hex-line": "0000.0708" } }] },
    "the box writes it dotted",
  );
  assert.deepEqual([...(fake.cli.get("BDI1") ?? [])], ["nat64 enable"]);
  assert.deepEqual([...(fake.cli.get("BDI10") ?? [])].sort(), [
    "ipv6 nd ra nat64-prefix FD00:FF9B::/96",
    "nat64 enable",
  ]);
  assert.equal(fake.saves, 1);
  const writes = fake.writes();
  assert.equal(
    writes[writes.length - 1]!.path,
    "/restconf/operations/cisco-ia:save-config",
    "save-config comes last",
  );
  for (const s of fake.seen)
    assert.equal(s.auth, `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`);
  const count = fake.writes().length;
  const again = await applyDevice(dev, opts);
  assert.equal(
    again.condition.reason,
    "InSync",
    `${again.condition.message} ${JSON.stringify(again.changes.map((c) => [c.object.id, c.fields]))}`,
  );
  assert.equal(fake.writes().length, count, "dotted hex and upper-case IPv6 read back are not a change");
  assert.equal(fake.saves, 1, "nothing changed, nothing saved");
  assert.ok(!logs.text().includes(PASSWORD), "the password is in no log line");
  assert.ok(!logs.text().includes(Buffer.from(`admin:${PASSWORD}`).toString("base64")));
});

test("every body the ISR received validates with yanglint (17.12.1)", {
  skip: skip || (!hasYanglint() && "yanglint is not installed"),
}, async () => {
  const { fake, dev, opts } = await setup();
  assert.equal((await applyDevice(dev, opts)).condition.status, "True");
  const configs: Record<string, unknown>[] = [];
  const rpcs: Record<string, unknown>[] = [];
  for (const s of fake.writes()) {
    if (s.method === "PUT") configs.push(wrapInNative(s.path.slice("/restconf/data/".length), s.body!));
    if (s.path.endsWith("config-ios-cli-rpc"))
      rpcs.push(
        cliRpcForYanglint(
          (s.body!["Cisco-IOS-XE-cli-rpc:input"] as { "config-clis": string })["config-clis"],
        ),
      );
  }
  assert.ok(configs.length >= 8, `${configs.length} PUT bodies`);
  const c = await yangValidate("17.12.1", "config", configs);
  assert.ok(c.ok, c.output);
  assert.ok(rpcs.length > 0);
  const x = await yangValidate("17.12.1", "rpc", rpcs);
  assert.ok(x.ok, x.output);
});

test("drift on the ISR: an edited ACL is reported and put back", { skip }, async () => {
  const { fake, dev, opts } = await setup();
  assert.equal((await applyDevice(dev, opts)).condition.status, "True");
  const acl = (
    ((fake.native().ipv6 as Record<string, unknown>)["access-list"] as Record<string, unknown>)[
      "named-acl"
    ] as Record<string, unknown>[]
  )[0]!;
  (acl["access-list-seq-rule"] as { "ace-rule": Record<string, unknown> }[])[0]!["ace-rule"][
    "source-prefix"
  ] = "::/0";
  const plan = await planDevice(dev, opts);
  assert.equal(plan.condition.reason, "Drifted");
  assert.deepEqual(
    plan.drift.map((c) => c.object.id),
    ["acl/v6m-nat64-home"],
  );
  const fixed = await applyDevice(dev, opts);
  assert.equal(fixed.condition.status, "True", fixed.condition.message);
  const restored = (
    ((fake.native().ipv6 as Record<string, unknown>)["access-list"] as Record<string, unknown>)[
      "named-acl"
    ] as Record<string, unknown>[]
  )[0]!;
  assert.equal(
    (restored["access-list-seq-rule"] as { "ace-rule": Record<string, unknown> }[])[0]!["ace-rule"][
      "source-prefix"
    ],
    "FC00::/64",
  );
  assert.equal((await planDevice(dev, opts)).condition.reason, "InSync");
  assert.equal(fake.saves, 2);
});

test("removing the RouterAdvert undoes its RESTCONF leaf and its CLI lines, then saves", {
  skip,
}, async () => {
  const { fake, dev, opts, endpoint } = await setup();
  assert.equal((await applyDevice(dev, opts)).condition.status, "True");
  const smaller = device(seedAt(endpoint, ["RouterAdvert/lan"]), "isr");
  const r = await applyDevice(smaller, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  assert.deepEqual(r.changes.map((c) => `${c.op} ${c.object.id}`).sort(), [
    "delete cli/BDI10/RouterAdvert/lan",
    "delete nd/ra/dns/BDI10",
  ]);
  assert.deepEqual(
    [...(fake.cli.get("BDI10") ?? [])],
    ["nat64 enable"],
    "NAT64 stays, the PREF64 line is gone",
  );
  const bdi10 = ((fake.native().interface as Record<string, unknown>).BDI as Record<string, unknown>[]).find(
    (b) => b.name === "10",
  )!;
  const ra = ((bdi10.ipv6 as Record<string, unknown>).nd as Record<string, Record<string, unknown>>).ra!;
  assert.equal(ra.dns, undefined, "ipv6 nd ra dns server is gone");
  assert.equal(fake.saves, 2);
  assert.deepEqual((await applyDevice(smaller, opts)).changes, []);
});

test("a locked datastore (409 lock-denied) is retried; a lost reply to a PUT is harmless", {
  skip,
}, async () => {
  const { fake, dev, opts } = await setup();
  fake.faults.push({ method: "PUT", path: "Cisco-IOS-XE-dhcp:pool", kind: "409", times: 2 });
  fake.faults.push({ method: "PUT", path: "named-acl", kind: "lost", times: 1 });
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  assert.equal(
    fake.seen.filter((s) => s.method === "PUT" && s.path.includes("Cisco-IOS-XE-dhcp:pool")).length,
    3,
  );
  assert.equal(fake.seen.filter((s) => s.method === "PUT" && s.path.includes("named-acl")).length, 2);
});

test("IOS-XE before 17.9 has no CLI RPC: apply refuses with the lines to type instead", {
  skip,
}, async () => {
  const { fake, dev, opts } = await setup("17.6");
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.reason, "InvalidForDevice");
  // the condition is the device's: it starts with what is wrong, not with the device's name again
  assert.match(r.condition.message, /^IOS-XE 17\.6\.0 has no CLI RPC .*nat64 enable/);
  assert.match(
    formatRun(r, "apply"),
    /^ExternalDevice\/isr \(17\.6\): InvalidForDevice: IOS-XE 17\.6\.0 has/,
  );
  assert.doesNotMatch(formatRun(r, "apply"), /\n {2}error: ExternalDevice\/isr:/);
  assert.equal(fake.writes().length, 0);
});

test("with the ledger lost, objects named v6m- are still found and removed when their resource goes", {
  skip,
}, async () => {
  const { fake, dev, opts, endpoint } = await setup();
  assert.equal((await applyDevice(dev, opts)).condition.status, "True");
  rmSync(ledgerPath(opts.stateDir, "isr"));
  // The box's own pool, not ours, must stay.
  (
    (fake.native().ip as Record<string, Record<string, unknown>>).dhcp!.pool as Record<string, unknown>[]
  ).push({ id: "ipv4-dhcp-pool" });
  const r = await applyDevice(device(seedAt(endpoint, ["DhcpScope/lan"]), "isr"), opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  assert.ok(r.changes.some((c) => c.op === "delete" && c.object.id === "dhcp/pool/v6m-lan"));
  const pools = (fake.native().ip as Record<string, Record<string, unknown>>).dhcp!.pool as Record<
    string,
    unknown
  >[];
  assert.deepEqual(
    pools.map((p) => p.id),
    ["ipv4-dhcp-pool"],
  );
});
