// What the service advertises for a RouterAdvert, what it rejects, what a change withdraws, and
// RFC 4861 §6.1 / §6.2.7 on received messages.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeAssignment, encodeAssignment } from "../../../src/planner/wire.ts";
import {
  buildAdvertisement,
  configProblems,
  type Link,
  linkProblems,
  withdrawnOptions,
} from "../../../src/services/ra/advert.ts";
import { compareAdvertisements } from "../../../src/services/ra/consistency.ts";
import { validateMessage } from "../../../src/services/ra/receive.ts";
import {
  encodeRouterAdvertisement,
  encodeRouterSolicitation,
  ipv6Bytes,
  type NdOption,
} from "../../../src/services/ra/wire.ts";
import { addressOf, prefixOf } from "../../../src/util/net.ts";
import { assignmentFrom, fullSpecYaml } from "./support.ts";

const link: Link = { name: "eth0", index: 2, linkLocal: "fe80::1", mac: "02:00:5e:10:00:01", mtu: 1500 };

/** What fullSpecYaml advertises on `link`: one option of every kind the builder emits. */
const FULL_OPTIONS: NdOption[] = [
  {
    type: "prefixInformation",
    prefix: "2001:db8:1::",
    prefixLength: 64,
    onLink: true,
    autonomous: true,
    routerAddress: false,
    validLifetime: 86400,
    preferredLifetime: 14400,
  },
  {
    type: "routeInformation",
    prefix: "2001:db8:64::",
    prefixLength: 96,
    preference: "high",
    lifetime: 1800,
  },
  { type: "rdnss", lifetime: 1800, servers: ["2001:db8:1::53", "2001:db8:1::54"] },
  { type: "dnssl", lifetime: 1800, domains: ["home.arpa", "example.net"] },
  { type: "mtu", mtu: 1400 },
  { type: "sourceLinkAddress", address: "02:00:5e:10:00:01" },
  { type: "pref64", prefix: "2001:db8:64::", prefixLength: 96, lifetime: 1800 },
];
/** Every option kind buildAdvertisement emits (the withdrawn ones are these kinds too). */
const EMITTED_KINDS = [
  "prefixInformation",
  "routeInformation",
  "rdnss",
  "dnssl",
  "mtu",
  "sourceLinkAddress",
  "pref64",
];

test("every configured option is advertised, RDNSS and DNSSL grouped by lifetime", () => {
  assert.deepEqual(
    FULL_OPTIONS.map((o) => o.type),
    EMITTED_KINDS,
    "the fixture has one option of each kind",
  );
  const a = assignmentFrom(fullSpecYaml("eth0"));
  const ra = buildAdvertisement(a, link);
  assert.equal(ra.routerLifetime, 1800);
  assert.equal(ra.preference, "low");
  assert.equal(ra.curHopLimit, 64);
  assert.deepEqual(ra.options, FULL_OPTIONS);
  assert.deepEqual(configProblems(a), []);
  assert.deepEqual(linkProblems(a, link), []);
});

test("§6.2.5: the final advertisement has router lifetime 0 and withdraws routes, DNS and PREF64", () => {
  const ra = buildAdvertisement(assignmentFrom(fullSpecYaml("eth0")), link, { final: true });
  assert.equal(ra.routerLifetime, 0);
  assert.equal(ra.preference, "medium");
  // Every option is still there; those about this router carry lifetime 0, the prefix keeps its
  // lifetimes (addresses in it stay valid on the link), MTU and SLLA are unchanged.
  assert.deepEqual(
    ra.options,
    FULL_OPTIONS.map((o) => ("lifetime" in o ? { ...o, lifetime: 0 } : o)),
  );
});

test("a router that is not the default router announces only the PREF64 route (RFC 4191)", () => {
  const a = assignmentFrom(
    fullSpecYaml("eth0").replace(
      "defaultRouter: { lifetime: 30m, preference: low }",
      "defaultRouter: { lifetime: 0 }",
    ),
  );
  const ra = buildAdvertisement(a, link);
  assert.equal(ra.routerLifetime, 0);
  assert.deepEqual(
    ra.options.filter((o) => o.type === "routeInformation"),
    [
      {
        type: "routeInformation",
        prefix: "2001:db8:64::",
        prefixLength: 96,
        preference: "high",
        lifetime: 1800,
      },
    ],
  );
});

test("invalid configuration is rejected with the reason", () => {
  const a = assignmentFrom(fullSpecYaml("eth0"));
  const bad = structuredClone(a);
  bad.resolved.interval = { min: 1, max: 4 };
  assert.match(configProblems(bad).join("\n"), /MinRtrAdvInterval/);
  const bad64 = structuredClone(a);
  bad64.resolved.pref64 = { prefix: prefixOf("2001:db8:64::/80"), lifetime: 1800 };
  assert.match(configProblems(bad64).join("\n"), /prefix length code/);
  // a spec the schema refuses never becomes an assignment: not from a file, not from a NodeConfig
  const wire = JSON.parse(JSON.stringify(encodeAssignment(a)));
  wire.spec.defaultRouter.lifetime = 70000;
  const decoded = decodeAssignment(wire);
  assert.ok(!decoded.ok);
  assert.match(decoded.error, /spec: defaultRouter\.lifetime: /);
  // the link: an MTU option above the link MTU, too many options for the link
  assert.match(linkProblems(a, { ...link, mtu: 1280 }).join("\n"), /more than the MTU of eth0/);
  const big = structuredClone(a);
  big.spec.mtu = undefined;
  big.resolved.rdnss = Array.from({ length: 100 }, (_, i) => ({
    address: addressOf(`2001:db8::${i + 1}`),
    lifetime: 1800 + i,
  }));
  assert.match(linkProblems(big, link).join("\n"), /advertise fewer options/);
});

test("a configuration change withdraws what it removed with lifetime 0", () => {
  const a = assignmentFrom(fullSpecYaml("eth0"));
  const b = assignmentFrom(
    fullSpecYaml("eth0")
      .replace(', { address: "2001:db8:1::54", lifetime: 30m }', "")
      .replace(
        'pref64: { prefix: "2001:db8:64::/96", lifetime: 30m }',
        'pref64: { prefix: "2001:db8:65::/96", lifetime: 30m }',
      )
      .replace('routes: [{ prefix: "2001:db8:64::/96", preference: high, lifetime: 30m }]', "routes: []"),
  );
  const w = withdrawnOptions(buildAdvertisement(a, link), buildAdvertisement(b, link));
  assert.deepEqual(w, [
    { type: "routeInformation", prefix: "2001:db8:64::", prefixLength: 96, preference: "high", lifetime: 0 },
    { type: "rdnss", lifetime: 0, servers: ["2001:db8:1::54"] },
    { type: "pref64", prefix: "2001:db8:64::", prefixLength: 96, lifetime: 0 },
  ]);
  assert.deepEqual(withdrawnOptions(buildAdvertisement(b, link), buildAdvertisement(b, link)), []);
});

test("§6.1: hop limit 255, code 0, link-local RA source, no SLLA from ::", () => {
  const ra = encodeRouterAdvertisement(buildAdvertisement(assignmentFrom(fullSpecYaml("eth0")), link));
  const ll = ipv6Bytes("fe80::2");
  // A valid advertisement with every option kind comes through the receive path whole.
  const received = validateMessage({ data: ra, source: ll, hopLimit: 255 });
  assert.ok(received.ok && received.value.kind === "ra", JSON.stringify(received));
  assert.deepEqual(received.value.ra.options, FULL_OPTIONS);
  assert.match(
    String((validateMessage({ data: ra, source: ll, hopLimit: 254 }) as { error: string }).error),
    /hop limit 254/,
  );
  assert.match(
    String(
      (validateMessage({ data: ra, source: ipv6Bytes("2001:db8::1"), hopLimit: 255 }) as { error: string })
        .error,
    ),
    /link-local/,
  );
  const coded = ra.slice();
  coded[1] = 1;
  assert.equal(validateMessage({ data: coded, source: ll, hopLimit: 255 }).ok, false);
  const rs = encodeRouterSolicitation({
    options: [{ type: "sourceLinkAddress", address: "02:00:00:00:00:02" }],
  });
  assert.equal(validateMessage({ data: rs, source: ll, hopLimit: 255 }).ok, true);
  assert.equal(validateMessage({ data: rs, source: new Uint8Array(16), hopLimit: 255 }).ok, false);
  assert.equal(
    validateMessage({
      data: encodeRouterSolicitation({ options: [] }),
      source: new Uint8Array(16),
      hopLimit: 255,
    }).ok,
    true,
  );
});

test("§6.2.7: inconsistencies with another router are named", () => {
  const ours = buildAdvertisement(assignmentFrom(fullSpecYaml("eth0")), link);
  assert.deepEqual(compareAdvertisements(ours, ours), []);
  const theirs = structuredClone(ours);
  theirs.managed = true;
  theirs.curHopLimit = 0; // unspecified: not an inconsistency
  theirs.options = theirs.options.map((o) => {
    if (o.type === "mtu") return { ...o, mtu: 1280 };
    if (o.type === "prefixInformation") return { ...o, validLifetime: 7200 };
    if (o.type === "pref64") return { ...o, prefix: "64:ff9b::" };
    return o;
  });
  assert.deepEqual(
    compareAdvertisements(ours, theirs).map((i) => i.field),
    ["managed (M flag)", "mtu", "prefix 2001:db8:1::/64 validLifetime", "pref64"],
  );
});

test("startRouterAdvert refuses invalid configuration before it touches the interface", async () => {
  const { startRouterAdvert, RaConfigError } = await import("../../../src/services/ra/index.ts");
  const { createLogger } = await import("../../../src/util/log.ts");
  const bad = assignmentFrom(fullSpecYaml("v6mnosuch0"));
  bad.resolved.pref64 = { prefix: prefixOf("2001:db8:64::/80"), lifetime: 1800 };
  const log = createLogger("test", { level: "silent" });
  await assert.rejects(startRouterAdvert(bad, { log, stateDir: "/tmp" }), (e: unknown) => {
    assert.ok(e instanceof RaConfigError);
    assert.match(
      (e as Error).message,
      /RouterAdvert\/lan: pref64\.prefix: \/80 has no PREF64 prefix length code/,
    );
    return true;
  });
});

test("ra listen's text shows every option, PREF64 included", async () => {
  const { describeAdvertisement } = await import("../../../src/services/ra/describe.ts");
  const { decodeRouterAdvertisement } = await import("../../../src/services/ra/wire.ts");
  const bytes = encodeRouterAdvertisement(buildAdvertisement(assignmentFrom(fullSpecYaml("eth0")), link));
  const d = decodeRouterAdvertisement(bytes);
  assert.ok(d.ok);
  assert.deepEqual(describeAdvertisement(d.value), [
    "hop limit 64, flags none, router lifetime 1800s (30m), preference low, reachable 0 ms, retransmit 0 ms",
    "prefix 2001:db8:1::/64 on-link autonomous, valid 86400s (1d), preferred 14400s (4h)",
    "route 2001:db8:64::/96 preference high, lifetime 1800s (30m)",
    "RDNSS 2001:db8:1::53 2001:db8:1::54, lifetime 1800s (30m)",
    "DNSSL home.arpa example.net, lifetime 1800s (30m)",
    "MTU 1400",
    "source link-layer address 02:00:5e:10:00:01",
    "PREF64 2001:db8:64::/96, lifetime 1800s (30m)",
  ]);
});
