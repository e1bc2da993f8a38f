// RFC 6147 decisions as pure functions: upstream answers written with dns-packet go in, our
// answers come out and are decoded with dns-packet.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  aFailure,
  ipv4onlyAnswer,
  judgeAaaa,
  planQuery,
  ptrAnswer,
  ptrTarget,
  reverseNodata,
  synthesize,
} from "../../../src/services/dns64/synth.ts";
import { FLAG, nameToText, textToName } from "../../../src/services/dns64/wire.ts";
import { a, aaaa, cname, config, decode, expand6, soa, upstreamReply } from "./helpers.ts";

const NAME = "host.example";
const qn = textToName(NAME);

const synthAddrs = (wire: Uint8Array) =>
  decode(wire)
    .answers!.filter((r) => r.type === "AAAA")
    .map((r) => expand6(r.data as string));

test("§5.1.1/§5.1.6: NODATA for AAAA + A records → AAAA synthesized with the PREF64", () => {
  const cfg = config();
  const aaaaR = upstreamReply(NAME, "AAAA", { authorities: [soa("example", 300, 120)] });
  assert.equal(judgeAaaa(cfg, aaaaR).kind, "synthesize");
  const aR = upstreamReply(NAME, "A", { answers: [a(NAME, "192.0.2.1", 300), a(NAME, "192.0.2.2", 30)] });
  const out = synthesize(cfg, qn, aaaaR, aR, false)!;
  assert.deepEqual(synthAddrs(out.wire), [expand6("64:ff9b::192.0.2.1"), expand6("64:ff9b::192.0.2.2")]);
  const p = decode(out.wire);
  // §5.1.7: min(A TTL, SOA negative TTL = min(SOA TTL 300, MINIMUM 120))
  assert.deepEqual(
    p.answers!.map((r) => r.ttl),
    [120, 30],
  );
  assert.equal(out.ttl, 30);
  assert.equal(p.authorities!.length, 0);
});

test("§5.1.7: without an SOA the synthesized TTL is at most 600 s", () => {
  const cfg = config();
  const aaaaR = upstreamReply(NAME, "AAAA", { rcode: "SERVFAIL" });
  const aR = upstreamReply(NAME, "A", { answers: [a(NAME, "192.0.2.1", 86400)] });
  const out = synthesize(cfg, qn, aaaaR, aR, false)!;
  assert.equal(decode(out.wire).answers![0]!.ttl, 600);
});

test("§5.1.2: NXDOMAIN is returned as is; any other error RCODE is treated as NODATA", () => {
  const cfg = config();
  const nx = upstreamReply(NAME, "AAAA", { rcode: "NXDOMAIN", authorities: [soa("example")] });
  const v = judgeAaaa(cfg, nx);
  assert.equal(v.kind, "answer");
  for (const rcode of ["SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"]) {
    assert.equal(judgeAaaa(cfg, upstreamReply(NAME, "AAAA", { rcode })).kind, "synthesize", rcode);
  }
});

test("§5.1.4: AAAA inside exclude count as absent; mixed answers lose the excluded ones", () => {
  const cfg = config();
  const mapped = upstreamReply(NAME, "AAAA", { answers: [aaaa(NAME, "::ffff:192.0.2.3")] });
  assert.equal(judgeAaaa(cfg, mapped).kind, "synthesize");
  const mixed = upstreamReply(NAME, "AAAA", {
    answers: [aaaa(NAME, "::ffff:192.0.2.4"), aaaa(NAME, "2001:db8::4")],
  });
  const v = judgeAaaa(cfg, mixed);
  assert.equal(v.kind, "answer");
  if (v.kind === "answer") assert.deepEqual(synthAddrs(v.reply.wire), [expand6("2001:db8::4")]);
  const real = upstreamReply(NAME, "AAAA", { answers: [aaaa(NAME, "2001:db8::2")] });
  const r = judgeAaaa(cfg, real);
  assert.ok(r.kind === "answer" && r.reply === real, "a usable answer is passed through untouched");
  // nothing to synthesize from: the fallback has no excluded record (NODATA), §5.1.4
  const vm = judgeAaaa(cfg, mapped);
  assert.ok(vm.kind === "synthesize" && vm.nodata);
  if (vm.kind === "synthesize") assert.deepEqual(decode(vm.fallback.wire).answers, []);
  // an empty exclude list keeps mapped addresses
  assert.equal(judgeAaaa(config("64:ff9b::/96", { exclude: [] }), mapped).kind, "answer");
});

test("alwaysSynthesize replaces real AAAA with synthesized ones", () => {
  const cfg = config("64:ff9b::/96", { alwaysSynthesize: true });
  const real = upstreamReply(NAME, "AAAA", { answers: [aaaa(NAME, "2001:db8::2")] });
  assert.equal(judgeAaaa(cfg, real).kind, "synthesize");
  const out = synthesize(
    cfg,
    qn,
    real,
    upstreamReply(NAME, "A", { answers: [a(NAME, "192.0.2.2")] }),
    false,
  )!;
  assert.deepEqual(synthAddrs(out.wire), [expand6("64:ff9b::192.0.2.2")]);
});

test("§5.1.3: CNAME chains are kept; synthesis follows the chain's A records", () => {
  const cfg = config("2001:db8:100::/40");
  const aaaaR = upstreamReply(NAME, "AAAA", {
    answers: [cname(NAME, "b.example", 200)],
    authorities: [soa("example", 300, 100)],
  });
  assert.equal(judgeAaaa(cfg, aaaaR).kind, "synthesize");
  const aR = upstreamReply(NAME, "A", {
    answers: [cname(NAME, "b.example", 200), a("b.example", "192.0.2.33", 300)],
  });
  const p = decode(synthesize(cfg, qn, aaaaR, aR, false)!.wire);
  assert.deepEqual(
    p.answers!.map((r) => [r.type, r.name, r.type === "AAAA" ? expand6(r.data as string) : r.data, r.ttl]),
    [
      ["CNAME", NAME, "b.example", 200],
      ["AAAA", "b.example", expand6("2001:db8:1c0:2:21::"), 100],
    ],
  );
});

test("§5.1.6: no A records → nothing to synthesize (the AAAA answer stands)", () => {
  const cfg = config();
  const aaaaR = upstreamReply(NAME, "AAAA", { authorities: [soa("example")] });
  assert.equal(
    synthesize(cfg, qn, aaaaR, upstreamReply(NAME, "A", { authorities: [soa("example")] }), false),
    undefined,
  );
  assert.equal(synthesize(cfg, qn, aaaaR, upstreamReply(NAME, "A", { rcode: "SERVFAIL" }), false), undefined);
});

test("a failed A query after AAAA NODATA: its RCODE, CNAME chain and SOA under the AAAA question", () => {
  const aR = upstreamReply(NAME, "A", {
    rcode: "NXDOMAIN",
    answers: [cname(NAME, "gone.example", 200)],
    authorities: [soa("example", 300, 45)],
  });
  const p = decode(aFailure(qn, aR, false).wire);
  assert.equal(p.rcode, "NXDOMAIN");
  assert.deepEqual(p.questions, [{ name: NAME, type: "AAAA", class: "IN" }]);
  assert.deepEqual(
    p.answers.map((r) => `${r.type} ${r.data}`),
    ["CNAME gone.example"],
  );
  assert.deepEqual(
    p.authorities.map((r) => r.type),
    ["SOA"],
  );
  const sf = aFailure(qn, upstreamReply(NAME, "A", { rcode: "SERVFAIL" }), false);
  assert.equal(decode(sf.wire).rcode, "SERVFAIL");
  assert.equal(sf.ttl, 0, "a SERVFAIL is not cached");
});

test("§5.5: DO+CD turns synthesis off; CD alone or DO alone keeps it", () => {
  const cfg = config();
  const AAAA = 28;
  assert.equal(planQuery(cfg, qn, AAAA, 1, true, true).kind, "forward");
  assert.equal(planQuery(cfg, qn, AAAA, 1, false, true).kind, "aaaa");
  assert.equal(planQuery(cfg, qn, AAAA, 1, true, false).kind, "aaaa");
  assert.equal(planQuery(cfg, qn, 1, 1, false, false).kind, "forward");
  assert.equal(planQuery(cfg, qn, AAAA, 3 /* CH */, false, false).kind, "forward");
});

test("§5.5: AD survives only when both upstream answers carried it", () => {
  const cfg = config();
  const ad = FLAG.AD | FLAG.RD | FLAG.RA;
  const aaaaAd = upstreamReply(NAME, "AAAA", { authorities: [soa("example")], flags: ad });
  const aAd = upstreamReply(NAME, "A", { answers: [a(NAME, "192.0.2.1")], flags: ad });
  const aNo = upstreamReply(NAME, "A", { answers: [a(NAME, "192.0.2.1")] });
  assert.ok(synthesize(cfg, qn, aaaaAd, aAd, true)!.wire[3]! & FLAG.AD);
  assert.equal(synthesize(cfg, qn, aaaaAd, aNo, true)!.wire[3]! & FLAG.AD, 0);
});

test("§5.3.1: PTR under the PREF64's ip6.arpa maps to in-addr.arpa and is re-owned", () => {
  for (const [prefix, addr] of [
    ["64:ff9b::/96", "64:ff9b::c000:221"],
    ["2001:db8::/32", "2001:db8:c000:221::"],
    ["2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"],
  ] as const) {
    const cfg = config(prefix);
    const nibbles = expand6(addr)
      .split(":")
      .map((g) => g.padStart(4, "0"))
      .join("")
      .split("")
      .reverse()
      .join(".");
    const q = textToName(`${nibbles}.ip6.arpa`);
    const target = ptrTarget(cfg, q)!;
    assert.equal(nameToText(target), "33.2.0.192.in-addr.arpa.", prefix);
    const inAddr = upstreamReply("33.2.0.192.in-addr.arpa", "PTR", {
      answers: [
        { type: "PTR", name: "33.2.0.192.in-addr.arpa", ttl: 300, class: "IN", data: "host.example" },
      ],
    });
    const p = decode(ptrAnswer(q, target, inAddr).wire);
    assert.equal(p.answers![0]!.name, `${nibbles}.ip6.arpa`);
    assert.equal(p.answers![0]!.data, "host.example");
  }
  assert.equal(
    ptrTarget(config(), textToName(`${"1.".repeat(32)}ip6.arpa`)),
    undefined,
    "outside the prefix",
  );
});

test("§5.3.1: a PTR name of the PREF64's zone with fewer nibbles than an address → NODATA with the zone's SOA", () => {
  const PTR = 12;
  for (const [prefix, zone] of [
    ["64:ff9b::/96", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa"],
    ["2001:db8::/32", "8.b.d.0.1.0.0.2.ip6.arpa"],
    ["2001:db8:122:344::/64", "4.4.3.0.2.2.1.0.8.b.d.0.1.0.0.2.ip6.arpa"],
  ] as const) {
    const cfg = config(prefix);
    const zoneNibbles = zone.split(".").length - 2;
    for (let extra = 0; extra + zoneNibbles < 32; extra++) {
      const name = `${"0.".repeat(extra)}${zone}`;
      const plan = planQuery(cfg, textToName(name), PTR, 1, false, false);
      assert.equal(plan.kind, "reverseNodata", `${prefix}: ${name}`);
    }
    // a whole address is a PTR to map, the labels above the zone and other names are forwarded
    const whole = textToName(`${"0.".repeat(32 - zoneNibbles)}${zone}`);
    assert.notEqual(planQuery(cfg, whole, PTR, 1, false, false).kind, "reverseNodata", prefix);
    for (const other of [zone.split(".").slice(1).join("."), `x.${zone}`, `00.${zone}`, `0.x.${zone}`]) {
      assert.equal(
        planQuery(cfg, textToName(other), PTR, 1, false, false).kind,
        "forward",
        `${prefix}: ${other}`,
      );
    }
    assert.equal(planQuery(cfg, textToName(`0.${zone}`), 16, 1, false, false).kind, "forward", "PTR only");
    const p = decode(reverseNodata(cfg, textToName(`A.${zone}`), PTR, 1).wire);
    assert.equal(p.rcode, "NOERROR");
    assert.deepEqual(p.answers, []);
    assert.deepEqual(
      p.authorities.map((r) => [r.type, r.name, r.ttl, r.data.minimum]),
      [["SOA", zone, 600, 600]],
    );
    assert.equal(p.questions[0]!.name, `A.${zone}`);
  }
});

test("RFC 8880 §7.2: ipv4only.arpa answered locally with both well-known addresses", () => {
  const cfg = config("2001:db8:122::/48");
  const name = textToName("ipv4only.arpa");
  assert.equal(planQuery(cfg, name, 28, 1, false, false).kind, "ipv4only");
  assert.deepEqual(synthAddrs(ipv4onlyAnswer(cfg, name, 28, 1).wire), [
    expand6("2001:db8:122:c000:0:aa00::"),
    expand6("2001:db8:122:c000:0:ab00::"),
  ]);
  assert.deepEqual(
    decode(ipv4onlyAnswer(cfg, name, 1, 1).wire).answers!.map((r) => r.data),
    ["192.0.0.170", "192.0.0.171"],
  );
  assert.equal(decode(ipv4onlyAnswer(cfg, name, 16, 1).wire).answers!.length, 0);
  assert.equal(decode(ipv4onlyAnswer(cfg, textToName("x.ipv4only.arpa"), 28, 1).wire).rcode, "NXDOMAIN");
});
