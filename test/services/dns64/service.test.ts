// The service over real sockets with a scripted upstream (a dns-packet server on loopback): the
// listeners, update(), the client checks on the wire, rate limiting, and TC → TCP towards upstream.
// No Debian daemon needed; the BIND/Unbound diff lives in peers.test.ts.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import type { Dns64Assignment } from "../../../src/planner/plan.ts";
import { startDns64 } from "../../../src/services/dns64/index.ts";
import { createLogger } from "../../../src/util/log.ts";
import { dns64Assignment } from "../../support/assignments.ts";
import { askServer } from "./client.ts";
import { expand6 } from "./helpers.ts";
import { portBase } from "./lab.ts";
import { fakeUpstream } from "./upstream.ts";

const log = createLogger("dns64-test", { level: "silent" });

function assignment(
  prefix: string,
  listen: string[],
  upstream: string,
  extra: Record<string, unknown> = {},
): Dns64Assignment {
  return dns64Assignment(
    {
      listen,
      prefix,
      upstreams: [upstream],
      alwaysSynthesize: false,
      exclude: ["::ffff:0:0/96"],
      allowClients: ["127.0.0.0/8", "::1/128"],
      rateLimit: 0,
      nodeSelector: {},
      ...extra,
    },
    "svc",
  );
}

test("service: UDP and TCP listeners, TC from upstream retried over TCP, update() to a new prefix", async () => {
  const base = portBase() + 10;
  const up = await fakeUpstream(base);
  const svc = await startDns64(
    assignment("64:ff9b::/96", [`127.0.0.1:${base + 1}`, `[::1]:${base + 1}`], `127.0.0.1:${base}`),
    {
      log,
      stateDir: "/tmp",
    },
  );
  try {
    const r = await askServer("127.0.0.1", base + 1, "host.example", "AAAA");
    assert.deepEqual(
      r.answers.map((x) => expand6(x.data)),
      [expand6("64:ff9b::192.0.2.1")],
    );
    const t = await askServer("::1", base + 1, "other.example", "AAAA", { tcp: true });
    assert.equal(t.answers.length, 1, "TCP listener on IPv6");
    const before = up.seen.tcp;
    const tc = await askServer("127.0.0.1", base + 1, "tc.example", "A");
    assert.equal(tc.answers.length, 1, "answer fetched over TCP after TC");
    assert.ok(up.seen.tcp > before);
    assert.ok(svc.stats().upstreamTruncated! >= 1);

    await svc.update(assignment("2001:db8:122:344::/64", [`127.0.0.1:${base + 1}`], `127.0.0.1:${base}`));
    const u = await askServer("127.0.0.1", base + 1, "host.example", "AAAA");
    assert.deepEqual(
      u.answers.map((x) => expand6(x.data)),
      [expand6("2001:db8:122:344:c0:2:100:0")],
      "a new prefix empties the cache and synthesizes with the new prefix",
    );
  } finally {
    await svc.stop();
    await up.close();
  }
  // stopped: the port is free again
  const probe = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.bind(base + 1, "127.0.0.1", () => resolve());
  });
  probe.close();
});

test("service: REFUSED outside allowClients, rate limit drops the excess", async () => {
  const base = portBase() + 13;
  const up = await fakeUpstream(base);
  // only ::1 may query; 127.0.0.1 is refused
  const svc = await startDns64(
    assignment("64:ff9b::/96", [`127.0.0.1:${base + 1}`, `[::1]:${base + 1}`], `127.0.0.1:${base}`, {
      allowClients: ["::1/128"],
      rateLimit: 5,
    }),
    { log, stateDir: "/tmp" },
  );
  try {
    const refused = await askServer("127.0.0.1", base + 1, "host.example", "A");
    assert.equal(refused.rcode, "REFUSED");
    assert.equal(up.seen.udp, 0, "nothing forwarded for a refused client");
    // a burst of 10 per client: then answers stop
    let answered = 0;
    for (let i = 0; i < 14; i++) {
      try {
        await askServer("::1", base + 1, `n${i}.example`, "A", { timeoutMs: 300 });
        answered++;
      } catch {
        // dropped
      }
    }
    assert.ok(answered >= 10 && answered < 14, `answered ${answered} of 14`);
    assert.ok(svc.stats().rateLimited! >= 1);
  } finally {
    await svc.stop();
    await up.close();
  }
});

test("service: workers: 2 adds a worker thread on SO_REUSEPORT sockets; both answer, from one cache", async () => {
  const base = portBase() + 16;
  const up = await fakeUpstream(base);
  const svc = await startDns64(
    assignment("64:ff9b::/96", [`127.0.0.1:${base + 1}`], `127.0.0.1:${base}`),
    { log, stateDir: "/tmp" },
    { workers: 2 },
  );
  try {
    // the kernel picks the socket by a hash of the source: many client sockets reach both threads
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => askServer("127.0.0.1", base + 1, `w${i}.example`, "AAAA")),
    );
    for (const r of answers) assert.equal(r.answers.length, 1);
    const tcp = await askServer("127.0.0.1", base + 1, "tcp.example", "AAAA", { tcp: true });
    assert.equal(tcp.answers.length, 1, "TCP stays on the main thread");
    await new Promise((r) => setTimeout(r, 1200)); // worker stats arrive every second
    const s = svc.stats();
    assert.equal(s.workers, 2);
    assert.equal(s.udpQueries, 40);
    assert.ok(s.synthesized! >= 40, JSON.stringify(s));
    // one cache for both (shared memory): the same names again, from 40 new client sockets (both
    // workers again), ask nothing more upstream
    const upstream = up.seen.udp;
    const again = await Promise.all(
      Array.from({ length: 40 }, (_, i) => askServer("127.0.0.1", base + 1, `w${i}.example`, "AAAA")),
    );
    for (const r of again) assert.equal(r.answers.length, 1);
    assert.equal(up.seen.udp, upstream, "every answer from the cache the workers share");
  } finally {
    await svc.stop();
    await up.close();
  }
});

test("service: TCP: 40 pipelined queries then FIN are all answered (16 in flight at most), then the connection ends", async () => {
  const base = portBase() + 4;
  const up = await fakeUpstream(base);
  const svc = await startDns64(assignment("64:ff9b::/96", [`127.0.0.1:${base + 1}`], `127.0.0.1:${base}`), {
    log,
    stateDir: "/tmp",
  });
  try {
    const { connect } = await import("node:net");
    const { decode, queryWire } = await import("./helpers.ts");
    const c = connect({ host: "127.0.0.1", port: base + 1 });
    await new Promise<void>((r) => c.on("connect", () => r()));
    const frames = Array.from({ length: 40 }, (_, i) => {
      const q = queryWire(`pipe${i}.example`, "AAAA", { id: i });
      return Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
    });
    c.end(Buffer.concat(frames)); // all 40, then FIN
    let buf = Buffer.alloc(0);
    c.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
    });
    await new Promise<void>((r) => c.on("close", () => r()));
    const ids = new Set<number>();
    for (let at = 0; at + 2 <= buf.length; ) {
      const len = buf.readUInt16BE(at);
      const m = decode(new Uint8Array(buf.subarray(at + 2, at + 2 + len)));
      assert.equal(m.answers.length, 1);
      ids.add(m.id);
      at += 2 + len;
    }
    assert.equal(ids.size, 40, "every query answered before the server closed");
    const s = svc.stats();
    assert.equal(s.tcpQueries, 40);
    assert.ok(s.tcpPaused! >= 1, "reading paused at 16 in flight");
  } finally {
    await svc.stop();
    await up.close();
  }
});
