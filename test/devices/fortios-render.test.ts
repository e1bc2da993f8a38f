// FortiOS rendering: the objects per version, every body checked against fortios-schema.json for
// the target version, and the CLI text compared with the seed write-up's FortiGate config.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cliOrder, renderFortiCli } from "../../src/devices/fortios/render.ts";
import { order } from "../../src/devices/model.ts";
import { fortiRequests } from "../../src/devices/requests.ts";
import { renderDevice } from "../../src/devices/targets.ts";
import { FortiSchemaChecker } from "./support/fortios-schema.ts";
import { fortiSchema, haveShared } from "./support/paths.ts";
import { device, fortigateYaml, fromYaml, seedConfig, seedResources } from "./support/seed.ts";

const VERSIONS = [
  "6.2.16",
  "6.4.9",
  "7.0.0",
  "7.0.1",
  "7.0.8",
  "7.0.12",
  "7.2.3",
  "7.2.4",
  "7.4.7",
  "7.6.0",
  "7.6.1",
  "7.6.3",
];
const withInterfaces = (text: string) =>
  text.replace(
    "  vdom: root",
    `  vdom: root
  interfaces:
    - { name: wan1, addresses: ["198.51.100.2/24"] }
    - { name: lan1, addresses: ["192.0.2.1/24", "2001:db8:1::1/64"] }`,
  );

test("the checker itself rejects what the schema forbids (so a pass means something)", {
  skip: !haveShared() && "../shared/devices is absent",
}, () => {
  const c = new FortiSchemaChecker(fortiSchema());
  assert.deepEqual(
    c.check(
      "firewall/ippool",
      { name: "p", type: "overload", startip: "198.51.100.1", endip: "198.51.100.2" },
      "6.2.16",
    ),
    [],
  );
  assert.match(
    c.check("firewall/ippool", { name: "p", nat64: "enable" }, "6.2.16").join(),
    /nat64: not on 6.2.16/,
  );
  assert.match(c.check("firewall/ippool", { name: "p", type: "nat64" }, "7.2.4").join(), /not one of/);
  assert.match(c.check("system/dns64", { status: "enable" }, "7.0.0").join(), /endpoint absent/);
  assert.match(c.check("system/nat64", { status: "enable" }, "7.0.1").join(), /endpoint absent/);
  assert.deepEqual(
    c.check("firewall/policy6", { name: "x" }, "6.2.16"),
    [],
    "6.2.16 is judged as 6.2.7, the last 6.2 Fortinet tested",
  );
  assert.match(
    c.check("firewall/vip6", { name: "v", "ndp-reply": "enable" }, "7.2.3").join(),
    /not on 7.2.3/,
  );
  assert.deepEqual(c.check("firewall/vip6", { name: "v", "ndp-reply": "enable" }, "7.0.8"), []);
  assert.match(
    c.check("system/interface", { name: "lan1", allowaccess: "ping bogus" }, "7.2.4").join(),
    /bogus not allowed/,
  );
});

for (const version of VERSIONS) {
  test(`FortiOS ${version}: every body's fields and enums are in the schema for that version`, {
    skip: !haveShared() && "../shared/devices is absent",
  }, () => {
    const c = new FortiSchemaChecker(fortiSchema());
    const r = renderDevice(device(fromYaml(withInterfaces(fortigateYaml({ version }))), "fgt"));
    assert.equal(r.version, version);
    assert.deepEqual(
      r.diagnostics.filter((d) => d.severity === "error"),
      [],
    );
    const problems: string[] = [];
    for (const o of r.objects) {
      problems.push(...c.check(o.path, o.body, version));
      if (o.removal.kind === "reset") problems.push(...c.check(o.path, o.removal.body, version));
    }
    assert.deepEqual(problems, []);
    const paths = new Set(r.objects.map((o) => o.path));
    const before701 = version.startsWith("6.") || version === "7.0.0";
    assert.equal(paths.has("system/nat64"), before701);
    assert.equal(paths.has("system/dns64"), !before701);
    assert.equal(paths.has("firewall/policy64"), before701);
    assert.equal(paths.has("firewall/policy"), !before701);
    const pool = r.objects.find((o) => o.path === "firewall/ippool")!;
    assert.equal(pool.body.nat64, before701 ? undefined : "enable");
    assert.equal(pool.body.startip, "198.51.100.10");
    assert.match(String(pool.body.comments), /^managed by v6mostly: /);
    const iface = r.objects.find((o) => o.path === "system/interface")!;
    const ipv6 = iface.body.ipv6 as Record<string, unknown>;
    assert.equal(ipv6["ip6-send-adv"], "enable");
    assert.equal(ipv6["ip6-max-interval"], 200);
    if (version === "7.6.1" || version === "7.6.3")
      assert.deepEqual(ipv6["ip6-rdnss-list"], [{ rdnss: "2001:db8:1::1", "rdnss-life-time": 600 }]);
    else assert.equal((ipv6["ip6-prefix-list"] as Record<string, unknown>[])[0]!.rdnss, "2001:db8:1::1");
    // The policy needs its pool first; requests and CLI keep that order.
    const reqs = fortiRequests(r.objects, "root").map((x) => x.path);
    const ip = reqs.findIndex((p) => p.includes("firewall/ippool"));
    const pol = reqs.findIndex((p) => p.includes("firewall/policy"));
    assert.ok(ip >= 0 && pol > ip, reqs.join(" "));
    assert.ok(reqs.every((p) => p.endsWith("?vdom=root")));
  });
}

test("FortiOS 6.2.16 NAT64 is a policy64 with string interfaces and no name field", () => {
  const r = renderDevice(device(fromYaml(withInterfaces(fortigateYaml({ version: "6.2.16" }))), "fgt"));
  const p = r.objects.find((o) => o.path === "firewall/policy64")!;
  assert.equal(p.body.srcintf, "lan1");
  assert.equal(p.body.dstintf, "wan1");
  assert.equal(p.body.name, undefined);
  assert.deepEqual(p.body.poolname, [{ name: "v6m-home" }]);
  const nat64 = r.objects.find((o) => o.id === "system/nat64")!;
  assert.deepEqual(
    nat64.owners.sort(),
    ["Dns64Resolver/lan", "Nat64Gateway/home"],
    "DNS64 and NAT64 share the singleton",
  );
  assert.equal(nat64.body["nat64-prefix"], "64:ff9b::/96");
});

test("FortiOS 7.2.4 NAT64 is a firewall policy with nat64 enable and tables of names", () => {
  const r = renderDevice(device(fromYaml(withInterfaces(fortigateYaml({ version: "7.2.4" }))), "fgt"));
  const p = r.objects.find((o) => o.path === "firewall/policy")!;
  assert.equal(p.body.nat64, "enable");
  assert.deepEqual(p.body.srcintf, [{ name: "lan1" }]);
  assert.deepEqual(p.body.dstintf, [{ name: "wan1" }]);
  assert.equal(p.body.ippool, "enable");
  const cli = renderFortiCli(cliOrder(order(r.objects)));
  assert.match(
    cli,
    /config firewall policy\n {4}edit 0\n {8}set name "v6m-nat64-home-lan1"\n {8}set srcintf "lan1"\n/,
  );
  assert.match(
    cli,
    /config system dns64\n {4}set status enable\n {4}set dns64-prefix 64:ff9b::\/96\n {4}set always-synthesize-aaaa-record disable\nend/,
  );
  assert.match(cli, /config ip6-prefix-list\n {16}edit "2001:db8:1::\/64"\n {20}set autonomous-flag enable/);
});

test("conflicting values on a shared singleton are reported, not silently merged", () => {
  const extra = `---
apiVersion: v6mostly.dev/v1alpha1
kind: Dns64Resolver
metadata: { name: other }
spec:
  listen: ["192.0.2.1:53"]
  prefix: 2001:db8:64::/96
  upstreams: ["198.51.100.53"]
  allowClients: ["192.0.2.0/24"]
  deviceRef: { name: fgt }`;
  const r = renderDevice(
    device(fromYaml(withInterfaces(fortigateYaml({ version: "6.2.16", extra }))), "fgt"),
  );
  assert.ok(
    r.diagnostics.some((d) => d.severity === "error" && /nat64-prefix is "64:ff9b::\/96"/.test(d.message)),
    JSON.stringify(r.diagnostics),
  );
});

test("the seed's FortiGate: render reproduces its config system nat64 and dns-server stanzas line for line", {
  skip: !haveShared() && "../shared is absent",
}, () => {
  const seed = seedConfig("fortigate");
  const r = renderDevice(device(seedResources(), "fortigate"));
  assert.equal(r.version, "6.2.16");
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  // Top-level stanzas start unindented with "config"; compare them trimmed (the seed has no indentation).
  const stanzas: string[][] = [];
  for (const line of renderFortiCli(cliOrder(order(r.objects)))
    .split("\n")
    .filter(Boolean)) {
    if (line.startsWith("config ")) stanzas.push([line]);
    else stanzas[stanzas.length - 1]!.push(line.trim());
  }
  // (the translation's stanzas that follow are compared in fortios-edge.test.ts)
  assert.deepEqual(
    stanzas.slice(0, 2).map((s) => s[0]),
    ["config system nat64", "config system dns-server"],
  );
  for (const s of stanzas.slice(0, 2)) {
    const at = seed.indexOf(s[0]!);
    assert.ok(at >= 0, `${s[0]} is in the seed`);
    assert.deepEqual(seed.slice(at, at + s.length), s);
  }
});

test("the seed's FortiGate without known interfaces: render says which interface is missing", () => {
  const r = renderDevice(device(seedResources(false), "fortigate"));
  assert.ok(
    r.diagnostics.some(
      (d) => d.severity === "error" && /no interface of the FortiGate holds 172\.16\.1\.254/.test(d.message),
    ),
  );
});

test("DhcpScope and PREF64 on FortiOS are reported, not dropped silently", () => {
  const extra = `---
apiVersion: v6mostly.dev/v1alpha1
kind: DhcpScope
metadata: { name: lan }
spec:
  interface: lan1
  subnet: 192.0.2.0/24
  ranges: ["192.0.2.100-192.0.2.200"]
  deviceRef: { name: fgt }`;
  const text = withInterfaces(fortigateYaml({ version: "7.4.7", extra })).replace(
    "interval: { max: 200s }",
    "interval: { max: 200s }\n  pref64: { nat64GatewayRef: { name: home } }",
  );
  const r = renderDevice(device(fromYaml(text), "fgt"));
  assert.ok(r.diagnostics.some((d) => d.subject === "DhcpScope/lan" && d.severity === "error"));
  assert.ok(r.diagnostics.some((d) => d.subject === "RouterAdvert/lan" && /PREF64/.test(d.message)));
});
