// Wire helpers and addressing: pure functions, checked against dns-packet and the RFC 6052 §2.4 table,
// and fuzzed (the parsers must return undefined, never throw, on any input).

import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import {
  addressOfIp6Arpa,
  compilePref64,
  compilePrefix6,
  inAddrArpaName,
  inPrefix6,
  reverseZone,
  synthesizeAddress,
} from "../../../src/services/dns64/addressing.ts";
import { buildReply, type OutRecord } from "../../../src/services/dns64/reply.ts";
import {
  expandRdata,
  isSubdomain,
  nameEquals,
  nameToText,
  negativeTtl,
  parseMessage,
  readName,
  skipName,
  soaMinimum,
  textToName,
} from "../../../src/services/dns64/wire.ts";
import { prefixOf } from "../../../src/util/net.ts";
import { a, cname, expand6, soa, upstreamWire } from "./helpers.ts";

const bytes = (ip6: string) => {
  const groups = expand6(ip6)
    .split(":")
    .map((g) => Number.parseInt(g, 16));
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
};
const text6 = (b: Uint8Array) => {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(":");
};

test("RFC 6052 §2.4 table: 192.0.2.33 under every prefix length", () => {
  const v4 = Uint8Array.of(192, 0, 2, 33);
  const table: [string, string][] = [
    ["2001:db8::/32", "2001:db8:c000:221::"],
    ["2001:db8:100::/40", "2001:db8:1c0:2:21::"],
    ["2001:db8:122::/48", "2001:db8:122:c000:2:2100::"],
    ["2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"],
    ["2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"],
    ["2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"],
    ["64:ff9b::/96", "64:ff9b::192.0.2.33"],
  ];
  for (const [prefix, want] of table) {
    assert.equal(text6(synthesizeAddress(compilePref64(prefixOf(prefix)), v4)), expand6(want), prefix);
  }
});

test("reverse zone of each prefix and ip6.arpa names round-trip to addresses", () => {
  assert.equal(
    nameToText(reverseZone(compilePref64(prefixOf("64:ff9b::/96")))),
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.",
  );
  assert.equal(
    nameToText(reverseZone(compilePref64(prefixOf("2001:db8::/32")))),
    "8.b.d.0.1.0.0.2.ip6.arpa.",
  );
  assert.equal(
    nameToText(reverseZone(compilePref64(prefixOf("2001:db8:100::/40")))),
    "1.0.8.b.d.0.1.0.0.2.ip6.arpa.",
  );
  assert.equal(nameToText(inAddrArpaName(Uint8Array.of(192, 0, 2, 33))), "33.2.0.192.in-addr.arpa.");
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (addr) => {
      const nibbles: string[] = [];
      for (let i = 15; i >= 0; i--) nibbles.push((addr[i]! & 0xf).toString(16), (addr[i]! >> 4).toString(16));
      const name = textToName(`${nibbles.join(".")}.ip6.arpa`);
      assert.deepEqual(addressOfIp6Arpa(name), addr);
      // upper-case hex digits are the same name (RFC 4343)
      assert.deepEqual(addressOfIp6Arpa(textToName(`${nibbles.join(".").toUpperCase()}.IP6.ARPA`)), addr);
    }),
  );
  assert.equal(addressOfIp6Arpa(textToName("1.0.ip6.arpa")), undefined);
  assert.equal(addressOfIp6Arpa(textToName(`${"g.".repeat(32)}ip6.arpa`)), undefined);
});

test("exclusion prefixes match by bits", () => {
  const p = compilePrefix6(prefixOf("::ffff:0:0/96"));
  assert.ok(inPrefix6(p, bytes("::ffff:192.0.2.3")));
  assert.ok(!inPrefix6(p, bytes("2001:db8::4")));
  const odd = compilePrefix6(prefixOf("2001:db8:8000::/33"));
  assert.ok(inPrefix6(odd, bytes("2001:db8:8000::1")));
  assert.ok(!inPrefix6(odd, bytes("2001:db8:7fff::1")));
});

test("names: compression pointers are followed, loops and forward pointers refused", () => {
  // header + "a.example" at 12, then a pointer to it at 23
  const msg = new Uint8Array([...new Array(12).fill(0), 1, 97, 7, ...Buffer.from("example"), 0, 0xc0, 12]);
  assert.equal(nameToText(readName(msg, 12)!.name), "a.example.");
  const r = readName(msg, 23)!;
  assert.equal(nameToText(r.name), "a.example.");
  assert.equal(r.end, 25);
  const loop = new Uint8Array([...new Array(12).fill(0), 0xc0, 12]);
  assert.equal(readName(loop, 12), undefined);
  const forward = new Uint8Array([...new Array(12).fill(0), 0xc0, 14, 0]);
  assert.equal(readName(forward, 12), undefined);
  const reserved = new Uint8Array([...new Array(12).fill(0), 0x40, 0]);
  assert.equal(readName(reserved, 12), undefined);
  assert.ok(isSubdomain(textToName("x.ipv4only.arpa"), textToName("ipv4only.arpa")));
  assert.ok(isSubdomain(textToName("IPv4Only.Arpa"), textToName("ipv4only.arpa")));
  assert.ok(!isSubdomain(textToName("xipv4only.arpa"), textToName("ipv4only.arpa")));
  assert.ok(nameEquals(textToName("WWW.Example"), textToName("www.example.")));
  // a label with a dot and a binary byte prints escaped (RFC 4343 presentation)
  assert.equal(nameToText(Uint8Array.of(3, 97, 0x2e, 1, 0)), "a\\.\\001.");
});

test("parseMessage agrees with dns-packet on records, offsets and EDNS", () => {
  const wire = upstreamWire("cname.example", "A", {
    answers: [cname("cname.example", "a.example", 200), a("a.example", "192.0.2.1", 300)],
    authorities: [soa("example", 300, 120)],
  });
  const m = parseMessage(wire)!;
  assert.ok(m);
  assert.equal(m.question && nameToText(m.question.name), "cname.example.");
  assert.deepEqual(
    m.records.map((r) => [r.section, r.type, r.ttl]),
    [
      [0, 5, 200],
      [0, 1, 300],
      [1, 6, 300],
      [2, 41, 0],
    ],
  );
  assert.deepEqual(m.edns, { udpSize: 1232, extRcode: 0, version: 0, do: false });
  assert.equal(negativeTtl(wire, m), 120);
  assert.equal(nameToText(expandRdata(wire, m.records[0]!)!), "a.example.");
});

test("fuzz: parseMessage never throws on random or mutated messages", () => {
  const base = upstreamWire("cname.example", "A", {
    answers: [cname("cname.example", "a.example"), a("a.example", "192.0.2.1")],
    authorities: [soa("example")],
  });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      const m = parseMessage(b);
      if (m) for (const r of m.records) assert.ok(r.end <= b.length);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.nat(base.length),
      (edits, cut) => {
        const b = base.slice(0, Math.max(cut, 1));
        for (const [i, v] of edits) if (i < b.length) b[i] = v;
        const m = parseMessage(b);
        if (m) for (const r of m.records) expandRdata(b, r);
      },
    ),
    { numRuns: 3000 },
  );
  // and what dns-packet writes, we read
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { minLength: 1, maxLength: 5 }),
      (labels) => {
        const name = labels.join(".");
        const wire = new Uint8Array(
          dnsPacket.encode({ type: "query", id: 1, questions: [{ name, type: "AAAA", class: "IN" }] }),
        );
        assert.equal(nameToText(parseMessage(wire)!.question!.name), `${name}.`);
      },
    ),
  );
});

/** RFC 1035 §4.1.4 name reading, written the plain way, as the oracle for readName and skipName. */
function referenceName(msg: Uint8Array, offset: number): { name: number[]; end: number } | undefined {
  const out: number[] = [];
  let pos = offset;
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (pos >= msg.length) return undefined;
    const len = msg[pos]!;
    if (len === 0) {
      out.push(0);
      return { name: out, end: end < 0 ? pos + 1 : end };
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) return undefined;
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (end < 0) end = pos + 2;
      if (target >= pos || ++jumps > 64) return undefined;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0 || pos + 1 + len > msg.length || out.length + 1 + len + 1 > 255) return undefined;
    out.push(...msg.subarray(pos, pos + 1 + len));
    pos += 1 + len;
  }
}

test("fuzz: readName and skipName agree with a plain reading at every offset of mutated messages", () => {
  const base = upstreamWire("cname.example", "A", {
    answers: [cname("cname.example", "a.example"), a("a.example", "192.0.2.1")],
    authorities: [soa("example")],
  });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(base.length),
      (edits, cut) => {
        const b = base.slice(0, Math.max(cut, 1));
        for (const [i, v] of edits) if (i < b.length) b[i] = v;
        for (let o = 0; o <= b.length; o++) {
          const want = referenceName(b, o);
          const got = readName(b, o);
          assert.deepEqual(got && { name: [...got.name], end: got.end }, want, `offset ${o}`);
          assert.equal(skipName(b, o), want ? want.end : -1, `offset ${o}`);
        }
      },
    ),
    { numRuns: 500 },
  );
  // the SOA MINIMUM is read past two compressed names
  const neg = parseMessage(base)!;
  const soaRecord = neg.records.find((r) => r.type === 6)!;
  assert.equal(soaMinimum(base, soaRecord), 120);
  assert.equal(negativeTtl(base, neg), 120);
});

test("fuzz: buildReply's compressed owner names decode (dns-packet) to the records written", () => {
  const pool = ["a.example", "b.a.example", "A.example", "c.example", "example"];
  const rec = fc.record({
    name: fc.constantFrom(...pool),
    kind: fc.constantFrom("A", "AAAA", "CNAME", "TXT"),
    target: fc.constantFrom(...pool),
    ttl: fc.nat(86400),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(...pool),
      fc.array(fc.array(rec, { maxLength: 8 }), { minLength: 3, maxLength: 3 }),
      (q, secs) => {
        const rdata = (r: (typeof secs)[0][0]): [number, Uint8Array] => {
          switch (r.kind) {
            case "A":
              return [1, Uint8Array.of(192, 0, 2, 1)];
            case "AAAA":
              return [28, new Uint8Array(16).fill(7)];
            case "CNAME":
              return [5, textToName(r.target)];
            default:
              return [16, Uint8Array.of(2, 0x68, 0x69)];
          }
        };
        const sections = secs.map((s) =>
          s.map((r): OutRecord => {
            const [type, data] = rdata(r);
            return { name: textToName(r.name), type, class: 1, ttl: r.ttl, rdata: data };
          }),
        ) as [OutRecord[], OutRecord[], OutRecord[]];
        const reply = buildReply(textToName(q), 28, 1, 0, sections, 60);
        const p = dnsPacket.decode(Buffer.from(reply.wire));
        const got = [p.answers, p.authorities, p.additionals].map((s) =>
          (s ?? []).map(
            (r) =>
              `${r.name} ${r.type} ${(r as { ttl?: number }).ttl}${r.type === "CNAME" ? ` ${r.data}` : ""}`,
          ),
        );
        const want = secs.map((s) =>
          s.map((r) => `${r.name} ${r.kind} ${r.ttl}${r.kind === "CNAME" ? ` ${r.target}` : ""}`),
        );
        assert.deepEqual(got, want);
        assert.equal(p.questions![0]!.name, q);
        // the TTL offsets still point at the TTL fields
        for (const o of reply.ttlOffsets) assert.ok(o + 4 <= reply.wire.length);
      },
    ),
    { numRuns: 500 },
  );
});
