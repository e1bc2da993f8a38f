/**
 * TUN segmentation and checksum offload (src/datapath/tun/offload.ts and the
 * translator's csumPartial / gsoSize handling): software segmentation against
 * an independent model, completing a partial checksum, equivalence of the
 * partial and super-packet paths with the plain one (both directions, SIIT and
 * NAT64), and a fuzz of the offload flags.
 *
 * Every checksum here is computed by the helpers of packets.ts (never by the
 * code under test). "Completing" a partial checksum is modelled on a device
 * (RFC 1071: ones' complement of the sum over [csum_start, end); RFC 768: a
 * UDP checksum that comes out 0 is sent as 0xffff).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Nat64Config, Nat64Translator } from "../../../src/datapath/nat64/translator.ts";
import { gsoKeepsWhole } from "../../../src/datapath/siit/fastpath.ts";
import { type IcmpRate, IcmpRateLimit } from "../../../src/datapath/siit/icmpRate.ts";
import { DropReason, type SiitConfig, SiitTranslator, Verdict } from "../../../src/datapath/siit/index.ts";
import {
  completeChecksum,
  l4Offset,
  segmentTcp,
  segmentUdp,
  shortTail,
  splitTail,
  tcpOffset,
} from "../../../src/datapath/tun/offload.ts";
import { addressOf, prefixOf } from "../../../src/util/net.ts";
import {
  client6,
  deviceComplete,
  fill,
  fin,
  fold,
  hex,
  type Ip,
  ipPacket,
  ipv4HeaderOk,
  l4Of,
  l4Ok,
  maskId,
  nat64Addr,
  partialOf,
  protoOf,
  pseudo,
  r16,
  r32,
  SIIT_CFG,
  seedOf,
  sum,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  tcpBytes,
  udpBytes,
  v4,
  w16,
  wkp,
} from "./packets.ts";

// ------------------------------------------------------------------ own helpers

type Arb<A> = A extends fc.Arbitrary<infer T> ? T : never;

// ------------------------------------------------------------------ translators

function nat64Cfg(over: Partial<Nat64Config> = {}): Nat64Config {
  return {
    pool6: prefixOf("2001:db8:64::/96"),
    pool4: [{ first: 0xc6336401, last: 0xc6336408, portMin: 1024, portMax: 65535 }], // 198.51.100.1-8
    timeouts: { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 },
    siit: {
      ownIpv4: addressOf("198.51.100.1"),
      ownIpv6: addressOf("2001:db8:64::c633:6401"),
      ipv4LinkMtu: 1500,
      ipv6LinkMtu: 1500,
    },
    ...over,
  };
}

interface Out {
  v: number;
  reason: number;
  outs: Uint8Array[];
  partial: boolean;
  start: number;
  offset: number;
}

/** Either translator behind one face: translate with the given offload flags and copy what came out. */
interface Xl {
  siit: SiitTranslator;
  run(p: Uint8Array, flags?: { partial?: boolean; start?: number; offset?: number; gso?: number }): Out;
}

function wrapSiit(t: SiitTranslator): Xl {
  return {
    siit: t,
    run(p, f = {}) {
      const ctx = t.ctx;
      ctx.csumPartial = f.partial ?? false;
      ctx.csumStart = f.start ?? 0;
      ctx.csumOffset = f.offset ?? 0;
      ctx.gsoSize = f.gso ?? 0;
      const v = t.translate(p, p.length);
      return {
        v,
        reason: t.lastReason,
        outs: t.outputs(),
        partial: ctx.csumPartial,
        start: ctx.csumStart,
        offset: ctx.csumOffset,
      };
    },
  };
}
/** A stateful translator whose IPv4 IDs count 1, 2, 3, ... (two of them translate the same packets alike). */
/** The one output of a super-packet translated whole, its partial checksum at `offset` of its own transport header. */
function keptWhole(w: ReturnType<Xl["run"]>, offset: number): Uint8Array {
  assert.equal(w.v, Verdict.Translated, `reason ${w.reason}`);
  assert.equal(w.outs.length, 1);
  assert.equal(w.partial, true);
  const o = w.outs[0]!;
  assert.equal(w.start, l4Of(o));
  assert.equal(w.offset, offset);
  return o;
}
function natWithIds(): Xl {
  let id = 0;
  return wrapNat(new Nat64Translator(nat64Cfg({ nextIpv4Id: () => (id = (id + 1) & 0xffff) })));
}
function wrapNat(t: Nat64Translator): Xl {
  return {
    get siit() {
      return t.siit;
    },
    run(p, f = {}) {
      const ctx = t.siit.ctx;
      ctx.csumPartial = f.partial ?? false;
      ctx.csumStart = f.start ?? 0;
      ctx.csumOffset = f.offset ?? 0;
      ctx.gsoSize = f.gso ?? 0;
      const before = t.siit.dropCounters[DropReason.Offload]!;
      const v = t.translate(p, p.length, 1000);
      assert.equal(t.internalErrors, 0, "Nat64Translator caught an exception");
      const offl = t.siit.dropCounters[DropReason.Offload]! > before;
      return {
        v,
        reason: v === Verdict.Drop ? (offl ? DropReason.Offload : 1000 + t.lastDrop) : t.siit.lastReason,
        outs: t.outputs(),
        partial: ctx.csumPartial,
        start: ctx.csumStart,
        offset: ctx.csumOffset,
      };
    },
  };
}

/**
 * Translates `plain` with the offload flags off, then its partial-checksum
 * twin with csumPartial set, on the same translator (whose IPv4 ID source is
 * constant, so both calls write the same Identification), and checks they
 * agree byte for byte once the device has completed the partial output.
 */
function checkPartialEquivalence(x: Xl, plain: Uint8Array, trail = 0): Out {
  const junk = fill(trail, 77);
  const a = x.run(Buffer.concat([plain, junk]));
  assert.equal(a.partial, false);
  const proto = protoOf(plain);
  const start = l4Of(plain);
  const offset = proto === 6 ? 16 : 6;
  const b = x.run(Buffer.concat([partialOf(plain), junk]), { partial: true, start, offset });
  assert.equal(b.v, a.v, "verdict");
  assert.equal(b.reason, a.reason, "reason");
  assert.equal(b.outs.length, a.outs.length, "output count");
  if (b.v === Verdict.Translated && b.partial) {
    // Kept partial (fast path): one output whose checksum field holds the output's own seed.
    assert.equal(b.outs.length, 1);
    const o = b.outs[0]!;
    assert.equal(b.start, l4Of(o), "ctx.csumStart describes the output");
    assert.equal(b.offset, offset, "ctx.csumOffset");
    assert.equal(r16(o, b.start + b.offset), seedOf(o), "output holds its pseudo-header seed");
    deviceComplete(o, b.start, b.offset, proto);
  }
  for (let i = 0; i < a.outs.length; i++) assert.equal(hex(b.outs[i]!), hex(a.outs[i]!), `output ${i}`);
  return a;
}

/** ICMPv4/ICMPv6 error well-formed: header and ICMP checksums verify, and the quoted packet is `quoted`'s prefix. */
function checkIcmpError(e: Uint8Array, quoted: Uint8Array): void {
  if (e[0]! >>> 4 === 4) {
    assert.ok(ipv4HeaderOk(e), "ICMPv4 error: header checksum");
    assert.equal(r16(e, 2), e.length);
    assert.equal(e[9], 1);
    assert.equal(fin(sum(e, 20, e.length - 20)), 0, "ICMPv4 checksum");
    assert.equal(hex(e.subarray(28)), hex(quoted.subarray(0, e.length - 28)), "quoted packet");
  } else {
    assert.equal(r16(e, 4), e.length - 40);
    assert.equal(e[6], 58);
    const ps = sum(e, 8, 32) + 58 + (e.length - 40);
    assert.equal(fin(sum(e, 40, e.length - 40, ps)), 0, "ICMPv6 checksum");
    assert.equal(hex(e.subarray(48)), hex(quoted.subarray(0, e.length - 48)), "quoted packet");
  }
}

// ------------------------------------------------------------------ 1. segmentTcp

/**
 * A segmenter (proto 6: l4Offset and segmentTcp; 17: segmentUdp) on arbitrary bytes, lengths,
 * offsets and output sizes: -1 or segments inside `out`, never a throw.
 */
function fuzzSegmenter(proto: 6 | 17): void {
  const cut = proto === 6 ? segmentTcp : segmentUdp;
  const min = proto === 6 ? 20 : 8;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.integer({ min: 0, max: 8 }),
      fc.integer({ min: 0, max: 320 }),
      fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
      fc.integer({ min: -3, max: 400 }),
      fc.integer({ min: 0, max: 600 }),
      fc.integer({ min: 0, max: 8 }),
      fc.constantFrom(0, 4, 6),
      (bytes, at, lenRaw, l4Raw, mss, outLen, slots, force) => {
        const b = new Uint8Array(bytes);
        if (force !== 0 && b.length > at) b[at] = (force << 4) | (b[at]! & 0x0f);
        const len = Math.min(lenRaw, Math.max(0, b.length - at));
        const found = l4Offset(b, at, len, proto);
        assert.ok(found === -1 || (found >= 20 && found + min <= len), `l4Offset ${found}`);
        const l4 = l4Raw ?? found;
        if (l4 < 0) return;
        const out = new Uint8Array(outLen);
        const offs = new Int32Array(slots);
        const lens = new Int32Array(slots);
        const k = cut(b, at, len, l4, mss, out, offs, lens);
        assert.ok(k === -1 || (k >= 1 && k <= slots), `segments ${k}`);
        for (let i = 0; i < k; i++)
          assert.ok(offs[i]! >= 0 && offs[i]! + lens[i]! <= outLen, "segment inside out");
      },
    ),
    { numRuns: 1500 },
  );
}

describe("segmentTcp (software GSO, as the kernel's tcp_gso_segment)", () => {
  const spec = fc.record({
    v: fc.constantFrom<4 | 6>(4, 6),
    opt: fc.integer({ min: 0, max: 2 }), // IPv4 options of 4k bytes / an IPv6 Destination Options header of 8k
    topts: fc.integer({ min: 0, max: 10 }).map((k) => 4 * k),
    payload: fc.oneof(fc.integer({ min: 0, max: 20000 }), fc.integer({ min: 0, max: 64 })),
    seed: fc.integer(),
    mss: fc.oneof(fc.integer({ min: 1, max: 1460 }), fc.integer({ min: 1, max: 16 })),
    flags: fc.integer({ min: 0, max: 255 }),
    id: fc.integer({ min: 0, max: 0xffff }),
    df: fc.boolean(),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    at: fc.integer({ min: 0, max: 7 }),
  });

  function build(s: Arb<typeof spec>): Uint8Array {
    const ip: Ip =
      s.v === 4
        ? { v: 4, src: v4(192, 0, 2, 1), dst: v4(198, 51, 100, 9), id: s.id, df: s.df, opt: 4 * s.opt }
        : { v: 6, src: client6(7), dst: wkp(v4(203, 0, 113, 5)), opt: 8 * s.opt };
    const tcp = tcpBytes({
      sport: 40000,
      dport: 443,
      seq: s.seq,
      flags: s.flags,
      opts: s.topts,
      payload: fill(s.payload, s.seed),
    });
    return ipPacket(ip, 6, tcp);
  }

  it("cuts a super-packet into valid segments carrying the payload in order (IPv4 and IPv6)", () => {
    fc.assert(
      fc.property(spec, (s) => {
        const p = build(s);
        const buf = new Uint8Array(s.at + p.length);
        buf.set(p, s.at);
        const l4 = tcpOffset(buf, s.at, p.length);
        assert.equal(l4, l4Of(p));
        const hdr = l4 + 20 + s.topts;
        const n = Math.max(1, Math.ceil(s.payload / s.mss));
        const out = new Uint8Array(n * (hdr + 3) + s.payload);
        const offs = new Int32Array(n + 1);
        const lens = new Int32Array(n + 1);
        assert.equal(segmentTcp(buf, s.at, p.length, l4, s.mss, out, offs, lens), n);
        const payloads: Uint8Array[] = [];
        let end = 0;
        for (let i = 0; i < n; i++) {
          const chunk = Math.min(s.mss, s.payload - i * s.mss);
          assert.equal(offs[i]! % 4, 0);
          assert.ok(offs[i]! >= end, "segments do not overlap");
          assert.equal(lens[i], hdr + Math.max(0, chunk));
          const g = out.subarray(offs[i]!, offs[i]! + lens[i]!);
          end = offs[i]! + lens[i]!;
          if (s.v === 4) {
            assert.equal(r16(g, 2), g.length, "IPv4 total length");
            assert.equal(r16(g, 4), (s.id + i) & 0xffff, "IPv4 ID + i");
            assert.ok(ipv4HeaderOk(g), "IPv4 header checksum");
            // Everything else of the IP header is the super-packet's.
            for (const k of [0, 1, 6, 7, 8, 9]) assert.equal(g[k], p[k]);
            assert.equal(hex(g.subarray(12, l4)), hex(p.subarray(12, l4)));
          } else {
            assert.equal(r16(g, 4), g.length - 40, "IPv6 payload length");
            assert.equal(hex(g.subarray(0, 4)), hex(p.subarray(0, 4)));
            assert.equal(hex(g.subarray(6, l4)), hex(p.subarray(6, l4)));
          }
          const t = l4;
          assert.equal(r32(g, t + 4), (s.seq + i * s.mss) >>> 0, "sequence number");
          let f = s.flags;
          if (i < n - 1) f &= ~(TCP_FIN | TCP_PSH);
          if (i > 0) f &= ~TCP_CWR;
          assert.equal(g[t + 13], f, `flags of segment ${i}/${n}`);
          assert.equal(hex(g.subarray(t, t + 4)), hex(p.subarray(t, t + 4)));
          assert.equal(hex(g.subarray(t + 8, t + 13)), hex(p.subarray(t + 8, t + 13)));
          assert.equal(hex(g.subarray(t + 14, t + 16)), hex(p.subarray(t + 14, t + 16)));
          assert.equal(hex(g.subarray(t + 18, hdr)), hex(p.subarray(t + 18, hdr)));
          assert.ok(l4Ok(g), "TCP checksum of the segment");
          payloads.push(g.subarray(hdr));
        }
        assert.equal(hex(Buffer.concat(payloads)), hex(p.subarray(hdr)), "payload in order");

        // Too small an output area or too few slots, mss <= 0: refused, nothing thrown.
        assert.equal(segmentTcp(buf, s.at, p.length, l4, s.mss, out.subarray(0, end - 1), offs, lens), -1);
        assert.equal(
          segmentTcp(buf, s.at, p.length, l4, s.mss, out, offs.subarray(0, n - 1), lens.subarray(0, n - 1)),
          -1,
        );
        assert.equal(segmentTcp(buf, s.at, p.length, l4, 0, out, offs, lens), -1);
        assert.equal(segmentTcp(buf, s.at, p.length, l4, -s.mss, out, offs, lens), -1);
        // Malformed: TCP data offset below 5 words, header beyond the packet, truncated.
        const bad = buf.slice();
        bad[s.at + l4 + 12] = (bad[s.at + l4 + 12]! & 0x0f) | (((s.flags & 3) + 1) << 4);
        assert.equal(segmentTcp(bad, s.at, p.length, l4, s.mss, out, offs, lens), -1);
        assert.equal(segmentTcp(buf, s.at, hdr - 1, l4, s.mss, out, offs, lens), -1);
        assert.equal(segmentTcp(buf, s.at, l4 + 19, l4, s.mss, out, offs, lens), -1);
      }),
      { numRuns: 150 },
    );
  });

  it("never throws on arbitrary bytes, lengths and offsets (tcpOffset and segmentTcp)", () => {
    fuzzSegmenter(6);
  });
});

// ------------------------------------------------------------------ 2. completeChecksum

describe("completeChecksum (what a device does with CHECKSUM_PARTIAL)", () => {
  it("turns a pseudo-header seed back into the packet's checksum (TCP, UDP; IPv4, IPv6; any alignment)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<4 | 6>(4, 6),
        fc.constantFrom(6, 17),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer(),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (v, proto, n, seed, at, addr) => {
          const src = v === 4 ? v4(192, 0, 2, addr & 0xff) : client6(addr);
          const dst = v === 4 ? v4(198, 51, 100, addr >>> 24) : wkp(v4(203, 0, 113, addr >>> 24));
          const payload = fill(n, seed);
          const l4 =
            proto === 6
              ? tcpBytes({ sport: addr & 0xffff, dport: 80, seq: addr, flags: TCP_ACK, payload })
              : udpBytes(addr & 0xffff, 53, payload);
          const p = ipPacket({ v, src, dst }, proto, l4);
          const start = l4Of(p);
          const offset = proto === 6 ? 16 : 6;
          const buf = new Uint8Array(at + p.length + 5);
          buf.set(partialOf(p), at);
          buf.fill(0xee, at + p.length); // bytes after the packet are not summed
          assert.equal(completeChecksum(buf, at, p.length, start, offset), true);
          const got = r16(buf, at + start + offset);
          const want = r16(p, start + offset);
          // The only allowed difference: a computed 0 goes out as 0xffff (the same in ones' complement).
          if (want === 0) assert.equal(got, 0xffff);
          else assert.equal(got, want);
          assert.ok(l4Ok(buf.subarray(at, at + p.length)), "completed checksum verifies");
          assert.equal(hex(buf.subarray(at + p.length)), "eeeeeeeeee");
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a TCP checksum that computes to 0 is written as 0xffff, and still verifies", () => {
    // Choose the last payload word so that the full sum folds to 0xffff (checksum 0x0000).
    const l4 = tcpBytes({ sport: 1234, dport: 80, seq: 99, flags: TCP_ACK, payload: new Uint8Array(10) });
    const p = ipPacket({ v: 6, src: client6(1), dst: wkp(v4(203, 0, 113, 1)) }, 6, l4);
    w16(p, 56, 0);
    w16(p, p.length - 2, 0);
    const s = fold(sum(p, 40, p.length - 40, pseudo(p)));
    w16(p, p.length - 2, 0xffff - s);
    assert.equal(fin(sum(p, 40, p.length - 40, pseudo(p))), 0);
    assert.equal(r16(p, 56), 0, "this packet's checksum is 0x0000");
    const q = partialOf(p);
    assert.ok(completeChecksum(q, 0, q.length, 40, 16), "completed");
    assert.equal(r16(q, 56), 0xffff);
    assert.ok(l4Ok(q), "0xffff verifies");
  });

  it("writes nothing when the offsets do not fit the packet", () => {
    const p = ipPacket(
      { v: 4, src: v4(192, 0, 2, 1), dst: v4(198, 51, 100, 1) },
      17,
      udpBytes(1, 2, fill(3, 5)),
    );
    const q = p.slice();
    assert.equal(completeChecksum(q, 0, q.length, 20, q.length - 20 - 1), false);
    assert.equal(completeChecksum(q, 0, q.length, -1, 6), false);
    assert.equal(completeChecksum(q, 0, q.length, 20, -2), false);
    assert.equal(completeChecksum(q, 0, q.length, q.length, 0), false);
    assert.equal(hex(q), hex(p));
  });
});

// ------------------------------------------------------------------ 3. partial checksum translation

const pktSpec = fc.record({
  proto: fc.constantFrom(6, 17),
  payload: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 40 })),
  seed: fc.integer(),
  sport: fc.integer({ min: 1, max: 0xffff }),
  dport: fc.integer({ min: 1, max: 0xffff }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  flags: fc.constantFrom(
    TCP_ACK,
    TCP_ACK | TCP_PSH,
    TCP_ACK | TCP_FIN,
    TCP_ACK | TCP_CWR,
    TCP_RST,
    TCP_ACK | 0x40,
  ),
  topts: fc.constantFrom(0, 4, 12, 40),
  ttl: fc.oneof(fc.constant(64), fc.integer({ min: 0, max: 255 })),
  tos: fc.integer({ min: 0, max: 255 }),
  df: fc.boolean(),
  ext: fc.constantFrom(0, 0, 0, 8),
  host: fc.integer({ min: 1, max: 254 }),
  /** Bytes after the IP packet (the IP length fields rule, RFC 791 / RFC 8200). */
  trail: fc.constantFrom(0, 0, 0, 1, 3),
});
type PktSpec = Arb<typeof pktSpec>;

/**
 * An ICMP error rate that never refuses, for the tests that compare two runs of one packet on one
 * translator: with the default bucket (50, then 1000/s) the first run of a packet that draws an
 * error (a hop limit of 0 or 1, a packet too big) can take the last token and its twin be dropped.
 */
const UNLIMITED_RATE: IcmpRate = { perSecond: 1e12, burst: 1e12 };
const UNLIMITED = () => new IcmpRateLimit(UNLIMITED_RATE);

function l4For(s: PktSpec, sport = s.sport, dport = s.dport): Uint8Array {
  const payload = fill(s.payload, s.seed);
  return s.proto === 6
    ? tcpBytes({ sport, dport, seq: s.seq, flags: s.flags, opts: s.topts, payload })
    : udpBytes(sport, dport, payload);
}

describe("partial checksums through the translators (csumPartial)", () => {
  it("SIIT 6→4 and 4→6: partial in, completed out == plain in, plain out", () => {
    // Both runs of a packet must see the same verdict: no ICMP error rate limit in between.
    const x = wrapSiit(new SiitTranslator(SIIT_CFG, { nextIpv4Id: () => 0x1234, icmpRate: UNLIMITED() }));
    const seen = new Set<string>();
    fc.assert(
      fc.property(pktSpec, fc.boolean(), (s, six) => {
        const a4 = v4(198, 51, 100, s.host);
        const b4 = v4(203, 0, 113, 255 - s.host);
        const p = six
          ? ipPacket(
              { v: 6, src: wkp(a4), dst: wkp(b4), ttl: s.ttl, tos: s.tos, opt: s.ext },
              s.proto,
              l4For(s),
            )
          : ipPacket(
              { v: 4, src: b4, dst: a4, ttl: s.ttl, tos: s.tos, df: s.df, id: s.seed & 0xffff },
              s.proto,
              l4For(s),
            );
        const a = checkPartialEquivalence(x, p, s.trail);
        seen.add(`${a.v}/${a.outs.length > 1 ? "frag" : ""}`);
        for (const o of a.outs) if (a.v === Verdict.IcmpReply) checkIcmpError(o, p);
      }),
      { numRuns: 500 },
    );
    // The run went through translation, fragmentation and ICMP errors (not only the fast path).
    assert.ok(seen.has(`${Verdict.Translated}/`) && seen.has(`${Verdict.Translated}/frag`), [...seen].join());
    assert.ok(seen.has(`${Verdict.IcmpReply}/`), [...seen].join());
  });

  it("NAT64 6→4 (session created by the packet or a SYN) and 4→6 (existing session)", () => {
    const nat = new Nat64Translator(nat64Cfg({ nextIpv4Id: () => 0x4321, icmpRate: UNLIMITED_RATE }));
    const x = wrapNat(nat);
    let k = 0;
    fc.assert(
      fc.property(pktSpec, fc.boolean(), (s, six) => {
        k++;
        const c6 = client6(0x1000 + k);
        const srv4 = v4(203, 0, 113, s.host);
        // Open the session: a SYN (TCP) or this flow's first datagram (UDP), plain.
        const open = ipPacket(
          { v: 6, src: c6, dst: nat64Addr(srv4) },
          s.proto,
          s.proto === 6
            ? tcpBytes({ sport: s.sport, dport: s.dport, seq: 1, flags: TCP_SYN, payload: new Uint8Array(0) })
            : udpBytes(s.sport, s.dport, new Uint8Array(4)),
        );
        const o = x.run(open);
        assert.equal(o.v, Verdict.Translated);
        const out = o.outs[0]!;
        const m4 = out.subarray(12, 16).slice();
        const mport = r16(out, 20);
        const p = six
          ? ipPacket(
              { v: 6, src: c6, dst: nat64Addr(srv4), ttl: s.ttl, tos: s.tos, opt: s.ext },
              s.proto,
              l4For(s),
            )
          : ipPacket(
              { v: 4, src: srv4, dst: m4, ttl: s.ttl, tos: s.tos, df: s.df, id: s.seed & 0xffff },
              s.proto,
              l4For(s, s.dport, mport),
            );
        const a = checkPartialEquivalence(x, p, s.trail);
        for (const e of a.outs) if (a.v === Verdict.IcmpReply) checkIcmpError(e, p);
      }),
      { numRuns: 300 },
    );
    assert.equal(nat.internalErrors, 0);
  });

  it("a partial checksum elsewhere than the outer transport header (a tunnelled packet's own) is honoured", () => {
    // The kernel's csum_start may point past the outer header (e.g. the inner TCP of a
    // UDP-encapsulated packet, whose outer UDP checksum was computed as if the inner one
    // were complete). The input then stands for the packet with that checksum completed.
    const x = wrapSiit(new SiitTranslator(SIIT_CFG, { nextIpv4Id: () => 0x55 }));
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 8, max: 200 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 90 }),
        fc.integer({ min: 1, max: 0xfffe }),
        fc.integer(),
        (six, inner, at, field, x0, seed) => {
          const payload = fill(inner + at + 100, seed);
          const a4 = v4(198, 51, 100, 1);
          const b4 = v4(203, 0, 113, 1);
          const ip: Ip = six ? { v: 6, src: wkp(a4), dst: wkp(b4) } : { v: 4, src: b4, dst: a4, df: true };
          let p = ipPacket(ip, 17, udpBytes(4789, 4789, payload));
          const start = l4Of(p) + 8 + at; // the inner region: [start, end)
          const offset = 2 * Math.min(field >>> 1, (p.length - start - 2) >>> 1);
          // The completed inner checksum for seed x0: ~(sum of the region without the field + x0).
          w16(p, start + offset, 0);
          const c = fin(sum(p, start, p.length - start) + x0);
          fc.pre(c !== 0);
          w16(p, start + offset, c);
          p = ipPacket(ip, 17, p.subarray(l4Of(p))); // the outer UDP checksum, over the completed packet
          const q = p.slice();
          w16(q, start + offset, x0);
          const a = x.run(p);
          const b = x.run(q, { partial: true, start, offset });
          assert.equal(a.v, Verdict.Translated);
          assert.equal(b.v, a.v);
          const o = b.outs[0]!;
          if (b.partial) deviceComplete(o, b.start, b.offset, 6);
          assert.equal(hex(o), hex(a.outs[0]!));
          assert.ok(l4Ok(o), "outer UDP checksum");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("after a fast-path refusal the packet is completed first: same verdict and outputs as the plain packet", () => {
    const small = { ...SIIT_CFG, ipv4LinkMtu: 1400, ipv6LinkMtu: 1400 };
    const x = wrapSiit(new SiitTranslator(small, { nextIpv4Id: () => 7 }));
    const a4 = v4(198, 51, 100, 20);
    const b4 = v4(203, 0, 113, 30);
    const tcp = (n: number) =>
      tcpBytes({ sport: 5000, dport: 80, seq: 5, flags: TCP_ACK, payload: fill(n, n) });
    const cases: [string, Uint8Array, number, number][] = [
      // [what, plain packet, expected verdict, expected output count]
      [
        "6→4 bigger than ipv4LinkMtu (PTB)",
        ipPacket({ v: 6, src: wkp(a4), dst: wkp(b4) }, 6, tcp(1420)),
        Verdict.IcmpReply,
        1,
      ],
      [
        "4→6 DF, IPv6 image > ipv6LinkMtu (frag needed)",
        ipPacket({ v: 4, src: b4, dst: a4, df: true }, 6, tcp(1350)),
        Verdict.IcmpReply,
        1,
      ],
      [
        "4→6 no DF, > lowestIpv6Mtu (fragments)",
        ipPacket({ v: 4, src: b4, dst: a4, id: 9 }, 6, tcp(1300)),
        Verdict.Translated,
        2,
      ],
      [
        "6→4 hop limit 1 (time exceeded)",
        ipPacket({ v: 6, src: wkp(a4), dst: wkp(b4), ttl: 1 }, 17, udpBytes(1, 2, fill(30, 1))),
        Verdict.IcmpReply,
        1,
      ],
      [
        "4→6 with IPv4 options (general path)",
        ipPacket({ v: 4, src: b4, dst: a4, opt: 8, df: true }, 17, udpBytes(3, 4, fill(99, 2))),
        Verdict.Translated,
        1,
      ],
      [
        "6→4 with a Destination Options header",
        ipPacket({ v: 6, src: wkp(a4), dst: wkp(b4), opt: 8 }, 6, tcp(77)),
        Verdict.Translated,
        1,
      ],
    ];
    for (const [what, p, verdict, count] of cases) {
      const a = checkPartialEquivalence(x, p);
      assert.equal(a.v, verdict, what);
      assert.equal(a.outs.length, count, what);
      if (verdict === Verdict.IcmpReply) checkIcmpError(a.outs[0]!, p);
      // After the general path the flag is down: the caller writes a complete checksum.
      const b = x.run(partialOf(p), { partial: true, start: l4Of(p), offset: protoOf(p) === 6 ? 16 : 6 });
      assert.equal(b.partial, false, what);
      if (verdict === Verdict.Translated && count === 1) assert.ok(l4Ok(b.outs[0]!), what);
    }

    // Refused by the address mapping inside the fast path (icmpOnUntranslatable): same verdict,
    // a well-formed error. It quotes the packet as received, partial checksum included (only
    // its ICMP checksum covers it; quoted transport checksums are not verified by receivers).
    const y = wrapSiit(new SiitTranslator({ ...SIIT_CFG, icmpOnUntranslatable: true }));
    const un = ipPacket({ v: 6, src: wkp(a4), dst: client6(9) }, 6, tcp(100));
    const ua = y.run(un);
    const ub = y.run(partialOf(un), { partial: true, start: 40, offset: 16 });
    assert.equal(ua.v, Verdict.IcmpReply);
    assert.equal(ub.v, ua.v);
    assert.equal(ub.reason, ua.reason);
    checkIcmpError(ua.outs[0]!, un);
    checkIcmpError(ub.outs[0]!, partialOf(un));

    // A UDP "seed" of 0 (the fast path refuses a zero UDP checksum field): the general path
    // completes it, so the result is that of the packet carrying the completed checksum.
    for (const six of [true, false]) {
      const p = six
        ? ipPacket({ v: 6, src: wkp(a4), dst: wkp(b4) }, 17, udpBytes(7, 8, fill(50, 3)))
        : ipPacket({ v: 4, src: b4, dst: a4 }, 17, udpBytes(7, 8, fill(50, 3)));
      const z = p.slice();
      w16(z, l4Of(z) + 6, 0);
      const completed = z.slice();
      deviceComplete(completed, l4Of(z), 6, 17);
      const a = x.run(completed);
      const b = x.run(z, { partial: true, start: l4Of(z), offset: 6 });
      assert.equal(a.v, Verdict.Translated);
      assert.equal(b.v, a.v);
      assert.equal(b.partial, false);
      assert.equal(hex(b.outs[0]!), hex(a.outs[0]!));
    }
  });
});

// ------------------------------------------------------------------ 4. segmentation offload

const gsoSpec = fc.record({
  mss: fc.integer({ min: 1000, max: 1440 }),
  segs: fc.integer({ min: 3, max: 45 }),
  last: fc.integer({ min: 1, max: 1440 }), // payload of the last segment (capped at mss)
  topts: fc.constantFrom(0, 12),
  flags: fc.constantFrom(TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_PSH | TCP_FIN, TCP_ACK | TCP_CWR | 0x40),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  id: fc.integer({ min: 0, max: 0xffff }),
  tos: fc.integer({ min: 0, max: 255 }),
  seed: fc.integer(),
  host: fc.integer({ min: 1, max: 254 }),
});
type GsoSpec = Arb<typeof gsoSpec>;

/** p cut by segmentTcp (or, proto 17, segmentUdp) into segments of mss payload bytes. */
function segmentsOf(p: Uint8Array, mss: number, proto: 6 | 17 = 6): Uint8Array[] {
  const l4 = l4Offset(p, 0, p.length, proto);
  assert.ok(l4 > 0, "l4Offset");
  const out = new Uint8Array(p.length + 256 * 128);
  const offs = new Int32Array(256);
  const lens = new Int32Array(256);
  const n = (proto === 6 ? segmentTcp : segmentUdp)(p, 0, p.length, l4, mss, out, offs, lens);
  assert.ok(n > 0, "segmented");
  const r: Uint8Array[] = [];
  for (let i = 0; i < n; i++) r.push(out.slice(offs[i]!, offs[i]! + lens[i]!));
  return r;
}

/**
 * The super-packet translated whole (partial checksum, gsoSize = mss) then cut
 * by segmentTcp, against each software segment of the input translated alone
 * on a twin translator. Returns false when the fast path refused (checked to
 * be gsoKeepsWhole's prediction and counted as Offload).
 */
function checkGso(whole: Xl, single: Xl, p: Uint8Array, mss: number): boolean {
  const keeps = gsoKeepsWhole(whole.siit.cfg, p, 0, p.length, mss, 6);
  const before = whole.siit.dropCounters[DropReason.Offload]!;
  const w = whole.run(partialOf(p), { partial: true, start: l4Of(p), offset: 16, gso: mss });
  if (!keeps) {
    assert.equal(w.v, Verdict.Drop);
    assert.equal(w.reason, DropReason.Offload);
    assert.equal(whole.siit.dropCounters[DropReason.Offload], before + 1);
    return false;
  }
  const o = keptWhole(w, 16);
  // The whole output: its lengths are right and its field holds its own seed (full TCP length).
  if (o[0]! >>> 4 === 4) {
    assert.equal(r16(o, 2), o.length, "IPv4 total length of the super-packet");
    assert.ok(ipv4HeaderOk(o), "IPv4 header checksum of the super-packet");
  } else assert.equal(r16(o, 4), o.length - 40, "IPv6 payload length of the super-packet");
  assert.equal(r16(o, w.start + 16), seedOf(o));
  // "Complete the checksum first": the whole output then verifies as one packet.
  const done = o.slice();
  deviceComplete(done, w.start, 16, 6);
  assert.ok(l4Ok(done), "completed super-packet verifies");

  sameAsAlone(single, segmentsOf(o, mss), segmentsOf(p, mss));
  return true;
}

/**
 * The segments of a super-packet translated whole (`got`) against the input's segments
 * translated one by one on `single`.
 */
function sameAsAlone(single: Xl, got: Uint8Array[], inSegs: Uint8Array[]): void {
  assert.equal(got.length, inSegs.length);
  for (let i = 0; i < inSegs.length; i++) {
    const e = single.run(inSegs[i]!);
    assert.equal(e.v, Verdict.Translated, `segment ${i}: reason ${e.reason}`);
    assert.equal(e.outs.length, 1);
    const want = e.outs[0]!;
    const g = got[i]!;
    assert.equal(g.length, want.length, `segment ${i} length`);
    if (g[0]! >>> 4 === 4) {
      // Excluded on the 6→4 side: Identification (bytes 4-5) and so the header checksum
      // (10-11). Whole, one header is built and the segments get ID, ID+1, ... (as the
      // kernel's GSO does); alone, every segment takes its own ID from the translator
      // (0 under DF, RFC 7915 §5.1 / RFC 6864). Both header checksums are verified.
      assert.ok(ipv4HeaderOk(g) && ipv4HeaderOk(want), `segment ${i} header checksum`);
      assert.equal(r16(g, 4), (r16(got[0]!, 4) + i) & 0xffff);
      assert.equal(maskId(g), maskId(want), `segment ${i}/${inSegs.length}`);
    } else assert.equal(hex(g), hex(want), `segment ${i}/${inSegs.length}`);
  }
}

function superPacket(s: GsoSpec, ip: Ip, sport: number, dport: number): Uint8Array {
  const last = Math.min(s.last, s.mss);
  const payload = fill((s.segs - 1) * s.mss + last, s.seed);
  return ipPacket(ip, 6, tcpBytes({ sport, dport, seq: s.seq, flags: s.flags, opts: s.topts, payload }));
}

describe("segmentation offload (gsoSize): whole super-packet == its segments one by one", () => {
  it("SIIT 6→4 and 4→6 (DF)", () => {
    const mk = () => wrapSiit(new SiitTranslator(SIIT_CFG));
    const whole = mk();
    const single = mk();
    let kept = 0;
    let refused = 0;
    fc.assert(
      fc.property(gsoSpec, fc.boolean(), (s, six) => {
        const a4 = v4(198, 51, 100, s.host);
        const b4 = v4(203, 0, 113, s.host);
        const p = six
          ? superPacket(s, { v: 6, src: wkp(a4), dst: wkp(b4), tos: s.tos }, 40001, 443)
          : superPacket(s, { v: 4, src: b4, dst: a4, tos: s.tos, df: true, id: s.id }, 443, 40001);
        if (checkGso(whole, single, p, s.mss)) kept++;
        else refused++;
      }),
      { numRuns: 150 },
    );
    assert.ok(kept > 0, `kept ${kept}, refused ${refused}`);
  });

  it("NAT64 6→4 and 4→6 (DF) on an established session", () => {
    const whole = natWithIds();
    const single = natWithIds();
    let k = 0;
    fc.assert(
      fc.property(gsoSpec, fc.boolean(), (s, six) => {
        k++;
        const c6 = client6(0x2000 + k);
        const srv4 = v4(203, 0, 113, s.host);
        const syn = ipPacket(
          { v: 6, src: c6, dst: nat64Addr(srv4) },
          6,
          tcpBytes({ sport: 30000 + k, dport: 443, seq: 1, flags: TCP_SYN, payload: new Uint8Array(0) }),
        );
        const o1 = whole.run(syn);
        const o2 = single.run(syn);
        assert.equal(o1.v, Verdict.Translated);
        assert.equal(maskId(o1.outs[0]!), maskId(o2.outs[0]!), "both translators map the flow alike");
        const m4 = o1.outs[0]!.slice(12, 16);
        const mport = r16(o1.outs[0]!, 20);
        const synAck = ipPacket(
          { v: 4, src: srv4, dst: m4, df: true },
          6,
          tcpBytes({
            sport: 443,
            dport: mport,
            seq: 7,
            flags: TCP_SYN | TCP_ACK,
            payload: new Uint8Array(0),
          }),
        );
        assert.equal(whole.run(synAck).v, Verdict.Translated);
        assert.equal(single.run(synAck).v, Verdict.Translated);
        const p = six
          ? superPacket(s, { v: 6, src: c6, dst: nat64Addr(srv4), tos: s.tos }, 30000 + k, 443)
          : superPacket(s, { v: 4, src: srv4, dst: m4, tos: s.tos, df: true, id: s.id }, 443, mport);
        checkGso(whole, single, p, s.mss);
      }),
      { numRuns: 100 },
    );
  });

  it("gsoKeepsWhole predicts the translator (whole vs Offload) around the MTU limits", () => {
    const cfgs: SiitConfig[] = [
      SIIT_CFG,
      { ...SIIT_CFG, ipv4LinkMtu: 1300, ipv6LinkMtu: 1400 },
      { ...SIIT_CFG, ipv4LinkMtu: 9000, ipv6LinkMtu: 9000, lowestIpv6Mtu: 1500 },
    ];
    const xs = cfgs.map((c) => wrapSiit(new SiitTranslator(c)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: cfgs.length - 1 }),
        fc.boolean(),
        fc.constantFrom("v4link", "v6link", "lowest", "df1260"),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: 2, max: 6 }),
        fc.constantFrom(0, 12),
        fc.record({
          df: fc.boolean(),
          ttl: fc.constantFrom(64, 64, 64, 1),
          opt: fc.constantFrom(0, 0, 0, 8),
        }),
        fc.oneof(fc.constant(1e9), fc.integer({ min: 1, max: 1500 })),
        (ci, six, limit, delta, segs, topts, h, last) => {
          const c = xs[ci]!.siit.cfg;
          const lim =
            limit === "v4link"
              ? c.ipv4LinkMtu
              : limit === "v6link"
                ? c.ipv6LinkMtu
                : limit === "lowest"
                  ? c.lowestIpv6Mtu
                  : 1260;
          // A segment's size on the output side = limit + delta.
          const mss = lim + delta - (six ? 20 : 40) - 20 - topts;
          const s: GsoSpec = {
            mss,
            segs,
            last,
            topts,
            flags: TCP_ACK,
            seq: 1,
            id: 5,
            tos: 0,
            seed: mss,
            host: 9,
          };
          if ((segs - 1) * mss + mss + topts + 20 + 60 > 65535) return;
          const a4 = v4(198, 51, 100, 9);
          const b4 = v4(203, 0, 113, 9);
          const p = six
            ? superPacket(s, { v: 6, src: wkp(a4), dst: wkp(b4), ttl: h.ttl, opt: h.opt }, 1, 2)
            : superPacket(s, { v: 4, src: b4, dst: a4, ttl: h.ttl, opt: h.opt ? 4 : 0, df: h.df }, 2, 1);
          const x = xs[ci]!;
          const keeps = gsoKeepsWhole(c, p, 0, p.length, mss, 6);
          const before = x.siit.dropCounters[DropReason.Offload]!;
          const r = x.run(partialOf(p), { partial: true, start: l4Of(p), offset: 16, gso: mss });
          if (keeps) {
            assert.equal(r.v, Verdict.Translated, `reason ${r.reason}`);
            assert.equal(r.outs.length, 1);
            assert.equal(r.partial, true);
            // RFC 7915 §5.1 holds for every segment cut from the IPv4 output: DF iff > 1260 bytes.
            if (six)
              for (const g of segmentsOf(r.outs[0]!, mss))
                assert.equal((g[6]! & 0x40) !== 0, g.length > 1260, `DF of a ${g.length}-byte segment`);
          } else {
            assert.equal(r.v, Verdict.Drop);
            assert.equal(r.reason, DropReason.Offload);
            assert.equal(x.siit.dropCounters[DropReason.Offload], before + 1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("NAT64: a refused super-packet is counted as siit.Offload", () => {
    const nat = new Nat64Translator(nat64Cfg());
    const x = wrapNat(nat);
    const c6 = client6(0x3000);
    const srv = nat64Addr(v4(203, 0, 113, 77));
    const syn = ipPacket(
      { v: 6, src: c6, dst: srv },
      6,
      tcpBytes({ sport: 999, dport: 80, seq: 1, flags: TCP_SYN, payload: new Uint8Array(0) }),
    );
    assert.equal(x.run(syn).v, Verdict.Translated);
    // Segments of 1480 + 40 bytes do not fit the 1500-byte IPv4 link.
    const s: GsoSpec = {
      mss: 1480,
      segs: 4,
      last: 1480,
      topts: 0,
      flags: TCP_ACK,
      seq: 2,
      id: 0,
      tos: 0,
      seed: 3,
      host: 1,
    };
    const p = superPacket(s, { v: 6, src: c6, dst: srv }, 999, 80);
    assert.equal(gsoKeepsWhole(nat.siit.cfg, p, 0, p.length, s.mss, 6), false);
    const r = x.run(partialOf(p), { partial: true, start: 40, offset: 16, gso: s.mss });
    assert.equal(r.v, Verdict.Drop);
    assert.equal(r.reason, DropReason.Offload);
    assert.equal(nat.dropCounts()["siit.Offload"], 1);
    // Cut in software (what the worker does then), every segment goes through.
    for (const g of segmentsOf(p, s.mss - 40)) assert.equal(x.run(g).v, Verdict.Translated);
  });

  it("an IPv6 super-packet whose IPv4 image would exceed 65535 bytes is not kept whole", () => {
    const x = wrapSiit(new SiitTranslator(SIIT_CFG));
    for (const plen of [65515, 65516, 65535]) {
      const payload = fill(plen - 20, plen);
      const p = ipPacket(
        { v: 6, src: wkp(v4(198, 51, 100, 1)), dst: wkp(v4(203, 0, 113, 1)) },
        6,
        tcpBytes({ sport: 1, dport: 2, seq: 3, flags: TCP_ACK, payload }),
      );
      // Segments of 1040 bytes (<= 1260: DF clear on all of them, RFC 7915 §5.1).
      const keeps = gsoKeepsWhole(x.siit.cfg, p, 0, p.length, 1000, 6);
      const r = x.run(partialOf(p), { partial: true, start: 40, offset: 16, gso: 1000 });
      if (plen + 20 <= 65535) {
        assert.equal(keeps, true);
        assert.equal(r.v, Verdict.Translated);
        assert.equal(r16(r.outs[0]!, 2), r.outs[0]!.length);
      } else {
        assert.equal(keeps, false, `IPv6 payload ${plen}: IPv4 total length ${plen + 20} > 65535`);
        assert.equal(r.reason, DropReason.Offload);
      }
    }
  });
});

// ------------------------------------------------------------------ 4b. hairpins

const HAIRPIN_CFG: SiitConfig = {
  ...SIIT_CFG,
  eamt: [{ ipv6: prefixOf("2001:db8:1::/125"), ipv4: prefixOf("198.51.100.0/29") }],
  hairpinMode: "intrinsic",
};
/** 2001:db8:1::n (EAMT ↔ 198.51.100.n). */
function eam6(n: number): Uint8Array {
  const b = client6(0);
  b[15] = n;
  return b;
}

describe("hairpins (RFC 7757 Appendix B, RFC 6146 §3.8) with offload", () => {
  it("SIIT intrinsic hairpin: partial checksum in == plain in", () => {
    const x = wrapSiit(new SiitTranslator(HAIRPIN_CFG, { nextIpv4Id: () => 3, icmpRate: UNLIMITED() }));
    fc.assert(
      fc.property(pktSpec, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), (s, m, n) => {
        const p = ipPacket(
          { v: 6, src: eam6(m), dst: wkp(v4(198, 51, 100, n)), ttl: s.ttl, tos: s.tos },
          s.proto,
          l4For(s),
        );
        const a = checkPartialEquivalence(x, p, s.trail);
        if (a.v === Verdict.Translated && s.payload < 1000)
          assert.equal(a.outs[0]![0]! >>> 4, 6, "hairpinned");
      }),
      { numRuns: 150 },
    );
  });

  it("SIIT intrinsic hairpin: gsoKeepsWhole refuses hairpinned super-packets (the hairpin leg cannot keep them whole)", () => {
    const x = wrapSiit(new SiitTranslator(HAIRPIN_CFG));
    const s: GsoSpec = {
      mss: 1000,
      segs: 3,
      last: 1000,
      topts: 0,
      flags: TCP_ACK,
      seq: 1,
      id: 0,
      tos: 0,
      seed: 1,
      host: 1,
    };
    for (const [dst, hairpin] of [
      [wkp(v4(198, 51, 100, 2)), true], // pool6 image of an EAMT address
      [eam6(3), true], // an EAMT address itself
      [wkp(v4(203, 0, 113, 2)), false],
    ] as const) {
      const p = superPacket(s, { v: 6, src: eam6(1), dst }, 1000, 2000);
      const keeps = gsoKeepsWhole(x.siit.cfg, p, 0, p.length, s.mss, 6);
      assert.equal(keeps, !hairpin, hex(dst));
      const r = x.run(partialOf(p), { partial: true, start: 40, offset: 16, gso: s.mss });
      // Kept whole and translated, or predicted refused so that the caller cuts it in software
      // (a refusal gsoKeepsWhole did not predict loses the super-packet: the worker drops it).
      assert.equal(r.v === Verdict.Translated, keeps, `verdict ${r.v}, reason ${r.reason}`);
      if (!keeps) assert.equal(r.reason, DropReason.Offload);
      // Cut in software, each segment hairpins (or not) like a plain packet.
      for (const g of segmentsOf(p, s.mss)) {
        const e = x.run(g);
        assert.equal(e.v, Verdict.Translated);
        assert.equal(e.outs[0]![0]! >>> 4, hairpin ? 6 : 4);
      }
    }
  });

  it("NAT64 hairpin: partial checksum in == plain in; a super-packet kept whole == its segments", () => {
    const mk = () =>
      wrapNat(new Nat64Translator(nat64Cfg({ nextIpv4Id: () => 5, icmpRate: UNLIMITED_RATE })));
    const x = mk();
    const y = mk();
    // Client B's UDP and TCP mappings, reached by client A through pool6 + pool4 address.
    const cA = client6(0xa);
    const cB = client6(0xb);
    const srv = nat64Addr(v4(203, 0, 113, 1));
    const maps: Record<number, [Uint8Array, number]> = {};
    for (const proto of [6, 17]) {
      const open = ipPacket(
        { v: 6, src: cB, dst: srv },
        proto,
        proto === 6
          ? tcpBytes({ sport: 4444, dport: 80, seq: 1, flags: TCP_SYN, payload: new Uint8Array(0) })
          : udpBytes(4444, 80, new Uint8Array(4)),
      );
      const o = x.run(open);
      assert.equal(y.run(open).v, Verdict.Translated);
      assert.equal(o.v, Verdict.Translated);
      maps[proto] = [o.outs[0]!.slice(12, 16), r16(o.outs[0]!, 20)];
    }
    fc.assert(
      fc.property(pktSpec, (s) => {
        const [m4, mport] = maps[s.proto]!;
        if (s.proto === 6) {
          // A's own session first (RFC 6146 §3.5.2: TCP state is created by a SYN).
          const syn = tcpBytes({
            sport: s.sport,
            dport: mport,
            seq: 0,
            flags: TCP_SYN,
            payload: new Uint8Array(0),
          });
          x.run(ipPacket({ v: 6, src: cA, dst: nat64Addr(m4) }, 6, syn));
        }
        const p = ipPacket(
          { v: 6, src: cA, dst: nat64Addr(m4), ttl: s.ttl, tos: s.tos },
          s.proto,
          l4For(s, s.sport, mport),
        );
        const a = checkPartialEquivalence(x, p, s.trail);
        if (a.v === Verdict.Translated && s.payload < 1000)
          assert.equal(a.outs[0]![0]! >>> 4, 6, "hairpinned");
      }),
      { numRuns: 150 },
    );
    const [m4, mport] = maps[6]!;
    for (const mss of [1000, 1200, 1400]) {
      const s: GsoSpec = {
        mss,
        segs: 5,
        last: 700,
        topts: 12,
        flags: TCP_ACK | TCP_PSH,
        seq: 9,
        id: 0,
        tos: 0,
        seed: mss,
        host: 1,
      };
      const p = superPacket(s, { v: 6, src: cA, dst: nat64Addr(m4) }, 5555, mport);
      const syn = tcpBytes({ sport: 5555, dport: mport, seq: 0, flags: TCP_SYN, payload: new Uint8Array(0) });
      for (const t of [x, y]) t.run(ipPacket({ v: 6, src: cA, dst: nat64Addr(m4) }, 6, syn));
      checkGso(x, y, p, mss);
    }
  });
});

// ------------------------------------------------------------------ 5. fuzz

describe("translate() with random offload flags never throws", () => {
  const flags = fc.record({
    partial: fc.boolean(),
    start: fc.oneof(
      fc.integer({ min: -4, max: 100 }),
      fc.constantFrom(20, 40),
      fc.integer({ min: 0, max: 70000 }),
    ),
    offset: fc.oneof(fc.constantFrom(6, 16), fc.integer({ min: -4, max: 80 })),
    gso: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 0xffff })),
  });
  // Valid packets with a few bytes changed (get past the early checks) or plain random bytes.
  const packet = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 200 }),
    fc
      .tuple(
        fc.record({ s: pktSpec, six: fc.boolean() }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: -8, max: 8 }),
      )
      .map(([{ s, six }, muts, cut]) => {
        const p = six
          ? ipPacket(
              { v: 6, src: client6(s.host), dst: nat64Addr(v4(203, 0, 113, s.host)), opt: s.ext, ttl: s.ttl },
              s.proto,
              l4For(s),
            )
          : ipPacket(
              { v: 4, src: v4(203, 0, 113, s.host), dst: v4(198, 51, 100, 1 + (s.host & 7)), df: s.df },
              s.proto,
              l4For(s),
            );
        const q = partialOf(p);
        for (const [at, v] of muts) q[at % q.length] = v;
        const n = Math.max(1, q.length + Math.min(0, cut));
        return q.subarray(0, n);
      }),
  );

  it("SIIT (both directions), including the hairpin leg", () => {
    const xs = [
      wrapSiit(new SiitTranslator(SIIT_CFG)),
      wrapSiit(
        new SiitTranslator({
          ...SIIT_CFG,
          pool6: prefixOf("2001:db8:64::/96"),
          hairpinMode: "intrinsic",
          eamt: [{ ipv4: prefixOf("198.51.100.0/29"), ipv6: prefixOf("2001:db8:1::/125") }],
          icmpOnUntranslatable: true,
        }),
      ),
    ];
    fc.assert(
      fc.property(packet, flags, fc.nat(1), (p, f, which) => {
        const r = xs[which]!.run(p.slice(), f);
        assert.ok(
          r.v === Verdict.Drop || r.v === Verdict.Translated || r.v === Verdict.IcmpReply,
          `verdict ${r.v}`,
        );
      }),
      { numRuns: 1500 },
    );
  });

  it("NAT64 (internalErrors stays 0)", () => {
    const nat = new Nat64Translator(nat64Cfg());
    const x = wrapNat(nat);
    fc.assert(
      fc.property(packet, flags, (p, f) => {
        x.run(p.slice(), f); // asserts internalErrors === 0
      }),
      { numRuns: 1500 },
    );
    assert.equal(nat.internalErrors, 0);
  });
});

describe("shortTail / splitTail (RFC 7915 §5.1: a short last segment keeps its own DF)", () => {
  it("the head's segments and the tail equal the whole super-packet's segments, byte for byte", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 1440 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 1440 }),
        fc.integer({ min: 0, max: 40 }).map((x) => x & ~3),
        fc.constantFrom(TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_PSH | TCP_FIN, TCP_ACK | TCP_CWR),
        fc.integer({ min: 0, max: 0xffffffff }),
        (mss, full, rest, opts, flags, seq) => {
          const r = Math.min(rest, mss - 1);
          const payload = fill(full * mss + r, seq);
          const tcp = tcpBytes({ sport: 40000, dport: 80, seq, flags, opts, payload });
          const whole = partialOf(ipPacket({ v: 6, src: client6(7), dst: wkp(v4(203, 0, 113, 9)) }, 6, tcp));
          const tail = shortTail(whole, 0, whole.length, 40, mss);
          // Only when the full segments are over 1260 bytes in IPv4 and the last is not.
          const thl = 20 + opts;
          const expect = 20 + thl + mss > 1260 && 20 + thl + r <= 1260 ? r : 0;
          assert.equal(tail, expect);
          if (tail === 0) return;
          const ref = new Uint8Array(whole.length * 2);
          const ro = new Int32Array(64);
          const rl = new Int32Array(64);
          const n = segmentTcp(whole, 0, whole.length, 40, mss, ref, ro, rl);
          const head = whole.slice();
          const tb = new Uint8Array(2048);
          const tl = splitTail(head, 0, head.length, 40, tail, tb);
          assert.equal(tl, 40 + thl + r);
          const hl = head.length - tail;
          // Both parts keep a partial checksum: their fields hold their own pseudo-header sums.
          assert.equal(r16(head, 56), seedOf(head.subarray(0, hl)));
          assert.equal(r16(tb, 56), seedOf(tb.subarray(0, tl)));
          const seg = new Uint8Array(whole.length * 2);
          const hs = new Int32Array(64);
          const hls = new Int32Array(64);
          const k = segmentTcp(head, 0, hl, 40, mss, seg, hs, hls);
          assert.equal(k, n - 1);
          for (let i = 0; i < k; i++)
            assert.equal(
              hex(seg.subarray(hs[i]!, hs[i]! + hls[i]!)),
              hex(ref.subarray(ro[i]!, ro[i]! + rl[i]!)),
              `segment ${i}`,
            );
          const last = tb.slice(0, tl);
          deviceComplete(last, 40, 16, 6);
          assert.equal(hex(last), hex(ref.subarray(ro[n - 1]!, ro[n - 1]! + rl[n - 1]!)), "the tail");
        },
      ),
      { numRuns: 150 },
    );
  });
});

// ------------------------------------------------------------------ 6. UDP segmentation offload (USO)

const usoSpec = fc.record({
  gso: fc.integer({ min: 1, max: 1452 }),
  segs: fc.integer({ min: 2, max: 64 }),
  last: fc.integer({ min: 1, max: 1452 }), // payload of the last datagram (capped at gso)
  id: fc.integer({ min: 0, max: 0xffff }),
  tos: fc.integer({ min: 0, max: 255 }),
  opt: fc.constantFrom(0, 8),
  seed: fc.integer(),
  host: fc.integer({ min: 1, max: 254 }),
});
type UsoSpec = Arb<typeof usoSpec>;

/** The datagrams' payloads: at most 64 (the kernel's UDP_GRO_CNT_MAX), and 64 KiB in all with the headers. */
function udpPayloads(s: UsoSpec): Uint8Array[] {
  const segs = Math.min(s.segs, Math.floor((65535 - 60 - 8 - 8) / s.gso));
  const all = fill((segs - 1) * s.gso + Math.min(s.last, s.gso), s.seed);
  const r: Uint8Array[] = [];
  for (let o = 0; o < all.length; o += s.gso) r.push(all.subarray(o, Math.min(all.length, o + s.gso)));
  return r;
}

/** A UDP super-packet: one header whose UDP length covers every datagram (as udp_gro_complete leaves it). */
function udpSuper(ip: Ip, sport: number, dport: number, payloads: Uint8Array[]): Uint8Array {
  return ipPacket(ip, 17, udpBytes(sport, dport, Buffer.concat(payloads)));
}

describe("segmentUdp (software USO, as the kernel's __udp_gso_segment)", () => {
  it("equals the datagrams built one by one (IPv4 with options, IPv6 with a Destination Options header)", () => {
    fc.assert(
      fc.property(usoSpec, fc.boolean(), (s, six) => {
        const ds = udpPayloads(s);
        const ip = (id: number): Ip =>
          six
            ? { v: 6, src: wkp(v4(192, 0, 2, s.host)), dst: wkp(v4(198, 51, 100, 2)), tos: s.tos, opt: s.opt }
            : { v: 4, src: v4(192, 0, 2, s.host), dst: v4(198, 51, 100, 2), tos: s.tos, opt: s.opt, id };
        // The input's checksum field is a partial seed: not read.
        const whole = partialOf(udpSuper(ip(s.id), 4000, 9, ds));
        const got = segmentsOf(whole, s.gso, 17);
        assert.equal(got.length, ds.length);
        ds.forEach((d, i) => {
          const want = ipPacket(ip((s.id + i) & 0xffff), 17, udpBytes(4000, 9, d));
          assert.equal(hex(got[i]!), hex(want), `datagram ${i}/${ds.length}`);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on arbitrary bytes, lengths and offsets (l4Offset and segmentUdp)", () => {
    fuzzSegmenter(17);
  });
});

/**
 * The UDP super-packet translated whole (partial checksum, gsoSize) then cut
 * by segmentUdp, against each datagram translated alone on a twin translator
 * (as checkGso for TCP). Returns false when the fast path refused (checked to
 * be gsoKeepsWhole's prediction).
 */
function checkUso(whole: Xl, single: Xl, p: Uint8Array, gso: number): boolean {
  const keeps = gsoKeepsWhole(whole.siit.cfg, p, 0, p.length, gso, 17);
  const w = whole.run(partialOf(p), { partial: true, start: l4Of(p), offset: 6, gso });
  if (!keeps) {
    assert.equal(w.v, Verdict.Drop);
    assert.equal(w.reason, DropReason.Offload);
    return false;
  }
  const o = keptWhole(w, 6);
  // The super-packet's UDP length and seed cover it all (what __udp_gso_segment adjusts per datagram).
  assert.equal(r16(o, w.start + 4), o.length - w.start, "UDP length of the super-packet");
  assert.equal(r16(o, w.start + 6), seedOf(o));
  sameAsAlone(single, segmentsOf(o, gso, 17), segmentsOf(p, gso, 17));
  return true;
}

describe("UDP segmentation offload (gsoSize, UDP): whole super-packet == its datagrams one by one", () => {
  it("SIIT 6→4 and 4→6", () => {
    const mk = () => wrapSiit(new SiitTranslator(SIIT_CFG));
    const whole = mk();
    const single = mk();
    let kept = 0;
    let refused = 0;
    fc.assert(
      fc.property(usoSpec, fc.boolean(), fc.boolean(), (s, six, df) => {
        const a4 = v4(198, 51, 100, s.host);
        const b4 = v4(203, 0, 113, s.host);
        const ds = udpPayloads(s);
        const p = six
          ? udpSuper({ v: 6, src: wkp(a4), dst: wkp(b4), tos: s.tos }, 40001, 9, ds)
          : udpSuper({ v: 4, src: b4, dst: a4, tos: s.tos, df, id: s.id }, 9, 40001, ds);
        if (checkUso(whole, single, p, s.gso)) kept++;
        else refused++;
      }),
      { numRuns: 200 },
    );
    assert.ok(kept > 50 && refused > 0, `kept ${kept}, refused ${refused}`);
  });

  it("NAT64 6→4 and 4→6, on the session the first super-packet opened", () => {
    const whole = natWithIds();
    const single = natWithIds();
    let k = 0;
    fc.assert(
      fc.property(usoSpec, (s) => {
        k++;
        const c6 = client6(0x3000 + k);
        const srv4 = v4(203, 0, 113, s.host);
        const ds = udpPayloads(s);
        // The session: opened by the first super-packet, whole, and by its first datagram, alone.
        const p6 = udpSuper({ v: 6, src: c6, dst: nat64Addr(srv4), tos: s.tos }, 30000 + k, 9, ds);
        if (!checkUso(whole, single, p6, s.gso)) return;
        const out = whole.run(udpSuper({ v: 6, src: c6, dst: nat64Addr(srv4) }, 30000 + k, 9, ds.slice(0, 1)))
          .outs[0]!;
        const m4 = out.slice(12, 16);
        const mport = r16(out, 20);
        const p4 = udpSuper({ v: 4, src: srv4, dst: m4, tos: s.tos, id: s.id }, 9, mport, ds);
        checkUso(whole, single, p4, s.gso);
      }),
      { numRuns: 100 },
    );
  });

  it("6→4 without DF: the next packet's Identification follows the super-packet's last datagram", () => {
    const x = wrapSiit(new SiitTranslator(SIIT_CFG));
    const ds = udpPayloads({ gso: 64, segs: 10, last: 64, id: 0, tos: 0, opt: 0, seed: 1, host: 2 });
    const p = udpSuper({ v: 6, src: wkp(v4(198, 51, 100, 2)), dst: wkp(v4(203, 0, 113, 2)) }, 40001, 9, ds);
    const a = x.run(partialOf(p), { partial: true, start: 40, offset: 6, gso: 64 }).outs[0]!;
    const b = x.run(partialOf(p), { partial: true, start: 40, offset: 6, gso: 64 }).outs[0]!;
    assert.equal(a[6]! & 0x40, 0, "no DF");
    assert.equal(r16(b, 4), (r16(a, 4) + 10) & 0xffff);
  });

  it("a super-packet whose UDP length is not its transport length, or of another protocol, is refused", () => {
    const ds = udpPayloads({ gso: 64, segs: 4, last: 64, id: 0, tos: 0, opt: 0, seed: 1, host: 2 });
    const p = udpSuper({ v: 6, src: wkp(v4(198, 51, 100, 2)), dst: wkp(v4(203, 0, 113, 2)) }, 40001, 9, ds);
    assert.equal(gsoKeepsWhole(SIIT_COMPILED(), p, 0, p.length, 64, 17), true);
    assert.equal(gsoKeepsWhole(SIIT_COMPILED(), p, 0, p.length, 64, 6), false);
    const bad = p.slice();
    w16(bad, 44, 72);
    assert.equal(gsoKeepsWhole(SIIT_COMPILED(), bad, 0, bad.length, 64, 17), false);
    const x = wrapSiit(new SiitTranslator(SIIT_CFG));
    const r = x.run(partialOf(bad), { partial: true, start: 40, offset: 6, gso: 64 });
    assert.equal(r.reason, DropReason.Offload);
  });
});

function SIIT_COMPILED() {
  return new SiitTranslator(SIIT_CFG).cfg;
}
