/**
 * RFC 4443 §2.4 (f): every ICMP error a translator originates is rate-limited
 * (token bucket); the ones over the rate are not sent, and are counted.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Nat64Drop } from "../../../src/datapath/nat64/drops.ts";
import { Nat64Translator } from "../../../src/datapath/nat64/translator.ts";
import { IcmpRateLimit } from "../../../src/datapath/siit/icmpRate.ts";
import { SiitTranslator, Verdict } from "../../../src/datapath/siit/index.ts";
import { baseSiitConfig } from "../../conformance/jool-suite.ts";
import { nat64Config, pkt6 } from "../nat64/packets.ts";
import { bytes, ipv6Packet } from "./build.ts";

describe("ICMP error rate limit (RFC 4443 §2.4 f)", () => {
  it("a token bucket: a burst, then the rate; never more than burst + rate x time", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }),
        (perSecond, burst, gaps) => {
          const b = new IcmpRateLimit({ perSecond, burst });
          let now = 1_000_000;
          let sent = 0;
          for (const g of gaps) {
            now += g;
            if (b.take(now)) sent++;
          }
          const elapsed = now - 1_000_000;
          assert.ok(sent <= burst + (elapsed * perSecond) / 1000, `${sent} sent in ${elapsed} ms`);
          assert.equal(sent + b.suppressed, gaps.length);
        },
      ),
    );
    const b = new IcmpRateLimit({ perSecond: 1000, burst: 50 });
    let sent = 0;
    for (let i = 0; i < 200; i++) if (b.take(5)) sent++;
    assert.equal(sent, 50);
    assert.equal(b.take(6), true, "one token a millisecond at 1000/s");
    assert.equal(b.take(6), false);
  });

  it("NAT64: errors for sources outside allowedSources are limited; every refusal is still counted", () => {
    const nat = new Nat64Translator(nat64Config({ icmpRate: { perSecond: 10, burst: 5 } }));
    const out = (now: number) =>
      nat.translate(pkt6("udp", "2001:db8:99::1", 1, "2001:db8:64::cb00:710a", 9), undefined, now);
    const verdicts = Array.from({ length: 100 }, () => out(1000));
    assert.equal(verdicts.filter((v) => v === Verdict.IcmpReply).length, 5);
    assert.equal(nat.drops[Nat64Drop.SourceNotAllowed], 100);
    assert.equal(nat.icmpErrorsSent, 5);
    assert.equal(nat.icmpRate.suppressed, 95);
    // A second later the bucket holds 5 tokens again (10/s, capped at the burst).
    assert.equal(
      Array.from({ length: 20 }, () => out(2000)).filter((v) => v === Verdict.IcmpReply).length,
      5,
    );
  });

  it("NAT64: its SIIT core's errors (hop limit exceeded) take from the same bucket", () => {
    const nat = new Nat64Translator(nat64Config({ icmpRate: { perSecond: 10, burst: 5 } }));
    const p = pkt6("udp", "2001:db8:1::10", 1, "2001:db8:64::cb00:710a", 9, { hop: 1 });
    const replies = Array.from({ length: 30 }, () => nat.translate(p, undefined, 1000)).filter(
      (v) => v === Verdict.IcmpReply,
    ).length;
    assert.equal(replies, 5);
    assert.equal(nat.icmpRate.suppressed, 25);
  });

  it("SIIT: Time Exceeded is limited on its own clock", () => {
    let now = 0;
    const tr = new SiitTranslator(baseSiitConfig(), {
      icmpRate: new IcmpRateLimit({ perSecond: 100, burst: 3 }),
      clock: () => now,
    });
    const p = ipv6Packet(
      "2001:db8:1c0:2:21::",
      "2001:db8:1c6:3364:2::",
      { proto: 17, payload: bytes(10) },
      1,
    );
    const n = () =>
      Array.from({ length: 10 }, () => tr.translate(p)).filter((v) => v === Verdict.IcmpReply).length;
    assert.equal(n(), 3);
    now = 10;
    assert.equal(n(), 1);
    assert.equal(tr.icmpRate.suppressed, 16);
  });
});
