/**
 * The translator's self-test (src/datapath/siit/probe.ts): it passes on every configuration the
 * translator accepts, fails when the translation goes wrong, and leaves nothing behind (no
 * counter, no NAT64 state, the context's per-packet fields as they were, live traffic translated
 * exactly as without it).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Nat64Translator } from "../../../src/datapath/nat64/translator.ts";
import { type SiitConfig, SiitTranslator, Verdict } from "../../../src/datapath/siit/index.ts";
import { addressOf, prefixOf } from "../../../src/util/net.ts";
import { nat64Config, pkt6 } from "../nat64/packets.ts";
import { bytes, ipv6Packet } from "./build.ts";

const base: SiitConfig = { pool6: prefixOf("64:ff9b::/96", 6) };
const udp6 = () =>
  ipv6Packet("64:ff9b::c000:201", "64:ff9b::c633:6401", {
    proto: 17,
    srcPort: 1000,
    dstPort: 53,
    payload: bytes(32),
  });

describe("the translator's probe", () => {
  it("passes on the configurations a translator accepts", () => {
    const configs: SiitConfig[] = [
      base,
      { ...base, resetTrafficClass: true },
      { ...base, ipv4LinkMtu: 68, ipv6LinkMtu: 1280, lowestIpv6Mtu: 1280 },
      { ...base, amendUdpChecksumZero: true, hostErrorSource: true },
      { pool6: null, eamt: [{ ipv6: prefixOf("2001:db8:6::/120", 6), ipv4: prefixOf("192.0.2.0/24", 4) }] },
      { pool6: prefixOf("2001:db8:100::/40", 6), ownIpv4: addressOf("198.51.100.9", 4) },
    ];
    for (const c of configs) assert.equal(new SiitTranslator(c).probe(), null, JSON.stringify(c));
    assert.equal(new Nat64Translator(nat64Config()).siit.probe(), null, "a NAT64's SIIT core");
  });

  it("fails, saying where, when the translation goes wrong", () => {
    const why = new SiitTranslator(base).probe(true);
    assert.match(why ?? "", /^4→6 \(general path\): not the datagram it started from \(byte 4[0-3]\)$/);
    // a translator whose configuration went bad: the fast path declines, the general path refuses
    const tr = new SiitTranslator(base);
    tr.ctx.cfg = { ...tr.ctx.cfg, ipv4LinkMtu: 20 };
    assert.equal(tr.probe(), "6→4 (fast path): the fast path declined a plain UDP datagram");
  });

  it("moves no counter and leaves live traffic as it was (stateless)", () => {
    const probed = new SiitTranslator(base);
    const plain = new SiitTranslator(base);
    probed.ctx.csumPartial = true;
    probed.ctx.csumStart = 40;
    probed.ctx.csumOffset = 6;
    probed.ctx.gsoSize = 1400;
    for (let i = 0; i < 3; i++) assert.equal(probed.probe(), null);
    const c = probed.ctx;
    assert.deepEqual([c.csumPartial, c.csumStart, c.csumOffset, c.gsoSize], [true, 40, 6, 1400]);
    c.csumPartial = false;
    c.gsoSize = 0;
    assert.equal(probed.translatedCount, 0);
    assert.equal(probed.icmpErrorsSent, 0);
    assert.ok(probed.dropCounters.every((n) => n === 0));
    // the same packet, translated by both: byte for byte the same (the IPv4 Identification too)
    for (let i = 0; i < 3; i++) {
      assert.equal(probed.translate(udp6()), Verdict.Translated);
      assert.equal(plain.translate(udp6()), Verdict.Translated);
      assert.deepEqual(probed.outputs(), plain.outputs());
      assert.equal(probed.probe(), null);
    }
    assert.equal(probed.translatedCount, 3);
  });

  it("creates no BIB entry or session, takes no pool4 port, moves no counter (stateful)", () => {
    const nat = new Nat64Translator(nat64Config());
    for (let i = 0; i < 3; i++) assert.equal(nat.siit.probe(), null);
    const st = nat.state;
    assert.equal(st.totalSessions(), 0);
    assert.deepEqual([...st.bibCount], [0, 0, 0]);
    assert.deepEqual(
      [0, 1, 2].map((p) => st.pool.used(p)),
      [0, 0, 0],
    );
    assert.equal(nat.packets6to4 + nat.packets4to6 + nat.icmpErrorsSent, 0);
    assert.ok(nat.drops.every((n) => n === 0) && nat.siit.dropCounters.every((n) => n === 0));
    // and the live mapping still translates
    assert.equal(
      nat.translate(pkt6("udp", "2001:db8:1::10", 40000, "2001:db8:64::cb00:710a", 9)),
      Verdict.Translated,
    );
    assert.equal(st.totalSessions(), 1);
  });
});
