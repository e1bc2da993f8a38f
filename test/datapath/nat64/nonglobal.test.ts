/**
 * RFC 6052 §3.1: with the Well-Known Prefix 64:ff9b::/96, a packet whose
 * address embeds a non-global IPv4 address is dropped and counted, never
 * translated; a network-specific prefix translates the same addresses.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Nat64Drop } from "../../../src/datapath/nat64/drops.ts";
import { Nat64Translator, Verdict } from "../../../src/datapath/nat64/translator.ts";
import { isNonGlobal4 } from "../../../src/datapath/siit/index.ts";
import { prefixOf } from "../../../src/util/net.ts";
import { n4, nat64Config, pkt4, pkt6 } from "./packets.ts";

const H = "2001:db8:1::10";
const NON_GLOBAL = [
  "0.0.0.1",
  "10.1.2.3",
  "100.64.0.1",
  "100.127.255.254",
  "127.0.0.1",
  "169.254.1.1",
  "172.16.0.1",
  "172.31.255.255",
  "192.168.1.1",
  "224.0.0.251",
  "239.255.255.250",
  "240.0.0.1",
  "255.255.255.255",
];
const GLOBAL = [
  "1.1.1.1",
  "100.63.255.255",
  "100.128.0.0",
  "172.15.255.255",
  "172.32.0.0",
  "192.169.0.1",
  "223.255.255.255",
];
/** Not globally reachable either, but test labs use them behind 64:ff9b::/96 (rfc6052.ts). */
const LABS = ["192.0.2.1", "198.51.100.200", "203.0.113.1", "198.18.0.1"];

/** The Well-Known Prefix image of an IPv4 address. */
function wkp(v4: string): string {
  const n = n4(v4);
  return `64:ff9b::${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
}

describe("non-global IPv4 addresses (RFC 6052 §3.1)", () => {
  it("isNonGlobal4 knows each block and its edges, and agrees with the CIDR list everywhere", () => {
    for (const a of NON_GLOBAL) assert.equal(isNonGlobal4(n4(a)), true, a);
    for (const a of [...GLOBAL, ...LABS]) assert.equal(isNonGlobal4(n4(a)), false, a);
    const blocks = [
      "0.0.0.0/8",
      "10.0.0.0/8",
      "100.64.0.0/10",
      "127.0.0.0/8",
      "169.254.0.0/16",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "224.0.0.0/4",
      "240.0.0.0/4",
    ].map((c) => {
      const [net, len] = c.split("/");
      return [n4(net!), Number(len)] as const;
    });
    const inList = (a: number) => blocks.some(([net, len]) => a >>> (32 - len) === net >>> (32 - len));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => isNonGlobal4(a) === inList(a)),
      { numRuns: 20_000 },
    );
  });

  it("with 64:ff9b::/96: dropped and counted, never translated, in both directions", () => {
    const nat = new Nat64Translator(nat64Config({ pool6: prefixOf("64:ff9b::/96") }));
    for (const a of NON_GLOBAL) {
      assert.equal(nat.translate(pkt6("udp", H, 5000, wkp(a), 53), undefined, 1000), Verdict.Drop, a);
      assert.equal(nat.translate(pkt6("icmp", H, 7, wkp(a), 7), undefined, 1000), Verdict.Drop, a);
    }
    assert.equal(nat.drops[Nat64Drop.NonGlobalIpv4], 2 * NON_GLOBAL.length);
    assert.equal(nat.state.sessions.size, 0);
    // Global and lab addresses pass, and open a mapping...
    for (const a of [...GLOBAL, ...LABS])
      assert.equal(nat.translate(pkt6("udp", H, 5000, wkp(a), 53), undefined, 1000), Verdict.Translated, a);
    // ...on which a non-global IPv4 host cannot write (endpoint-independent filtering would let it).
    const port4 = [...nat.state.bib6.values()][0]!.port4;
    const v4 = [...nat.state.bib6.values()][0]!.v4;
    const pool = `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
    assert.equal(nat.translate(pkt4("udp", "10.0.0.9", 53, pool, port4), undefined, 1000), Verdict.Drop);
    assert.equal(nat.translate(pkt4("udp", "8.8.8.8", 53, pool, port4), undefined, 1000), Verdict.Translated);
    assert.equal(nat.drops[Nat64Drop.NonGlobalIpv4], 2 * NON_GLOBAL.length + 1);
  });

  it("with a network-specific prefix the same addresses are translated", () => {
    const nat = new Nat64Translator(nat64Config());
    for (const a of ["10.1.2.3", "192.168.1.1", "172.16.0.1"]) {
      const n = n4(a);
      const dst = `2001:db8:64::${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
      assert.equal(nat.translate(pkt6("udp", H, 5000, dst, 53), undefined, 1000), Verdict.Translated, a);
    }
    assert.equal(nat.drops[Nat64Drop.NonGlobalIpv4], 0);
  });
});
