// `node --import tsx --max-semi-space-size=64 bench/dns64-alloc.ts`: bytes the receive thread's hit
// path (recvthread.ts: the client's name, the rate limit, handleLocal, the answer into a send slot)
// allocates per cached query, in this process, from V8's new-space figures over a run short enough
// that no scavenge happens (the semi-space flag). Each scavenge of the thread's 2 MiB young
// generation pauses it 0.5-1 ms (threadtrace.ts), so bytes per query set how often that happens.
import { getHeapSpaceStatistics } from "node:v8";
import { ClientAcl, RateLimiter } from "../src/services/dns64/access.ts";
import { AnswerCache, cacheKey } from "../src/services/dns64/cache.ts";
import { QueryHandler } from "../src/services/dns64/handler.ts";
import { buildReply } from "../src/services/dns64/reply.ts";
import { monotonicSeconds, Resolver } from "../src/services/dns64/resolver.ts";
import { ClientNames } from "../src/services/dns64/udpbatch.ts";
import { textToName } from "../src/services/dns64/wire.ts";
import { prefixOf } from "../src/util/net.ts";
import { DatagramBatch } from "../src/util/sys/mmsg.ts";
import { config } from "../test/services/dns64/helpers.ts";

const N = 5_000;
const cache = new AnswerCache({ maxEntries: 12_500, maxBytes: 8 << 20 });
const resolver = new Resolver(config(), { query: () => Promise.reject(new Error("no upstream")) }, cache);
const handler = new QueryHandler(resolver, new ClientAcl([prefixOf("127.0.0.0/8")]));
const limiter = new RateLimiter(0);
const clients = new ClientNames();
const rx = new DatagramBatch(64, 4096);
const tx = new DatagramBatch(64, 4096);

const qname = textToName("host1.example.");
const aaaa = new Uint8Array(16);
aaaa[0] = 0x20;
const reply = buildReply(
  qname,
  28,
  1,
  0,
  [[{ name: qname, type: 28, class: 1, ttl: 3600, rdata: aaaa }], [], []],
  3600,
);
cache.set(cacheKey(qname, 28, 1, false, false), reply, monotonicSeconds());

// a query with an EDNS OPT, as dnsperf sends: header, question, OPT
const q = new Uint8Array(12 + qname.length + 4 + 11);
q.set([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
q.set(qname, 12);
q.set([0, 28, 0, 1], 12 + qname.length);
q.set([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0], 12 + qname.length + 4);
// slot 0 as recvmmsg leaves it: data, msg_len (mmsghdr offset 56), the sender (sockaddr_in)
const dataAt = 64 * (64 + 16 + 32);
rx.bytes.set(q, dataAt);
new DataView(rx.bytes.buffer).setUint32(56, q.length, true);
new DataView(rx.bytes.buffer).setUint32(8, 16, true);
rx.bytes.set([2, 0, 0x30, 0x39, 127, 0, 0, 1], 64 * (64 + 16));

function one(): void {
  const name = rx.name(0);
  const client = clients.of(name);
  if (client === undefined || !limiter.take(client, 0)) throw new Error("client");
  const query = rx.data(0);
  if (process.env.OLD_PATH) {
    const r = handler.handleLocal(query, client);
    if (!(r instanceof Uint8Array) || !tx.set(0, r, name)) throw new Error("no answer");
    return;
  }
  const len = handler.cachedInto(query, client, tx.slot(0));
  if (len < 0 || !tx.written(0, len, name)) throw new Error("no answer");
}

const used = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_used_size;
for (let i = 0; i < N; i++) one(); // warm-up: optimized code
for (let round = 0; round < 5; round++) {
  const before = used();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) one();
  const us = ((performance.now() - t0) * 1000) / N;
  const after = used();
  console.log(
    `hit path: ${((after - before) / N).toFixed(1)} bytes of new space per query, ${us.toFixed(2)} µs per query` +
      (after < before ? " (a scavenge ran: ignore)" : ""),
  );
}
console.log(`cache hits ${handler.stats.cacheHits}`);
