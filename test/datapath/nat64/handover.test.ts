/**
 * Session handover (datapath/nat64/handover.ts): a translator's sessions exported, written as a
 * file, read back, filtered against the next configuration, aged, and restored into a new
 * translator that then translates the established connection's packets without a SYN.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeHandover,
  encodeHandover,
  exportSessions,
  fitHandover,
  type Handover,
  type HandoverTarget,
  RECORD_BYTES,
  recordAt,
  restoreSessions,
} from "../../../src/datapath/nat64/handover.ts";
import { portOwner } from "../../../src/datapath/nat64/shard.ts";
import { TcpState } from "../../../src/datapath/nat64/tcp.ts";
import { Nat64Translator, Verdict } from "../../../src/datapath/nat64/translator.ts";
import { prefixOf } from "../../../src/util/net.ts";
import { n4, nat64Config, pkt4, pkt6, str4, TCP } from "./packets.ts";

const CLIENT = "2001:db8:1::2";
const SRV6 = "2001:db8:64::cb00:710a";
const SRV4 = "203.0.113.10";
const T0 = 1_700_000_000_000;

/** A translator with an established TCP connection (client port 40000 → server 80), a UDP and an ICMP session. */
function busy(): { t: Nat64Translator; port4: number; addr4: string } {
  const t = new Nat64Translator(nat64Config());
  assert.equal(
    t.translate(pkt6("tcp", CLIENT, 40000, SRV6, 80, { flags: TCP.SYN }), undefined, T0),
    Verdict.Translated,
  );
  const out = t.outputs()[0]!;
  const addr4 = str4(out, 12);
  const port4 = (out[20]! << 8) | out[21]!;
  assert.equal(
    t.translate(pkt4("tcp", SRV4, 80, addr4, port4, { flags: TCP.SYN | TCP.ACK }), undefined, T0 + 10),
    Verdict.Translated,
  );
  assert.equal(t.translate(pkt6("udp", CLIENT, 5353, SRV6, 53), undefined, T0 + 20), Verdict.Translated);
  assert.equal(t.translate(pkt6("icmp", CLIENT, 77, SRV6, 0), undefined, T0 + 30), Verdict.Translated);
  return { t, port4, addr4 };
}

const target = (over: Partial<HandoverTarget> = {}): HandoverTarget => ({
  ...nat64Config(),
  workers: 1,
  ...over,
});

function file(t: Nat64Translator, at: number): Handover {
  const h = decodeHandover(encodeHandover(at, prefixOf("2001:db8:64::/96"), [exportSessions(t.state, at)]));
  assert.ok(!("problem" in h), JSON.stringify(h));
  return h;
}

/** The server's next segment of the connection (an ACK, no SYN): translated only with the session. */
const ack4 = (t: Nat64Translator, addr4: string, port4: number, now: number) =>
  t.translate(pkt4("tcp", SRV4, 80, addr4, port4, { flags: TCP.ACK }), undefined, now);

describe("session handover", () => {
  it("an established TCP connection, a UDP and an ICMP session carry over with their state and aged timers", () => {
    const { t, port4, addr4 } = busy();
    const at = T0 + 1000;
    const h = file(t, at);
    assert.equal(h.count, 3);
    const tcp = recordAt(h.records, 0);
    assert.deepEqual([tcp.proto, tcp.state, tcp.port6, tcp.port4], [6, TcpState.Established, 40000, port4]);
    // TCP_EST (7440 s) armed at T0 + 10, written 990 ms later.
    assert.equal(tcp.remainingMs, 7440_000 - 990);

    // A new translator without the handover drops the server's segment (no session, no SYN) ...
    const fresh = new Nat64Translator(nat64Config());
    assert.notEqual(ack4(fresh, addr4, port4, at + 5000), Verdict.Translated);
    // ... with it, the connection goes on, 5 s later.
    const next = new Nat64Translator(nat64Config());
    const fit = fitHandover(h, target(), 5000);
    assert.equal(fit.kept, 3);
    assert.deepEqual(restoreSessions(next.state, fit.perWorker[0]!, at + 5000), { restored: 3, refused: 0 });
    const s = [...next.state.sessions.values()][0]!;
    assert.equal(s.state, TcpState.Established);
    // The expiry is the old one: RFC 6146 §3.5 timers do not restart with the translator.
    assert.equal(s.expires, T0 + 10 + 7440_000);
    assert.equal(ack4(next, addr4, port4, at + 5000), Verdict.Translated);
    assert.equal(
      next.translate(pkt6("tcp", CLIENT, 40000, SRV6, 80, { flags: TCP.ACK }), undefined, at + 5000),
      Verdict.Translated,
    );
    // The same pool4 transport address, the same paired address for the host's next flow.
    assert.equal(s.bib.port4, port4);
    assert.equal(
      next.translate(pkt6("udp", CLIENT, 6000, SRV6, 53), undefined, at + 5000),
      Verdict.Translated,
    );
    assert.equal(str4(next.outputs()[0]!, 12), addr4);
  });

  it("timers age by the wall-clock time between write and read: the UDP (300 s) and ICMP (60 s) sessions expire", () => {
    const { t } = busy();
    const h = file(t, T0 + 1000);
    const fit = fitHandover(h, target(), 301_000);
    assert.equal(fit.kept, 1);
    assert.deepEqual(fit.dropped, { expired: 2 });
    assert.equal(recordAt(fit.perWorker[0]!, 0).remainingMs, 7440_000 - 990 - 301_000);
  });

  it("keeps only what fits the new configuration: prefix, allowed sources, pool4 address and port range", () => {
    const { t, port4 } = busy();
    const h = file(t, T0 + 1000);
    assert.deepEqual(fitHandover(h, target({ pool6: prefixOf("64:ff9b::/96") }), 0).dropped, { prefix: 3 });
    assert.deepEqual(fitHandover(h, target({ allowedSources: [prefixOf("2001:db8:2::/48")] }), 0).dropped, {
      source: 3,
    });
    const other = [{ first: n4("198.51.100.9"), last: n4("198.51.100.9"), portMin: 1024, portMax: 65535 }];
    assert.deepEqual(fitHandover(h, target({ pool4: other }), 0).dropped, { pool4: 3 });
    const all = nat64Config().pool4[0]!;
    const narrow = fitHandover(h, target({ pool4: [{ ...all, portMin: port4, portMax: port4 }] }), 0);
    assert.equal(narrow.dropped.pool4, 2, "the UDP and ICMP ports are now out of range");
    assert.equal(recordAt(narrow.perWorker[0]!, 0).proto, 6);
  });

  it("several workers: each record goes to the worker owning its pool4 port (shard.ts)", () => {
    const t = new Nat64Translator(nat64Config());
    for (let p = 2000; p < 2040; p++) t.translate(pkt6("udp", CLIENT, p, SRV6, 53), undefined, T0);
    const fit = fitHandover(file(t, T0), target({ workers: 3 }), 0);
    assert.equal(fit.kept, 40);
    let n = 0;
    fit.perWorker.forEach((r, w) => {
      for (let i = 0; i < r.length / RECORD_BYTES; i++, n++)
        assert.equal(portOwner(recordAt(r, i).port4, 3), w);
    });
    assert.equal(n, 40);
    // A worker restores into its share: another worker's ports are refused.
    const w1 = new Nat64Translator({ ...nat64Config(), share: { index: 1, count: 3 } });
    assert.deepEqual(restoreSessions(w1.state, fit.perWorker[0]!, T0), {
      restored: 0,
      refused: fit.perWorker[0]!.length / RECORD_BYTES,
    });
    assert.equal(w1.state.totalBib(), 0);
  });

  it("a record whose pool4 port is taken already is refused and leaves nothing behind", () => {
    const { t, port4, addr4 } = busy();
    const h = file(t, T0 + 1000);
    const next = new Nat64Translator(nat64Config());
    // Another host took the TCP port first.
    next.state.createBib(6, pkt6("tcp", "2001:db8:1::99", 1, SRV6, 80), 8, 1, n4(addr4) * 65536 + port4);
    const r = restoreSessions(next.state, fitHandover(h, target(), 0).perWorker[0]!, T0 + 1000);
    assert.equal(r.refused, 1);
    assert.equal(next.state.totalBib(), 1 + 2);
  });

  it("restoring twice does not double a session", () => {
    const { t } = busy();
    const r = fitHandover(file(t, T0 + 1000), target(), 0).perWorker[0]!;
    const next = new Nat64Translator(nat64Config());
    restoreSessions(next.state, r, T0 + 1000);
    assert.deepEqual(restoreSessions(next.state, r, T0 + 1000), { restored: 0, refused: 3 });
    assert.equal(next.state.totalSessions(), 3);
  });
});

describe("the handover file", () => {
  const good = () =>
    encodeHandover(T0, prefixOf("2001:db8:64::/96"), [exportSessions(busy().t.state, T0 + 1000)]);
  const problem = (b: Uint8Array) => {
    const h = decodeHandover(b);
    return "problem" in h ? h.problem : undefined;
  };

  it("names what is wrong: truncated, foreign, another version, corrupt", () => {
    const b = good();
    assert.equal(problem(b), undefined);
    assert.match(problem(b.subarray(0, b.length - 1))!, /bytes where 3 sessions take/);
    assert.match(problem(b.subarray(0, 10))!, /truncated/);
    assert.match(
      problem(new TextEncoder().encode(`{"json": "file", "padding": "...................."}`))!,
      /not a session handover/,
    );
    const v2 = b.slice();
    v2[4] = 2;
    assert.match(problem(v2)!, /version 2, this build reads version 1/);
    const flipped = b.slice();
    flipped[60]! ^= 1;
    assert.equal(problem(flipped), "checksum mismatch");
  });

  it("fuzz: any bytes, or a good file cut or changed anywhere, decode to a problem or to valid records, never throw", () => {
    const b = good();
    const check = (x: Uint8Array) => {
      const h = decodeHandover(x);
      if ("problem" in h) return;
      assert.equal(h.records.length, h.count * RECORD_BYTES);
      const next = new Nat64Translator(nat64Config());
      const fit = fitHandover(h, target({ workers: 2 }), 0);
      let restored = 0;
      for (const r of fit.perWorker) {
        const x = restoreSessions(next.state, r, T0);
        assert.equal(x.restored + x.refused, r.length / RECORD_BYTES);
        restored += x.restored;
      }
      assert.equal(next.state.totalSessions(), restored);
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (x) => check(x)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(b.length), fc.nat(b.length - 1), fc.integer({ min: 1, max: 255 }), (cut, at, x) => {
        check(b.subarray(0, cut));
        const m = b.slice();
        m[at]! ^= x;
        check(m);
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz: restoring arbitrary records (a file with a good checksum but nonsense inside) never throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: RECORD_BYTES * 20 }), (x) => {
        const records = x.subarray(0, x.length - (x.length % RECORD_BYTES));
        const st = new Nat64Translator({ ...nat64Config(), share: { index: 0, count: 2 } }).state;
        const r = restoreSessions(st, records, T0);
        assert.equal(r.restored + r.refused, records.length / RECORD_BYTES);
        assert.equal(st.totalSessions(), r.restored);
      }),
      { numRuns: 2000 },
    );
  });
});
