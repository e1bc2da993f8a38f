// One answer cache in shared memory for every thread of a resolver (cache.ts): what one thread
// stores, another finds; threads hammering it at once never read another key's bytes or break its
// bounds; a thread terminated while it held the lock does not stop the others for ever.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Worker } from "node:worker_threads";
import { AnswerCache } from "../../../src/services/dns64/cache.ts";
import { startWorker } from "../../../src/util/worker.ts";

const fixture = new URL("./fixtures/cache-thread.ts", import.meta.url);

function result<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  });
}

test("two threads and this one share one cache: each finds the others' entries, never wrong bytes", {
  timeout: 60_000,
}, async () => {
  const cache = new AnswerCache({ maxEntries: 700, maxBytes: 1 << 20 });
  const workers = ["a", "b"].map((tag) =>
    startWorker(fixture, { memory: cache.memory, tag, rounds: 60_000, hold: false }),
  );
  try {
    const results = await Promise.all(workers.map((w) => result<{ bad: number; hits: number }>(w)));
    for (const r of results) {
      assert.equal(r.bad, 0, "an answer with another key's bytes");
      assert.ok(r.hits > 10_000, `${r.hits} hits`);
    }
    // 1,000 keys into 700 rows: bounded, and what is left is readable here, in the main thread
    assert.ok(cache.size <= 700 && cache.size > 0, `${cache.size} entries`);
    assert.ok(cache.usedBytes <= 1 << 20);
    let seen = 0;
    for (const tag of ["a", "b"])
      for (let i = 0; i < 500; i++) {
        const e = cache.peek(`${tag}-${i}`, 1);
        if (!e) continue;
        seen++;
        assert.ok(Buffer.from(e.reply.wire).toString().startsWith(`${tag}-${i}|`));
      }
    assert.equal(seen, cache.size);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
});

test("a thread terminated while it held the lock: calls go without the cache, then recover() empties it and frees the lock", {
  timeout: 60_000,
}, async () => {
  const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 16 });
  cache.set("before", { wire: new Uint8Array(20), ttlOffsets: [], rcode: 0, ttl: 60 }, 0);
  const w = startWorker(fixture, { memory: cache.memory, tag: "x", rounds: 0, hold: true });
  assert.equal(await result(w), "holding");
  const id = w.threadId;
  await w.terminate();
  // until recovered: no answer from the cache after a bounded wait (a lock() that waited for ever
  // would end this test by its timeout), then none at once, and both counted
  assert.equal(cache.get("before", 1), undefined);
  cache.set("meanwhile", { wire: new Uint8Array(20), ttlOffsets: [], rcode: 0, ttl: 60 }, 0);
  assert.equal(cache.lockFailures, 2);
  assert.equal(cache.recover(id + 1), false, "another thread's id is not the holder");
  assert.equal(cache.recover(id), true);
  assert.equal(cache.size, 0);
  cache.set("after", { wire: new Uint8Array(20), ttlOffsets: [], rcode: 0, ttl: 60 }, 0);
  assert.ok(cache.get("after", 1));
});
