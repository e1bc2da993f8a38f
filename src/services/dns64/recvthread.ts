// A thread that does nothing but serve one UDP socket from a copy of the cache (udpthread.ts starts
// it). It waits in recvmmsg(2) itself (MSG_WAITFORONE on a blocking socket), answers what it can
// without the resolver (the rate limit, the ACL, FORMERR and the other errors, cached answers) and
// sends the answers with one sendmmsg(2); the queries that need the resolver go to the event-loop
// thread of the stack in one message per batch, which answers them on the same socket and sends
// back the cache entry it answered from. A quiet query costs two system calls and one wake-up
// (epoll, libuv's reads, a Buffer, an rinfo object and the callback into JavaScript are gone).
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { decodeAssignment } from "../../planner/wire.ts";
import { DatagramBatch } from "../../util/sys/mmsg.ts";
import { ClientAcl, RateLimiter } from "./access.ts";
import { AnswerCache } from "./cache.ts";
import { newServerStats, QueryHandler, UPSTREAM } from "./handler.ts";
import { monotonicSeconds, Resolver } from "./resolver.ts";
import { configOf } from "./stack.ts";
import { ClientNames } from "./udpbatch.ts";
import { ENTRIES, type Entries, type Misses, type RecvThreadData, STAT_KEYS, STOP } from "./udpthread.ts";

const SWEEP_MS = 60_000;

function serve(d: RecvThreadData): void {
  const decoded = decodeAssignment(d.assignment);
  if (!decoded.ok || decoded.value.kind !== "Dns64Resolver") throw new Error("unreadable assignment");
  const a = decoded.value;
  const cache = new AnswerCache(d.cache);
  // answers from the cache only: handleLocal never asks the resolver's fetcher
  const resolver = new Resolver(
    configOf(a),
    { query: () => Promise.reject(new Error("no upstream here")) },
    cache,
  );
  const handler = new QueryHandler(resolver, new ClientAcl(a.spec.allowClients), newServerStats());
  const limiter = new RateLimiter(d.rate);
  const clients = new ClientNames();
  const control = new Int32Array(d.control);
  const shared = new Float64Array(d.stats);
  const rx = new DatagramBatch(d.slots, 4096);
  const tx = new DatagramBatch(d.slots, 4096);
  const stats = handler.stats;
  let entriesSeen = 0;
  let nextSweep = Date.now() + SWEEP_MS;
  parentPort?.postMessage("ready");
  try {
    for (;;) {
      let n: number;
      try {
        n = rx.receive(d.fd, true);
      } catch {
        stats.errors++;
        n = 0;
      }
      if (Atomics.load(control, STOP) !== 0) break;
      const posted = Atomics.load(control, ENTRIES);
      if (posted !== entriesSeen) {
        entriesSeen = posted;
        for (let m = receiveMessageOnPort(d.port); m; m = receiveMessageOnPort(d.port)) {
          const now = monotonicSeconds();
          const wall = Date.now();
          for (const [key, reply, age, sent] of m.message as Entries)
            cache.set(key, reply, now - age - Math.floor((wall - sent) / 1000));
        }
      }
      const now = Date.now();
      if (now >= nextSweep) {
        limiter.sweep(now);
        nextSweep = now + SWEEP_MS;
      }
      let out = 0;
      let misses: Misses | undefined;
      for (let i = 0; i < n; i++) {
        stats.udpQueries++;
        const name = rx.name(i);
        const client = clients.of(name);
        if (client === undefined || rx.truncated(i)) {
          stats.dropped++;
          continue;
        }
        if (!limiter.take(client, now)) {
          stats.rateLimited++;
          continue;
        }
        const r = handler.handleLocal(rx.data(i), client);
        if (r === undefined) continue;
        if (r === UPSTREAM) {
          misses ??= { queries: [], names: [] };
          misses.queries.push(rx.data(i).slice());
          misses.names.push(name.slice());
        } else if (tx.set(out, r, name)) out++;
        else stats.dropped++; // longer than a slot: no UDP answer is (udpLimit caps them at 1232)
      }
      stats.udpBatched += n;
      // before the answers go out: whoever got one reads figures that count it
      for (let k = 0; k < STAT_KEYS.length; k++) shared[k] = stats[STAT_KEYS[k]!];
      if (out > 0) tx.send(d.fd, out);
      if (misses) d.port.postMessage(misses);
    }
  } finally {
    rx.free();
    tx.free();
    d.port.close();
  }
}

serve(workerData as RecvThreadData);
