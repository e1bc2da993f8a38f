// EdgeTranslation on FortiOS: the seed's FortiGate stanzas reproduced, every body checked against
// the schema of each version, the policy model per version, refusals naming the field, and
// apply / drift / removal against the fake FortiGate.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { applyDevice, planDevice } from "../../src/devices/apply.ts";
import { order } from "../../src/devices/model.ts";
import { renderDevice } from "../../src/devices/targets.ts";
import { FakeFortiGate } from "./support/fake-fortios.ts";
import { FortiSchemaChecker } from "./support/fortios-schema.ts";
import { boxHarness } from "./support/harness.ts";
import { fortiSchema, haveShared, repoRoot } from "./support/paths.ts";
import { device, FGT_INTERFACES, fortigateYaml, fromYaml, seedConfig } from "./support/seed.ts";

const EDGE = `---
apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: home }
spec:
  insideInterfaces: [lan1]
  outsideInterface: wan1
  snat44: { pool: ["198.51.100.151-198.51.100.200"], mode: oneToOne }
  dnat44:
    - { external: "198.51.100.101-198.51.100.150", internal: "192.0.2.1-192.0.2.50" }
  SNAT66
  dnat66:
    - { external: "2001:db8:2:1:ffff:ffff::/96", internal: "2001:db8:1::be24:11ff:0:0/96" }
  inboundSnat66: { pool: ["2001:db8:1::ffff:0:0/96"] }
  defaultRoute: { ipv4: 198.51.100.1, ipv6: "2001:db8:2:1::1" }
  log: true
  EXTRA
  deviceRef: { name: fgt }`;

/** The FortiGate of support/seed.ts with its interfaces known, and the translation. */
const edgeYaml = (o: { version: string; endpoint?: string; tls?: string; snat66?: string; extra?: string }) =>
  fortigateYaml({
    version: o.version,
    endpoint: o.endpoint,
    tls: o.tls,
    extra: EDGE.replace("SNAT66", o.snat66 ?? "snat66: { mode: interface }").replace("EXTRA", o.extra ?? ""),
  }).replace(
    "  vdom: root",
    `  vdom: root
  interfaces:
    - { name: wan1, addresses: ["198.51.100.2/24", "2001:db8:2:1::2/64"] }
    - { name: lan1, addresses: ["192.0.2.1/24", "2001:db8:1::1/64"] }`,
  );

const render = (o: Parameters<typeof edgeYaml>[0]) => renderDevice(device(fromYaml(edgeYaml(o)), "fgt"));
const errors = (r: ReturnType<typeof render>) =>
  r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.subject} ${d.message}`);

/** `config x` stanzas of CLI lines: their entries (edit) as sets of `set` lines. */
function stanzas(lines: readonly string[]): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  let entries: string[][] | undefined;
  let depth = 0;
  for (const raw of lines) {
    const line = raw.trim();
    if (depth === 0 && line.startsWith("config ")) {
      entries = [];
      out.set(line, entries);
      depth = 1;
    } else if (line.startsWith("config ")) depth++;
    else if (line === "end") depth--;
    else if (line.startsWith("edit ") && depth === 1) entries!.push([]);
    else if (line.startsWith("set ") && depth === 1 && entries!.length)
      entries![entries!.length - 1]!.push(line);
    else if (line.startsWith("set ") && depth === 1) entries!.push([line]);
  }
  return out;
}

/** The seed's object names → ours; its GUA, masked as xxxx:xxxx:xxxx:xxxx:, → examples/seed/edge.yaml's. */
const SEED_NAMES: [string, string][] = [
  ['"DNAT66用SNAT66プール"', '"v6m-home-in66"'],
  ['"SNAT44"', '"v6m-home-snat44"'],
  ['"DNAT44"', '"v6m-home-dnat44"'],
  ['"DNAT66"', '"v6m-home-dnat66"'],
  ['"nat44_lan1_to_wan1"', '"v6m-snat44-home"'],
  ['"nat44_wan1_to_lan1"', '"v6m-dnat44-home"'],
  ['"nat66_lan1_to_wan1"', '"v6m-snat66-home"'],
  ['"nat66_wan1_to_lan1"', '"v6m-dnat66-home"'],
  ["xxxx:xxxx:xxxx:xxxx:", "2001:db8:1:1:"],
];

test("the seed's FortiGate: `render fortios --version 6.2.16 --format cli -f examples/seed/` prints every stanza of its translation, NAT64 and DNS sections", {
  skip: !haveShared() && "../shared is absent",
}, () => {
  const seedLines = seedConfig("fortigate").map((l) =>
    SEED_NAMES.reduce((t, [a, b]) => t.split(a).join(b), l),
  );
  const seed = stanzas(seedLines);
  const cli = [
    "render",
    "fortios",
    "--version",
    "6.2.16",
    "--format",
    "cli",
    "-f",
    join(repoRoot, "examples", "seed"),
  ];
  const run = spawnSync(process.execPath, [join(repoRoot, "bin", "v6mostly.js"), ...cli], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const ours = stanzas(run.stdout.split("\n"));
  // The box's own interfaces and virtual switch are not ours to write (ExternalDevice.spec.interfaces).
  const wanted = [...seed.keys()].filter(
    (k) => k !== "config system virtual-switch" && k !== "config system interface",
  );
  assert.deepEqual(wanted, [
    "config system dns-server",
    "config firewall ippool",
    "config firewall ippool6",
    "config firewall vip",
    "config firewall vip6",
    "config firewall policy",
    "config firewall policy6",
    "config router static",
    "config system nat64",
  ]);
  for (const head of wanted) {
    const theirs = seed.get(head)!;
    const mine = ours.get(head);
    assert.ok(mine, `${head} is rendered`);
    assert.equal(mine.length, theirs.length, `${head}: as many entries as the seed`);
    theirs.forEach((entry, i) => {
      const got = mine[i]!;
      for (const line of entry)
        assert.ok(got.includes(line), `${head} entry ${i + 1}: ${line} in ${JSON.stringify(got)}`);
      // What we add: our mark, and logtraffic on the one policy the seed logged less.
      const extra = got.filter((l) => !entry.includes(l));
      for (const l of extra)
        assert.match(
          l,
          /^set (comments? "managed by v6mostly: |logtraffic all$)/,
          `${head}: ${l} is not in the seed`,
        );
    });
  }
});

const VERSIONS = ["6.2.16", "6.4.9", "7.0.0", "7.0.1", "7.0.8", "7.2.3", "7.2.4", "7.4.7", "7.6.0", "7.6.3"];
const NPTV6 = 'snat66: { mode: nptv6, nptv6: { inside: "2001:db8:1::/64", outside: "2001:db8:2:2::/64" } }';
const POOL66 = 'snat66: { mode: pool, pool: ["2001:db8:2:1::100-2001:db8:2:1::1ff"] }';

for (const version of VERSIONS) {
  test(`FortiOS ${version}: the translation's bodies are in the schema for that version`, {
    skip: !haveShared() && "../shared/devices is absent",
  }, () => {
    const c = new FortiSchemaChecker(fortiSchema());
    const v76 = version.startsWith("7.6");
    const ndp = version === "7.0.8" || version === "7.2.4" || version === "7.4.7" || v76;
    const r = render({
      version,
      snat66: v76 ? NPTV6 : POOL66,
      extra: ndp
        ? 'proxyNeighbors: [{ addresses: "2001:db8:2:1:ffff:ffff::/96" }, { addresses: "198.51.100.101-198.51.100.150" }]'
        : "",
    });
    assert.deepEqual(errors(r), []);
    const problems = r.objects.flatMap((o) => c.check(o.path, o.body, version));
    assert.deepEqual(problems, []);
    const mine = r.objects.filter((o) => o.owners.includes("EdgeTranslation/home"));
    const policy6 = version === "6.2.16";
    const policies = mine.filter((o) => o.path.startsWith("firewall/policy"));
    assert.deepEqual(
      policies.map((o) => `${o.path} ${o.body.name}`),
      [
        "firewall/policy v6m-snat44-home",
        "firewall/policy v6m-dnat44-home",
        `firewall/policy${policy6 ? "6" : ""} v6m-snat66-home`,
        `firewall/policy${policy6 ? "6" : ""} v6m-dnat66-home`,
      ],
    );
    const dnat66 = policies[3]!.body;
    if (policy6) assert.deepEqual(dnat66.dstaddr, [{ name: "v6m-home-dnat66" }]);
    else {
      assert.deepEqual(dnat66.dstaddr6, [{ name: "v6m-home-dnat66" }]);
      assert.deepEqual(dnat66.poolname6, [{ name: "v6m-home-in66" }]);
      assert.equal(dnat66.dstaddr, undefined, "an IPv6-only policy");
    }
    const pool6 = mine.find(
      (o) => o.id.startsWith("firewall/ippool6/v6m-home-snat66") || o.id.includes("nptv6"),
    )!;
    if (v76) assert.deepEqual([pool6.body.type, pool6.body["internal-prefix"]], ["nptv6", "2001:db8:1::/64"]);
    else assert.equal(pool6.body.startip, "2001:db8:2:1::100");
    const vip6 = mine.find((o) => o.path === "firewall/vip6")!;
    assert.equal(vip6.body["ndp-reply"], ndp ? "enable" : undefined);
    assert.deepEqual(
      mine
        .filter((o) => o.path.startsWith("router/"))
        .map((o) => `${o.path} ${o.body.gateway} ${o.body.device}`),
      ["router/static 198.51.100.1 wan1", "router/static6 2001:db8:2:1::1 wan1"],
    );
    // A policy depends on its pools and vips: requests and CLI put them first.
    const ordered = order(r.objects).map((o) => o.id);
    for (const p of policies)
      for (const d of p.dependsOn)
        assert.ok(ordered.indexOf(d) < ordered.indexOf(p.id), `${d} before ${p.id}`);
  });
}

test("what FortiOS cannot do is refused, naming the field", () => {
  assert.deepEqual(errors(render({ version: "7.4.7", snat66: NPTV6 })), [
    "EdgeTranslation/home spec.snat66.nptv6: FortiOS 7.4.7 has no NPTv6 (ippool6 type nptv6 arrives in 7.6.0); use mode interface or pool, or run this translation on a 7.6 FortiGate or an IOS-XE device (nat66 prefix)",
  ]);
  const v6 = 'proxyNeighbors: [{ addresses: "2001:db8:2:1:ffff:ffff::/96" }]';
  assert.match(
    errors(render({ version: "6.2.16", extra: v6 })).join(),
    /spec\.proxyNeighbors\[0\]\.addresses: FortiOS 6\.2\.16 has no vip6 ndp-reply \(7\.0\.8–7\.0\.12 and 7\.2\.4\+\)/,
  );
  assert.match(
    errors(
      render({
        version: "7.2.4",
        snat66: POOL66,
        extra: 'proxyNeighbors: [{ addresses: "2001:db8:2:1::100" }]',
      }),
    ).join(),
    /spec\.proxyNeighbors\[0\]\.addresses: FortiOS answers no Neighbor Solicitation for ippool6 addresses/,
  );
  assert.match(
    errors(
      render({
        version: "7.2.4",
        extra: 'proxyNeighbors: [{ addresses: "198.51.100.120", linkLayerAddress: "00:09:0f:aa:bb:cc" }]',
      }),
    ).join(),
    /spec\.proxyNeighbors\[0\]\.linkLayerAddress: FortiOS answers ARP and Neighbor Solicitations with its own MAC only; it cannot answer as 00:09:0f:aa:bb:cc/,
  );
});

const TOKEN = "fgt-edge-token-0c1d2e3f4a5b6c7d8e9f";
const h = boxHarness({ needsShared: true });

for (const version of ["6.2.16", "7.2.4"]) {
  test(`FortiOS ${version}: apply creates the translation, a second apply sends nothing, drift is seen and put back, removal deletes it`, {
    skip: h.skip,
  }, async () => {
    const fake = h.track(
      new FakeFortiGate({
        version,
        token: TOKEN,
        checker: new FortiSchemaChecker(fortiSchema()),
        key: h.pki.key,
        cert: h.pki.cert,
        interfaces: FGT_INTERFACES,
      }),
    );
    const endpoint = await fake.start();
    const tls = `tls: { caFile: "${h.pki.caFile}" }`;
    const { opts } = h.runOptions({ V6M_TEST_FGT_TOKEN: TOKEN });
    const dev = device(fromYaml(edgeYaml({ version, endpoint, tls })), "fgt");
    const first = await applyDevice(dev, opts);
    assert.equal(first.condition.reason, "Applied", first.condition.message);
    assert.deepEqual(fake.schemaProblems, []);
    assert.equal(fake.table("firewall/ippool").get("v6m-home-snat44")?.type, "one-to-one");
    assert.equal(fake.table("firewall/vip").get("v6m-home-dnat44")?.extip, "198.51.100.101-198.51.100.150");
    assert.equal(
      fake.table("firewall/vip6").get("v6m-home-dnat66")?.mappedip,
      "2001:db8:1:0:be24:11ff::-2001:db8:1:0:be24:11ff:ffff:ffff",
    );
    assert.equal(fake.table("firewall/ippool6").size, 1);
    assert.equal(fake.table("router/static").size, 1);
    assert.equal(fake.table("router/static6").size, 1);
    const policies = (path: string) => [...fake.table(path).values()].map((p) => p.name).sort();
    if (version === "6.2.16") {
      assert.deepEqual(policies("firewall/policy6"), ["v6m-dnat66-home", "v6m-snat66-home"]);
      assert.deepEqual(
        policies("firewall/policy"),
        ["v6m-dnat44-home", "v6m-nat64-home-lan1", "v6m-snat44-home"].filter((n) => !n.includes("nat64")),
      );
    } else {
      assert.deepEqual(policies("firewall/policy"), [
        "v6m-dnat44-home",
        "v6m-dnat66-home",
        "v6m-nat64-home-lan1",
        "v6m-snat44-home",
        "v6m-snat66-home",
      ]);
    }
    const writes = fake.writes().length;
    const second = await applyDevice(dev, opts);
    assert.equal(second.condition.reason, "InSync", second.condition.message);
    assert.equal(fake.writes().length, writes, "a second apply sends nothing");

    // Someone changes the VIP's mapping and the route's gateway on the box.
    fake.table("firewall/vip").get("v6m-home-dnat44")!.mappedip = [{ range: "192.0.2.101-192.0.2.150" }];
    const route = [...fake.table("router/static").values()][0]!;
    route.gateway = "198.51.100.254";
    const drift = await planDevice(dev, opts);
    assert.equal(drift.condition.reason, "Drifted", drift.condition.message);
    assert.deepEqual(
      drift.changes.map((c) => `${c.op} ${c.object.id} ${c.fields.map((f) => f.field).join(",")}`).sort(),
      ["update firewall/vip/v6m-home-dnat44 mappedip", "update router/static/v6m-home gateway"],
    );
    const fixed = await applyDevice(dev, opts);
    assert.equal(fixed.condition.status, "True", fixed.condition.message);
    assert.equal([...fake.table("router/static").values()][0]!.gateway, "198.51.100.1");
    assert.equal(fake.table("router/static").size, 1, "the route was put right, not added twice");

    // The resource removed: everything it made goes, policies before the pools and vips they name.
    const without = device(fromYaml(fortigateYaml({ version, endpoint, tls })), "fgt");
    const removed = await applyDevice(without, opts);
    assert.equal(removed.condition.status, "True", removed.condition.message);
    for (const path of [
      "firewall/ippool6",
      "firewall/vip",
      "firewall/vip6",
      "router/static",
      "router/static6",
    ])
      assert.equal(fake.table(path).size, 0, `${path} emptied`);
    // what stays is the other resources' NAT64 policy (a firewall policy on 7.x, a policy64 on 6.2)
    assert.deepEqual(policies("firewall/policy"), version === "6.2.16" ? [] : ["v6m-nat64-home-lan1"]);
    assert.equal(fake.table("firewall/policy6").size, 0);
    assert.equal(fake.table("firewall/ippool").size, 1, "the NAT64 pool stays, SNAT44's went");
    assert.deepEqual(fake.schemaProblems, []);
  });
}
