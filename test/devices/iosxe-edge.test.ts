// EdgeTranslation on IOS-XE: ip nat inside source (pool, overload, interface), static DNAT44, NPTv6
// (nat66 prefix), default routes; every body and CLI RPC input checked by yanglint on 17.9.1,
// 17.12.1 and 17.15.1; what IOS-XE lacks refused by field; apply, idempotence and removal against
// the fake RESTCONF box.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AnyResource } from "../../src/api/resources.ts";
import { applyDevice } from "../../src/devices/apply.ts";
import {
  cliRpcForYanglint,
  nativeTree,
  renderIosxeCli,
  wrapInNative,
} from "../../src/devices/iosxe/render.ts";
import { renderDevice } from "../../src/devices/targets.ts";
import { FakeIosxe, ISR_INTERFACES } from "./support/fake-iosxe.ts";
import { boxHarness } from "./support/harness.ts";
import { haveShared } from "./support/paths.ts";
import { device, fromYaml, seedIsrAt } from "./support/seed.ts";
import { hasYanglint, RELEASES, yangValidate } from "./support/yang.ts";

const skipYang = !haveShared()
  ? "../shared/devices is absent"
  : !hasYanglint()
    ? "yanglint (libyang2-tools) is not installed"
    : false;

const DEVICE = `apiVersion: v6mostly.dev/v1alpha1
kind: ExternalDevice
metadata: { name: isr }
spec:
  vendor: iosxe
  endpoint: https://192.0.2.97
  version: "17.12.1"
  username: admin
  credentialsEnv: V6M_TEST_ISR_PASSWORD
  interfaces:
    - { name: BDI1, addresses: ["198.51.100.254/24"] }
    - { name: BDI10, addresses: ["192.0.2.253/24", "2001:db8:10::ffff/64"] }
    - { name: GigabitEthernet0/0/0, addresses: ["203.0.113.2/24"] }
    - { name: GigabitEthernet0/0/1, addresses: ["192.0.2.129/25"] }
`;

const edge = (name: string, spec: string) => `---
apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: ${name} }
spec:
${spec
  .trim()
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
  deviceRef: { name: isr }
`;

/** Three translations that use every IOS-XE form: a BDI pair, a routed pair, a one-to-one pool. */
const NETWORK = `${DEVICE}${edge(
  "home",
  `insideInterfaces: [BDI10]
outsideInterface: BDI1
snat44: { pool: ["198.51.100.151-198.51.100.200"] }
dnat44: [{ external: "198.51.100.101-198.51.100.103", internal: "192.0.2.1-192.0.2.3" }]
snat66: { mode: nptv6, nptv6: { inside: "2001:db8:10::/64", outside: "2001:db8:1:1::/64" } }
defaultRoute: { ipv4: 198.51.100.1, ipv6: "2001:db8:1:1::1" }`,
)}${edge(
  "lab",
  `insideInterfaces: [GigabitEthernet0/0/1]
outsideInterface: GigabitEthernet0/0/0
snat44: {}
snat66: { mode: nptv6, nptv6: { inside: "2001:db8:20::/64", outside: "2001:db8:1:2::/64" } }`,
)}`;

const ONE_TO_ONE = `${DEVICE}${edge(
  "one",
  `insideInterfaces: [BDI10]
outsideInterface: BDI1
snat44: { pool: ["198.51.100.151-198.51.100.200"], mode: oneToOne }`,
)}`;

const render = (text: string, version?: string) => renderDevice(device(fromYaml(text), "isr"), version);
const errors = (r: ReturnType<typeof render>) =>
  r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.subject} ${d.message}`);

test("IOS-XE: SNAT44 by pool and by interface, static DNAT44, NPTv6, default routes, ip nat / nat66 on the interfaces", () => {
  const r = render(NETWORK);
  assert.deepEqual(errors(r), []);
  const text = renderIosxeCli(r.objects);
  for (const block of [
    "interface BDI10\n ip nat inside\n nat66 inside",
    "interface BDI1\n ip nat outside\n nat66 outside",
    "interface GigabitEthernet0/0/1\n ip nat inside\n nat66 inside",
    "interface GigabitEthernet0/0/0\n ip nat outside\n nat66 outside",
    "ip access-list standard v6m-edge-home\n 10 permit 192.0.2.0 0.0.0.255",
    "ip access-list standard v6m-edge-lab\n 10 permit 192.0.2.128 0.0.0.127",
  ])
    assert.ok(text.includes(block), `${block}\n---\n${text}`);
  for (const line of [
    "ip nat pool v6m-home-snat44 198.51.100.151 198.51.100.200 prefix-length 24",
    "ip nat inside source list v6m-edge-home pool v6m-home-snat44 overload",
    "ip nat inside source list v6m-edge-lab interface GigabitEthernet0/0/0 overload",
    "ip nat inside source static 192.0.2.1 198.51.100.101",
    "ip nat inside source static 192.0.2.3 198.51.100.103",
    "nat66 prefix inside 2001:DB8:10::/64 outside 2001:DB8:1:1::/64",
    "ip route 0.0.0.0 0.0.0.0 198.51.100.1",
    "ipv6 route ::/0 2001:DB8:1:1::1",
    "ipv6 unicast-routing",
  ])
    assert.match(text, new RegExp(`^${line.replace(/[.*+?()[\]\\/]/g, "\\$&")}$`, "m"));
  // nat66 on a BDI is not in YANG: the CLI RPC; on GigabitEthernet it is a leaf.
  const cli = r.objects.filter((o) => o.path === "cli-rpc").map((o) => String(o.body["config-clis"]));
  assert.deepEqual(cli.sort(), ["interface BDI1\n nat66 outside\n", "interface BDI10\n nat66 inside\n"]);
  assert.ok(
    r.objects.some(
      (o) =>
        o.path === "Cisco-IOS-XE-native:native/interface/GigabitEthernet=0%2F0%2F0/Cisco-IOS-XE-nat:nat66" &&
        o.body["Cisco-IOS-XE-nat:nat66"] === "outside",
    ),
  );
  const source = (objects: typeof r.objects, acl: string) =>
    objects.find((o) => o.id === `nat/source/${acl}`)!.body;
  assert.deepEqual(source(r.objects, "v6m-edge-home"), {
    "Cisco-IOS-XE-nat:list": [
      { id: "v6m-edge-home", pool: [{ name: "v6m-home-snat44", "overload-new": [null] }] },
    ],
  });
  // The one-to-one pool (Basic NAT) is the pool without overload.
  const one = render(ONE_TO_ONE).objects;
  assert.match(renderIosxeCli(one), /^ip nat inside source list v6m-edge-one pool v6m-one-snat44$/m);
  assert.deepEqual(source(one, "v6m-edge-one"), {
    "Cisco-IOS-XE-nat:list": [{ id: "v6m-edge-one", pool: [{ name: "v6m-one-snat44" }] }],
  });
});

test("IOS-XE: what it lacks is refused, naming the field", () => {
  const bad = `${DEVICE}${edge(
    "home",
    `insideInterfaces: [BDI10]
outsideInterface: BDI1
snat44: { pool: ["198.51.100.151-198.51.100.200"] }
dnat44: [{ external: "198.51.100.101-198.51.100.103", internal: "192.0.2.1-192.0.2.3" }]
snat66: { mode: pool, pool: ["2001:db8:1:1::100"] }
dnat66: [{ external: "2001:db8:1:1::200", internal: "2001:db8:10::20" }]
inboundSnat66: { pool: ["2001:db8:10::ff00"] }
proxyNeighbors: [{ addresses: "198.51.100.101", linkLayerAddress: "00:09:0f:aa:bb:cc" }]
log: true`,
  )}`;
  const r = render(bad);
  assert.deepEqual(errors(r), [
    "EdgeTranslation/home spec.snat66.mode: IOS-XE has no stateful NAT66 (a pool); it translates IPv6 by prefix only: use mode nptv6 (nat66 prefix, RFC 6296), or run this translation on a FortiGate",
    "EdgeTranslation/home spec.dnat66: IOS-XE has no NAT66 of address ranges (only NPTv6, nat66 prefix); run DNAT66 on a FortiGate",
    "EdgeTranslation/home spec.inboundSnat66: IOS-XE has no stateful NAT66 to translate inbound senders with; run it on a FortiGate",
    "EdgeTranslation/home spec.proxyNeighbors[0].linkLayerAddress: IOS-XE answers ARP and Neighbor Solicitations with its own MAC only; it cannot answer as 00:09:0f:aa:bb:cc",
  ]);
  assert.ok(r.diagnostics.some((d) => d.severity === "warning" && /log is left out/.test(d.message)));
  const big = render(
    `${DEVICE}${edge("home", 'insideInterfaces: [BDI10]\noutsideInterface: BDI1\ndnat44: [{ external: "198.51.96.0/22", internal: "10.0.0.0/22" }]\nsnat44: {}')}`,
  );
  assert.deepEqual(errors(big), [], "1024 static entries are sent");
  const bigger = render(
    `${DEVICE}${edge("home", 'insideInterfaces: [BDI10]\noutsideInterface: BDI1\ndnat44: [{ external: "198.51.96.0/21", internal: "10.0.0.0/21" }]\nsnat44: {}')}`,
  );
  assert.deepEqual(errors(bigger), [
    "EdgeTranslation/home spec.dnat44: 2048 addresses: IOS-XE writes one ip nat inside source static per address; v6mostly sends at most 1024",
  ]);
  const unknown = render(
    `${DEVICE}${edge("home", "insideInterfaces: [BDI30]\noutsideInterface: BDI1\nsnat44: {}")}`,
  );
  assert.deepEqual(errors(unknown), [
    "EdgeTranslation/home spec.insideInterfaces: IOS-XE translates the sources an access list permits, and no IPv4 subnet of BDI30 is known: list the box's interfaces in the ExternalDevice's spec.interfaces",
  ]);
});

for (const release of RELEASES) {
  test(`IOS-XE ${release}: every EdgeTranslation body and CLI RPC input validates with yanglint`, {
    skip: skipYang,
  }, async () => {
    const configs: Record<string, unknown>[] = [];
    const rpcs: Record<string, unknown>[] = [];
    for (const text of [NETWORK, ONE_TO_ONE]) {
      const r = render(text, release);
      assert.deepEqual(errors(r), []);
      const rest = r.objects.filter((o) => o.path !== "cli-rpc");
      // Cisco's model requires an interface a NAT entry names to exist: each body goes with the interfaces' own.
      const interfaces = rest.filter((o) => o.path.includes("/interface/"));
      configs.push(nativeTree(rest));
      for (const o of rest) configs.push(nativeTree([...interfaces, o]));
      for (const o of r.objects.filter((x) => x.path === "cli-rpc")) {
        rpcs.push(cliRpcForYanglint(String(o.body["config-clis"])));
        if (o.removal.kind === "cli") rpcs.push(cliRpcForYanglint(o.removal.text));
      }
    }
    assert.ok(configs.length > 20);
    const c = await yangValidate(release, "config", configs);
    assert.ok(c.ok, c.output);
    const x = await yangValidate(release, "rpc", rpcs);
    assert.ok(x.ok, x.output);
  });
}

test("yanglint rejects nat66 under a BDI and a NAT entry naming an interface that does not exist, so the passes above mean something", {
  skip: skipYang,
}, async () => {
  const onBdi = wrapInNative("Cisco-IOS-XE-native:native/interface/BDI=10/Cisco-IOS-XE-nat:nat66", {
    "Cisco-IOS-XE-nat:nat66": "inside",
  });
  const r = await yangValidate("17.12.1", "config", [onBdi]);
  assert.equal(r.ok, false);
  assert.match(r.output, /Node "nat66" not found as a child of "BDI"/);
  const lab = render(NETWORK).objects.find((o) => o.id === "nat/source/v6m-edge-lab")!;
  const alone = await yangValidate("17.12.1", "config", [nativeTree([lab])]);
  assert.equal(alone.ok, false);
  assert.match(alone.output, /GigabitEthernet interface must be created first/);
});

const PASSWORD = "isr-edge-pw-3b9c0d1e2f";
const h = boxHarness({ needsShared: true });

test("IOS-XE: apply the translation to the fake ISR, a second apply sends nothing, removal deletes it", {
  skip: h.skip,
}, async () => {
  const fake = h.track(
    new FakeIosxe({
      user: "admin",
      password: PASSWORD,
      version: "17.12",
      key: h.pki.key,
      cert: h.pki.cert,
      interfaces: ISR_INTERFACES,
    }),
  );
  const endpoint = await fake.start();
  const { opts } = h.runOptions({ V6M_TEST_ISR_PASSWORD: PASSWORD });
  // the seed's resources on the ISR, without its FortiGate's translation (the same addresses)
  const base = seedIsrAt(endpoint, h.pki.caFile, ["EdgeTranslation/home"]);
  const translation = fromYaml(
    `${DEVICE}${edge(
      "home",
      `insideInterfaces: [BDI10]
outsideInterface: BDI1
snat44: { pool: ["192.168.1.151-192.168.1.200"] }
dnat44: [{ external: "192.168.1.101-192.168.1.102", internal: "172.16.1.1-172.16.1.2" }]
snat66: { mode: nptv6, nptv6: { inside: "fc00::/64", outside: "2001:db8:1:1::/64" } }
defaultRoute: { ipv4: 192.168.1.1 }`,
    )}`,
  ).filter((r) => r.kind === "EdgeTranslation");
  const withEdge = [...base, ...translation] as AnyResource[];
  const first = await applyDevice(device(withEdge, "isr"), opts);
  assert.equal(first.condition.status, "True", first.condition.message);
  const n = fake.native();
  const nat = (n.ip as Record<string, Record<string, unknown>>).nat as Record<string, unknown>;
  assert.equal((nat.pool as Record<string, unknown>[])[0]!.id, "v6m-home-snat44");
  const statics = (
    ((nat.inside as Record<string, unknown>).source as Record<string, unknown>).static as Record<
      string,
      unknown
    >
  )["nat-static-transport-list"] as Record<string, unknown>[];
  assert.deepEqual(
    statics.map((s) => `${s["local-ip"]} ${s["global-ip"]}`),
    ["172.16.1.1 192.168.1.101", "172.16.1.2 192.168.1.102"],
  );
  assert.ok([...(fake.cli.get("BDI10") ?? [])].includes("nat66 inside"));
  const writes = fake.writes().length;
  const again = await applyDevice(device(withEdge, "isr"), opts);
  assert.equal(
    again.condition.reason,
    "InSync",
    `${again.condition.message} ${JSON.stringify(again.changes.map((c) => [c.object.id, c.fields]))}`,
  );
  assert.equal(fake.writes().length, writes, "a second apply sends nothing");
  const removed = await applyDevice(device(base, "isr"), opts);
  assert.equal(removed.condition.status, "True", removed.condition.message);
  const after = (fake.native().ip as Record<string, unknown>).nat as Record<string, unknown> | undefined;
  assert.deepEqual(after?.pool ?? [], []);
  assert.ok(![...(fake.cli.get("BDI10") ?? [])].includes("nat66 inside"), "the CLI RPC's no form removed it");
});
