// The UDP exchange with upstream resolvers (src/services/dns64/upstreamudp.ts), batched (sendmmsg /
// recvmmsg) and one datagram at a time: answers are accepted only from the address queried, with
// the ID and the question sent (RFC 5452); anything else is counted and the wait goes on.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import test from "node:test";
import dnsPacket from "dns-packet";
import { UpstreamClient, type UpstreamQuestion } from "../../../src/services/dns64/upstream.ts";
import { nameToText, TYPE, textToName } from "../../../src/services/dns64/wire.ts";

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

for (const batch of [64, 0]) {
  test(`upstream udp (batch ${batch}): answers from another port, with another ID or another question are counted and ignored`, async () => {
    const server = await bound();
    const stranger = await bound();
    const port = server.address().port;
    server.on("message", (m, r) => {
      // three wrong answers first, then the right one
      stranger.send(answerTo(m), r.port, r.address);
      server.send(answerTo(m, { id: (m.readUInt16BE(0) + 1) & 0xffff }), r.port, r.address);
      server.send(answerTo(m, { name: "other.example" }), r.port, r.address);
      setTimeout(() => server.send(answerTo(m), r.port, r.address), 50);
    });
    const client = new UpstreamClient([{ family: 4, host: "127.0.0.1", port }], {
      timeoutMs: 2000,
      tcpTimeoutMs: 2000,
      rounds: 1,
      batch,
    });
    try {
      const a = await client.query(question("www.example"));
      assert.ok(a, "the right answer is accepted");
      assert.equal(nameToText(a.msg.question!.name), "www.example.");
      assert.equal(client.stats.badAnswers, 3);
      assert.equal(client.stats.timeouts, 0);
    } finally {
      client.close();
      server.close();
      stranger.close();
    }
  });

  test(`upstream udp (batch ${batch}): a burst of queries, each answered with its own question; silence times out`, async () => {
    const server = await bound();
    const port = server.address().port;
    server.on("message", (m, r) => {
      const name = dnsPacket.decode(m).questions![0]!.name;
      if (!name.startsWith("quiet")) server.send(answerTo(m), r.port, r.address);
    });
    const client = new UpstreamClient([{ family: 4, host: "127.0.0.1", port }], {
      timeoutMs: 300,
      tcpTimeoutMs: 300,
      rounds: 1,
      batch,
    });
    try {
      // 150: well within the default socket buffers, so loopback drops none of them
      const names = Array.from({ length: 150 }, (_, i) => `n${i}.example`);
      const answers = await Promise.all(names.map((n) => client.query(question(n))));
      answers.forEach((a, i) => {
        assert.ok(a, names[i]);
        assert.equal(nameToText(a.msg.question!.name), `${names[i]}.`);
        assert.deepEqual(
          dnsPacket.decode(Buffer.from(a.wire)).answers!.map((r) => (r as { data: unknown }).data),
          ["192.0.2.7"],
        );
      });
      assert.equal(client.stats.udpSent, 150);
      if (batch > 0) assert.ok(client.stats.udpBatched > 0, "answers were drained with recvmmsg");
      else assert.equal(client.stats.udpBatched, 0);
      assert.equal(await client.query(question("quiet.example")), undefined);
      assert.equal(client.stats.timeouts, 1);
      assert.equal(client.stats.failures, 1);
    } finally {
      client.close();
      server.close();
    }
  });
}

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
  const client = new UpstreamClient([{ family: 6, host: "::1", port: server.address().port }], {
    timeoutMs: 1000,
    tcpTimeoutMs: 1000,
    rounds: 1,
    batch: 64,
  });
  try {
    const names = Array.from({ length: 40 }, (_, i) => `v6-${i}.example`);
    const answers = await Promise.all(names.map((n) => client.query(question(n))));
    answers.forEach((a, i) => {
      assert.equal(a && nameToText(a.msg.question!.name), `${names[i]}.`);
    });
    assert.equal(client.stats.badAnswers, 0);
  } finally {
    client.close();
    server.close();
  }
});

test("upstream udp: close() ends the waits with undefined", async () => {
  const server = await bound();
  const client = new UpstreamClient([{ family: 4, host: "127.0.0.1", port: server.address().port }]);
  try {
    const pending = client.query(question("never.example"));
    setTimeout(() => client.close(), 50);
    assert.equal(await pending, undefined);
  } finally {
    client.close();
    server.close();
  }
});
