/**
 * The live run's address rewrite (rewrite.ts): properties on generated packets (checked by full
 * recomputation of every checksum, with our own sum), and on Jool's SIIT suite: what the live run
 * sends or expects holds documentation addresses only, the replacements collide with nothing the
 * suite uses, and the translator passes the same cases on the rewritten suite as on Jool's bytes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { SiitConfig } from "../../src/datapath/siit/config.ts";
import { SiitTranslator } from "../../src/datapath/siit/index.ts";
import {
  type AddressData,
  addressOf,
  type Family,
  format,
  fromBytes,
  maskOf,
  type Prefix,
  type PrefixData,
  prefixOf,
  toBytes,
} from "../../src/util/net.ts";
import { ipv4Packet, ipv6Packet } from "../datapath/siit/build.ts";
import {
  baseSiitConfig,
  compare,
  type JoolCase,
  loadCases,
  readPkt,
  siitConfigFor,
  suitePresent,
} from "./jool-suite.ts";
import { liveConfig, livePkt, specOf } from "./live-siit.ts";
import { AddressMap, addressesOf, allowed, image40, LIVE_MAP, rewritePacket } from "./rewrite.ts";

// ---- our own checksum arithmetic, independent of the code under test ----

function sum(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  return s;
}

/** The ones' complement sum folded to 16 bits, 0 written as 0xffff (the same number). */
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s === 0 ? 0xffff : s;
}

const w16 = (b: Uint8Array, o: number, v: number) => {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
};
const r16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

// ---- generated packets ----

type Kind = "udp" | "tcp" | "info" | "error";
interface Spec {
  family: Family;
  kind: Kind;
  src: Uint8Array;
  dst: Uint8Array;
  payload: Uint8Array;
  /** added to the transport checksum: a deliberately wrong one (0: valid) */
  wrong: number;
  udpZero: boolean;
  /** IPv4: "later" sets a fragment offset; IPv6: a Fragment header, offset 0 ("atomic") or not */
  frag: "none" | "atomic" | "later";
  /** an error's quoted packet and how many of its bytes it keeps */
  quoted?: { spec: Spec; keep: number };
}

const all = (f: Family) => maskOf(f, f === 4 ? 32 : 128);
const inAny = (ps: readonly Prefix[], a: Uint8Array) => {
  const f: Family = a.length === 4 ? 4 : 6;
  return ps.some((p) => p.family === f && (fromBytes(a) & maskOf(f, p.length)) === p.network);
};

/** An address inside a prefix the map rewrites, or (and always when `outside`) one outside it and its targets. */
function addr(f: Family, outside: boolean): fc.Arbitrary<Uint8Array> {
  const n = f === 4 ? 4 : 16;
  const rnd = fc.uint8Array({ minLength: n, maxLength: n });
  const out = rnd.filter((a) => !inAny(LIVE_MAP.sources, a) && !inAny(LIVE_MAP.targets, a));
  if (outside) return out;
  const inside = fc
    .tuple(fc.constantFrom(...LIVE_MAP.sources.filter((p) => p.family === f)), rnd)
    .map(([p, r]) => toBytes(f, p.network | (fromBytes(r) & ~maskOf(f, p.length) & all(f))));
  return fc.oneof(inside, out);
}

function specArb(f: Family, outside: boolean, quoted: boolean): fc.Arbitrary<Spec> {
  const kinds: Kind[] = quoted ? ["udp", "tcp", "info", "error"] : ["udp", "tcp", "info"];
  return fc
    .record({
      family: fc.constant(f),
      kind: fc.constantFrom(...kinds),
      src: addr(f, outside),
      dst: addr(f, outside),
      payload: fc.uint8Array({ maxLength: 40 }),
      wrong: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xfffe })),
      udpZero: fc.boolean(),
      frag: fc.constantFrom<Spec["frag"]>("none", "atomic", "later"),
    })
    .chain((s) =>
      s.kind !== "error"
        ? fc.constant(s)
        : specArb(f, outside, false).chain((inner) =>
            fc
              // an error quotes the whole IP header at least (RFC 792, RFC 4443 §3); a field cut
              // in two (a checksum's first byte) is left alone
              .integer({ min: l4Of(inner), max: build(inner).length })
              .filter((keep) => keep !== l4Of(inner) + CSUM[PROTO[inner.kind][f === 4 ? 0 : 1]]! + 1)
              .map((keep) => ({ ...s, quoted: { spec: inner, keep } })),
          ),
    );
}

const PROTO: Record<Kind, [number, number]> = { udp: [17, 17], tcp: [6, 6], info: [1, 58], error: [1, 58] };
const CSUM: Record<number, number> = { 17: 6, 6: 16, 1: 2, 58: 2 };

/** The transport header's offset in a packet built from `s`. */
const l4Of = (s: Spec) => (s.family === 4 ? 20 : s.frag === "none" ? 40 : 48);

function build(s: Spec): Uint8Array {
  const proto = PROTO[s.kind][s.family === 4 ? 0 : 1];
  const l4 = {
    proto,
    icmpType: s.kind === "error" ? (s.family === 4 ? 3 : 1) : undefined,
    icmpRest: s.kind === "error" ? 0 : undefined,
    payload: s.quoted ? build(s.quoted.spec).subarray(0, s.quoted.keep) : s.payload,
  };
  const text = (a: Uint8Array) => format(s.family, fromBytes(a));
  let p =
    s.family === 4
      ? ipv4Packet(text(s.src), text(s.dst), l4, 64, false)
      : ipv6Packet(text(s.src), text(s.dst), l4);
  if (s.family === 6 && s.frag !== "none") {
    // a Fragment header (RFC 8200 §4.5) before the transport header
    const q = new Uint8Array(p.length + 8);
    q.set(p.subarray(0, 40));
    q.set(p.subarray(40), 48);
    w16(q, 4, r16(p, 4) + 8);
    q[6] = 44;
    q[40] = proto;
    w16(q, 42, s.frag === "later" ? 0x00a8 : 0);
    q.set([0x87, 0x65, 0x43, 0x21], 44);
    p = q;
  }
  const c = l4Of(s) + CSUM[proto]!;
  if (s.kind === "udp" && s.udpZero) w16(p, c, 0);
  else if (s.wrong) {
    let v = (r16(p, c) + s.wrong) & 0xffff;
    // never 0xffff (RFC 1624 §3: eqn. 3 never yields it, so it cannot come back) nor a UDP "none"
    if (v === 0xffff || (v === 0 && proto === 17)) v = 0x1234;
    w16(p, c, v);
  }
  if (s.family === 4 && s.frag === "later") {
    w16(p, 6, 0x2000 | 0x15); // MF, offset 168 bytes
    w16(p, 10, 0);
    w16(p, 10, ~fold(sum(p, 0, 20)) & 0xffff);
  }
  return p;
}

/** Each checksum's verification sum, recomputed in full: 0xffff for a valid one. */
function residuals(s: Spec, p: Uint8Array): number[] {
  const out: number[] = [];
  if (s.family === 4) out.push(fold(sum(p, 0, 20)));
  if (s.frag === "later") return out;
  const l4 = l4Of(s);
  const proto = PROTO[s.kind][s.family === 4 ? 0 : 1];
  const len = p.length - l4;
  if (proto === 17 && r16(p, l4 + 6) === 0) return out;
  const pseudo =
    s.family === 4 ? (proto === 1 ? 0 : sum(p, 12, 20) + proto + len) : sum(p, 8, 40) + proto + len;
  out.push(fold(pseudo + sum(p, l4, p.length)));
  return out;
}

const specs = (outside = false) =>
  fc.oneof(specArb(4, outside, true), specArb(6, outside, true)).map((s) => ({ s, p: build(s) }));

test("checksums: a valid one stays valid, a wrong one as wrong, a zero UDP one zero (full recomputation)", () => {
  fc.assert(
    fc.property(specs(), ({ s, p }) => {
      const q = rewritePacket(p, LIVE_MAP);
      assert.deepEqual(residuals(s, q), residuals(s, p));
      const l4 = l4Of(s);
      if (s.kind === "udp" && s.udpZero && s.frag !== "later") assert.equal(r16(q, l4 + 6), 0);
      // a later fragment: only the IP header may change
      if (s.frag === "later") assert.deepEqual(q.subarray(l4), p.subarray(l4));
    }),
    { numRuns: 3000 },
  );
});

test("an error's quoted packet, truncated or not, is the quoted packet rewritten on its own", () => {
  fc.assert(
    fc.property(specs(), ({ s, p }) => {
      // a later fragment carries no ICMP header: its bytes stay (checked above)
      if (!s.quoted || s.frag === "later") return;
      const at = l4Of(s) + 8;
      const alone = rewritePacket(build(s.quoted.spec), LIVE_MAP).subarray(0, s.quoted.keep);
      assert.deepEqual(rewritePacket(p, LIVE_MAP).subarray(at), alone);
    }),
    { numRuns: 3000 },
  );
});

test("rewrite, then rewrite back, is the identity", () => {
  const back = LIVE_MAP.inverse();
  fc.assert(
    fc.property(specs(), ({ p }) => {
      assert.deepEqual(rewritePacket(rewritePacket(p, LIVE_MAP), back), p);
    }),
    { numRuns: 3000 },
  );
});

test("a packet whose addresses lie outside the map is unchanged", () => {
  fc.assert(
    fc.property(specs(true), ({ p }) => {
      assert.deepEqual(rewritePacket(p, LIVE_MAP), p);
    }),
    { numRuns: 2000 },
  );
});

test("any bytes: no throw, same length; a map that maps nothing changes nothing", () => {
  const start = fc.constantFrom(0x45, 0x46, 0x4f, 0x60, 0x00);
  fc.assert(
    fc.property(fc.tuple(start, fc.uint8Array({ maxLength: 120 })), ([v, rest]) => {
      const p = Uint8Array.from([v, ...rest]);
      assert.equal(rewritePacket(p, LIVE_MAP).length, p.length);
      assert.deepEqual(rewritePacket(p, { map: () => undefined }), p);
    }),
    { numRuns: 5000 },
  );
});

test("AddressMap: host bits kept, configuration prefixes moved, bad maps refused", () => {
  const a = (t: string) => toBytes(addressOf(t).family, addressOf(t).value);
  assert.deepEqual(LIVE_MAP.map(a("1.0.0.96")), a("198.18.1.96"));
  assert.deepEqual(LIVE_MAP.map(a("10.0.0.96")), a("198.18.10.96"));
  // the pool6 image of 1.0.0.9 (the hairpin case ga) becomes the image of 198.18.1.9
  assert.deepEqual(LIVE_MAP.map(a("2001:db8:101:0:9::")), a("2001:db8:1c6:1201:9::"));
  assert.deepEqual(LIVE_MAP.map(a("4000::1")), a("2001:db8:4000::1"));
  assert.equal(LIVE_MAP.map(a("198.51.100.2")), undefined);
  assert.equal(LIVE_MAP.prefix("1.0.0.0/24"), "198.18.1.0/24");
  assert.equal(LIVE_MAP.prefix("1.0.0.128/25"), "198.18.1.128/25");
  assert.equal(LIVE_MAP.prefix("2001:db8:3::/120"), "2001:db8:3::/120");
  assert.throws(() => LIVE_MAP.prefix("1.0.0.0/16"), /not its target/);
  assert.equal(LIVE_MAP.prefix("2001:db8:100::/40"), "2001:db8:100::/40");
  assert.equal(image40("2001:db8:100::/40", "198.18.1.0/24"), "2001:db8:1c6:1201::/64");
  assert.throws(() => new AddressMap([["1.0.0.0/24", "198.18.0.0/23"]]), /length/);
  assert.throws(() => new AddressMap([["1.0.0.0/24", "2001:d00::/24"]]), /family/);
  assert.throws(
    () =>
      new AddressMap([
        ["1.0.0.0/24", "198.18.1.0/24"],
        ["198.18.1.0/24", "198.18.2.0/24"],
      ]),
    /overlaps/,
  );
});

// ---- on Jool's SIIT suite ----

const noSuite = suitePresent() ? false : "Jool's suite is absent";
const siit = () => loadCases().filter((c) => c.suite === "siit");
const text = (a: Uint8Array) => format(a.length === 4 ? 4 : 6, fromBytes(a));
const POOL6 = prefixOf("2001:db8:100::/40");

/** An address and, for one inside pool6, the IPv4 address it embeds (RFC 6052 §2.2, /40). */
function withEmbedded(a: Uint8Array): Uint8Array[] {
  return a.length === 16 && inAny([POOL6], a) ? [a, Uint8Array.from([a[5]!, a[6]!, a[7]!, a[9]!])] : [a];
}

test("the live run sends and expects documentation addresses only, and configures only them", {
  skip: noSuite,
}, () => {
  const bad = new Set<string>();
  for (const c of siit()) {
    const k = liveConfig(c);
    if ("why" in k) continue;
    for (const f of [...c.input, ...c.expected])
      for (const a of addressesOf(livePkt(f)).flatMap(withEmbedded))
        if (!allowed(a)) bad.add(`${f}: ${text(a)}`);
    for (const m of specOf(k).matchAll(/"([0-9a-f:.]+(?:\/\d+)?)"/g)) {
      const p = prefixOf(m[1]!.includes("/") ? m[1]! : `${m[1]}/${m[1]!.includes(":") ? 128 : 32}`);
      if (!allowed(toBytes(p.family, p.network))) bad.add(`config: ${m[1]}`);
    }
  }
  assert.deepEqual([...bad], []);
});

test("every foreign address of the suite is rewritten but the bogus sources of ha1/ha2, which the live run does not send", {
  skip: noSuite,
}, () => {
  const left = new Map<string, Set<string>>();
  for (const c of siit())
    for (const f of [...c.input, ...c.expected])
      for (const a of addressesOf(livePkt(f)).flatMap(withEmbedded))
        if (!allowed(a)) left.set(text(a), (left.get(text(a)) ?? new Set()).add(c.name));
  assert.deepEqual(
    [...left].map(([a, cs]) => `${a}: ${[...cs].join(" ")}`),
    ["127.0.0.1: siit/7915/ha1", "0.0.0.0: siit/7915/ha2"],
  );
  for (const c of ["siit/7915/ha1", "siit/7915/ha2"])
    assert.ok("why" in liveConfig(siit().find((x) => x.name === c)!), `${c} is not run live`);
});

test("the replacements collide with no address of the suite or of its configuration", {
  skip: noSuite,
}, () => {
  const used = new Set<string>();
  for (const c of siit())
    for (const f of [...c.input, ...c.expected])
      for (const a of addressesOf(readPkt(f)).flatMap(withEmbedded)) used.add(text(a));
  const cfg = baseSiitConfig();
  for (const p of [cfg.pool6!, ...cfg.eamt!.flatMap((e) => [e.ipv4, e.ipv6])])
    used.add(format(p.family, p.network));
  for (const u of used) {
    const a = toBytes(addressOf(u).family, addressOf(u).value);
    assert.ok(!inAny(LIVE_MAP.targets, a), `${u} lies in a replacement prefix`);
  }
});

/** A case's configuration with its addresses through LIVE_MAP, as live-siit.ts configures the service. */
function liveSiitConfig(c: JoolCase): SiitConfig {
  const cfg = siitConfigFor(c);
  const prefix = (p: PrefixData) => prefixOf(LIVE_MAP.prefix(`${format(p.family, p.network)}/${p.length}`));
  const address = (a: AddressData) => addressOf(LIVE_MAP.address(format(a.family, a.value)));
  cfg.eamt = cfg.eamt?.map((e) => ({ ipv4: prefix(e.ipv4), ipv6: prefix(e.ipv6) }));
  cfg.rfc6791Pool = {
    ipv4: (cfg.rfc6791Pool?.ipv4 ?? []).map(address),
    ipv6: (cfg.rfc6791Pool?.ipv6 ?? []).map(address),
  };
  return cfg;
}

test("the translator passes the same cases on the rewritten suite as on Jool's bytes", {
  skip: noSuite,
}, () => {
  const outcome = (read: (f: string) => Uint8Array, configure: (c: JoolCase) => SiitConfig) =>
    siit().map((c) => {
      const tr = new SiitTranslator(configure(c), { nextIpv4Id: () => 0 });
      let outs: Uint8Array[] = [];
      for (const f of c.input) {
        tr.translate(read(f));
        outs = tr.outputs();
      }
      const exp = c.expected.map(read);
      const ok =
        outs.length === exp.length &&
        exp.every((e, k) => compare(outs[k]!, e, c.expected_detail[k]!) === null);
      return `${c.name}: ${ok}`;
    });
  const verbatim = outcome(readPkt, siitConfigFor);
  assert.ok(verbatim.filter((r) => r.endsWith("true")).length > 100);
  assert.deepEqual(outcome(livePkt, liveSiitConfig), verbatim);
});
