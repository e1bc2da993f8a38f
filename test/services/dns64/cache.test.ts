// The answer cache: TTL expiry, least-recently-used eviction within entry and byte bounds, and
// the TTLs it derives from answers (RFC 1035 §7.4, RFC 2308 §5).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { AnswerCache, cacheKey, entryBytes } from "../../../src/services/dns64/cache.ts";
import { cacheTtl, type Reply } from "../../../src/services/dns64/reply.ts";
import { parseMessage, textToName } from "../../../src/services/dns64/wire.ts";
import { a, cname, soa, upstreamReply, upstreamWire } from "./helpers.ts";

const reply = (ttl: number, size = 100): Reply => ({
  wire: new Uint8Array(size),
  ttlOffsets: [],
  rcode: 0,
  ttl,
});

test("entries live for their TTL and no longer; TTL 0 is not stored", () => {
  const c = new AnswerCache();
  c.set("k", reply(30), 100);
  assert.ok(c.get("k", 129));
  assert.equal(c.get("k", 130), undefined);
  c.set("z", reply(0), 100);
  assert.equal(c.size, 0);
});

test("bounded: least recently used entries go first, by count and by bytes", () => {
  const c = new AnswerCache({ maxEntries: 3, maxBytes: 1 << 20 });
  for (const k of ["a", "b", "c"]) c.set(k, reply(60), 0);
  c.get("a", 1); // a is now the most recently used
  c.set("d", reply(60), 1);
  assert.equal(c.get("b", 1), undefined, "b was the least recently used");
  assert.ok(c.get("a", 1) && c.get("c", 1) && c.get("d", 1));
  assert.equal(c.evictions, 1);
  const small = new AnswerCache({ maxEntries: 1000, maxBytes: 3000 });
  for (let i = 0; i < 50; i++) small.set(`k${i}`, reply(60, 500), 0);
  assert.ok(small.usedBytes <= 3000, `${small.usedBytes} bytes`);
  assert.ok(small.size > 0 && small.size < 10);
});

test("keys fold case and separate type, class, DO and CD", () => {
  const k = (n: string, t = 28, dnssecOk = false, cd = false) =>
    cacheKey(textToName(n.toLowerCase()), t, 1, dnssecOk, cd);
  assert.equal(k("WWW.Example"), k("www.example"));
  assert.notEqual(k("www.example"), k("www.example", 1));
  assert.notEqual(k("www.example"), k("www.example", 28, true));
  assert.notEqual(k("www.example"), k("www.example", 28, false, true));
});

test("TTLs: smallest record TTL; negative answers by the SOA (RFC 2308 §5); no SOA, no caching", () => {
  const policy = { maxTtl: 86400, maxNegativeTtl: 3600 };
  const ttlOf = (w: Uint8Array) => cacheTtl(w, parseMessage(w)!, policy);
  assert.equal(
    ttlOf(
      upstreamWire("x.example", "A", {
        answers: [cname("x.example", "y.example", 50), a("y.example", "192.0.2.1", 300)],
      }),
    ),
    50,
  );
  assert.equal(ttlOf(upstreamWire("x.example", "AAAA", { authorities: [soa("example", 300, 120)] })), 120);
  assert.equal(
    ttlOf(upstreamWire("x.example", "AAAA", { rcode: "NXDOMAIN", authorities: [soa("example", 90, 120)] })),
    90,
  );
  assert.equal(ttlOf(upstreamWire("x.example", "AAAA", { rcode: "NXDOMAIN" })), 0);
  assert.equal(ttlOf(upstreamWire("x.example", "AAAA", { rcode: "SERVFAIL" })), 0);
  assert.equal(
    ttlOf(
      upstreamWire("x.example", "AAAA", { rcode: "NXDOMAIN", authorities: [soa("example", 86400, 86400)] }),
    ),
    3600,
  );
  assert.equal(upstreamReply("x.example", "A", { answers: [a("x.example", "192.0.2.1", 7)] }).ttl, 7);
});

test("LRU eviction matches a plain model over random sets and hits, also with many evictions", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 12 })), { maxLength: 300 }),
      (max, ops) => {
        const c = new AnswerCache({ maxEntries: max, maxBytes: 1 << 30 });
        const model: string[] = []; // least recently used first
        let evicted = 0;
        for (const [isSet, n] of ops) {
          const k = `k${n}`;
          const at = model.indexOf(k);
          if (isSet) {
            c.set(k, reply(60), 0);
            if (at >= 0) model.splice(at, 1);
            model.push(k);
            if (model.length > max) {
              model.shift();
              evicted++;
            }
          } else {
            assert.equal(c.get(k, 0) !== undefined, at >= 0, `get ${k}`);
            if (at >= 0) model.push(...model.splice(at, 1));
          }
          assert.equal(c.size, model.length);
        }
        assert.equal(c.evictions, evicted);
        for (let n = 0; n <= 12; n++) assert.equal(c.get(`k${n}`, 0) !== undefined, model.includes(`k${n}`));
      },
    ),
    { numRuns: 500 },
  );
  // a full cache of 20,000 entries replaced three times over, then cleared and filled again
  const big = new AnswerCache({ maxEntries: 20_000, maxBytes: 64 << 20 });
  for (let i = 0; i < 80_000; i++) big.set(`n${i}`, reply(60), 0);
  assert.equal(big.size, 20_000);
  assert.ok(big.get("n79999", 0) && big.get("n60000", 0));
  assert.equal(big.get("n59999", 0), undefined);
  big.clear();
  for (let i = 0; i < 30; i++) big.set(`m${i}`, reply(60), 0);
  assert.equal(big.size, 30);
});

test("outside the heap: every hit gives back the bytes stored, whatever their size, under eviction by bytes and expiry", () => {
  const arbReply = fc.record({
    size: fc.oneof(fc.integer({ min: 12, max: 140 }), fc.integer({ min: 12, max: 5000 })),
    offsets: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }),
    rcode: fc.integer({ min: 0, max: 15 }),
    ttl: fc.integer({ min: 1, max: 50 }),
    fill: fc.integer({ min: 0, max: 255 }),
  });
  const build = (r: { size: number; offsets: number[]; rcode: number; ttl: number; fill: number }): Reply => {
    const wire = new Uint8Array(r.size);
    for (let i = 0; i < wire.length; i++) wire[i] = (r.fill + i * 7) & 0xff;
    return { wire, ttlOffsets: r.offsets, rcode: r.rcode, ttl: r.ttl };
  };
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 40 }),
      fc.integer({ min: 2_000, max: 60_000 }),
      fc.array(
        fc.tuple(
          fc.constantFrom("set", "get", "lookup", "peek", "clear"),
          // long keys span blocks; short ones share index runs
          fc.oneof(
            fc.integer({ min: 0, max: 30 }).map(String),
            fc.integer({ min: 0, max: 5 }).map((n) => "x".repeat(200 + n)),
          ),
          arbReply,
          fc.integer({ min: 0, max: 3 }),
        ),
        { maxLength: 200 },
      ),
      (maxEntries, maxBytes, ops) => {
        const c = new AnswerCache({ maxEntries, maxBytes });
        const model = new Map<string, { reply: Reply; stored: number }>();
        let now = 0;
        for (const [op, key, r, dt] of ops) {
          now += dt;
          const want = model.get(key);
          const live = want && now < want.stored + want.reply.ttl ? want : undefined;
          if (op === "clear") {
            c.clear();
            model.clear();
            assert.equal(c.size, 0);
          } else if (op === "set") {
            const reply = build(r);
            c.set(key, reply, now);
            if (entryBytes(key.length, reply) > maxBytes) {
              // larger than the whole cache: not stored, and the old entry is gone
              model.delete(key);
              assert.equal(c.peek(key, now), undefined);
            } else {
              model.set(key, { reply, stored: now });
              // the entry just stored is there (it is the newest; eviction takes the oldest first)
              assert.ok(c.peek(key, now), `just set ${key.length}-byte key with ${r.size} bytes`);
            }
          } else if (op === "lookup") {
            const k = Buffer.from(key, "latin1");
            const b = c.borrow(k, k.length, now);
            if (b) {
              assert.ok(live, `${key}: a hit for what the model says is gone or never set`);
              assert.deepEqual([...b.wire], [...live.reply.wire]);
              assert.deepEqual(b.ttlOffsets, live.reply.ttlOffsets);
              assert.equal(c.storedAt, live.stored);
            }
          } else {
            const e = op === "get" ? c.get(key, now) : c.peek(key, now);
            if (e) {
              assert.ok(live, `${key}: a hit for what the model says is gone or never set`);
              assert.deepEqual([...e.reply.wire], [...live.reply.wire]);
              assert.deepEqual(e.reply.ttlOffsets, live.reply.ttlOffsets);
              assert.equal(e.reply.rcode, live.reply.rcode);
              assert.equal(e.reply.ttl, live.reply.ttl);
              assert.equal(e.stored, live.stored);
              assert.equal(e.expires, live.stored + live.reply.ttl);
            } else if (live && op === "peek") {
              // not there: it can only have been evicted, so the cache is or was at a bound
              assert.ok(c.evictions > 0, `${key} lost without an eviction`);
            }
          }
          assert.ok(c.size <= maxEntries, `${c.size} entries`);
          assert.ok(c.usedBytes <= maxBytes, `${c.usedBytes} bytes`);
        }
        c.clear();
        assert.equal(c.size, 0);
        assert.equal(c.usedBytes, 0);
        for (const key of model.keys()) assert.equal(c.get(key, now), undefined);
      },
    ),
    { numRuns: 300 },
  );
});

test("outside the heap: 100,000 entries in a few dozen objects; the index finds each after many deletions", () => {
  const c = new AnswerCache({ maxEntries: 100_000, maxBytes: 64 << 20 });
  const wire = new Uint8Array(100);
  for (let i = 0; i < 250_000; i++) {
    wire[0] = i & 0xff;
    wire[1] = (i >>> 8) & 0xff;
    wire[2] = i >>> 16;
    c.set(`host-${i}.example`, { wire, ttlOffsets: [20], rcode: 0, ttl: 60 + (i % 7) }, 0);
  }
  assert.equal(c.size, 100_000);
  // a row costs one 128-byte block and its columns, nothing per entry in the V8 heap
  assert.equal(c.usedBytes, 100_000 * (128 + 60));
  for (let i = 150_000; i < 250_000; i += 997) {
    const e = c.peek(`host-${i}.example`, 1);
    assert.ok(e, `host-${i}`);
    assert.equal(e.reply.wire[0]! | (e.reply.wire[1]! << 8) | (e.reply.wire[2]! << 16), i);
  }
  assert.equal(c.peek("host-149999.example", 1), undefined);
  // every entry with a TTL of 60 expires at 60: 1 in 7 gone by lookup, the rest found
  let found = 0;
  let expired = 0;
  for (let i = 150_000; i < 250_000; i++) {
    if (c.get(`host-${i}.example`, 60)) found++;
    if (i % 7 === 0) expired++;
  }
  assert.equal(found, 100_000 - expired);
  assert.equal(c.size, found);
});
