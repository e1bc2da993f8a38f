// EdgeTranslation: the seed's translation validates, and every rejection names the field and why.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { doc, validateText } from "../support/validate.ts";

const OK = `
insideInterfaces: [lan1]
outsideInterface: wan1
snat44: { pool: ["198.51.100.151-198.51.100.200"], mode: oneToOne }
dnat44:
  - { external: "198.51.100.101-198.51.100.150", internal: "192.0.2.1-192.0.2.50" }
snat66: { mode: interface }
dnat66:
  - { external: "2001:db8:1:1:ffff:ffff::/96", internal: "fd00:1::be24:11ff:0:0/96" }
inboundSnat66: { pool: ["fd00:1::ffff:0:0/96"] }
defaultRoute: { ipv4: 198.51.100.1 }`;

const edge = (spec: string) => doc("EdgeTranslation", "home", spec);
const AT = "home.yaml#1 EdgeTranslation/home";

interface Case {
  what: string;
  spec: string;
  /** the field path printed */
  path: string;
  says: string;
  /** problems printed, when more than one (each side of a pair) */
  count?: number;
}

const CASES: Case[] = [
  {
    what: "DNAT44 ranges of unequal size",
    spec: OK.replace("198.51.100.101-198.51.100.150", "198.51.100.101-198.51.100.151"),
    path: "spec.dnat44[0]",
    says: "external 198.51.100.101-198.51.100.151 holds 51 addresses but internal 192.0.2.1-192.0.2.50 holds 50; a static mapping is one to one (RFC 2663 §4.1.1), so both sides need the same size",
  },
  {
    what: "DNAT66 ranges of unequal size",
    spec: OK.replace("fd00:1::be24:11ff:0:0/96", "fd00:1::be24:11ff:0:0/97"),
    path: "spec.dnat66[0]",
    says: "holds 4294967296 addresses but internal fd00:1::be24:11ff:0:0/97 holds 2147483648",
  },
  {
    what: "an outside interface that is also inside",
    spec: OK.replace("outsideInterface: wan1", "outsideInterface: lan1"),
    path: "spec.outsideInterface",
    says: "lan1 is also insideInterfaces[0]; an interface is inside or outside, not both",
  },
  {
    what: "an inside interface listed twice",
    spec: OK.replace("[lan1]", "[lan1, lan1]"),
    path: "spec.insideInterfaces[1]",
    says: "lan1 is listed twice (insideInterfaces[0])",
  },
  {
    what: "a device interface name without deviceRef",
    spec: OK.replace("outsideInterface: wan1", "outsideInterface: GigabitEthernet0/0/1"),
    path: "spec.outsideInterface",
    says: '"GigabitEthernet0/0/1" is not an interface name (1 to 15 characters on Linux); device interface names need a deviceRef',
  },
  {
    what: "nothing to translate",
    spec: "insideInterfaces: [lan1]\noutsideInterface: wan1",
    path: "",
    says: "translates nothing: set at least one of snat44, dnat44, snat66, dnat66",
  },
  {
    what: "one-to-one SNAT44 without a pool",
    spec: OK.replace('pool: ["198.51.100.151-198.51.100.200"], ', ""),
    path: "spec.snat44.pool",
    says: "oneToOne gives each inside host an outside address of its own (Basic NAT, RFC 2663 §4.1.1)",
  },
  {
    what: "overlapping SNAT44 pool entries",
    spec: OK.replace(
      '"198.51.100.151-198.51.100.200"]',
      '"198.51.100.151-198.51.100.200", "198.51.100.160"]',
    ),
    path: "spec.snat44.pool[1]",
    says: "198.51.100.160 overlaps 198.51.100.151-198.51.100.200 (snat44.pool[0])",
  },
  {
    what: "an IPv6 range in the SNAT44 pool",
    spec: OK.replace('"198.51.100.151-198.51.100.200"', '"2001:db8::1"'),
    path: "spec.snat44.pool[0]",
    says: "is an IPv6 address; an IPv4 address is expected here",
  },
  {
    what: "SNAT66 mode pool without a pool",
    spec: OK.replace("snat66: { mode: interface }", "snat66: { mode: pool }"),
    path: "spec.snat66.pool",
    says: "mode pool translates to the addresses of pool; list at least one",
  },
  {
    what: "an SNAT66 pool with mode interface",
    spec: OK.replace("snat66: { mode: interface }", 'snat66: { mode: interface, pool: ["2001:db8:1:1::5"] }'),
    path: "spec.snat66.pool",
    says: "pool is for mode pool; mode is interface",
  },
  {
    what: "NPTv6 without its prefixes",
    spec: OK.replace("snat66: { mode: interface }", "snat66: { mode: nptv6 }"),
    path: "spec.snat66.nptv6",
    says: "mode nptv6 needs the prefix pair: nptv6: { inside, outside }",
  },
  {
    what: "NPTv6 prefixes with mode interface",
    spec: OK.replace(
      "snat66: { mode: interface }",
      'snat66: { nptv6: { inside: "fd00:1::/64", outside: "2001:db8:1:2::/64" } }',
    ),
    path: "spec.snat66.nptv6",
    says: "nptv6 is for mode nptv6; mode is interface",
  },
  {
    what: "NPTv6 prefixes of different lengths",
    spec: OK.replace(
      "snat66: { mode: interface }",
      'snat66: { mode: nptv6, nptv6: { inside: "fd00:1::/64", outside: "2001:db8:1::/48" } }',
    ),
    path: "spec.snat66.nptv6.outside",
    says: "2001:db8:1::/48 is a /48 but inside fd00:1::/64 is a /64; NPTv6 maps prefixes of one length address for address (RFC 6296 §1, a 1:1 relationship)",
  },
  {
    what: "NPTv6 prefixes longer than /64",
    spec: OK.replace(
      "snat66: { mode: interface }",
      'snat66: { mode: nptv6, nptv6: { inside: "fd00:1::/80", outside: "2001:db8:1::/80" } }',
    ),
    path: "spec.snat66.nptv6.inside",
    says: "fd00:1::/80 is longer than /64; translate whole /64 subnets (interface identifiers are 64 bits, RFC 4291 §2.5.1)",
    count: 2,
  },
  {
    what: "NPTv6 inside and outside overlapping",
    spec: OK.replace(
      "snat66: { mode: interface }",
      'snat66: { mode: nptv6, nptv6: { inside: "fd00:1::/64", outside: "fd00:1::/64" } }',
    ),
    path: "spec.snat66.nptv6.outside",
    says: "fd00:1::/64 overlaps inside fd00:1::/64",
  },
  {
    what: "inbound SNAT66 without DNAT66",
    spec: OK.replace(/dnat66:\n.*\n/, ""),
    path: "spec.inboundSnat66",
    says: "translates the senders of inbound DNAT66 traffic; there is no dnat66",
  },
  {
    what: "answering for an address the resource does not translate",
    spec: `${OK}\nproxyNeighbors: [{ addresses: "198.51.100.1" }]`,
    path: "spec.proxyNeighbors[0].addresses",
    says: "198.51.100.1 is not an external address of this resource (snat44.pool, dnat44[].external, snat66.pool, snat66.nptv6.outside or dnat66[].external); answering for it would take another host's traffic",
  },
  {
    what: "a link-layer address that is not a MAC",
    spec: `${OK}\nproxyNeighbors: [{ addresses: "2001:db8:1:1:ffff:ffff::/96", linkLayerAddress: "00:11:22:33:44" }]`,
    path: "spec.proxyNeighbors[0].linkLayerAddress",
    says: '"00:11:22:33:44" is not a MAC address (six hex pairs, aa:bb:cc:dd:ee:ff)',
  },
  {
    what: "a multicast link-layer address",
    spec: `${OK}\nproxyNeighbors: [{ addresses: "2001:db8:1:1:ffff:ffff::/96", linkLayerAddress: "33:33:00:00:00:01" }]`,
    path: "spec.proxyNeighbors[0].linkLayerAddress",
    says: "33:33:00:00:00:01 is a group (multicast) address; a neighbour answer names one interface (RFC 4861 §4.6.1)",
  },
  {
    what: "two neighbour entries for one address",
    spec: `${OK}\nproxyNeighbors: [{ addresses: "198.51.100.101-198.51.100.150" }, { addresses: "198.51.100.120" }]`,
    path: "spec.proxyNeighbors[1].addresses",
    says: "198.51.100.120 overlaps 198.51.100.101-198.51.100.150 (proxyNeighbors[0].addresses)",
  },
  {
    what: "an IPv6 next hop as the IPv4 default route",
    spec: OK.replace("ipv4: 198.51.100.1", 'ipv4: "2001:db8:1:1::1"'),
    path: "spec.defaultRoute.ipv4",
    says: "is an IPv6 address; an IPv4 address is expected here",
  },
];

describe("EdgeTranslation validation", () => {
  it("a whole translation validates", () => {
    assert.deepEqual(validateText(edge(OK)).errors, []);
  });

  it("NPTv6, an SNAT66 pool and neighbour answers with another box's MAC validate", () => {
    const spec = OK.replace(
      "snat66: { mode: interface }",
      'snat66: { mode: nptv6, nptv6: { inside: "fd00:1::/64", outside: "2001:db8:1:2::/64" } }',
    );
    const v = validateText(
      edge(
        `${spec}\nproxyNeighbors:\n  - { addresses: "2001:db8:1:1:ffff:ffff::/96", linkLayerAddress: "00:09:0f:aa:bb:cc" }\n  - { addresses: "2001:db8:1:2::/64" }`,
      ),
    );
    assert.deepEqual(v.errors, []);
    const pool = validateText(
      edge(
        OK.replace(
          "snat66: { mode: interface }",
          'snat66: { mode: pool, pool: ["2001:db8:1:1::100-2001:db8:1:1::1ff"] }',
        ),
      ),
    );
    assert.deepEqual(pool.errors, []);
  });

  it("two DNAT44 mappings onto one internal address: reported at the second", () => {
    const v = validateText(
      edge(
        OK.replace(
          /dnat44:\n(.*)\n/,
          'dnat44:\n$1\n  - { external: "198.51.100.90", internal: "192.0.2.50" }\n',
        ),
      ),
    );
    assert.deepEqual(v.errors, [
      `${AT} spec.dnat44[1].internal: 192.0.2.50 overlaps 192.0.2.1-192.0.2.50 (dnat44[0].internal)`,
    ]);
  });

  for (const c of CASES) {
    it(`rejects ${c.what}`, () => {
      const v = validateText(edge(c.spec));
      const head = c.path ? `${AT} ${c.path}: ` : `${AT} `;
      assert.equal(v.errors.length, c.count ?? 1, v.errors.join("\n"));
      assert.ok(v.errors[0]!.startsWith(head), `${v.errors[0]} starts with ${head}`);
      assert.ok(v.errors[0]!.includes(c.says), `${v.errors[0]} says ${c.says}`);
    });
  }
});
