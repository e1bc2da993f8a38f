/** Unit tests of the SIIT building blocks and of rules the Jool suite does not exercise. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Eamt } from "../../../src/datapath/siit/addr/eamt.ts";
import {
  type AddressMapper,
  type Flow,
  MAP_OK,
  SiitAddressMapper,
} from "../../../src/datapath/siit/addr/mapper.ts";
import { Rfc6052Prefix } from "../../../src/datapath/siit/addr/rfc6052.ts";
import { rfc6791Source } from "../../../src/datapath/siit/addr/rfc6791.ts";
import { adjust, finish, fold16, read16, sum16, write16 } from "../../../src/datapath/siit/checksum.ts";
import { compileSiitConfig, prefixBytes } from "../../../src/datapath/siit/config.ts";
import {
  icmp4ErrorTo6,
  icmp6ErrorTo4,
  pointer4to6,
  pointer6to4,
} from "../../../src/datapath/siit/icmpTables.ts";
import {
  DropReason,
  Side,
  type SiitConfig,
  SiitTranslator,
  Verdict,
} from "../../../src/datapath/siit/index.ts";
import { originalDatagramLength } from "../../../src/datapath/siit/rfc4884.ts";
import { addressOf, prefixOf } from "../../../src/util/net.ts";
import { baseSiitConfig } from "../../conformance/jool-suite.ts";
import { addr4, addr6, bytes, ipv4Packet, ipv6Packet } from "./build.ts";
import { l4ChecksumProblem, type Parsed, parseOutput } from "./verify.ts";

function fmt6(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(":");
}

describe("RFC 6052 §2.4 examples (192.0.2.33 under each prefix length)", () => {
  const cases: [string, number, string][] = [
    ["2001:db8::", 32, "2001:db8:c000:221::"],
    ["2001:db8:100::", 40, "2001:db8:1c0:2:21::"],
    ["2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"],
    ["2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"],
    ["2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"],
    ["2001:db8:122:344::", 96, "2001:db8:122:344::c000:221"],
  ];
  for (const [prefix, len, expected] of cases) {
    test(`/${len}`, () => {
      const p = new Rfc6052Prefix(addr6(prefix), len);
      const out = new Uint8Array(16);
      p.embed(addr4("192.0.2.33"), 0, out, 0);
      assert.deepEqual(out, addr6(expected));
      const back = new Uint8Array(4);
      assert.equal(p.extract(out, 0, back, 0), true);
      assert.deepEqual(back, addr4("192.0.2.33"));
      assert.equal(p.embedded4(out, 0), 0xc0000221);
      assert.equal(p.extract(addr6("2001:db9::1"), 0, back, 0), false, "other prefix does not match");
    });
  }
  test("rejects other lengths and a non-zero u octet", () => {
    assert.throws(() => new Rfc6052Prefix(addr6("2001:db8::"), 33));
    assert.throws(() => new Rfc6052Prefix(addr6("2001:db8:0:0:ff00::"), 64));
  });
  test("embed/extract round trip for every length (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32, 40, 48, 56, 64, 96),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (len, v4) => {
          const p = new Rfc6052Prefix(addr6("2001:db8:aa55::"), len);
          const a = new Uint8Array(16);
          p.embed(v4, 0, a, 0);
          assert.equal(a[8], len === 96 ? a[8] : 0, "u octet zero");
          const b = new Uint8Array(4);
          assert.ok(p.extract(a, 0, b, 0));
          assert.deepEqual(b, v4);
          // the number the NAT64 keys its tables with, at an offset as in a packet
          const pkt = new Uint8Array(40);
          pkt.set(a, 24);
          assert.equal(
            p.embedded4(pkt, 24),
            ((v4[0]! << 24) | (v4[1]! << 16) | (v4[2]! << 8) | v4[3]!) >>> 0,
          );
        },
      ),
    );
  });
});

describe("EAMT (RFC 7757)", () => {
  const mk = (entries: [string, string][]) =>
    new Eamt(
      entries.map(([t6, t4]) => {
        const p6 = prefixBytes(prefixOf(t6), 6, "ipv6");
        const p4 = prefixBytes(prefixOf(t4), 4, "ipv4");
        return { v6: p6.bytes, len6: p6.len, v4: p4.bytes, len4: p4.len };
      }),
    );
  test("RFC 7757 §3.2 example and longest prefix match", () => {
    const t = mk([
      ["2001:db8:aaaa::/120", "192.0.2.0/24"],
      ["2001:db8:bbbb::1/128", "192.0.2.1/32"],
    ]);
    const o6 = new Uint8Array(16);
    assert.ok(t.map4to6(addr4("192.0.2.1"), 0, o6, 0));
    assert.equal(fmt6(o6), fmt6(addr6("2001:db8:bbbb::1")));
    assert.ok(t.map4to6(addr4("192.0.2.2"), 0, o6, 0));
    assert.equal(fmt6(o6), fmt6(addr6("2001:db8:aaaa::2")));
    const o4 = new Uint8Array(4);
    assert.ok(t.map6to4(addr6("2001:db8:aaaa::5"), 0, o4, 0));
    assert.deepEqual(o4, addr4("192.0.2.5"));
    assert.equal(t.map6to4(addr6("2001:db8:cccc::5"), 0, o4, 0), false);
    assert.ok(t.has4(addr4("192.0.2.200"), 0));
    assert.equal(t.has4(addr4("192.0.3.1"), 0), false);
  });
  test("suffix carried right after a longer IPv6 prefix (/72 ↔ /24) and unaligned prefixes", () => {
    const t = mk([
      ["2001:db8:1c6:3364::/72", "198.51.100.0/24"],
      ["2001:db8:5::/125", "203.0.113.8/29"],
    ]);
    const o6 = new Uint8Array(16);
    assert.ok(t.map4to6(addr4("198.51.100.2"), 0, o6, 0));
    assert.equal(fmt6(o6), fmt6(addr6("2001:db8:1c6:3364:2::")));
    assert.ok(t.map4to6(addr4("203.0.113.13"), 0, o6, 0));
    assert.equal(fmt6(o6), fmt6(addr6("2001:db8:5::5")));
    const o4 = new Uint8Array(4);
    assert.ok(t.map6to4(addr6("2001:db8:5::7"), 0, o4, 0));
    assert.deepEqual(o4, addr4("203.0.113.15"));
    assert.ok(t.map6to4(addr6("2001:db8:1c6:3364:2::"), 0, o4, 0));
    assert.deepEqual(o4, addr4("198.51.100.2"));
  });
  test("word paths agree with the byte paths (random prefixes, any alignment)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 128 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (len4, len6raw, p6, p4, host) => {
          const len6 = Math.min(len6raw, 96 + len4); // IPv6 suffix must hold the IPv4 suffix
          const mask = (b: Uint8Array, len: number) =>
            b.map((x, i) => x & ((0xff << (8 - Math.max(0, Math.min(8, len - 8 * i)))) & 0xff));
          const v6 = mask(p6, len6);
          const v4 = mask(p4, len4);
          const t = new Eamt([{ v6, len6, v4, len4 }]);
          const buf = new Uint8Array(1024);
          const w = new Uint32Array(buf.buffer);
          // an IPv6 address inside the prefix: random host bits after it
          const m6 = mask(new Uint8Array(16).fill(0xff), len6);
          const in6 = host.map((x, i) => (x & ~m6[i]!) | v6[i]!);
          buf.set(in6, 0);
          const byteOut = new Uint8Array(4);
          assert.equal(t.map6to4(in6, 0, byteOut, 0), true);
          assert.equal(t.map6to4W(w, 0, 8), true);
          assert.deepEqual(buf.slice(32, 36), byteOut);
          // and back
          buf.set(byteOut, 64);
          const byte6 = new Uint8Array(16);
          assert.equal(t.map4to6(byteOut, 0, byte6, 0), true);
          assert.equal(t.map4to6W(w, 16, 32), true);
          assert.deepEqual(buf.slice(128, 144), byte6);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("rejects an IPv6 prefix too long for the IPv4 suffix", () => {
    assert.throws(() => mk([["2001:db8::/124", "10.0.0.0/24"]]));
  });
});

describe("checksums (RFC 1071 / RFC 1624)", () => {
  test("incremental update keeps the receiver-side residual (right stays right, wrong stays as wrong)", () => {
    const residual = (b: Uint8Array) => {
      const r = fold16(sum16(b, 0, b.length, 0));
      return r === 0 ? 0xffff : r; // +0 and -0 are the same in ones' complement
    };
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 200 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        (data, repl, wrong) => {
          const b = Uint8Array.from(data);
          write16(b, 0, 0);
          write16(b, 0, (finish(sum16(b, 0, b.length, 0)) + wrong) & 0xffff);
          const before = residual(b);
          const oldSum = sum16(b, 4, 4, 0);
          b.set(repl, 4);
          write16(b, 0, adjust(read16(b, 0), oldSum, sum16(b, 4, 4, 0)));
          assert.equal(residual(b), before);
        },
      ),
    );
  });
  test("word-at-a-time and byte sums agree on a large aligned buffer", () => {
    const big = new Uint8Array(4096);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff;
    const small = big.slice(0, 100); // < 256 bytes: byte path
    for (const [off, len] of [
      [0, 100],
      [4, 33],
      [8, 32],
      [12, 8],
      [2, 50],
    ] as const) {
      assert.equal(
        finish(sum16(big, off, len, 0)),
        finish(sum16(small, off, len, 0)),
        `off ${off} len ${len}`,
      );
    }
  });
});

describe("ICMP tables (RFC 7915 §4.2, §5.2)", () => {
  test("type/code", () => {
    assert.equal(icmp4ErrorTo6(3, 3), (1 << 8) | 4);
    assert.equal(icmp4ErrorTo6(3, 2), (4 << 8) | 1);
    assert.equal(icmp4ErrorTo6(3, 4), 2 << 8);
    assert.equal(icmp4ErrorTo6(3, 13), (1 << 8) | 1);
    assert.equal(icmp4ErrorTo6(3, 14), -1);
    assert.equal(icmp4ErrorTo6(4, 0), -1, "source quench: drop");
    assert.equal(icmp4ErrorTo6(12, 1), -1, "missing option: drop");
    assert.equal(icmp6ErrorTo4(1, 4), (3 << 8) | 3);
    assert.equal(icmp6ErrorTo4(1, 1), (3 << 8) | 10);
    assert.equal(icmp6ErrorTo4(4, 1), (3 << 8) | 2);
    assert.equal(icmp6ErrorTo4(4, 2), -1);
  });
  test("parameter problem pointers", () => {
    assert.deepEqual([0, 1, 2, 3, 8, 9, 12, 16, 19, 20].map(pointer4to6), [0, 1, 4, 4, 7, 6, 8, 24, 24, -1]);
    assert.deepEqual(
      [0, 1, 2, 4, 6, 7, 8, 23, 24, 39, 40].map(pointer6to4),
      [0, 1, -1, 2, 9, 8, 12, 12, 16, 16, -1],
    );
  });
});

describe("configuration (util/net values, compiled once)", () => {
  test("an address or prefix of the wrong family is refused with the field's name", () => {
    const cfg = baseSiitConfig();
    const cases: [Partial<SiitConfig>, RegExp][] = [
      [{ pool6: prefixOf("192.0.2.0/24") }, /^Error: pool6 must be an IPv6 prefix$/],
      [{ eamt: [{ ipv6: prefixOf("192.0.2.0/24"), ipv4: prefixOf("192.0.2.0/24") }] }, /eamt ipv6 must be/],
      [
        { eamt: [{ ipv6: prefixOf("2001:db8::/120"), ipv4: prefixOf("2001:db8::/120") }] },
        /eamt ipv4 must be/,
      ],
      [{ ownIpv4: addressOf("2001:db8::1") }, /ownIpv4 must be an IPv4 address/],
      [{ ownIpv6: addressOf("192.0.2.1") }, /ownIpv6 must be an IPv6 address/],
      [{ rfc6791Pool: { ipv4: [addressOf("2001:db8::1")] } }, /rfc6791Pool ipv4 must be/],
    ];
    for (const [over, error] of cases) assert.throws(() => compileSiitConfig({ ...cfg, ...over }), error);
  });

  test("a prefix with host bits set is taken by its network part", () => {
    const ipv6 = { family: 6, network: prefixOf("2001:db8:3::/120").network | 1n, length: 120 } as const;
    const tr = new SiitTranslator({ ...baseSiitConfig(), eamt: [{ ipv6, ipv4: prefixOf("192.0.2.0/24") }] });
    const udp = { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(20) };
    for (const pkt of [
      ipv4Packet("198.51.100.2", "192.0.2.4", udp),
      ipv4Packet("198.51.100.2", "192.0.2.4", { ...udp, proto: 99 }),
    ]) {
      assert.equal(tr.translate(pkt), Verdict.Translated);
      assert.deepEqual(tr.outputs()[0]!.subarray(24, 40), addr6("2001:db8:3::4"));
    }
  });
});

describe("translator rules not exercised by the Jool suite", () => {
  const cfg = baseSiitConfig();
  const v6host = "2001:db8:1c0:2:21::"; // 192.0.2.33
  const v4peer6 = "2001:db8:1c6:3364:2::"; // 198.51.100.2

  test("IPv4 TTL 1 → ICMPv4 Time Exceeded to the sender (RFC 7915 §4.1)", () => {
    const tr = new SiitTranslator(cfg, { nextIpv4Id: () => 0 });
    const p = ipv4Packet("198.51.100.2", "192.0.2.33", { proto: 17, payload: bytes(10) }, 1);
    assert.equal(tr.translate(p), Verdict.IcmpReply);
    const o = tr.outputs()[0]!;
    assert.equal(tr.outSide, Side.Ipv4);
    assert.equal(o[20], 11);
    assert.equal(o[21], 0);
    assert.deepEqual(o.subarray(16, 20), addr4("198.51.100.2"));
    assert.equal(tr.lastReason, DropReason.HopLimitExceeded);
    assert.equal(l4ChecksumProblem(o, parseOutput(o) as Parsed), null);
  });

  test("IPv6 hop limit 1 → ICMPv6 Time Exceeded (RFC 7915 §5.1)", () => {
    const tr = new SiitTranslator(cfg);
    const p = ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(10) }, 1);
    assert.equal(tr.translate(p), Verdict.IcmpReply);
    const o = tr.outputs()[0]!;
    assert.equal(tr.outSide, Side.Ipv6);
    assert.equal(o[40], 3);
    assert.equal(l4ChecksumProblem(o, parseOutput(o) as Parsed), null);
  });

  test("no ICMP error about an ICMP error", () => {
    const tr = new SiitTranslator(cfg);
    const q = ipv4Packet("192.0.2.33", "198.51.100.2", { proto: 17, payload: bytes(10) });
    const p = ipv4Packet(
      "198.51.100.2",
      "192.0.2.33",
      { proto: 1, icmpType: 3, icmpCode: 3, icmpRest: 0, payload: q },
      1,
    );
    assert.equal(tr.translate(p), Verdict.Drop);
    assert.equal(tr.lastReason, DropReason.HopLimitExceeded);
  });

  test("Routing header with Segments Left ≠ 0 → Parameter Problem pointing at it (RFC 7915 §5.1)", () => {
    const tr = new SiitTranslator(cfg);
    const base = ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(8) });
    const p = new Uint8Array(base.length + 24);
    p.set(base.subarray(0, 40));
    p[6] = 43;
    write16(p, 4, base.length - 40 + 24);
    p.set([17, 2, 0, 1, 0, 0, 0, 0], 40); // type 0, segments left 1, one address
    p.set(base.subarray(40), 64);
    assert.equal(tr.translate(p), Verdict.IcmpReply);
    const o = tr.outputs()[0]!;
    assert.equal(o[40], 4);
    assert.equal(o[41], 0);
    assert.equal(read16(o, 46), 43, "pointer to Segments Left");
  });

  test("unexpired LSRR → ICMPv4 3/5 (RFC 7915 §4.1)", () => {
    const tr = new SiitTranslator(cfg);
    const base = ipv4Packet("198.51.100.2", "192.0.2.33", { proto: 17, payload: bytes(8) });
    const p = new Uint8Array(base.length + 8);
    p.set(base.subarray(0, 20));
    p[0] = 0x47;
    write16(p, 2, p.length);
    p.set([131, 7, 4, 1, 2, 3, 4, 0], 20); // LSRR len 7 pointer 4: unexpired
    p.set(base.subarray(20), 28);
    p[10] = 0;
    p[11] = 0;
    write16(p, 10, finish(sum16(p, 0, 28, 0)));
    assert.equal(tr.translate(p), Verdict.IcmpReply);
    const o = tr.outputs()[0]!;
    assert.equal(o[20], 3);
    assert.equal(o[21], 5);
  });

  test("bad IPv4 header checksum and ND messages are dropped and counted", () => {
    const tr = new SiitTranslator(cfg);
    const p = ipv4Packet("198.51.100.2", "192.0.2.33", { proto: 17, payload: bytes(8) });
    p[10]! ^= 0xff;
    assert.equal(tr.translate(p), Verdict.Drop);
    assert.equal(tr.lastReason, DropReason.BadIpv4HeaderChecksum);
    const ns = ipv6Packet(v6host, v4peer6, { proto: 58, icmpType: 135, payload: bytes(16) });
    assert.equal(tr.translate(ns), Verdict.Drop);
    assert.equal(tr.lastReason, DropReason.IcmpUntranslatable);
    assert.equal(tr.dropCounters[DropReason.IcmpUntranslatable], 1);
  });

  test("untranslatable addresses are dropped (no pool6, no EAM)", () => {
    const tr = new SiitTranslator({ ...cfg, pool6: null });
    const p = ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(8) });
    assert.equal(tr.translate(p), Verdict.Drop);
    assert.equal(tr.lastReason, DropReason.Untranslatable);
  });

  test("icmpOnUntranslatable answers instead of dropping silently", () => {
    const tr = new SiitTranslator({ ...cfg, pool6: null, icmpOnUntranslatable: true });
    // destination untranslatable → ICMPv6 1/0; source untranslatable → 1/1
    assert.equal(
      tr.translate(ipv6Packet("2001:db8:3::8", v4peer6, { proto: 17, payload: bytes(8) })),
      Verdict.IcmpReply,
    );
    assert.deepEqual([...tr.outputs()[0]!.subarray(40, 42)], [1, 0]);
    assert.equal(
      tr.translate(ipv6Packet(v6host, "2001:db8:3::9", { proto: 17, payload: bytes(8) })),
      Verdict.IcmpReply,
    );
    assert.deepEqual([...tr.outputs()[0]!.subarray(40, 42)], [1, 1]);
    // IPv4 side: destination without mapping → 3/1
    assert.equal(
      tr.translate(ipv4Packet("1.0.0.8", "192.0.2.33", { proto: 17, payload: bytes(8) })),
      Verdict.IcmpReply,
    );
    assert.deepEqual([...tr.outputs()[0]!.subarray(20, 22)], [3, 1]);
  });

  test("6→4 packets that leave DF clear are fragmented for a small IPv4 link (RFC 791 §3.2)", () => {
    const tr = new SiitTranslator({ ...cfg, ipv4LinkMtu: 576 }, { nextIpv4Id: () => 0x4242 });
    const p = ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(1000) });
    assert.equal(tr.translate(p), Verdict.Translated);
    const outs = tr.outputs();
    assert.equal(outs.length, 2);
    assert.deepEqual(
      outs.map((o) => [o.length, read16(o, 4), read16(o, 6)]),
      [
        [572, 0x4242, 0x2000],
        [20 + 1008 - 552, 0x4242, 552 / 8],
      ],
    );
    for (const o of outs) assert.equal(typeof parseOutput(o), "object");
    // bigger than 1260 → DF would be set: Packet Too Big with MTU 1280 instead
    assert.equal(
      tr.translate(ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(1300) })),
      Verdict.IcmpReply,
    );
    assert.equal(read16(tr.outputs()[0]!, 46), 1280);
  });

  test("6→4 without DF takes its Identification from the generator", () => {
    let n = 0x1230;
    const tr = new SiitTranslator(cfg, { nextIpv4Id: () => ++n });
    assert.equal(
      tr.translate(ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(8) })),
      Verdict.Translated,
    );
    assert.equal(read16(tr.outputs()[0]!, 4), 0x1231);
  });

  test("a mapper that also rewrites ports (the NAT64 plug-in point) keeps checksums valid", () => {
    const siit = new SiitAddressMapper(compileSiitConfig(cfg).pool6, compileSiitConfig(cfg).eamt, false);
    const napt: AddressMapper = {
      map6to4(inp, s6, d6, out, s4, d4, flow: Flow) {
        const r = siit.map6to4(inp, s6, d6, out, s4, d4, flow);
        if (r === MAP_OK && flow.hasPorts) flow.srcPort = 61000; // pretend a BIB entry said so
        return r;
      },
      map4to6: (inp, s4, d4, out, s6, d6, flow) => siit.map4to6(inp, s4, d4, out, s6, d6, flow),
      isHairpin4: () => false,
    };
    const tr = new SiitTranslator(cfg, { mapper: napt });
    for (const proto of [6, 17, 58]) {
      assert.equal(
        tr.translate(ipv6Packet(v6host, v4peer6, { proto, payload: bytes(30) })),
        Verdict.Translated,
      );
      const o = tr.outputs()[0]!;
      assert.equal(read16(o, proto === 58 ? 24 : 20), 61000, `proto ${proto}: port/identifier rewritten`);
      assert.equal(l4ChecksumProblem(o, parseOutput(o) as Parsed), null, `proto ${proto}`);
    }
  });
});

describe("shared by both directions: RFC 6791 sources, RFC 4884 lengths, quoted packets", () => {
  const cfg = baseSiitConfig();
  const v6host = "2001:db8:1c0:2:21::"; // 192.0.2.33
  const v4peer6 = "2001:db8:1c6:3364:2::"; // 198.51.100.2
  /** The RFC 1071 sum of an address's 16-bit words, folded (this test's own). */
  const words = (a: Uint8Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i += 2) s += (a[i]! << 8) | a[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return s;
  };

  test("rfc6791Source: the pool address the key picks, else the own address, else none", () => {
    const pool = new Uint8Array([203, 0, 113, 8, 203, 0, 113, 9, 203, 0, 113, 10]);
    const out = new Uint8Array(4);
    for (const [key, last] of [
      [0, 8],
      [4, 9],
      [5, 10],
    ] as const) {
      assert.equal(rfc6791Source(pool, null, 4, key, out, 0), true);
      assert.deepEqual(out, addr4(`203.0.113.${last}`));
    }
    assert.equal(rfc6791Source(new Uint8Array(0), addr4("198.51.100.1"), 4, 7, out, 0), true);
    assert.deepEqual(out, addr4("198.51.100.1"));
    assert.equal(rfc6791Source(new Uint8Array(0), null, 4, 7, out, 0), false);
    const out6 = new Uint8Array(16);
    const pool6 = new Uint8Array([...addr6("2001:db8:ffff::1"), ...addr6("2001:db8:ffff::2")]);
    assert.equal(rfc6791Source(pool6, null, 16, 3, out6, 0), true);
    assert.deepEqual(out6, addr6("2001:db8:ffff::2"));
  });

  test("an ICMPv6 error from an untranslatable router gets the RFC 6791 address its source picks", () => {
    const tr = new SiitTranslator({
      ...cfg,
      rfc6791Pool: { ipv4: [addressOf("203.0.113.8"), addressOf("203.0.113.9")], ipv6: [] },
    });
    const quoted = ipv6Packet(v6host, v4peer6, { proto: 17, payload: bytes(20) });
    for (const router of ["2001:db8:ffff::1", "2001:db8:ffff::2"]) {
      const err = ipv6Packet(router, v6host, {
        proto: 58,
        icmpType: 1,
        icmpCode: 4,
        icmpRest: 0,
        payload: quoted,
      });
      assert.equal(tr.translate(err), Verdict.Translated, router);
      const o = tr.outputs()[0]!;
      const pick = words(addr6(router)) % 2;
      assert.deepEqual(o.subarray(12, 16), addr4(`203.0.113.${8 + pick}`), router);
      assert.equal(l4ChecksumProblem(o, parseOutput(o) as Parsed), null);
    }
  });

  test("RFC 4884: a length field beyond the payload drops the error; 0 or the whole payload means none", () => {
    assert.equal(originalDatagramLength(0, 100), 0);
    assert.equal(originalDatagramLength(100, 100), 0);
    assert.equal(originalDatagramLength(128, 200), 128);
    assert.equal(originalDatagramLength(132, 128), -1);
    const tr = new SiitTranslator(cfg);
    const quoted = ipv4Packet("192.0.2.33", "198.51.100.2", { proto: 17, payload: bytes(100) });
    // 3/3 with an ICMPv4 length (RFC 4884 §4.1, 32-bit words, byte 5) of 40 words: 160 bytes > 128.
    const err = ipv4Packet("198.51.100.2", "192.0.2.33", {
      proto: 1,
      icmpType: 3,
      icmpCode: 3,
      icmpRest: 40 << 16,
      payload: quoted,
    });
    assert.equal(tr.translate(err), Verdict.Drop);
    assert.equal(tr.lastReason, DropReason.BadIcmpExtension);
  });

  test("a quoted packet whose address has no mapping makes a bad error, never an ICMP reply (RFC 7915 §5.3)", () => {
    const tr = new SiitTranslator({ ...cfg, icmpOnUntranslatable: true });
    // The quoted packet went to an IPv6 address outside pool6 and the EAMT.
    const quoted = ipv6Packet(v6host, "2001:db8:ffff::9", { proto: 17, payload: bytes(20) });
    const err = ipv6Packet(v4peer6, v6host, {
      proto: 58,
      icmpType: 1,
      icmpCode: 4,
      icmpRest: 0,
      payload: quoted,
    });
    assert.equal(tr.translate(err), Verdict.Drop);
    assert.equal(tr.lastReason, DropReason.BadInnerPacket);
  });
});
