// The lab's expected matrix and path classification (pure), and its resources against its
// addressing plan.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { validatePaths } from "../../src/api/validate.ts";
import { CLAT, CLIENTS, LAN, POOL4, PREF64, SERVERS, UPLINK } from "../../src/lab/addressing.ts";
import {
  COLUMNS,
  classify,
  compare,
  EXPECTED,
  extract96,
  renderMatrix,
  type SessionEvidence,
} from "../../src/lab/matrix.ts";
import { plan } from "../../src/planner/plan.ts";
import { text } from "../support/text.ts";

const client6 = "fd00:64:1:0:64:ff:fe00:3";

test("examples/lab validates and plans to the lab's addressing (LAN, PREF64, pool4, RDNSS, DHCP)", () => {
  const { resources, problems } = validatePaths([join(import.meta.dirname, "..", "..", "examples", "lab")]);
  assert.deepEqual(problems, []);
  const p = plan(resources, { standaloneNode: "lab" });
  assert.deepEqual(p.conflicts, []);
  const a = p.nodes[0]!.assignments;
  const kinds = a.map((x) => x.kind).sort();
  assert.deepEqual(kinds, ["DhcpScope", "Dns64Resolver", "Nat64Gateway", "RouterAdvert"]);
  const nat = a.find((x) => x.kind === "Nat64Gateway")!;
  assert.equal(String(nat.spec.prefix), PREF64);
  assert.deepEqual(text(nat.spec.pool4), [`${POOL4.first}-${POOL4.last}`]);
  assert.deepEqual(text(nat.spec.allowedSources), [LAN.prefix6]);
  assert.equal(nat.spec.uplinkInterface, UPLINK.routerIf);
  const dns = a.find((x) => x.kind === "Dns64Resolver")!;
  assert.deepEqual(text(dns.spec.listen), [`[${LAN.router6}]:53`, `${LAN.router4}:53`]);
  assert.deepEqual(text(dns.spec.upstreams), [SERVERS.dns4]);
  const ra = a.find((x) => x.kind === "RouterAdvert")!;
  assert.equal(ra.spec.interface, LAN.bridge);
  assert.deepEqual(
    ra.spec.rdnss.map((r) => String(r.address)),
    [LAN.router6],
  );
  const dhcp = a.find((x) => x.kind === "DhcpScope")!;
  assert.equal(dhcp.spec.interface, LAN.bridge);
  assert.equal(String(dhcp.spec.subnet), LAN.subnet4);
  assert.equal(dhcp.spec.ipv6OnlyPreferred, 1800);
});

test("the expected matrix follows the seed's rows", () => {
  // row 1: v6 x, v4 routed, both DNS64 states
  for (const s of ["on", "off"] as const) {
    assert.equal(EXPECTED["ipv4-only"][s]["v6-literal"].path, "x");
    assert.equal(EXPECTED["ipv4-only"][s]["v4-literal"].path, "ipv4");
  }
  // row 3 with DNS64: v4 FQDN via NAT64, v4 literal x
  assert.equal(EXPECTED["ipv6-only"].on["v4-fqdn"].path, "nat64");
  assert.equal(EXPECTED["ipv6-only"].on["v4-literal"].path, "x");
  // row 4: v4 literal through the CLAT in both states
  assert.equal(EXPECTED["ipv6-only+clat"].on["v4-literal"].path, "clat+nat64");
  assert.equal(EXPECTED["ipv6-only+clat"].off["v4-literal"].path, "clat+nat64");
  // the seed's n/a cells are marked as derived, the others as the seed's
  assert.equal(EXPECTED["dual-stack"].on["v4-fqdn"].fromSeed, false);
  assert.equal(EXPECTED["ipv6-only"].off["v4-fqdn"].fromSeed, false);
  assert.equal(EXPECTED["dual-stack"].off["v4-fqdn"].fromSeed, true);
  for (const c of CLIENTS)
    for (const s of ["on", "off"] as const) for (const col of COLUMNS) assert.ok(EXPECTED[c.kind][s][col]);
});

test("classify: routed IPv6 and IPv4 by the source the server saw", () => {
  assert.equal(
    classify({ column: "v6-literal", destination: SERVERS.dual6, seenFrom: client6 }, [client6], [], []).path,
    "ipv6",
  );
  assert.equal(
    classify(
      { column: "v4-literal", destination: SERVERS.v4only4, seenFrom: "::ffff:192.0.2.100" },
      [],
      ["192.0.2.100"],
      [],
    ).path,
    "ipv4",
  );
  const x = classify(
    { column: "v4-literal", destination: SERVERS.v4only4, error: "ENETUNREACH" },
    [client6],
    [],
    [],
  );
  assert.equal(x.path, "x");
  assert.equal(x.evidence, "ENETUNREACH");
});

test("classify: NAT64 and CLAT+NAT64 need a matching session in the translation table", () => {
  const dest = "fd00:ff9b::cb00:710a";
  const sessions: SessionEvidence[] = [
    {
      proto: "tcp",
      ipv6: client6,
      port6: 40000,
      ipv4: "198.51.100.207",
      remote4: SERVERS.v4only4,
      remote6: dest,
    },
    {
      proto: "tcp",
      ipv6: CLAT.hostIpv6,
      port6: 40001,
      ipv4: "198.51.100.226",
      remote4: SERVERS.v4only4,
      remote6: dest,
    },
  ];
  const n = classify(
    { column: "v4-fqdn", destination: dest, seenFrom: "198.51.100.207", localAddress: client6 },
    [client6],
    [],
    sessions,
  );
  assert.equal(n.path, "nat64");
  assert.equal(n.unavailable, undefined);
  assert.match(n.evidence, /\[fd00:64:1:0:64:ff:fe00:3\]:40000/);
  // an older session of the same client to the same server is not this connection's
  const old = classify(
    {
      column: "v4-fqdn",
      destination: dest,
      seenFrom: "198.51.100.207",
      localAddress: client6,
      localPort: 40999,
    },
    [client6],
    [],
    sessions,
  );
  assert.match(old.unavailable ?? "", /translation table/);
  const c = classify(
    {
      column: "v4-literal",
      destination: SERVERS.v4only4,
      seenFrom: "198.51.100.226",
      localAddress: CLAT.hostIpv4,
    },
    [client6],
    [],
    sessions,
  );
  assert.equal(c.path, "clat+nat64");
  // the same probe without the session: not confirmed, so not a pass
  const u = classify(
    { column: "v4-literal", destination: SERVERS.v4only4, seenFrom: "198.51.100.226" },
    [client6],
    [],
    [sessions[0]!],
  );
  assert.match(u.unavailable ?? "", /translation table/);
  assert.equal(compare("ipv6-only+clat", "on", "v4-literal", u).ok, false);
  // no table published at all
  const t = classify(
    { column: "v4-fqdn", destination: dest, seenFrom: "198.51.100.207", localAddress: client6 },
    [client6],
    [],
    undefined,
  );
  assert.match(t.unavailable ?? "", /publishes no/);
  // a source outside the client, the lease and pool4
  assert.equal(classify({ column: "v4-literal", seenFrom: "203.0.113.99" }, [], [], []).path, "x");
});

test("compare and render: a difference is shown and fails; an unavailable cell fails even when the path matches", () => {
  const good = compare("ipv6-only", "on", "v4-literal", { path: "x", evidence: "ENETUNREACH" });
  assert.equal(good.ok, true);
  const bad = compare("ipv6-only", "on", "v4-fqdn", { path: "x", evidence: "no answer" });
  assert.equal(bad.ok, false);
  const na = compare("ipv4-only", "on", "v6-literal", {
    path: "x",
    evidence: "",
    unavailable: "the client has no DHCPv4 lease",
  });
  assert.equal(na.ok, false);
  const text = renderMatrix(
    [good, bad, na],
    [{ name: "router runs DhcpScope", ok: false, detail: "does not run" }],
  );
  assert.match(text, /DNS64 on/);
  assert.match(text, /x ≠ NAT64 !/);
  assert.match(text, /FAIL router runs DhcpScope/);
  assert.match(text, /ipv6-only, DNS64 on, IPv4 FQDN: expected nat64/);
  assert.match(text, /not available: the client has no DHCPv4 lease/);
});

test("extract96 reads the IPv4 address of a /96 PREF64 address", () => {
  assert.equal(extract96("fd00:ff9b::cb00:710a"), "203.0.113.10");
  assert.equal(extract96("fd00:ff9b::203.0.113.10"), "203.0.113.10");
});
