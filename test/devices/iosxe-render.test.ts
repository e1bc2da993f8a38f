// IOS-XE rendering: the seed's ISR config line for line, and every RESTCONF body (and the cli-rpc
// inputs) validated by yanglint against the 17.9.1, 17.12.1 and 17.15.1 module sets.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cliRpcForYanglint,
  nativeTree,
  option108Hex,
  renderIosxeCli,
  wrapInNative,
} from "../../src/devices/iosxe/render.ts";
import { iosxeRequests } from "../../src/devices/requests.ts";
import { renderDevice } from "../../src/devices/targets.ts";
import { haveShared } from "./support/paths.ts";
import { device, fromYaml, seedConfig, seedResources } from "./support/seed.ts";
import { hasYanglint, RELEASES, yangValidate } from "./support/yang.ts";

const skipYang = !haveShared()
  ? "../shared/devices is absent"
  : !hasYanglint()
    ? "yanglint (libyang2-tools) is not installed"
    : false;

/** The names v6mostly gives what the seed's author named by hand. */
const RENAMES: [RegExp, string][] = [
  [/\bv6m-lan\b/g, "ipv4-dhcp-pool"],
  [/\bv6m-nat64-home\b/g, "acl-allow-nat64"],
  [/\bv6m-home\b/g, "nat64-pool"],
];
/** IOS takes `interface bdi 10` and `interface BDI10` alike, and IPv6 in either case. */
const norm = (l: string) => {
  let t = l.trim();
  for (const [re, to] of RENAMES) t = t.replace(re, to);
  return t.toLowerCase().replace(/^interface bdi\s*(\d+)/, "interface bdi$1");
};

/** A second network that exercises what the seed does not: a routed uplink, lease, raw options, RA flags. */
const VARIANT = `apiVersion: v6mostly.dev/v1alpha1
kind: ExternalDevice
metadata: { name: c8k }
spec:
  vendor: iosxe
  endpoint: https://192.0.2.98
  version: "17.15.1"
  username: admin
  credentialsEnv: V6M_TEST_ISR_PASSWORD
  interfaces:
    - { name: GigabitEthernet0/0/0, addresses: ["203.0.113.2/24"] }
    - { name: BDI20, addresses: ["192.0.2.1/24", "2001:db8:10::1/64"] }
---
apiVersion: v6mostly.dev/v1alpha1
kind: Nat64Gateway
metadata: { name: edge }
spec:
  prefix: 64:ff9b::/96
  pool4: ["203.0.113.10-203.0.113.20"]
  allowedSources: ["2001:db8:10::/64", "2001:db8:11::/64"]
  deviceRef: { name: c8k }
---
apiVersion: v6mostly.dev/v1alpha1
kind: RouterAdvert
metadata: { name: lan }
spec:
  interface: BDI20
  prefixes: [{ prefix: "2001:db8:10::/64", preferredLifetime: 1h, validLifetime: 2h }]
  rdnss: [{ address: "2001:db8:10::53" }, { address: "2001:db8:10::54" }]
  pref64: { nat64GatewayRef: { name: edge } }
  interval: { max: 60s }
  defaultRouter: { lifetime: 600s, preference: high }
  otherConfig: true
  deviceRef: { name: c8k }
---
apiVersion: v6mostly.dev/v1alpha1
kind: DhcpScope
metadata: { name: lan }
spec:
  interface: BDI20
  subnet: 192.0.2.0/24
  ranges: ["192.0.2.50-192.0.2.99", "192.0.2.150-192.0.2.199"]
  exclude: ["192.0.2.60"]
  router: 192.0.2.1
  dnsServers: ["192.0.2.53", "192.0.2.54"]
  domainName: home.example
  leaseTime: 2h30m
  ipv6OnlyPreferred: 1h
  options: [{ code: 42, hex: "C0000201" }]
  deviceRef: { name: c8k }
`;

test("option 108 is V6ONLY_WAIT as 8 hex digits (RFC 8925 §3.1)", () => {
  assert.equal(option108Hex(1800), "00000708");
  assert.equal(option108Hex(300), "0000012c");
  assert.equal(option108Hex(0xffffffff), "ffffffff");
});

test("the seed's ISR: render reproduces its config line for line where the resources cover it", {
  skip: !haveShared() && "../shared is absent",
}, () => {
  const seed = seedConfig("isr").map(norm);
  const r = renderDevice(device(seedResources(), "isr"));
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity !== "info"),
    [],
  );
  const text = renderIosxeCli(r.objects);
  const lines = text
    .split("\n")
    .filter((l) => l && l !== "!" && l !== "end")
    .map(norm);
  // What the seed has that the resources describe (its interfaces, bridge domains and routes are the box's own).
  const covered = seed.filter((l) =>
    /^(ipv6 unicast-routing|ip dhcp pool|network |default-router|dns-server|option 108|ip dhcp excluded|nat64 |ipv6 nd ra|ipv6 access-list|sequence )/.test(
      l,
    ),
  );
  const mine = lines.filter((l) => !l.startsWith("interface "));
  assert.deepEqual(mine.sort(), [...covered].sort());
  // Interface lines sit under the same interface as in the seed.
  const seedUnder = (ifname: string) => {
    const at = seed.indexOf(ifname);
    const end = seed.indexOf("!", at);
    return seed.slice(at + 1, end);
  };
  const blocks = text.split("\n!\n").filter((b) => b.startsWith("interface "));
  assert.equal(blocks.length, 2);
  for (const b of blocks) {
    const [head, ...rest] = b.split("\n").map(norm);
    assert.deepEqual(
      rest.filter((l) => !seedUnder(head!).includes(l)),
      [],
      `${head} lines are in the seed's ${head}`,
    );
  }
  assert.match(text, /^interface BDI1\n nat64 enable$/m);
  assert.match(
    text,
    /^interface BDI10\n nat64 enable\n ipv6 nd ra dns server fc00::1\n ipv6 nd ra nat64-prefix FD00:FF9B::\/96$/m,
  );
  // Blocks keep the seed's order: DHCP before interfaces before the ACL and NAT64.
  const order = [
    "ipv6 unicast-routing",
    "ip dhcp pool",
    "ip dhcp excluded-address",
    "interface BDI1",
    "ipv6 access-list",
    "nat64 v4 pool",
    "nat64 prefix stateful",
  ].map((x) => text.indexOf(x));
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    order,
  );
});

test("a variant: routed uplink through YANG, lease, raw options, RA flags by CLI", () => {
  const r = renderDevice(device(fromYaml(VARIANT), "c8k"));
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  const text = renderIosxeCli(r.objects);
  assert.match(
    text,
    /^ip dhcp pool v6m-lan\n network 192.0.2.0 255.255.255.0\n default-router 192.0.2.1\n dns-server 192.0.2.53 192.0.2.54\n domain-name home.example\n lease 0 2 30\n option 108 hex 00000e10\n option 42 hex c0000201$/m,
  );
  assert.match(text, /^ip dhcp excluded-address 192.0.2.1 192.0.2.49$/m);
  assert.match(text, /^ip dhcp excluded-address 192.0.2.60$/m);
  assert.match(text, /^ip dhcp excluded-address 192.0.2.100 192.0.2.149$/m);
  assert.match(text, /^ip dhcp excluded-address 192.0.2.200 192.0.2.255$/m);
  assert.match(text, / sequence 20 permit ipv6 2001:DB8:11::\/64 any/);
  assert.match(text, /ipv6 nd ra interval 60 19/);
  assert.match(text, /ipv6 nd ra lifetime 600/);
  assert.match(text, /ipv6 nd router-preference High/);
  assert.match(text, /ipv6 nd other-config-flag/);
  assert.match(text, /ipv6 nd prefix 2001:DB8:10::\/64 7200 3600/);
  const gi = r.objects.filter((o) => o.id.startsWith("nat64/enable/"));
  // The outside (pool4's subnet) is a physical port: YANG; the inside is a BDI: the CLI RPC.
  assert.deepEqual(
    gi.map((o) => o.path),
    ["Cisco-IOS-XE-native:native/interface/GigabitEthernet=0%2F0%2F0/Cisco-IOS-XE-nat:nat64"],
  );
  assert.ok(
    r.objects.some(
      (o) => o.path === "cli-rpc" && /^interface BDI20\n nat64 enable\n$/.test(String(o.body["config-clis"])),
    ),
  );
  const reqs = iosxeRequests(r.objects);
  assert.equal(reqs[reqs.length - 1]!.path, "/restconf/operations/cisco-ia:save-config");
});

for (const release of RELEASES) {
  test(`IOS-XE ${release}: every RESTCONF body and cli-rpc input validates with yanglint`, {
    skip: skipYang,
  }, async () => {
    const configs: Record<string, unknown>[] = [];
    const rpcs: Record<string, unknown>[] = [];
    for (const d of [device(seedResources(), "isr"), device(fromYaml(VARIANT), "c8k")]) {
      const r = renderDevice(d, release);
      configs.push(nativeTree(r.objects));
      for (const o of r.objects) {
        if (o.path === "cli-rpc") rpcs.push(cliRpcForYanglint(String(o.body["config-clis"])));
        else configs.push(wrapInNative(o.path, o.body));
        if (o.removal.kind === "cli") rpcs.push(cliRpcForYanglint(o.removal.text));
      }
    }
    const c = await yangValidate(release, "config", configs);
    assert.ok(c.ok, c.output);
    assert.ok(rpcs.length > 0);
    const x = await yangValidate(release, "rpc", rpcs);
    assert.ok(x.ok, x.output);
  });
}

test("yanglint does reject what IOS-XE does not model (nat64 under BDI), so the passes above mean something", {
  skip: skipYang,
}, async () => {
  // A body of ours, put where the model does not allow it (nat64 under a BDI), fails.
  const wrong = wrapInNative("Cisco-IOS-XE-native:native/interface/BDI=10/Cisco-IOS-XE-nat:nat64", {
    "Cisco-IOS-XE-nat:nat64": { enable: [null] },
  });
  const r = await yangValidate("17.12.1", "config", [wrong]);
  assert.equal(r.ok, false);
  assert.match(r.output, /Node "nat64" not found as a child of "BDI"/);
});
