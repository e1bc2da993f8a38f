// The thread that does nothing but serve the UDP sockets of one stack, from the cache it shares with
// the stack (cache.ts: shared memory); udpthread.ts starts it. It waits itself: in recvmmsg(2) when
// there is one socket (MSG_WAITFORONE on a blocking socket), in poll(2) when there are several, then
// recvmmsg on each readable one. It answers what it can without the resolver (the rate limit, the
// ACL, FORMERR and the other errors, cached answers) and sends the answers with one sendmmsg(2) per
// socket; the queries that need the resolver go to the event-loop thread of the stack in one message
// per wake-up, which answers them on the same socket and stores the answer in the cache they share.
// A quiet query costs two system calls (three with several sockets: the poll) and one wake-up.
//
// It imports only the hit path (no assignment decoder, hence no zod and no API schema): each module
// here costs memory in every such thread (README.md, Speed: memory).
import { parentPort, workerData } from "node:worker_threads";
import { Prefix } from "../../util/net.ts";
import { nameThisThread } from "../../util/sys/libc.ts";
import { DatagramBatch, PollSet } from "../../util/sys/mmsg.ts";
import { ClientAcl, RateLimiter } from "./access.ts";
import { AnswerCache } from "./cache.ts";
import { newServerStats, QueryHandler, type ServerStats, UPSTREAM } from "./handler.ts";
import { Resolver } from "./resolver.ts";
import { compileConfig } from "./synth.ts";
import { ThreadTrace } from "./threadtrace.ts";
import { ClientNames } from "./udpbatch.ts";
import { type Misses, RECV_THREAD_NAME, type RecvThreadData, STAT_KEYS, STOP } from "./udpthread.ts";

const SWEEP_MS = 60_000;
/** poll's longest wait (ms), should the process end without stop() (SO_RCVTIMEO bounds recvmmsg's) */
const WAKE_MS = 1000;

/**
 * shared[k] = stats[STAT_KEYS[k]] for every k, after each batch, as straight-line code: a loop over
 * the keys is a megamorphic keyed load per key (0.6% of this thread's time at 5,000 queries/s).
 * The loop stays for a node run with --disallow-code-generation-from-strings.
 */
const publishStats = ((): ((stats: ServerStats, shared: Float64Array) => void) => {
  try {
    return new Function(
      "stats",
      "shared",
      STAT_KEYS.map((k, i) => `shared[${i}] = stats.${k};`).join("\n"),
    ) as (stats: ServerStats, shared: Float64Array) => void;
  } catch {
    return (stats, shared) => {
      for (let k = 0; k < STAT_KEYS.length; k++) shared[k] = stats[STAT_KEYS[k]!];
    };
  }
})();

function serve(d: RecvThreadData): void {
  nameThisThread(RECV_THREAD_NAME);
  const cache = new AnswerCache(d.cache);
  // answers from the cache only: handleLocal never asks the resolver's fetcher
  const resolver = new Resolver(
    compileConfig(d.policy),
    { query: () => Promise.reject(new Error("no upstream here")) },
    cache,
  );
  const acl = new ClientAcl(d.allowClients.map((p) => new Prefix(p.family, p.network, p.length, p.text)));
  const handler = new QueryHandler(resolver, acl, newServerStats());
  const limiter = new RateLimiter(d.rate);
  const clients = new ClientNames();
  const control = new Int32Array(d.control);
  const shared = new Float64Array(d.stats);
  const fds = d.fds;
  const poll = fds.length > 1 ? new PollSet(fds) : undefined;
  const rx = new DatagramBatch(d.slots, 4096);
  const tx = new DatagramBatch(d.slots, 4096);
  const stats = handler.stats;
  // the rate limit's clock: monotonic ms (performance.now is a fast call; Date.now a runtime call)
  let nextSweep = performance.now() + SWEEP_MS;
  let misses: Misses | undefined;
  /** debug-only timing (threadtrace.ts), off by default */
  const trace = ThreadTrace.fromEnv();

  /** rx.receive, counting a failure as an error (the socket is served again on the next wake-up) */
  const receive = (fd: number, wait: boolean): number => {
    try {
      const n = rx.receive(fd, wait);
      trace?.received(fd, n);
      return n;
    } catch {
      stats.errors++;
      return 0;
    }
  };

  /** Answers the n datagrams in rx, which came in on socket s. */
  const answer = (s: number, n: number, now: number): void => {
    let out = 0;
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
      const query = rx.data(i);
      // the common case, a cached answer, straight into the send slot; anything else as before
      const len = handler.cachedInto(query, client, tx.slot(out));
      if (len >= 0) {
        if (tx.written(out, len, name)) out++;
        else stats.dropped++;
        continue;
      }
      const r = handler.handleLocal(query, client);
      if (r === undefined) continue;
      if (r === UPSTREAM) {
        trace?.missed();
        misses ??= { queries: [], names: [], socks: [] };
        misses.queries.push(query.slice());
        misses.names.push(name.slice());
        misses.socks.push(s);
      } else if (tx.set(out, r, name)) out++;
      else stats.dropped++; // longer than a slot: no UDP answer is (udpLimit caps them at 1232)
    }
    stats.udpBatched += n;
    // before the answers go out: whoever got one reads figures that count it
    publishStats(stats, shared);
    if (out > 0) tx.send(fds[s]!, out);
    trace?.sent(out);
  };

  parentPort?.postMessage("ready");
  try {
    for (;;) {
      // one socket: recvmmsg is the wait; several: poll, then recvmmsg on each readable one
      let first = 0;
      if (poll) {
        try {
          poll.wait(WAKE_MS);
        } catch {
          stats.errors++;
        }
      } else first = receive(fds[0]!, true);
      if (Atomics.load(control, STOP) !== 0) break;
      const now = performance.now();
      if (now >= nextSweep) {
        limiter.sweep(now);
        nextSweep = now + SWEEP_MS;
        trace?.swept();
      }
      if (!poll) answer(0, first, now);
      else for (let s = 0; s < fds.length; s++) if (poll.ready(s)) answer(s, receive(fds[s]!, false), now);
      if (misses) {
        d.port.postMessage(misses);
        misses = undefined;
      }
    }
  } finally {
    rx.free();
    tx.free();
    poll?.free();
    trace?.free();
    d.port.close();
  }
}

serve(workerData as RecvThreadData);
