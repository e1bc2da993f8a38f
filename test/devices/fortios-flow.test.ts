// plan / apply / verify against a fake FortiGate over HTTPS: idempotence, retries and resume
// without duplicates, drift, removal of what we created, unreachable and untrusted boxes, and the
// token kept out of every log line.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { applyDevice, ledgerPath, planDevice } from "../../src/devices/apply.ts";
import { FakeFortiGate } from "./support/fake-fortios.ts";
import { FortiSchemaChecker } from "./support/fortios-schema.ts";
import { boxHarness } from "./support/harness.ts";
import { fortiSchema } from "./support/paths.ts";
import { device, FGT_INTERFACES, fortigateYaml, fromYaml } from "./support/seed.ts";

const TOKEN = "fgt-test-token-5f3c9a7e1b2d4c6e8f0a";
const h = boxHarness({ needsShared: true });
const { skip } = h;

async function setup(
  version: string,
  o: { tls?: string; vip6?: Record<string, unknown>[]; yaml?: (endpoint: string) => string } = {},
) {
  const { pki } = h;
  const fake = h.track(
    new FakeFortiGate({
      version,
      token: TOKEN,
      checker: new FortiSchemaChecker(fortiSchema()),
      key: pki.key,
      cert: pki.cert,
      interfaces: FGT_INTERFACES,
      vip6: o.vip6,
    }),
  );
  const endpoint = await fake.start();
  const yaml = o.yaml
    ? o.yaml(endpoint)
    : fortigateYaml({ version, endpoint, tls: o.tls ?? `tls: { caFile: "${pki.caFile}" }` });
  const dev = device(fromYaml(yaml), "fgt");
  return { fake, endpoint, dev, ...h.runOptions({ V6M_TEST_FGT_TOKEN: TOKEN }) };
}

for (const version of ["6.2.16", "7.2.4"]) {
  test(`FortiOS ${version}: apply creates what the resources need, verifies, and a second apply sends nothing`, {
    skip,
  }, async () => {
    const { fake, dev, opts, logs } = await setup(version);
    const plan = await planDevice(dev, opts);
    assert.equal(plan.condition.reason, "Pending", plan.condition.message);
    assert.equal(fake.writes().length, 0, "plan only reads");
    const first = await applyDevice(dev, opts);
    assert.equal(first.condition.status, "True", first.condition.message);
    assert.equal(first.condition.reason, "Applied");
    assert.deepEqual(fake.schemaProblems, []);
    const old = version === "6.2.16";
    assert.equal(fake.singletons.get(old ? "system/nat64" : "system/dns64")?.status, "enable");
    assert.equal(fake.table("system/dns-server").get("lan1")?.mode, "forward-only");
    assert.equal(fake.table("firewall/ippool").size, 1);
    assert.equal(fake.table(old ? "firewall/policy64" : "firewall/policy").size, 1);
    assert.equal(
      (fake.table("system/interface").get("lan1")!.ipv6 as Record<string, unknown>)["ip6-send-adv"],
      "enable",
    );
    // Every CMDB request carried the vdom and the Bearer token.
    for (const s of fake.seen) {
      assert.equal(s.auth, `Bearer ${TOKEN}`);
      if (s.path.startsWith("/api/v2/cmdb/")) assert.equal(s.vdom, "root");
    }
    // Dependency order: the pool exists before the policy that names it (the fake refuses a dangling poolname).
    const writes = fake.writes().map((s) => `${s.method} ${s.path}`);
    assert.ok(writes.findIndex((w) => w.includes("ippool")) < writes.findIndex((w) => w.includes("policy")));
    const before2 = fake.writes().length;
    const second = await applyDevice(dev, opts);
    assert.equal(second.condition.reason, "InSync", second.condition.message);
    assert.deepEqual(second.changes, []);
    assert.equal(fake.writes().length, before2, "a second apply sends nothing");
    assert.ok(!logs.text().includes(TOKEN), "the token is in no log line");
  });
}

test("a transient 503 and a lost reply mid-apply: retries with backoff, resumes, no duplicates", {
  skip,
}, async () => {
  const { fake, dev, opts, logs } = await setup("7.2.4");
  fake.faults.push({ method: "POST", path: "firewall/ippool", kind: "503", times: 2 });
  fake.faults.push({ method: "POST", path: "firewall/policy", kind: "lost", times: 1 });
  fake.faults.push({ method: "PUT", path: "system/dns64", kind: "lost", times: 1 });
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  assert.equal(fake.table("firewall/ippool").size, 1);
  assert.equal(fake.table("firewall/policy").size, 1, "the lost POST reply did not make a second policy");
  assert.equal(
    fake.writes().filter((s) => s.method === "POST" && s.path.endsWith("firewall/ippool")).length,
    3,
    "two 503s, then the POST that worked",
  );
  assert.match(logs.text(), /retrying/);
  assert.ok(!logs.text().includes(TOKEN));
});

test("a reply lost after the box made the pool: the retried POST meets -5 and becomes a PUT", {
  skip,
}, async () => {
  const { fake, dev, opts } = await setup("6.2.16");
  fake.faults.push({ method: "POST", path: "firewall/ippool", kind: "lost", times: 1 });
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  const posts = fake.seen
    .filter((s) => s.path.includes("firewall/ippool") && s.method !== "GET")
    .map((s) => s.method);
  assert.deepEqual(posts, ["POST", "POST", "PUT"]);
  assert.equal(fake.table("firewall/ippool").size, 1);
});

test("a failure that outlasts the retries stops the run; the next apply resumes where it stopped", {
  skip,
}, async () => {
  const { fake, dev, opts, stateDir } = await setup("7.2.4");
  fake.faults.push({ method: "POST", path: "firewall/policy", kind: "503", times: 100 });
  const failed = await applyDevice(dev, opts);
  assert.equal(failed.condition.status, "False");
  assert.equal(failed.condition.reason, "DeviceRejected", failed.condition.message);
  assert.match(failed.condition.message, /firewall\/policy: HTTP 503/);
  assert.ok(failed.applied > 0 && failed.applied < failed.changes.length);
  assert.ok(existsSync(ledgerPath(stateDir, "fgt")));
  fake.faults.length = 0;
  const poolPosts = () =>
    fake.seen.filter((s) => s.method === "POST" && s.path.endsWith("firewall/ippool")).length;
  const postsBefore = poolPosts();
  const resumed = await applyDevice(dev, opts);
  assert.equal(resumed.condition.status, "True", resumed.condition.message);
  assert.equal(poolPosts(), postsBefore, "the pool made in the first run is not posted again");
  const done = failed.changes.slice(0, failed.applied).map((c) => c.object.id);
  const again = resumed.changes.map((c) => c.object.id);
  assert.deepEqual(
    again.filter((id) => done.includes(id)),
    [],
    "nothing applied in the first run is sent again",
  );
  assert.deepEqual(
    again.sort(),
    failed.changes
      .slice(failed.applied)
      .map((c) => c.object.id)
      .sort(),
    "exactly the rest is sent",
  );
  assert.equal(fake.table("firewall/policy").size, 1);
});

test("drift: someone edits the box; plan reports the fields, apply corrects them", { skip }, async () => {
  const { fake, dev, opts } = await setup("7.2.4");
  assert.equal((await applyDevice(dev, opts)).condition.status, "True");
  fake.table("firewall/ippool").get("v6m-home")!.endip = "198.51.100.99";
  fake.singletons.get("system/dns64")!["always-synthesize-aaaa-record"] = "enable";
  fake.table("system/dns-server").delete("lan1");
  const plan = await planDevice(dev, opts);
  assert.equal(plan.condition.reason, "Drifted");
  assert.deepEqual(plan.drift.map((c) => c.object.id).sort(), ["firewall/ippool/v6m-home", "system/dns64"]);
  const pool = plan.drift.find((c) => c.object.id === "firewall/ippool/v6m-home")!;
  assert.deepEqual(pool.fields, [{ field: "endip", have: "198.51.100.99", want: "198.51.100.20" }]);
  assert.ok(plan.changes.some((c) => c.op === "create" && c.object.id === "system/dns-server/lan1"));
  const fixed = await applyDevice(dev, opts);
  assert.equal(fixed.condition.status, "True", fixed.condition.message);
  assert.equal(fake.table("firewall/ippool").get("v6m-home")!.endip, "198.51.100.20");
  assert.equal((await planDevice(dev, opts)).condition.reason, "InSync");
});

test("removing a resource removes what we created for it (policy before pool) and nothing else", {
  skip,
}, async () => {
  const { fake, dev, opts, endpoint } = await setup("7.2.4");
  // An ippool of the box's own, without our mark, must survive.
  fake.table("firewall/ippool").set("SNAT44", {
    name: "SNAT44",
    type: "one-to-one",
    startip: "198.51.100.151",
    endip: "198.51.100.200",
  });
  assert.equal((await applyDevice(dev, opts)).condition.status, "True");
  // Now without the Nat64Gateway and the RouterAdvert: DNS64 names its prefix itself.
  const only = fortigateYaml({ version: "7.2.4", endpoint, tls: `tls: { caFile: "${h.pki.caFile}" }` })
    .split("---")
    .filter((d) => !/kind: (Nat64Gateway|RouterAdvert)/.test(d))
    .join("---")
    .replace("nat64GatewayRef: { name: home }", "prefix: 64:ff9b::/96");
  const smaller = device(fromYaml(only), "fgt");
  const r = await applyDevice(smaller, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  assert.deepEqual(
    r.changes.map((c) => `${c.op} ${c.object.id}`),
    [
      "delete firewall/policy/v6m-nat64-home-lan1",
      "delete firewall/ippool/v6m-home",
      "delete system/interface/lan1",
    ],
  );
  assert.equal(fake.table("firewall/policy").size, 0);
  assert.deepEqual([...fake.table("firewall/ippool").keys()], ["SNAT44"]);
  assert.equal(
    (fake.table("system/interface").get("lan1")!.ipv6 as Record<string, unknown>)["ip6-send-adv"],
    "disable",
  );
  assert.equal(fake.singletons.get("system/dns64")?.status, "enable", "DNS64 stays");
  assert.deepEqual((await applyDevice(smaller, opts)).changes, []);
});

test("unreachable: a condition with the reason, after bounded retries", { skip }, async () => {
  const { fake, dev, opts } = await setup("7.2.4");
  await fake.stop();
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.status, "False");
  assert.equal(r.condition.type, "DeviceSynced");
  assert.equal(r.condition.reason, "Unreachable");
  assert.match(r.condition.message, /ECONNREFUSED/);
  assert.equal(r.requests, 4, "one try and three retries");
});

test("TLS: verified by default, trusted with tls.caFile, off only with insecureSkipVerify", {
  skip,
}, async () => {
  const noCa = await setup("7.2.4", { tls: "" });
  const r = await planDevice(noCa.dev, noCa.opts);
  assert.equal(r.condition.reason, "TLSVerificationFailed", r.condition.message);
  assert.equal(r.requests, 1, "a certificate problem is not retried");
  assert.equal(noCa.fake.seen.length, 0, "no request reached the box");
  const skipped = await setup("7.2.4", { tls: "tls: { insecureSkipVerify: true }" });
  const ok = await planDevice(skipped.dev, skipped.opts);
  assert.equal(ok.condition.reason, "Pending", ok.condition.message);
  assert.match(skipped.logs.text(), /insecureSkipVerify is set/);
});

test("a wrong token: Unauthorized, and neither token is logged", { skip }, async () => {
  const s = await setup("7.2.4");
  const r = await planDevice(s.dev, { ...s.opts, env: { V6M_TEST_FGT_TOKEN: "wrong-token-0123456789" } });
  assert.equal(r.condition.reason, "Unauthorized");
  assert.ok(!s.logs.text().includes("wrong-token-0123456789"));
  assert.ok(!s.logs.text().includes(TOKEN));
});

test("VIP6 on FortiOS 6.2.16: plan says the box will not answer NDP and what to do instead", {
  skip,
}, async () => {
  const vip6 = [
    { name: "DNAT66", extip: "2001:db8:ffff::-2001:db8:ffff::ffff", mappedip: "fc00::-fc00::ffff" },
  ];
  const old = await setup("6.2.16", { vip6 });
  const r = await planDevice(old.dev, old.opts);
  const w = r.diagnostics.find((d) => d.subject === "vip6 DNAT66");
  assert.ok(w, JSON.stringify(r.diagnostics));
  assert.match(w.message, /does not answer Neighbor Solicitations/);
  assert.match(w.message, /route .* on the upstream router|static neighbour|upgrade to 7\.2\.4/);
  const fresh = await setup("7.2.4", { vip6: [{ ...vip6[0], "ndp-reply": "disable" }] });
  const r2 = await planDevice(fresh.dev, fresh.opts);
  assert.match(r2.diagnostics.find((d) => d.subject === "vip6 DNAT66")!.message, /set ndp-reply enable/);
  const on = await setup("7.2.4", { vip6: [{ ...vip6[0], "ndp-reply": "enable" }] });
  assert.equal(
    (await planDevice(on.dev, on.opts)).diagnostics.filter((d) => d.subject === "vip6 DNAT66").length,
    0,
  );
});

test("the sync service applies at start, then corrects drift at the next interval", { skip }, async () => {
  const { startDeviceSync } = await import("../../src/devices/index.ts");
  const { fake, dev, opts } = await setup("7.2.4");
  const sync = await startDeviceSync(dev, opts, { intervalSeconds: 0.05 });
  try {
    assert.equal(sync.last()?.condition.reason, "Applied");
    assert.equal(sync.stats().inSync, 1);
    fake.table("firewall/ippool").get("v6m-home")!.endip = "198.51.100.99";
    const deadline = Date.now() + 10_000;
    while (sync.stats().driftDetected === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(sync.stats().driftDetected, 1);
    while (fake.table("firewall/ippool").get("v6m-home")!.endip !== "198.51.100.20" && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(fake.table("firewall/ippool").get("v6m-home")!.endip, "198.51.100.20");
  } finally {
    await sync.stop();
  }
  const runs = sync.stats().runs;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(sync.stats().runs, runs, "no run after stop");
});

test("a deny policy of the box's own above ours on the same interfaces is reported with the move to make", {
  skip,
}, async () => {
  const { fake, dev, opts } = await setup("7.2.4");
  fake.table("firewall/policy").set("1", {
    policyid: 1,
    name: "block-lan",
    srcintf: [{ name: "lan1" }],
    dstintf: [{ name: "wan1" }],
    action: "deny",
    srcaddr: [{ name: "all" }],
    dstaddr: [{ name: "all" }],
  });
  fake.table("firewall/policy").set("2", {
    policyid: 2,
    name: "other",
    srcintf: [{ name: "wan1" }],
    dstintf: [{ name: "lan1" }],
    action: "deny",
  });
  const r = await applyDevice(dev, opts);
  assert.equal(r.condition.status, "True", r.condition.message);
  const w = r.diagnostics.filter((d) => d.subject.startsWith("firewall/policy "));
  assert.equal(w.length, 1, JSON.stringify(w));
  assert.equal(w[0]!.subject, "firewall/policy 1 (block-lan)");
  assert.match(w[0]!.message, /action=move&before=1/);
});

test("credentials missing from the environment: CredentialsUnavailable, nothing sent", { skip }, async () => {
  const s = await setup("7.2.4");
  const r = await planDevice(s.dev, { ...s.opts, env: {} });
  assert.equal(r.condition.reason, "CredentialsUnavailable");
  assert.match(r.condition.message, /environment variable V6M_TEST_FGT_TOKEN is not set/);
  assert.equal(s.fake.seen.length, 0);
});
