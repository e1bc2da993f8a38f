// The EdgeTranslation's nftables table as a pure function: the offset-preserving cut of a mapping
// into netmap elements (a property over random ranges), and the rules each spec field yields.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { responderPlans } from "../../../src/services/edge/neighbours.ts";
import {
  type Block,
  edgeRuleset,
  MappingTooFragmented,
  offsetBlocks,
  tableName,
} from "../../../src/services/edge/ruleset.ts";
import type { Span } from "../../../src/util/net.ts";
import { edge } from "./lab.ts";

/** Where a netmap sends `x`: the internal prefix's network with x's host bits (the kernel's rule). */
function mapThrough(blocks: readonly Block[], x: bigint, bits: number): bigint | undefined {
  for (const b of blocks) {
    const host = (1n << BigInt(bits - b.length)) - 1n;
    if ((x & ~host) === b.from) return b.to | (x & host);
  }
  return undefined;
}

describe("offsetBlocks", () => {
  it("maps every external address to the internal address at the same offset, and nothing else", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 0xffffn }),
        fc.bigInt({ min: 0n, max: 0xffffn }),
        fc.integer({ min: 1, max: 600 }),
        (a, b, n) => {
          const base = 0xc6120000n; // 198.18.0.0/15
          const ext: Span = { family: 4, first: base + a, last: base + a + BigInt(n) - 1n };
          const int: Span = { family: 4, first: base + b, last: base + b + BigInt(n) - 1n };
          const blocks = offsetBlocks(ext, int);
          for (let i = 0n; i < BigInt(n); i++)
            assert.equal(mapThrough(blocks, ext.first + i, 32), int.first + i);
          assert.equal(mapThrough(blocks, ext.first - 1n, 32), undefined);
          assert.equal(mapThrough(blocks, ext.last + 1n, 32), undefined);
        },
      ),
    );
  });

  it("keeps an aligned IPv6 /96 to /96 in one element; the seed's misaligned DNAT44 in a few", () => {
    const six = offsetBlocks(
      { family: 6, first: 0x20010db8000100011111ffff00000000n, last: 0x20010db8000100011111ffffffffffffn },
      { family: 6, first: 0xfc000000000000000000be2400000000n, last: 0xfc000000000000000000be24ffffffffn },
    );
    assert.equal(six.length, 1);
    assert.equal(six[0]!.length, 96);
    // 192.168.1.101-151 -> 172.16.1.1-51: offsets differ by 100 = 4 * 25, so blocks of at most 4
    const four = offsetBlocks(
      { family: 4, first: 0xc0a80165n, last: 0xc0a80197n },
      { family: 4, first: 0xac100101n, last: 0xac100133n },
    );
    assert.ok(four.every((b) => b.length >= 30));
    assert.ok(four.length <= 16, `${four.length} elements`);
  });

  it("refuses a mapping that would need more than MAX_BLOCKS elements", () => {
    assert.throws(
      () =>
        offsetBlocks(
          { family: 6, first: 0xfd00n << 112n, last: (0xfd00n << 112n) + 0x20000n },
          { family: 6, first: (0xfd01n << 112n) + 1n, last: (0xfd01n << 112n) + 0x20001n },
        ),
      (e) => e instanceof MappingTooFragmented && /start both on the same boundary/.test(e.message),
    );
  });
});

describe("edgeRuleset", () => {
  const seed = {
    insideInterfaces: ["lan1"],
    outsideInterface: "wan1",
    snat44: { pool: ["192.0.2.151-192.0.2.200"], mode: "oneToOne" },
    dnat44: [{ external: "192.0.2.100/30", internal: "198.18.1.0/30" }],
    snat66: { mode: "interface" },
    dnat66: [{ external: "2001:db8:1:0:ffff:ffff::/96", internal: "fd00:1::be24:11ff:0:0/96" }],
    inboundSnat66: { pool: ["fd00:1::ffff:0:0/96"] },
  };

  it("writes one transaction that creates, deletes and re-adds only its own table", () => {
    const r = edgeRuleset(edge(seed));
    assert.equal(r.table, "v6mostly-edge-home");
    const lines = r.text.split("\n");
    assert.equal(lines[0], "table inet v6mostly-edge-home {}");
    assert.equal(lines[1], "delete table inet v6mostly-edge-home");
    assert.equal(lines.filter((l) => /^(table|delete)/.test(l)).length, 3);
    assert.ok(r.text.endsWith(r.body));
  });

  it("turns each field into its rule", () => {
    const body = edgeRuleset(edge(seed)).body;
    const has = (re: RegExp) => assert.match(body, re);
    has(/iifname "wan1" counter dnat ip prefix to ip daddr map \{ 192\.0\.2\.100\/30 : 198\.18\.1\.0\/30 \}/);
    has(/dnat ip6 prefix to ip6 daddr map \{ 2001:db8:1:0:ffff:ffff::\/96 : fd00:1::be24:11ff:0:0\/96 \}/);
    has(
      /iifname "lan1" oifname "wan1" meta nfproto ipv4 counter snat ip to 192\.0\.2\.151-192\.0\.2\.200 persistent/,
    );
    has(/iifname "lan1" oifname "wan1" meta nfproto ipv6 counter masquerade/);
    has(
      /iifname "wan1" oifname "lan1" ct status dnat ip6 daddr \{ fd00:1::be24:11ff:0:0-fd00:1::be24:11ff:ffff:ffff \} counter snat ip6 to fd00:1::ffff:0:0-fd00:1::ffff:ffff:ffff/,
    );
    has(/iifname "wan1" oifname "lan1" counter drop/);
  });

  it("overload without a pool masquerades; several pool ranges are picked by a hash of the source", () => {
    const one = edgeRuleset(edge({ ...seed, snat44: { mode: "overload" }, snat66: undefined })).body;
    assert.match(one, /meta nfproto ipv4 counter masquerade/);
    assert.doesNotMatch(one, /nfproto ipv6/);
    const two = edgeRuleset(
      edge({ ...seed, snat44: { pool: ["192.0.2.151-192.0.2.160", "192.0.2.170"], mode: "overload" } }),
    ).body;
    assert.match(
      two,
      /snat ip to jhash ip saddr mod 2 map \{ 0 : 192\.0\.2\.151-192\.0\.2\.160, 1 : 192\.0\.2\.170 \}\n/,
    );
  });

  it("NPTv6 maps the prefix both ways; pool mode snats to the pool", () => {
    const npt = edgeRuleset(
      edge({
        ...seed,
        dnat66: [],
        inboundSnat66: undefined,
        snat66: { mode: "nptv6", nptv6: { inside: "fd00:1::/64", outside: "2001:db8:1::/64" } },
      }),
    ).body;
    assert.match(
      npt,
      /meta nfproto ipv6 counter snat ip6 prefix to ip6 saddr map \{ fd00:1::\/64 : 2001:db8:1::\/64 \}/,
    );
    assert.match(
      npt,
      /iifname "wan1" counter dnat ip6 prefix to ip6 daddr map \{ 2001:db8:1::\/64 : fd00:1::\/64 \}/,
    );
    const pool = edgeRuleset(
      edge({ ...seed, snat66: { mode: "pool", pool: ["2001:db8:1::100-2001:db8:1::1ff"] } }),
    ).body;
    assert.match(pool, /meta nfproto ipv6 counter snat ip6 to 2001:db8:1::100-2001:db8:1::1ff/);
  });

  it("log adds a kernel log statement to each translation; a namespace other than default names the table", () => {
    assert.match(
      edgeRuleset(edge({ ...seed, log: true })).body,
      /log prefix "v6mostly-edge-home " counter snat/,
    );
    assert.equal(tableName({ namespace: "site-a", name: "home" }), "v6mostly-edge-site-a.home");
  });
});

describe("responderPlans", () => {
  it("one responder per link-layer address, ranges split by family, on the outside interface", () => {
    const plans = responderPlans(
      edge({
        insideInterfaces: ["l0"],
        outsideInterface: "w0",
        snat44: { pool: ["192.0.2.151-192.0.2.154"] },
        dnat66: [{ external: "2001:db8:1:0:ffff:ffff::/96", internal: "fd00:1::/96" }],
        proxyNeighbors: [
          { addresses: "192.0.2.151-192.0.2.152" },
          { addresses: "2001:db8:1:0:ffff:ffff::/112", linkLayerAddress: "02:00:00:00:00:01" },
          { addresses: "2001:db8:1:0:ffff:ffff:1:0/112", linkLayerAddress: "02-00-00-00-00-01" },
          { addresses: "192.0.2.153" },
        ],
      }).spec,
    );
    assert.deepEqual(
      plans.map((p) => ({ ...p, ipv4: p.ipv4.map(String), ipv6: p.ipv6.map(String) })),
      [
        {
          interface: "w0",
          linkLayerAddress: undefined,
          ipv4: ["192.0.2.151-192.0.2.152", "192.0.2.153"],
          ipv6: [],
        },
        {
          interface: "w0",
          linkLayerAddress: "02:00:00:00:00:01",
          ipv4: [],
          ipv6: ["2001:db8:1:0:ffff:ffff::/112", "2001:db8:1:0:ffff:ffff:1:0/112"],
        },
      ],
    );
  });
});
