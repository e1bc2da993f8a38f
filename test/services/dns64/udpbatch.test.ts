// Batched UDP (udpbatch.ts, src/util/sys/mmsg.ts): bursts of queries queued on the socket are
// drained with recvmmsg and answered with sendmmsg; every datagram still passes the rate limit, the
// ACL (REFUSED), FORMERR handling and the cache. The sockaddr formatter is fuzzed.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import fc from "fast-check";
import { startDns64 } from "../../../src/services/dns64/index.ts";
import { udpFd } from "../../../src/services/dns64/reuseport.ts";
import { createLogger } from "../../../src/util/log.ts";
import { parseAddress } from "../../../src/util/net.ts";
import { close } from "../../../src/util/sys/libc.ts";
import { DatagramBatch, sockaddrPort, sockaddrText } from "../../../src/util/sys/mmsg.ts";
import { decode, loopbackAssignment, queryWire } from "./helpers.ts";
import { portBase } from "./lab.ts";
import { fakeUpstream } from "./upstream.ts";

const log = createLogger("dns64-test", { level: "silent" });

function sockaddr6(bytes: number[], port: number): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = 10;
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b.set(bytes, 8);
  return b;
}

test("sockaddrText: IPv4 and IPv6 (RFC 5952) text as dgram reports it; never throws", () => {
  const v4 = new Uint8Array([2, 0, 0x14, 0xe9, 192, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(sockaddrText(v4), "192.0.2.7");
  assert.equal(sockaddrPort(v4), 5353);
  const one = Array(16).fill(0);
  one[15] = 1;
  assert.equal(sockaddrText(sockaddr6(one, 53)), "::1");
  assert.equal(sockaddrText(sockaddr6(Array(16).fill(0), 53)), "::");
  assert.equal(
    sockaddrText(sockaddr6([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], 53)),
    "2001:db8::1:0:0:1",
  );
  assert.equal(
    sockaddrText(sockaddr6([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], 53)),
    "2001:db8:0:1::",
  );
  assert.equal(
    sockaddrText(sockaddr6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1], 53)),
    "::ffff:192.0.2.1",
  );
  assert.equal(sockaddrText(new Uint8Array([16, 0, 0, 0])), undefined, "AF_NETLINK is no IP sender");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      sockaddrText(b);
      sockaddrPort(b);
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (addr) => {
      const text = sockaddrText(sockaddr6([...addr], 1))!;
      const p = parseAddress(text, 6);
      assert.ok(p.ok, text);
      let v = 0n;
      for (const x of addr) v = (v << 8n) | BigInt(x);
      assert.equal(p.value.value, v, text);
      // RFC 5952 §4.2.2: a single zero group is never shortened to "::"
      assert.ok(!/(^|:)0:0(:|$)/.test(text) || text.includes("::"), text);
    }),
  );
});

/** Receives into `batch` from `fd` until `n` datagrams arrived in one call or 2 s passed. */
async function receiveAll(batch: DatagramBatch, fd: number, n: number): Promise<number> {
  let got = 0;
  for (let i = 0; i < 200 && got < n; i++) {
    await new Promise((r) => setTimeout(r, 10));
    got = batch.receive(fd);
  }
  return got;
}

test("DatagramBatch: a slot reused for sending, or by a smaller datagram or address, receives whole ones", async (t) => {
  // receive() resets only the slots written since the previous call: a send's lengths (set) and a
  // receive's address lengths must not cut the next datagrams short
  const base = portBase() + 26;
  const batch = new DatagramBatch(4, 4096);
  const fds: number[] = [];
  const sockets: ReturnType<typeof createSocket>[] = [];
  t.after(() => {
    for (const fd of fds) close(fd);
    for (const s of sockets) s.close();
    batch.free();
  });
  const send = async (family: 4 | 6, port: number, sizes: number[]) => {
    const s = createSocket(family === 4 ? "udp4" : "udp6");
    sockets.push(s);
    const host = family === 4 ? "127.0.0.1" : "::1";
    for (const [i, n] of sizes.entries()) {
      await new Promise<void>((r) => s.send(new Uint8Array(n).fill(i + 1), port, host, () => r()));
    }
  };
  const v4 = udpFd(4, "127.0.0.1", base, false);
  fds.push(v4);
  assert.equal(batch.receive(v4), 0, "nothing sent yet");
  // a send leaves small lengths in slots 0 and 1
  assert.ok(batch.set(0, new Uint8Array(10), new Uint8Array(16)));
  assert.ok(batch.set(1, new Uint8Array(3), new Uint8Array(16)));
  await send(4, base, [3000, 4096, 5]);
  assert.equal(await receiveAll(batch, v4, 3), 3);
  assert.deepEqual(
    [0, 1, 2].map((i) => batch.length(i)),
    [3000, 4096, 5],
  );
  assert.deepEqual(
    [0, 1, 2].map((i) => batch.truncated(i)),
    [false, false, false],
  );
  assert.equal(batch.data(1)[4095], 2);
  assert.equal(sockaddrText(batch.name(0)), "127.0.0.1");
  // an empty receive in between, then an IPv6 sender (28-byte address after 16-byte ones) and a
  // datagram longer than the slot
  assert.equal(batch.receive(v4), 0);
  let v6: number;
  try {
    v6 = udpFd(6, "::1", base + 1, false);
  } catch (e) {
    t.skip(`no IPv6 loopback here: ${(e as Error).message}`);
    return;
  }
  fds.push(v6);
  await send(6, base + 1, [4000, 5000]);
  assert.equal(await receiveAll(batch, v6, 2), 2);
  assert.equal(batch.length(0), 4000);
  assert.equal(batch.truncated(0), false);
  assert.equal(batch.truncated(1), true, "5000 bytes do not fit a 4096-byte slot");
  assert.equal(sockaddrText(batch.name(0)), "::1");
  assert.equal(batch.name(0).length, 28);
});

/**
 * Sends every datagram in one synchronous loop (the server, in this process, cannot run meanwhile,
 * so they queue on its socket), then collects answers until `expect` arrived or `ms` passed.
 */
async function burst(port: number, queries: Uint8Array[], expect: number, ms = 3000): Promise<Uint8Array[]> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const got: Uint8Array[] = [];
  const done = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    s.on("message", (m) => {
      got.push(new Uint8Array(m));
      if (got.length >= expect) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  for (const q of queries) s.send(q, port, "127.0.0.1");
  await done;
  s.close();
  return got;
}

/** 0x20: a name in mixed letter case, different per index. */
const mixed = (name: string, i: number) =>
  [...name].map((c, k) => ((i >> (k % 8)) & 1 ? c.toUpperCase() : c)).join("");

test("udp batch: a burst of cached and uncached queries, each answered with its ID, question case and answer", async () => {
  const base = portBase() + 20;
  const up = await fakeUpstream(base);
  const svc = await startDns64(loopbackAssignment(`127.0.0.1:${base + 1}`, `127.0.0.1:${base}`), {
    log,
    stateDir: "/tmp",
  });
  try {
    // warm the cache for ten names
    const warm = Array.from({ length: 10 }, (_, i) => queryWire(`c${i}.example`, "AAAA", { id: i }));
    assert.equal((await burst(base + 1, warm, 10)).length, 10);
    // more than one recvmmsg's worth (64) after the datagram that woke the server
    const n = 150;
    const queries = Array.from({ length: n }, (_, i) =>
      queryWire(i % 2 ? mixed(`c${i % 10}.example`, i) : `fresh${i}.example`, "AAAA", {
        id: 1000 + i,
        edns: i % 3 !== 0,
      }),
    );
    const answers = await burst(base + 1, queries, n);
    assert.equal(answers.length, n, "every query answered");
    const byId = new Map(answers.map((a) => [decode(a).id, decode(a)]));
    for (let i = 0; i < n; i++) {
      const a = byId.get(1000 + i);
      assert.ok(a, `answer for id ${1000 + i}`);
      const asked = i % 2 ? mixed(`c${i % 10}.example`, i) : `fresh${i}.example`;
      assert.equal(a.questions[0]!.name, asked, "question case kept (0x20)");
      assert.equal(a.rcode, "NOERROR");
      assert.deepEqual(
        a.answers.map((r) => r.data),
        ["64:ff9b::c000:201"],
      );
      assert.equal(
        a.additionals.some((r) => r.type === "OPT"),
        i % 3 !== 0,
        "OPT only when the query had one",
      );
    }
    // all cached: more answers than one sendmmsg's worth are ready in one drain
    const hits = Array.from({ length: n }, (_, i) =>
      queryWire(mixed(`c${i % 10}.example`, i), "AAAA", { id: 3000 + i }),
    );
    const hitAnswers = await burst(base + 1, hits, n);
    assert.equal(hitAnswers.length, n, "every cached query answered");
    assert.deepEqual(
      hitAnswers.map((a) => decode(a).id).sort((x, y) => x - y),
      hits.map((_, i) => 3000 + i),
    );
    const s = svc.stats();
    assert.ok(s.udpBatched! > 0, `some queries drained with recvmmsg: ${JSON.stringify(s)}`);
    assert.equal(s.udpQueries, 10 + 2 * n);
    assert.equal(s.errors, 0);
  } finally {
    await svc.stop();
    await up.close();
  }
});

test("udp batch: the ACL, the rate limit and FORMERR apply to drained datagrams too", async () => {
  const base = portBase() + 23;
  const up = await fakeUpstream(base);
  try {
    await aclRateFormerr(base, up);
  } finally {
    await up.close();
  }
});

async function aclRateFormerr(base: number, up: { seen: { udp: number } }): Promise<void> {
  // 127.0.0.1 is not allowed: every query of the burst is REFUSED, nothing goes upstream
  const refusing = await startDns64(
    loopbackAssignment(`127.0.0.1:${base + 1}`, `127.0.0.1:${base}`, { allowClients: ["192.0.2.0/24"] }),
    { log, stateDir: "/tmp" },
  );
  try {
    const qs = Array.from({ length: 50 }, (_, i) => queryWire(`r${i}.example`, "AAAA", { id: i }));
    const got = await burst(base + 1, qs, 50);
    assert.equal(got.length, 50);
    for (const a of got) assert.equal(decode(a).rcode, "REFUSED");
    assert.equal(up.seen.udp, 0, "nothing forwarded for a refused client");
    const s = refusing.stats();
    assert.equal(s.refused, 50);
    assert.ok(s.udpBatched! > 0, JSON.stringify(s));
  } finally {
    await refusing.stop();
  }
  const limited = await startDns64(
    loopbackAssignment(`127.0.0.1:${base + 2}`, `127.0.0.1:${base}`, { rateLimit: 5 }),
    { log, stateDir: "/tmp" },
  );
  try {
    // rate 5/s, burst 10: of 60 queries at once about 10 are answered, the rest dropped and counted
    const qs = Array.from({ length: 60 }, (_, i) => queryWire(`l${i}.example`, "A", { id: i }));
    const got = await burst(base + 2, qs, 60, 1500);
    assert.ok(got.length >= 10 && got.length <= 12, `answered ${got.length} of 60`);
    const s = limited.stats();
    assert.equal(s.udpQueries, 60);
    assert.equal(s.rateLimited, 60 - got.length);
    assert.ok(s.udpBatched! > 0, JSON.stringify(s));
  } finally {
    await limited.stop();
  }
  const plain = await startDns64(loopbackAssignment(`127.0.0.1:${base + 2}`, `127.0.0.1:${base}`), {
    log,
    stateDir: "/tmp",
  });
  try {
    // two questions (QDCOUNT 2 with one question present): FORMERR; short datagrams: dropped
    const bad = Array.from({ length: 30 }, (_, i) => {
      const q = queryWire(`f${i}.example`, "A", { id: 500 + i, edns: false });
      q[5] = 2;
      return q;
    });
    const short = Array.from({ length: 10 }, () => new Uint8Array([1, 2, 3]));
    const got = await burst(base + 2, [...bad, ...short], 30);
    assert.equal(got.length, 30);
    for (const a of got) assert.equal(a[3]! & 0x0f, 1, "FORMERR");
    await new Promise((r) => setTimeout(r, 50));
    const s = plain.stats();
    assert.equal(s.formerr, 30);
    assert.equal(s.dropped, 10);
    assert.ok(s.udpBatched! > 0, JSON.stringify(s));
  } finally {
    await plain.stop();
  }
}
