/**
 * Multi-queue stateful NAT64 (src/datapath/nat64/shard.ts): the worker a
 * packet goes to owns its BIB entry, in both directions and for the ICMP
 * errors about it; each worker hands out only its own ports.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Pool4 } from "../../../src/datapath/nat64/pool4.ts";
import { OWNER_FRAGMENT, packetOwner, portOwner } from "../../../src/datapath/nat64/shard.ts";
import { type Nat64Config, Nat64Translator, Verdict } from "../../../src/datapath/nat64/translator.ts";
import { buildIcmp4Error, buildIcmp6Error } from "../../../src/datapath/siit/icmpErrors.ts";
import { a4, a6, n4, nat64Config, pkt4, pkt6, str4, TCP } from "./packets.ts";

const SRV = "203.0.113.10";
const SRV6 = "2001:db8:64::cb00:710a";

function cfg(index: number, count: number): Nat64Config {
  return nat64Config({ share: { index, count } });
}

function read16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

describe("shard: who owns a packet", () => {
  it("a flow's packets, its replies and the ICMP errors about them all go to one worker", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<"tcp" | "udp" | "icmp">("tcp", "udp", "icmp"),
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 2, max: 4 }),
        (proto, sport, dport, host, count) => {
          const src = `2001:db8:1::${host.toString(16)}`;
          const out = pkt6(proto, src, sport, SRV6, dport, { flags: TCP.SYN });
          const owner = packetOwner(out, 0, out.length, count);
          assert.ok(owner >= 0 && owner < count);
          const nat = new Nat64Translator(cfg(owner, count));
          assert.equal(nat.translate(out, out.length, 1000), Verdict.Translated);
          const v4 = nat.outputs()[0]!;
          const pool = str4(v4, 12);
          const port4 = proto === "icmp" ? read16(v4, 24) : read16(v4, 20);
          assert.equal(portOwner(port4, count), owner, "the worker hands out its own ports only");
          // The reply, from the server to the pool4 transport address.
          const back =
            proto === "icmp"
              ? pkt4("icmp", SRV, 0, pool, port4, { type: 0 })
              : pkt4(proto, SRV, dport, pool, port4, { flags: TCP.SYN | TCP.ACK });
          assert.equal(packetOwner(back, 0, back.length, count), owner);
          assert.equal(nat.translate(back, back.length, 1001), Verdict.Translated, "the owner has the state");
          const v6 = nat.outputs()[0]!;
          // An IPv4 router's error about the translated packet (it quotes the pool4 source port).
          const err4 = new Uint8Array(600);
          const n4e = buildIcmp4Error(a4("192.0.2.1"), 3, 1, 0, v4, 0, v4.length, err4, 0);
          assert.equal(packetOwner(err4, 0, n4e, count), owner);
          // An IPv6 router's error about the translated reply (it quotes the host's port).
          const err6 = new Uint8Array(600);
          const n6e = buildIcmp6Error(a6("2001:db8:1::ffff"), 1, 3, 0, v6, 0, v6.length, err6, 0);
          assert.equal(packetOwner(err6, 0, n6e, count), owner);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("non-first fragments have no owner of their own; one worker means worker 0", () => {
    const p = pkt4("udp", SRV, 53, "198.51.100.1", 4000);
    p[6] = 0x00;
    p[7] = 0x10; // offset 16 (×8 bytes)
    assert.equal(packetOwner(p, 0, p.length, 2), OWNER_FRAGMENT);
    assert.equal(packetOwner(p, 0, p.length, 1), 0);
  });

  it("never throws and always answers a worker index on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (b, n) => {
        const o = packetOwner(b, 0, b.length, n);
        assert.ok(o === OWNER_FRAGMENT || (o >= 0 && o < n));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("shard: pool4 shares", () => {
  it("the shares are disjoint, cover the range, and exhaust separately", () => {
    const range = [{ first: n4("198.51.100.1"), last: n4("198.51.100.1"), portMin: 2000, portMax: 2007 }];
    const shares = [0, 1].map((index) => new Pool4(range, { index, count: 2 }));
    assert.deepEqual(
      shares.map((s) => s.capacity()),
      [4, 4],
    );
    const got = shares.map((s, i) => {
      const ports: number[] = [];
      for (let k = 0; k < 5; k++) {
        const r = s.allocate(17, `h${i}`, 3000 + k);
        if (r >= 0) ports.push(r % 65536);
      }
      return ports.sort();
    });
    assert.deepEqual(got[0], [2000, 2001, 2004, 2005]);
    assert.deepEqual(got[1], [2002, 2003, 2006, 2007]);
  });

  it("a preserved port stays with its owner (RFC 6146 §3.5.1.1 port preservation)", () => {
    const range = [{ first: n4("198.51.100.1"), last: n4("198.51.100.1"), portMin: 1024, portMax: 65535 }];
    for (let index = 0; index < 3; index++) {
      const p = new Pool4(range, { index, count: 3 });
      for (const want of [5000, 5001, 5002, 5003, 5004, 5005]) {
        const r = p.allocate(6, `h${want}`, want) % 65536;
        if (portOwner(want, 3) === index) assert.equal(r, want);
        else assert.equal(portOwner(r, 3), index);
      }
    }
  });

  it("static BIB entries need one worker", () => {
    assert.throws(
      () =>
        new Nat64Translator({
          ...cfg(0, 2),
          staticBib: [
            { proto: "tcp", ipv6: a6("2001:db8:1::5"), port6: 80, ipv4: n4("198.51.100.1"), port4: 80 },
          ],
        }),
      /single packet worker/,
    );
  });
});
