/**
 * Stateful NAT64 (RFC 6146) core: mapping and filtering behaviour (RFC 4787),
 * the TCP state machine and timers (§3.5.2), hold of unsolicited SYNs,
 * hairpinning (§3.8), limits, and a fuzz of the whole packet path.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Nat64Drop } from "../../../src/datapath/nat64/drops.ts";
import { Pool4 } from "../../../src/datapath/nat64/pool4.ts";
import { TcpState, TcpTimer, tcpTransition } from "../../../src/datapath/nat64/tcp.ts";
import { Nat64Translator, Verdict } from "../../../src/datapath/nat64/translator.ts";
import { a6, checksumsOk4, checksumsOk6, n4, nat64Config, pkt4, pkt6, str4, str6, TCP } from "./packets.ts";

const H1 = "2001:db8:1::10";
const H2 = "2001:db8:1::20";
const SRV = "203.0.113.10";
const SRV6 = "2001:db8:64::cb00:710a";
const OTHER = "203.0.113.99";

const cfg = nat64Config;

/** Translates and returns the single output (or null), at time `now` ms. */
function x(nat: Nat64Translator, p: Uint8Array, now = 1000): Uint8Array | null {
  const v = nat.translate(p, p.length, now);
  if (v === Verdict.Drop) return null;
  assert.equal(nat.outCount, 1);
  return nat.outputs()[0]!;
}
const port = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

describe("TCP state machine (RFC 6146 §3.5.2.2)", () => {
  const step = (s: number, v6: boolean, f: number) => {
    const r = tcpTransition(s, v6, f);
    return [r & 0xff, r >>> 8];
  };
  it("opens from either side and through simultaneous open", () => {
    assert.deepEqual(step(TcpState.Closed, true, TCP.SYN), [TcpState.V6Init, TcpTimer.Trans]);
    assert.deepEqual(step(TcpState.Closed, false, TCP.SYN), [TcpState.V4Init, TcpTimer.IncomingSyn]);
    assert.deepEqual(step(TcpState.V6Init, false, TCP.SYN | TCP.ACK), [TcpState.Established, TcpTimer.Est]);
    assert.deepEqual(step(TcpState.V4Init, true, TCP.SYN), [TcpState.Established, TcpTimer.Est]);
    assert.deepEqual(step(TcpState.Closed, true, TCP.ACK), [TcpState.Closed, TcpTimer.Keep]);
  });
  it("closes through FIN from both sides, RST to TRANS, and TRANS back to ESTABLISHED on traffic", () => {
    assert.deepEqual(step(TcpState.Established, true, TCP.FIN | TCP.ACK), [TcpState.V6FinRcv, TcpTimer.Keep]);
    assert.deepEqual(step(TcpState.V6FinRcv, false, TCP.FIN), [TcpState.V4FinV6FinRcv, TcpTimer.Trans]);
    assert.deepEqual(step(TcpState.V4FinRcv, true, TCP.FIN), [TcpState.V4FinV6FinRcv, TcpTimer.Trans]);
    assert.deepEqual(step(TcpState.V4FinV6FinRcv, true, TCP.ACK), [TcpState.V4FinV6FinRcv, TcpTimer.Keep]);
    assert.deepEqual(step(TcpState.Established, false, TCP.RST), [TcpState.Trans, TcpTimer.Trans]);
    assert.deepEqual(step(TcpState.Trans, true, TCP.ACK), [TcpState.Established, TcpTimer.Est]);
    assert.deepEqual(step(TcpState.Trans, true, TCP.RST), [TcpState.Trans, TcpTimer.Keep]);
  });
});

describe("pool4 (RFC 6146 §3.5.1.1, RFC 4787)", () => {
  it("preserves the port when free, else keeps its parity inside the range", () => {
    const p = new Pool4([{ first: 1, last: 1, portMin: 1024, portMax: 2047 }]);
    assert.equal(p.allocate(17, "a", 1500) % 65536, 1500);
    const second = p.allocate(17, "b", 1500) % 65536;
    assert.notEqual(second, 1500);
    assert.equal(second % 2, 0);
    assert.ok(second >= 1024 && second <= 2047);
    const odd = p.allocate(17, "c", 1501) % 65536;
    assert.equal(odd, 1501);
    const odd2 = p.allocate(17, "d", 1501) % 65536;
    assert.equal(odd2 % 2, 1);
  });
  it("returns -1 when the paired address is exhausted, and frees ports", () => {
    const p = new Pool4([{ first: 1, last: 1, portMin: 5000, portMax: 5001 }]);
    const a = p.allocate(6, "h", 5000);
    const b = p.allocate(6, "h", 5000);
    assert.ok(a >= 0 && b >= 0 && a !== b);
    assert.equal(p.allocate(6, "h", 5000), -1);
    p.release(6, "h", 1, a % 65536);
    assert.equal(p.allocate(6, "h", 7), a);
  });
});

describe("mapping, filtering, timers", () => {
  it("translates 6→4 with a pool4 source and back 4→6 with valid checksums", () => {
    const nat = new Nat64Translator(cfg());
    const o = x(nat, pkt6("udp", H1, 40000, SRV6, 9000))!;
    assert.equal(str4(o, 16), SRV);
    assert.match(str4(o, 12), /^198\.51\.100\.[1-8]$/);
    assert.equal(port(o, 20), 40000, "port preserved");
    assert.equal(o[8], 63, "TTL decremented once");
    assert.ok(checksumsOk4(o));
    const back = x(nat, pkt4("udp", SRV, 9000, str4(o, 12), port(o, 20)))!;
    assert.equal(str6(back, 24), str6(a6(H1), 0));
    assert.equal(str6(back, 8), str6(a6(SRV6), 0));
    assert.equal(port(back, 42), 40000);
    assert.ok(checksumsOk6(back));
  });

  it("checksums stay right when a port rewrite carries the address and port sum to 0x1ffff (RFC 1071 folding)", () => {
    // One pool4 port, so every flow's port is rewritten (RFC 1624 update with ports). The other ports are
    // chosen so that the 16-bit sum of the old (or new) addresses and ports is 0x1ffff, which a single
    // end-around-carry fold leaves at 0x10000 instead of 1.
    const pool = "198.51.100.1";
    const P = 65000;
    const one = cfg({ pool4: [{ first: n4(pool), last: n4(pool), portMin: P, portMax: P }] });
    const words = (...as: Uint8Array[]) => {
      let s = 0;
      for (const a of as) for (let i = 0; i < a.length; i += 2) s += (a[i]! << 8) | a[i + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      return s;
    };
    const v4 = (t: string) => new Uint8Array(t.split(".").map(Number));
    // 6→4 old sum: the IPv6 addresses and the host's two ports.
    const ports6 = 0x1ffff - words(a6(H1), a6(SRV6));
    const hostPort = ports6 >>> 1;
    // 6→4 new sum and 4→6 old sum: the IPv4 addresses, P and the server's port.
    const serverPort = 0x1ffff - words(v4(pool), v4(SRV)) - P;
    for (const [h, srv] of [
      [hostPort, ports6 - hostPort],
      [40000, serverPort],
    ] as const) {
      assert.ok(h > 0 && h < 65536 && srv > 0 && srv < 65536, `ports ${h} ${srv}`);
      const nat = new Nat64Translator(one);
      const o = x(nat, pkt6("udp", H1, h, SRV6, srv))!;
      assert.equal(port(o, 20), P);
      assert.ok(checksumsOk4(o), `6→4 ${h} → ${srv}`);
      const back = x(nat, pkt4("udp", SRV, srv, pool, P))!;
      assert.ok(checksumsOk6(back), `4→6 ${srv} → ${h}`);
    }
  });

  it("endpoint-independent mapping and paired address pooling (RFC 4787 REQ-1, REQ-2)", () => {
    const nat = new Nat64Translator(cfg());
    const a = x(nat, pkt6("udp", H1, 40000, SRV6, 9000))!;
    const b = x(nat, pkt6("udp", H1, 40000, "2001:db8:64::cb00:7163", 53))!;
    assert.equal(str4(a, 12), str4(b, 12));
    assert.equal(port(a, 20), port(b, 20), "same mapping for another destination");
    for (let p = 41000; p < 41020; p++)
      assert.equal(str4(x(nat, pkt6("udp", H1, p, SRV6, 9000))!, 12), str4(a, 12));
    assert.equal(nat.state.bib6.size, 21);
  });

  it("endpoint-independent filtering admits any IPv4 host to an existing mapping", () => {
    const nat = new Nat64Translator(cfg());
    const o = x(nat, pkt6("udp", H1, 40000, SRV6, 9000))!;
    assert.ok(x(nat, pkt4("udp", OTHER, 1234, str4(o, 12), port(o, 20))));
  });

  it("address-dependent filtering admits only addresses the mapping has talked to", () => {
    const nat = new Nat64Translator(cfg({ filtering: "addressDependent" }));
    const o = x(nat, pkt6("udp", H1, 40000, SRV6, 9000))!;
    assert.equal(x(nat, pkt4("udp", OTHER, 1234, str4(o, 12), port(o, 20))), null);
    assert.equal(nat.lastDrop, Nat64Drop.Filtered);
    assert.ok(x(nat, pkt4("udp", SRV, 7777, str4(o, 12), port(o, 20))), "same address, other port: allowed");
  });

  it("UDP to pool4 without a mapping: ICMPv4 port unreachable from that address", () => {
    const nat = new Nat64Translator(cfg());
    const v = nat.translate(pkt4("udp", SRV, 9000, "198.51.100.3", 4444), undefined, 1000);
    assert.equal(v, Verdict.IcmpReply);
    const e = nat.outputs()[0]!;
    assert.equal(str4(e, 12), "198.51.100.3");
    assert.equal(e[20], 3);
    assert.equal(e[21], 3);
  });

  it("UDP and ICMP sessions expire on their timers, BIB entries and ports with them", () => {
    const nat = new Nat64Translator(cfg());
    x(nat, pkt6("udp", H1, 40000, SRV6, 9000), 0);
    x(nat, pkt6("icmp", H1, 77, SRV6, 0), 0);
    nat.tick(59_000);
    assert.equal(nat.state.sessions.size, 2);
    nat.tick(61_000);
    assert.deepEqual(nat.state.sessionCount, [0, 1, 0], "ICMP gone after 60 s");
    x(nat, pkt6("udp", H1, 40000, SRV6, 9000), 200_000); // refresh
    nat.tick(450_000);
    assert.equal(nat.state.sessions.size, 1, "refreshed by traffic");
    nat.tick(501_000);
    assert.equal(nat.state.sessions.size, 0);
    assert.equal(nat.state.bib6.size, 0);
    assert.equal(nat.state.pool.used(1), 0);
  });

  it("TCP: only a SYN opens; established sessions live TCP_EST, closing ones TCP_TRANS", () => {
    const nat = new Nat64Translator(cfg());
    assert.equal(x(nat, pkt6("tcp", H1, 50000, SRV6, 80, { flags: TCP.ACK })), null);
    assert.equal(nat.lastDrop, Nat64Drop.NoState);
    const o = x(nat, pkt6("tcp", H1, 50000, SRV6, 80, { flags: TCP.SYN }), 0)!;
    const [v4, p4] = [str4(o, 12), port(o, 20)];
    assert.ok(x(nat, pkt4("tcp", SRV, 80, v4, p4, { flags: TCP.SYN | TCP.ACK }), 10));
    const s = [...nat.state.sessions.values()][0]!;
    assert.equal(s.state, TcpState.Established);
    nat.tick(7000 * 1000);
    assert.equal(nat.state.sessions.size, 1, "established survives 4 minutes and more");
    x(nat, pkt6("tcp", H1, 50000, SRV6, 80, { flags: TCP.FIN | TCP.ACK }), 7000 * 1000);
    x(nat, pkt4("tcp", SRV, 80, v4, p4, { flags: TCP.FIN | TCP.ACK }), 7000 * 1000);
    assert.equal(s.state, TcpState.V4FinV6FinRcv);
    nat.tick(7000 * 1000 + 241_000);
    assert.equal(nat.state.sessions.size, 0);
  });

  it("an unsolicited IPv4 SYN is held 6 s, then answered with ICMP port unreachable", () => {
    const nat = new Nat64Translator(cfg());
    assert.equal(x(nat, pkt4("tcp", SRV, 5555, "198.51.100.2", 8080, { flags: TCP.SYN }), 0), null);
    assert.equal(nat.lastDrop, Nat64Drop.SynHeld);
    assert.equal(nat.tick(5900).length, 0);
    const out = nat.tick(6100);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.side, 4);
    assert.equal(out[0]!.pkt[20], 3);
    assert.equal(out[0]!.pkt[21], 3);
    assert.equal(str4(out[0]!.pkt, 16), SRV);
  });

  it("simultaneous open: the IPv6 SYN within 6 s takes the held SYN's mapping and no error follows", () => {
    const nat = new Nat64Translator(
      cfg({
        pool4: [{ first: n4("198.51.100.2"), last: n4("198.51.100.2"), portMin: 1024, portMax: 65535 }],
      }),
    );
    x(nat, pkt4("tcp", SRV, 5555, "198.51.100.2", 8080, { flags: TCP.SYN }), 0);
    const o = x(nat, pkt6("tcp", H1, 8080, SRV6, 5555, { flags: TCP.SYN }), 2000)!;
    assert.equal(str4(o, 12), "198.51.100.2");
    assert.equal(port(o, 20), 8080);
    assert.equal(nat.tick(7000).length, 0);
  });

  it("pool4 exhaustion and the session limit answer ICMPv6 1/3 and are counted; nothing throws", () => {
    const nat = new Nat64Translator(
      cfg({ pool4: [{ first: n4("198.51.100.1"), last: n4("198.51.100.1"), portMin: 2000, portMax: 2001 }] }),
    );
    assert.ok(x(nat, pkt6("udp", H1, 1, SRV6, 9)));
    assert.ok(x(nat, pkt6("udp", H1, 2, SRV6, 9)));
    assert.equal(nat.translate(pkt6("udp", H1, 3, SRV6, 9), undefined, 1000), Verdict.IcmpReply);
    const e = nat.outputs()[0]!;
    assert.deepEqual([e[40], e[41]], [1, 3]);
    assert.equal(nat.drops[Nat64Drop.PoolExhausted], 1);
    const lim = new Nat64Translator(cfg({ maxSessions: 2 }));
    x(lim, pkt6("udp", H1, 1, SRV6, 9));
    x(lim, pkt6("udp", H1, 2, SRV6, 9));
    assert.equal(lim.translate(pkt6("udp", H1, 3, SRV6, 9), undefined, 1000), Verdict.IcmpReply);
    assert.equal(lim.drops[Nat64Drop.SessionLimit], 1);
    assert.equal(lim.state.sessions.size, 2);
  });

  it("allowedSources: others get ICMPv6 administratively prohibited", () => {
    const nat = new Nat64Translator(cfg());
    assert.equal(
      nat.translate(pkt6("udp", "2001:db8:99::1", 1, SRV6, 9), undefined, 1000),
      Verdict.IcmpReply,
    );
    const e = nat.outputs()[0]!;
    assert.deepEqual([e[40], e[41]], [1, 1]);
    assert.equal(nat.state.sessions.size, 0);
  });

  it("hairpinning (§3.8): host to host through their pool4 mappings, decremented once", () => {
    const nat = new Nat64Translator(cfg());
    const o = x(nat, pkt6("udp", H2, 6000, SRV6, 9000))!; // H2 gets a mapping
    const m6 = `2001:db8:64::${str4(o, 12)}`;
    const h = x(nat, pkt6("udp", H1, 7000, m6, port(o, 20), { hop: 64 }))!;
    assert.equal(h[0]! >>> 4, 6);
    assert.equal(str6(h, 24), str6(a6(H2), 0));
    assert.equal(port(h, 42), 6000);
    assert.equal(h[7], 63);
    assert.ok(checksumsOk6(h));
  });

  it("ICMP errors find their session through the quoted packet", () => {
    const nat = new Nat64Translator(cfg());
    const o = x(nat, pkt6("udp", H1, 40000, SRV6, 9000))!;
    // A router 203.0.113.1 says the translated datagram could not be delivered.
    const err = new Uint8Array(28 + o.length);
    err.set(pkt4("icmp", "203.0.113.1", 0, str4(o, 12), 0).subarray(0, 20));
    err[2] = 0;
    err[3] = err.length;
    err[9] = 1;
    err[10] = err[11] = 0;
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (err[i]! << 8) | err[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    err[10] = (~s >>> 8) & 0xff;
    err[11] = ~s & 0xff;
    err[20] = 3;
    err[21] = 1;
    err.set(o, 28);
    s = 0;
    for (let i = 20; i < err.length; i += 2) s += (err[i]! << 8) | (err[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    err[22] = (~s >>> 8) & 0xff;
    err[23] = ~s & 0xff;
    const e6 = x(nat, err)!;
    assert.equal(e6[40], 1, "ICMPv6 destination unreachable");
    assert.equal(str6(e6, 24), str6(a6(H1), 0), "to the IPv6 host of the session");
    assert.equal(port(e6, 48 + 40), 40000, "quoted source port is the IPv6 host's");
    assert.ok(checksumsOk6(e6));
  });

  it("tun hop-limit mode: output TTL is input + 1 so the host nets one decrement", () => {
    const nat = new Nat64Translator(cfg({ hopLimitMode: "tun" }));
    const o = x(nat, pkt6("udp", H1, 40000, SRV6, 9000, { hop: 63 }))!;
    assert.equal(o[8], 64);
    assert.ok(checksumsOk4(o));
    const b = x(nat, pkt4("udp", SRV, 9000, str4(o, 12), port(o, 20), { ttl: 1 }))!;
    assert.equal(b[7], 2, "TTL 1 after the kernel's decrement still goes through");
  });
});

function hdrSum4(b: Uint8Array): void {
  b[10] = b[11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  b[10] = (~s >>> 8) & 0xff;
  b[11] = ~s & 0xff;
}

/** Splits an IPv4 datagram after `first` bytes of payload (a multiple of 8). */
function split4(p: Uint8Array, first: number, id: number): [Uint8Array, Uint8Array] {
  const a = new Uint8Array(20 + first);
  a.set(p.subarray(0, 20 + first));
  const b = new Uint8Array(p.length - first);
  b.set(p.subarray(0, 20));
  b.set(p.subarray(20 + first), 20);
  for (const [x, frag] of [
    [a, 0x2000],
    [b, first >>> 3],
  ] as const) {
    x[2] = x.length >>> 8;
    x[3] = x.length & 0xff;
    x[4] = id >>> 8;
    x[5] = id & 0xff;
    x[6] = frag >>> 8;
    x[7] = frag & 0xff;
    hdrSum4(x);
  }
  return [a, b];
}

/** Splits an IPv6 datagram with a Fragment header after `first` bytes of payload. */
function split6(p: Uint8Array, first: number, id: number): [Uint8Array, Uint8Array] {
  const nh = p[6]!;
  const mk = (off: number, len: number, more: boolean) => {
    const x = new Uint8Array(48 + len);
    x.set(p.subarray(0, 40));
    x[6] = 44;
    x[4] = (8 + len) >>> 8;
    x[5] = (8 + len) & 0xff;
    x[40] = nh;
    const f = off | (more ? 1 : 0);
    x[42] = f >>> 8;
    x[43] = f & 0xff;
    x[44] = id >>> 24;
    x[45] = (id >>> 16) & 0xff;
    x[46] = (id >>> 8) & 0xff;
    x[47] = id & 0xff;
    x.set(p.subarray(40 + off, 40 + off + len), 48);
    return x;
  };
  return [mk(0, first, true), mk(first, p.length - 40 - first, false)];
}

describe("fragments (no reassembly: later fragments follow the first one's mapping)", () => {
  it("IPv4 → IPv6: both fragments reach the IPv6 host; an orphan fragment is dropped and counted", () => {
    const nat = new Nat64Translator(cfg());
    const o = x(nat, pkt6("udp", H1, 40000, SRV6, 9000))!;
    const [f1, f2] = split4(pkt4("udp", SRV, 9000, str4(o, 12), port(o, 20), { payload: 200 }), 48, 0x4242);
    const a = x(nat, f1)!;
    const b = x(nat, f2)!;
    for (const y of [a, b]) {
      assert.equal(y[6], 44, "IPv6 Fragment header");
      assert.equal(str6(y, 24), str6(a6(H1), 0));
    }
    assert.equal(port(a, 48 + 2), 40000, "first fragment: destination port rewritten");
    assert.equal(port(b, 44 + 2), 0x4242, "same fragment identification");
    const [, orphan] = split4(pkt4("udp", SRV, 9000, str4(o, 12), port(o, 20), { payload: 200 }), 48, 0x4343);
    assert.equal(x(nat, orphan), null);
    assert.equal(nat.lastDrop, Nat64Drop.Fragment);
  });

  it("IPv6 → IPv4: both fragments leave from the same pool4 address", () => {
    const nat = new Nat64Translator(cfg());
    const [f1, f2] = split6(pkt6("udp", H1, 40000, SRV6, 9000, { payload: 200 }), 48, 0x01020304);
    const a = x(nat, f1)!;
    const b = x(nat, f2)!;
    assert.equal(str4(a, 12), str4(b, 12));
    assert.match(str4(b, 12), /^198\.51\.100\./);
    assert.equal(str4(b, 16), SRV);
    assert.equal(port(b, 4), 0x0304, "IPv4 identification from the fragment identification");
  });
});

describe("robustness", () => {
  it("fuzz: arbitrary and mutated packets never throw, and the tables stay consistent", () => {
    const nat = new Nat64Translator(cfg({ maxSessions: 5000 }));
    const seeds = [
      pkt6("udp", H1, 40000, SRV6, 9000),
      pkt6("tcp", H1, 50000, SRV6, 80),
      pkt6("icmp", H1, 5, SRV6, 0),
      pkt4("udp", SRV, 9000, "198.51.100.1", 40000),
      pkt4("tcp", SRV, 80, "198.51.100.1", 50000),
    ];
    let now = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          fc
            .tuple(
              fc.nat(seeds.length - 1),
              fc.array(fc.tuple(fc.nat(120), fc.nat(255)), { maxLength: 6 }),
              fc.nat(80),
            )
            .map(([k, muts, cut]) => {
              const p = seeds[k]!.slice();
              for (const [i, v] of muts) if (i < p.length) p[i] = v;
              return p.subarray(0, Math.max(1, p.length - cut));
            }),
        ),
        (p) => {
          now += 500;
          nat.translate(p, p.length, now);
          if (now % 5000 === 0) nat.tick(now);
          assert.equal(nat.internalErrors, 0);
          let n = 0;
          for (const b of nat.state.bib6.values()) n += b.nSessions;
          assert.equal(n, nat.state.sessions.size);
          assert.equal(nat.state.bib6.size, nat.state.bib4.size);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("slot tables (struct-of-arrays BIB and sessions, RFC 6146 §3.1, §3.2)", () => {
  it("grow past their first size, reuse freed slots, and agree with a reference model", () => {
    const nat = new Nat64Translator(cfg());
    const st = nat.state;
    // Reference model: IPv6 transport address → IPv4 transport address seen on the way out.
    const model = new Map<string, { v4: string; p4: number; t: number }>();
    const hostOf = (i: number) => `2001:db8:1::${(i % 37).toString(16)}:${(i >>> 6).toString(16)}`;
    const flow = (i: number, t: number) => {
      const h = hostOf(i);
      const sp = 20000 + (i % 500);
      const o = x(nat, pkt6("udp", h, sp, SRV6, 9000 + (i % 3)), t)!;
      const k = `${h}|${sp}`;
      const seen = model.get(k);
      if (seen) {
        assert.equal(str4(o, 12), seen.v4, "one mapping per IPv6 transport address");
        assert.equal(port(o, 20), seen.p4);
      }
      model.set(k, { v4: str4(o, 12), p4: port(o, 20), t });
    };
    // 1200 flows (several growths past the initial 256 slots); flows i and i+1200 share a BIB entry.
    for (let i = 0; i < 2400; i++) flow(i % 1200, i < 1200 ? 0 : 1000);
    assert.equal(st.bib6.size, model.size);
    // Every mapping answers from the IPv4 side, to the right IPv6 host and port.
    for (const [k, m] of model) {
      const [h, sp] = k.split("|");
      const back = x(nat, pkt4("udp", SRV, 9000, m.v4, m.p4), 2000)!;
      assert.equal(str6(back, 24), str6(a6(h!), 0));
      assert.equal(port(back, 42), Number(sp));
    }
    // Half of the flows expire; the others are refreshed first.
    let kept = 0;
    for (const [k, m] of model) {
      const [h, sp] = k.split("|");
      if (Number(sp) % 2 === 0) continue;
      for (let d = 0; d < 3; d++) x(nat, pkt6("udp", h!, Number(sp), SRV6, 9000 + d), 200_000);
      x(nat, pkt4("udp", SRV, 9000, m.v4, m.p4), 200_000);
      kept++;
    }
    nat.tick(301_000 + 2000);
    let n = 0;
    let refs = 0;
    for (const b of st.bib6.values()) {
      n++;
      refs += b.nSessions;
      assert.equal(b.port6 % 2, 1, "only the refreshed mappings are left");
    }
    assert.equal(n, kept);
    assert.equal(st.bib4.size, kept);
    assert.equal(refs, st.sessions.size);
    assert.equal(st.pool.used(1), kept);
    // New flows take the freed slots: the tables do not grow.
    const bytes = st.approxBytes();
    for (let i = 0; i < 300; i++) flow(5000 + i, 250_000);
    assert.equal(st.approxBytes(), bytes);
    // Sessions are listed in creation order, and views read their slot live.
    const list = [...st.sessions.values()];
    assert.equal(list.length, st.sessions.size);
    const last = list.at(-1)!;
    assert.equal(last.bib.port6, 20000 + ((5000 + 299) % 500));
    assert.equal(last.expires, 250_000 + 300_000);
    x(nat, pkt6("udp", hostOf(5299), last.bib.port6, SRV6, 9000 + (5299 % 3)), 260_000);
    assert.equal(last.expires, 260_000 + 300_000);
  });

  it("events carry views of the slot before it is freed", () => {
    const nat = new Nat64Translator(cfg());
    const seen: string[] = [];
    nat.state.onEvent = (e) => {
      if ("bib" in e) seen.push(`${e.type} ${e.bib.proto} ${e.bib.port6}->${e.bib.port4}`);
      else seen.push(`${e.type} ${e.session.bib.port6} ${e.session.rport} ${e.state}`);
    };
    x(nat, pkt6("tcp", H1, 50000, SRV6, 80, { flags: TCP.SYN }), 0);
    nat.tick(241_000);
    assert.deepEqual(seen, [
      "bib-add 6 50000->50000",
      "session-add 50000 80 CLOSED",
      "session-state 50000 80 V6_INIT",
      "session-remove 50000 80 V6_INIT",
      "bib-remove 6 50000->50000",
    ]);
  });
});
