// The UDP exchange with upstream resolvers (src/services/dns64/upstreamudp.ts), batched (sendmmsg /
// recvmmsg) and one datagram at a time, against scripted upstreams on loopback: answers are taken
// only on the port the query left from, from the address queried, with the ID and the question sent
// (0x20 case included); anything else is counted by reason and the wait goes on. Source ports are
// random, many, and replaced; an upstream that does not echo 0x20 still gets answered.
import assert from "node:assert/strict";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import test from "node:test";
import dnsPacket from "dns-packet";
import { MISSES_TO_SWITCH_OFF } from "../../../src/services/dns64/dns0x20.ts";
import {
  UpstreamClient,
  type UpstreamOptions,
  type UpstreamQuestion,
} from "../../../src/services/dns64/upstream.ts";
import { DEFAULT_UDP_EXCHANGE } from "../../../src/services/dns64/upstreamudp.ts";
import { nameToText, TYPE, textToName } from "../../../src/services/dns64/wire.ts";
import { tcpResponder } from "./upstream.ts";

const question = (name: string, type = TYPE.A): UpstreamQuestion => ({
  name: textToName(name),
  type,
  class: 1,
  dnssecOk: false,
  cd: false,
});

function answerTo(query: Buffer, patch: { id?: number; name?: string } = {}): Buffer {
  const q = dnsPacket.decode(query);
  const qq = q.questions![0]!;
  const name = patch.name ?? qq.name;
  return dnsPacket.encode({
    type: "response",
    id: patch.id ?? q.id,
    flags: dnsPacket.RECURSION_AVAILABLE,
    questions: [{ ...qq, name }],
    answers: [{ type: "A", name, ttl: 300, class: "IN", data: "192.0.2.7" }],
  });
}

async function bound(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return s;
}

const options = (o: Partial<UpstreamOptions>): UpstreamOptions => ({
  ...DEFAULT_UDP_EXCHANGE,
  timeoutMs: 2000,
  tcpTimeoutMs: 2000,
  rounds: 1,
  ...o,
});

const client = (port: number, o: Partial<UpstreamOptions> = {}) =>
  new UpstreamClient([{ family: 4, host: "127.0.0.1", port }], options(o));

for (const batch of [64, 0]) {
  test(`upstream udp (batch ${batch}): answers from another port, with another ID, another question or malformed are counted by reason and ignored`, async () => {
    const server = await bound();
    const stranger = await bound();
    const port = server.address().port;
    server.on("message", (m, r) => {
      // wrong answers first, then the right one
      stranger.send(answerTo(m), r.port, r.address);
      server.send(answerTo(m, { id: (m.readUInt16BE(0) + 1) & 0xffff }), r.port, r.address);
      server.send(answerTo(m, { name: "other.example" }), r.port, r.address);
      server.send(Buffer.from([1, 2, 3]), r.port, r.address);
      setTimeout(() => server.send(answerTo(m), r.port, r.address), 50);
    });
    const c = client(port, { batch });
    try {
      const a = await c.query(question("www.example"));
      assert.ok(a, "the right answer is accepted");
      assert.equal(nameToText(a.msg.question!.name), "www.example.", "the question as the resolver asked it");
      const r = c.udp.stats.rejected;
      assert.deepEqual(r, { malformed: 1, noQuery: 1, source: 1, question: 1, case: 0 });
      assert.equal(c.udp.stats.timeouts, 0);
    } finally {
      c.close();
      server.close();
      stranger.close();
    }
  });

  test(`upstream udp (batch ${batch}): a burst of queries, each answered with its own question; silence times out`, async () => {
    const server = await bound();
    const port = server.address().port;
    server.on("message", (m, r) => {
      const name = dnsPacket.decode(m).questions![0]!.name;
      if (!name.toLowerCase().startsWith("quiet")) server.send(answerTo(m), r.port, r.address);
    });
    const c = client(port, { batch, timeoutMs: 300, tcpTimeoutMs: 300 });
    try {
      // 150: well within the default socket buffers, so loopback drops none of them
      const names = Array.from({ length: 150 }, (_, i) => `n${i}.example`);
      const answers = await Promise.all(names.map((n) => c.query(question(n))));
      answers.forEach((a, i) => {
        assert.ok(a, names[i]);
        assert.equal(nameToText(a.msg.question!.name), `${names[i]}.`);
        assert.deepEqual(
          dnsPacket.decode(Buffer.from(a.wire)).answers!.map((r) => (r as { data: unknown }).data),
          ["192.0.2.7"],
        );
      });
      assert.equal(c.udp.stats.udpSent, 150);
      if (batch > 0) assert.ok(c.udp.stats.udpBatched > 0, "answers were drained with recvmmsg");
      else assert.equal(c.udp.stats.udpBatched, 0);
      assert.equal(await c.query(question("quiet.example")), undefined);
      assert.equal(c.udp.stats.timeouts, 1);
      assert.equal(c.stats.failures, 1);
    } finally {
      c.close();
      server.close();
    }
  });
}

/**
 * A server that records where each query came from and answers it (over UDP optionally with the
 * question lower-cased, as an upstream that does not echo 0x20), over UDP and TCP on one port.
 */
async function recorder(opts: { fold?: boolean; delayMs?: number } = {}) {
  const server = await bound();
  const seen: { port: number; id: number; name: string }[] = [];
  const tcpSeen: string[] = [];
  server.on("message", (m, r) => {
    const q = dnsPacket.decode(m);
    const name = q.questions![0]!.name;
    seen.push({ port: r.port, id: q.id!, name });
    const out = answerTo(m, opts.fold ? { name: name.toLowerCase() } : {});
    if (opts.delayMs) setTimeout(() => server.send(out, r.port, r.address), opts.delayMs);
    else server.send(out, r.port, r.address);
  });
  const port = server.address().port;
  const tcp = await tcpResponder(port, (m) => {
    tcpSeen.push(dnsPacket.decode(m).questions![0]!.name);
    return answerTo(m);
  });
  return {
    seen,
    tcpSeen,
    port,
    close: () => {
      server.close();
      tcp.close();
    },
  };
}

test("upstream udp: source ports random over 1024-65535, a fresh one per query with queriesPerPort 1; sockets closed after their answers", async () => {
  const up = await recorder();
  const c = client(up.port, { queriesPerPort: 1 });
  try {
    for (let i = 0; i < 200; i++) assert.ok(await c.query(question(`seq${i}.example`)));
    const ports = new Set(up.seen.map((s) => s.port));
    console.log(`# 200 sequential queries: ${ports.size} distinct source ports`);
    // 200 draws from 64,512 ports: a repeat is possible (birthday: ~27%), two more are rare
    assert.ok(ports.size >= 197, `${ports.size} distinct ports`);
    for (const p of ports) assert.ok(p >= 1024 && p <= 65535, `port ${p}`);
    // spread over the range, not the kernel's ephemeral range (32768-60999) alone
    assert.ok([...ports].some((p) => p < 32768) && [...ports].some((p) => p > 32768));
    const ids = new Set(up.seen.map((s) => s.id));
    assert.ok(ids.size >= 197, `${ids.size} distinct IDs`);
    assert.equal(c.udp.portStats.portsOpened, 200);
    assert.equal(c.udp.portsOpen, 0, "every socket closed once its query was answered");
  } finally {
    c.close();
    up.close();
  }
});

test("upstream udp (window 0): the queries of one turn share a port (one sendmmsg), at most queriesPerPort; every turn a fresh port; none left open", async () => {
  const up = await recorder({ delayMs: 2 });
  const c = client(up.port, { queriesPerPort: 64, portWindowMs: 0 });
  try {
    // 40 queries in one turn: one port; 150 in one turn: three
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.query(question(`turn${i}.example`))));
    assert.equal(new Set(up.seen.map((s) => s.port)).size, 1, "one turn, one port");
    up.seen.length = 0;
    await Promise.all(Array.from({ length: 150 }, (_, i) => c.query(question(`big${i}.example`))));
    assert.equal(new Set(up.seen.map((s) => s.port)).size, 3, "64 + 64 + 22");
    up.seen.length = 0;
    // 200 turns of 5 queries: a port never serves two turns
    for (let t = 0; t < 200; t++)
      await Promise.all(Array.from({ length: 5 }, (_, i) => c.query(question(`t${t}-${i}.example`))));
    const perPort = new Map<number, number>();
    for (const s of up.seen) perPort.set(s.port, (perPort.get(s.port) ?? 0) + 1);
    console.log(`# 1000 queries in turns of 5: ${perPort.size} distinct source ports`);
    // 200 draws from 64,512 ports may repeat a port by chance, rarely more than twice
    assert.ok(perPort.size >= 197, `${perPort.size} ports`);
    assert.equal(c.udp.portsOpen, 0, "every socket closed once its turn's queries were answered");
  } finally {
    c.close();
    up.close();
  }
});

test("upstream udp (default 2 ms window): queries close together share a port, later ones get fresh ports; none left open", async () => {
  const up = await recorder();
  const c = client(up.port);
  try {
    // two queries asked together, then each next one after more than the window
    await Promise.all([c.query(question("w0.example")), c.query(question("w1.example"))]);
    for (let i = 2; i < 22; i++) {
      await new Promise((r) => setTimeout(r, 10));
      assert.ok(await c.query(question(`w${i}.example`)));
    }
    const ports = up.seen.map((s) => s.port);
    assert.equal(ports[0], ports[1], "asked together: one port");
    assert.equal(new Set(ports.slice(1)).size, 21, "every later query on a port of its own");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.udp.portsOpen, 0, "no socket left open once answered and out of its window");
  } finally {
    c.close();
    up.close();
  }
});

test("upstream udp: an answer with the right ID sent to another of our ports is not taken (destination port checked)", async () => {
  const server = await bound();
  const queries: { m: Buffer; r: RemoteInfo }[] = [];
  server.on("message", (m, r) => {
    queries.push({ m, r });
    if (queries.length < 2) return;
    // each answer to the other query's port, then the right ones
    const [a, b] = queries as [{ m: Buffer; r: RemoteInfo }, { m: Buffer; r: RemoteInfo }];
    server.send(answerTo(a.m), b.r.port, b.r.address);
    server.send(answerTo(b.m), a.r.port, a.r.address);
    setTimeout(() => {
      server.send(answerTo(a.m), a.r.port, a.r.address);
      server.send(answerTo(b.m), b.r.port, b.r.address);
    }, 50);
  });
  const c = client(server.address().port, { queriesPerPort: 1 });
  try {
    const [x, y] = await Promise.all([c.query(question("one.example")), c.query(question("two.example"))]);
    assert.equal(nameToText(x!.msg.question!.name), "one.example.");
    assert.equal(nameToText(y!.msg.question!.name), "two.example.");
    assert.notEqual(queries[0]!.r.port, queries[1]!.r.port);
    assert.equal(c.udp.stats.rejected.noQuery, 2);
  } finally {
    c.close();
    server.close();
  }
});

test("upstream udp: 0x20: the name goes out in random case; an upstream that echoes it is answered with no fallback", async () => {
  const up = await recorder();
  const c = client(up.port);
  try {
    const name = "mixed-case-test.example";
    for (let i = 0; i < 20; i++) assert.ok(await c.query(question(`${i}${name}`)));
    const cased = up.seen.filter((s) => s.name !== s.name.toLowerCase()).length;
    assert.ok(cased >= 19, `${cased} of 20 names had upper-case letters`);
    assert.equal(c.stats.caseFallbacks, 0);
    assert.equal(c.udp.stats.rejected.case, 0);
  } finally {
    c.close();
    up.close();
  }
});

test("upstream udp: 0x20: an upstream that lower-cases names still gets answered: the first few over TCP, then plain UDP queries", async () => {
  const up = await recorder({ fold: true });
  const c = client(up.port);
  try {
    for (let i = 0; i < 10; i++) {
      const a = await c.query(question(`name${i}.example`));
      assert.ok(a, `answer ${i}`);
      assert.equal(nameToText(a.msg.question!.name), `name${i}.example.`);
    }
    const n = MISSES_TO_SWITCH_OFF;
    assert.equal(c.stats.caseFallbacks, n, `asked again over TCP ${n} times`);
    assert.deepEqual(
      up.tcpSeen,
      Array.from({ length: n }, (_, i) => `name${i}.example`),
    );
    assert.equal(c.udp.stats.rejected.case, n);
    assert.equal(c.udp.caseEcho.offCount(Date.now()), 1);
    // the first queries went out in mixed case, every later one in lower case
    for (const s of up.seen.slice(0, n)) assert.notEqual(s.name, s.name.toLowerCase());
    for (const s of up.seen.slice(n)) assert.equal(s.name, s.name.toLowerCase());
    assert.equal(up.seen.length, 10);
  } finally {
    c.close();
    up.close();
  }
});

test("upstream udp: 0x20 off (caseRandomization false): names go out as asked", async () => {
  const up = await recorder();
  const c = client(up.port, { caseRandomization: false });
  try {
    for (let i = 0; i < 5; i++) assert.ok(await c.query(question(`plain${i}.example`)));
    for (const s of up.seen) assert.equal(s.name, s.name.toLowerCase());
  } finally {
    c.close();
    up.close();
  }
});

test("upstream udp (batched): an IPv6 upstream (::1), answers matched by its sockaddr_in6", async (t) => {
  const server = createSocket({ type: "udp6", ipv6Only: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.bind(0, "::1", () => resolve());
    });
  } catch {
    server.close();
    t.skip("no IPv6 loopback (::1) on this host");
    return;
  }
  server.on("message", (m, r) => server.send(answerTo(m), r.port, r.address));
  const c = new UpstreamClient(
    [{ family: 6, host: "::1", port: server.address().port }],
    options({ timeoutMs: 1000 }),
  );
  try {
    const names = Array.from({ length: 40 }, (_, i) => `v6-${i}.example`);
    const answers = await Promise.all(names.map((n) => c.query(question(n))));
    answers.forEach((a, i) => {
      assert.equal(a && nameToText(a.msg.question!.name), `${names[i]}.`);
    });
    assert.deepEqual(c.udp.stats.rejected, { malformed: 0, noQuery: 0, source: 0, question: 0, case: 0 });
  } finally {
    c.close();
    server.close();
  }
});

test("upstream udp: close() ends the waits with undefined and closes every socket", async () => {
  const server = await bound();
  const c = new UpstreamClient([{ family: 4, host: "127.0.0.1", port: server.address().port }]);
  try {
    const pending = c.query(question("never.example"));
    setTimeout(() => c.close(), 50);
    assert.equal(await pending, undefined);
    assert.equal(c.udp.portsOpen, 0);
  } finally {
    c.close();
    server.close();
  }
});
