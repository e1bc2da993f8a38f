/**
 * Limits per client (RFC 6888 §3 REQ-4 ports, REQ-5 state per subscriber) and
 * the session table's default size: one client plays the attacker, taking
 * ports and sessions as fast as it can, and the others keep working.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Nat64Drop } from "../../../src/datapath/nat64/drops.ts";
import { bibV6 } from "../../../src/datapath/nat64/state.ts";
import { type ClientLimits, Nat64Translator, Verdict } from "../../../src/datapath/nat64/translator.ts";
import { n4, nat64Config, pkt4, pkt6 } from "./packets.ts";

const SRV6 = "2001:db8:64::cb00:710a";
/** The IPv6 image of 203.0.113.k (the remote hosts of the session flood). */
const remote6 = (k: number) => `2001:db8:64::cb00:71${(k & 0xff).toString(16).padStart(2, "0")}`;
const ONE_ADDRESS = [{ first: n4("198.51.100.1"), last: n4("198.51.100.1"), portMin: 1024, portMax: 2047 }];

function nat(limits: ClientLimits, over = {}): Nat64Translator {
  return new Nat64Translator(nat64Config({ pool4: ONE_ADDRESS, limits, ...over }));
}
const udp = (t: Nat64Translator, src: string, sport: number, dst = SRV6, dport = 9, now = 1000) =>
  t.translate(pkt6("udp", src, sport, dst, dport), undefined, now);

describe("ports per client (RFC 6888 §3 REQ-4)", () => {
  it("a /64 flooding from many addresses and ports gets its limit; another /64 still gets ports", () => {
    const t = nat({ prefixLength: 64, ports: 100, sessions: 10_000 });
    let ok = 0;
    // The attacker: 1,000 flows from 50 addresses of its /64, 20 ports each.
    for (let i = 0; i < 1000; i++) {
      if (udp(t, `2001:db8:1:1::${(i % 50) + 1}`, 10_000 + i) === Verdict.Translated) ok++;
    }
    assert.equal(ok, 100);
    assert.equal(t.drops[Nat64Drop.ClientPortLimit], 900);
    // Refused with ICMPv6 1/1 (administratively prohibited), once the error rate allows (a second later).
    assert.equal(udp(t, "2001:db8:1:1::1", 30_000, SRV6, 9, 2000), Verdict.IcmpReply);
    const e = t.outputs()[0]!;
    assert.deepEqual([e[40], e[41]], [1, 1]);
    // The victim, in another /64, is not affected.
    for (let i = 0; i < 50; i++) assert.equal(udp(t, "2001:db8:1:2::7", 20_000 + i), Verdict.Translated);
    assert.equal(t.state.pool.used(1), 150);
    assert.equal(t.state.totalClients(), 2);
  });

  it("prefix length 128 counts each address; ports come back when the sessions expire", () => {
    const t = nat({ prefixLength: 128, ports: 2, sessions: 100 });
    for (const a of ["2001:db8:1:1::1", "2001:db8:1:1::2"]) {
      assert.equal(udp(t, a, 1), Verdict.Translated);
      assert.equal(udp(t, a, 2), Verdict.Translated);
      assert.equal(udp(t, a, 3), Verdict.IcmpReply);
    }
    assert.equal(t.state.totalClients(), 2);
    t.tick(1000 + 301_000);
    assert.equal(t.state.totalClients(), 0);
    assert.equal(udp(t, "2001:db8:1:1::1", 3, SRV6, 9, 400_000), Verdict.Translated);
  });
});

describe("sessions per client (RFC 6888 §3 REQ-5)", () => {
  it("one port talking to many remotes gets its limit, outbound and inbound; others keep theirs", () => {
    const t = nat({ prefixLength: 64, ports: 1000, sessions: 10 });
    let ok = 0;
    for (let k = 1; k <= 40; k++)
      if (udp(t, "2001:db8:1:1::1", 5000, remote6(k), 53) === Verdict.Translated) ok++;
    assert.equal(ok, 10);
    assert.equal(t.drops[Nat64Drop.ClientSessionLimit], 30);
    // No BIB entry is left behind by a refused first session of a new port.
    assert.equal(udp(t, "2001:db8:1:1::1", 5001, remote6(99), 53), Verdict.IcmpReply);
    assert.equal(t.state.bib6.size, 1);
    // A new IPv4 host writing to the mapping (endpoint-independent filtering) is refused too.
    const port4 = [...t.state.bib6.values()][0]!.port4;
    assert.equal(
      t.translate(pkt4("udp", "203.0.113.200", 53, "198.51.100.1", port4), undefined, 1000),
      Verdict.Drop,
    );
    assert.equal(t.drops[Nat64Drop.ClientSessionLimit], 32);
    assert.equal(udp(t, "2001:db8:1:2::1", 5000, SRV6, 53), Verdict.Translated);
    assert.equal(t.state.sessions.size, 11);
  });

  it("the counts follow the tables through any sequence of flows and expiries (reference model)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 3 }),
            fc.integer({ min: 1, max: 6 }),
            fc.integer({ min: 1, max: 4 }),
            fc.boolean(),
          ),
          {
            maxLength: 120,
          },
        ),
        (ops) => {
          const lim = { prefixLength: 64, ports: 4, sessions: 6 };
          const t = nat(lim);
          let now = 1000;
          for (const [net, port, remote, wait] of ops) {
            if (wait) now += 100_000;
            t.tick(now);
            udp(t, `2001:db8:1:${net}::${port}`, port, remote6(remote), 53, now);
          }
          // Per /64: ports = its BIB entries, sessions = theirs, never above the limits.
          const byNet = new Map<number, [number, number]>();
          for (const b of t.state.bib6.values()) {
            const net = bibV6(b)[7]!;
            const [p, s] = byNet.get(net) ?? [0, 0];
            byNet.set(net, [p + 1, s + b.nSessions]);
          }
          for (const b of t.state.bib6.values())
            assert.deepEqual(t.state.clientUsage(b.slot), byNet.get(bibV6(b)[7]!));
          for (const [p, s] of byNet.values()) assert.ok(p <= lim.ports && s <= lim.sessions);
          assert.equal(t.state.totalClients(), byNet.size);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("the session table's limit", () => {
  it("defaults to one session per pool4 port and protocol (at least 65,536), not a fixed million", () => {
    const big = new Nat64Translator(nat64Config());
    assert.equal(big.state.maxSessions, 8 * 64512 * 3);
    assert.equal(nat({ prefixLength: 64, ports: 1, sessions: 1 }).state.maxSessions, 65_536);
    assert.equal(nat({ prefixLength: 64, ports: 1, sessions: 1 }, { maxSessions: 7 }).state.maxSessions, 7);
  });
});
