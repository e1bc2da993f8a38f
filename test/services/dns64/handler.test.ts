// The query path without sockets: QueryHandler + Resolver with a scripted upstream (a fake Fetcher
// answering from a table, counting what it is asked) and a fake clock.

import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { ClientAcl, RateLimiter } from "../../../src/services/dns64/access.ts";
import { compilePrefix6 } from "../../../src/services/dns64/addressing.ts";
import { AnswerCache, cacheKey } from "../../../src/services/dns64/cache.ts";
import { QueryHandler, queryCacheKey, UPSTREAM } from "../../../src/services/dns64/handler.ts";
import { type Fetcher, Resolver } from "../../../src/services/dns64/resolver.ts";
import type { UpstreamAnswer, UpstreamQuestion } from "../../../src/services/dns64/upstream.ts";
import { nameToText, parseMessage } from "../../../src/services/dns64/wire.ts";
import { prefixOf } from "../../../src/util/net.ts";
import {
  type Answer,
  a,
  aaaa,
  cname,
  config,
  decode,
  expand6,
  queryWire,
  rcodeOf,
  soa,
  upstreamWire,
} from "./helpers.ts";

const TYPES: Record<number, dnsPacket.RecordType> = { 1: "A", 28: "AAAA", 12: "PTR", 16: "TXT" };

/** Upstream answering from a table keyed "name TYPE"; unknown names → NXDOMAIN with an SOA. */
class TableUpstream implements Fetcher {
  asked: string[] = [];
  down = false;
  constructor(
    private readonly table: Record<string, { rcode?: string; answers?: Answer[]; authorities?: Answer[] }>,
  ) {}
  async query(q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    const name = nameToText(q.name).replace(/\.$/, "");
    const type = TYPES[q.type] ?? "A";
    this.asked.push(`${name} ${type}${q.dnssecOk ? " +do" : ""}${q.cd ? " +cd" : ""}`);
    // names dns-packet cannot write (escaped bytes) are unknown to this fake
    if (this.down || name.includes("\\")) return undefined;
    const e = this.table[`${name} ${type}`] ?? { rcode: "NXDOMAIN", authorities: [soa("example")] };
    const wire = upstreamWire(name, type, e);
    return { wire, msg: parseMessage(wire)! };
  }
}

const LONG = "a-name-long-enough-to-matter-when-repeated.example";

const table = {
  "a-only.example A": { answers: [a("a-only.example", "192.0.2.1", 300)] },
  "a-only.example AAAA": { authorities: [soa("example", 300, 120)] },
  "dual.example A": { answers: [a("dual.example", "192.0.2.2")] },
  "dual.example AAAA": { answers: [aaaa("dual.example", "2001:db8::2")] },
  "many.example A": {
    answers: Array.from({ length: 60 }, (_, i) => a("many.example", `198.51.100.${i + 1}`)),
  },
  "many.example AAAA": { authorities: [soa("example")] },
  // EDNS: 40 synthesized AAAA fit in 1232 bytes with the owner names compressed (28 bytes a record)
  [`${LONG} A`]: {
    answers: Array.from({ length: 40 }, (_, i) => a(LONG, `198.51.100.${i + 1}`)),
  },
  [`${LONG} AAAA`]: { authorities: [soa("example")] },
  // RFC 6147 §5.1.4 edge cases: AAAA only in excluded ranges, and no A either
  "mapped-only.example AAAA": { answers: [aaaa("mapped-only.example", "::ffff:192.0.2.5")] },
  "mapped-only.example A": { authorities: [soa("example", 300, 90)] },
  "excluded-only.example AAAA": { answers: [aaaa("excluded-only.example", "2001:db8:dead::5")] },
  "excluded-only.example A": { authorities: [soa("example")] },
  "mixed-only.example AAAA": {
    answers: [aaaa("mixed-only.example", "::ffff:192.0.2.6"), aaaa("mixed-only.example", "2001:db8::6")],
  },
  "mixed-only.example A": { authorities: [soa("example")] },
  "alias-mapped.example AAAA": {
    answers: [
      cname("alias-mapped.example", "mapped-only.example"),
      aaaa("mapped-only.example", "::ffff:192.0.2.5"),
    ],
  },
  "alias-mapped.example A": {
    answers: [cname("alias-mapped.example", "mapped-only.example")],
    authorities: [soa("example")],
  },
  // AAAA NODATA, then the A query fails
  "a-servfail.example AAAA": { authorities: [soa("example")] },
  "a-servfail.example A": { rcode: "SERVFAIL" },
  "a-nxdomain.example AAAA": { authorities: [soa("example")] },
  "a-nxdomain.example A": { rcode: "NXDOMAIN", authorities: [soa("example", 300, 45)] },
  "dual-a-servfail.example AAAA": { answers: [aaaa("dual-a-servfail.example", "2001:db8::7")] },
  "dual-a-servfail.example A": { rcode: "SERVFAIL" },
  "aaaa-servfail.example AAAA": { rcode: "SERVFAIL" },
  "aaaa-servfail.example A": { rcode: "NXDOMAIN", authorities: [soa("example")] },
};

/** Fuzz input: any bytes, or `base` with up to six bytes changed. */
const queryBytes = (base: Uint8Array) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })
      .map((edits) => {
        const b = base.slice();
        for (const [i, v] of edits) b[i] = v;
        return b;
      }),
  );

function setup(clientNets = ["127.0.0.0/8", "2001:db8:1::/64"], cfg = config()) {
  let now = 1000;
  const up = new TableUpstream(table);
  const resolver = new Resolver(cfg, up, new AnswerCache(), undefined, () => now);
  const handler = new QueryHandler(resolver, new ClientAcl(clientNets.map((t) => prefixOf(t))));
  return { up, resolver, handler, tick: (s: number) => (now += s) };
}

async function ask(h: QueryHandler, q: Uint8Array, client = "127.0.0.1", tcp = false) {
  const r = await h.handle(q, client, tcp);
  assert.ok(r, "an answer");
  return r;
}

test("AAAA for an A-only name is synthesized, then served from the cache with aged TTLs", async () => {
  const { up, handler, tick } = setup();
  const q = queryWire("A-Only.Example", "AAAA", { id: 77 });
  const p = decode(await ask(handler, q));
  assert.equal(p.id, 77);
  assert.equal(p.questions[0]!.name, "A-Only.Example", "the question is echoed with the client's case");
  assert.deepEqual(
    p.answers.map((r) => [expand6(r.data), r.ttl]),
    [[expand6("64:ff9b::192.0.2.1"), 120]],
  );
  assert.ok(
    p.additionals.some((r) => r.type === "OPT"),
    "EDNS answered with EDNS",
  );
  assert.deepEqual(up.asked, ["a-only.example AAAA", "a-only.example A"]);
  tick(100);
  const again = decode(await ask(handler, q));
  assert.equal(again.answers[0]!.ttl, 20);
  assert.equal(up.asked.length, 2, "no new upstream query within the TTL");
  tick(25);
  await ask(handler, q);
  assert.equal(up.asked.length, 3, "expired: the synthesized answer is rebuilt (A answer still cached)");
});

test("concurrent identical questions are resolved once", async () => {
  const { up, handler } = setup();
  const q = queryWire("dual.example", "AAAA");
  await Promise.all([ask(handler, q), ask(handler, q), ask(handler, q)]);
  assert.deepEqual(up.asked, ["dual.example AAAA"]);
});

test("clients outside allowClients are REFUSED without an upstream query", async () => {
  const { up, handler } = setup();
  const r = await ask(handler, queryWire("dual.example", "AAAA"), "198.51.100.9");
  assert.equal(rcodeOf(r), 5);
  assert.equal(decode(r).questions[0]!.name, "dual.example");
  assert.equal(rcodeOf(await ask(handler, queryWire("dual.example", "A"), "2001:db8:2::1")), 5);
  assert.equal(
    rcodeOf(await ask(handler, queryWire("dual.example", "A"), "::ffff:127.0.0.1")),
    0,
    "IPv4-mapped client",
  );
  assert.equal(rcodeOf(await ask(handler, queryWire("dual.example", "A"), "2001:db8:1::99")), 0);
  assert.equal(handler.stats.refused, 2);
  assert.equal(up.asked.length, 1);
});

test("malformed queries: FORMERR when there is a header, dropped when not; responses are not answered", async () => {
  const { handler } = setup();
  assert.equal(await handler.handle(new Uint8Array(5), "127.0.0.1", false), undefined);
  const bad = queryWire("dual.example", "A");
  const truncated = bad.slice(0, 20);
  assert.equal(rcodeOf(await ask(handler, truncated)), 1);
  const twoQ = new Uint8Array(
    dnsPacket.encode({
      type: "query",
      id: 1,
      questions: [
        { name: "a.example", type: "A" },
        { name: "b.example", type: "A" },
      ],
    }),
  );
  assert.equal(rcodeOf(await ask(handler, twoQ)), 1);
  const asResponse = bad.slice();
  asResponse[2]! |= 0x80;
  assert.equal(await handler.handle(asResponse, "127.0.0.1", false), undefined);
  const notify = bad.slice();
  notify[2] = (notify[2]! & 0x87) | (4 << 3);
  assert.equal(rcodeOf(await ask(handler, notify)), 4, "opcode NOTIFY → NOTIMP");
  const axfr = queryWire("example", "AXFR");
  assert.equal(rcodeOf(await ask(handler, axfr, "127.0.0.1", true)), 4);
});

test("EDNS: version 1 gets BADVERS; no EDNS means a 512-byte limit and TC; TCP carries it all", async () => {
  const { handler } = setup();
  const v1 = queryWire("dual.example", "A");
  // OPT is the last 11 bytes: TTL byte 2 (after type/class) is the version
  v1[v1.length - 11 + 6] = 1;
  const r = decode(await ask(handler, v1));
  const opt = r.additionals.find((x) => x.type === "OPT") as unknown as { extendedRcode: number };
  // BADVERS is 16: its upper eight bits (1) go in the OPT TTL, the lower four (0) in the header
  assert.equal(opt.extendedRcode, 1, "BADVERS (RFC 6891 §9)");
  assert.equal(r.rcode, "NOERROR");
  const plain = decode(await ask(handler, queryWire("many.example", "AAAA", { edns: false })));
  assert.ok(plain.flag_tc, "60 AAAA records do not fit in 512 bytes");
  assert.equal(plain.answers.length, 0);
  const big = decode(await ask(handler, queryWire("many.example", "AAAA", { udpSize: 4096 })));
  assert.ok(big.flag_tc, "nor in 1232 bytes (the cap on what a client may announce)");
  const tcp = decode(
    await ask(handler, queryWire("many.example", "AAAA", { edns: false }), "127.0.0.1", true),
  );
  assert.equal(tcp.answers.length, 60);
  assert.ok(!tcp.flag_tc);
});

test("upstream down: SERVFAIL, not cached", async () => {
  const { up, handler } = setup();
  up.down = true;
  assert.equal(rcodeOf(await ask(handler, queryWire("dual.example", "A"))), 2);
  up.down = false;
  assert.equal(rcodeOf(await ask(handler, queryWire("dual.example", "A"))), 0);
});

test("ipv4only.arpa never goes upstream", async () => {
  const { up, handler } = setup();
  const p = decode(await ask(handler, queryWire("ipv4only.arpa", "AAAA")));
  assert.deepEqual(
    p.answers.map((r) => expand6(r.data)),
    [expand6("64:ff9b::192.0.0.170"), expand6("64:ff9b::192.0.0.171")],
  );
  assert.equal(up.asked.length, 0);
});

test("rate limit: a token bucket per client", () => {
  const rl = new RateLimiter(10, 20);
  let ok = 0;
  for (let i = 0; i < 50; i++) if (rl.take("192.0.2.1", 0)) ok++;
  assert.equal(ok, 20, "the burst");
  assert.ok(rl.take("192.0.2.2", 0), "another client has its own bucket");
  assert.ok(!rl.take("192.0.2.1", 50), "half a token after 50 ms");
  assert.ok(rl.take("192.0.2.1", 200), "refilled at 10/s");
  assert.equal(new RateLimiter(0).take("x", 0), true, "0 = unlimited");
});

test("fuzz: any bytes from an allowed client → nothing or a well-formed answer with the same ID", async () => {
  const { handler } = setup();
  const base = queryWire("a-only.example", "AAAA");
  await fc.assert(
    fc.asyncProperty(queryBytes(base), async (bytes) => {
      const r = await handler.handle(bytes, "127.0.0.1", false);
      if (r === undefined) return;
      const m = parseMessage(r);
      assert.ok(m, "our answer parses");
      assert.equal(m.id, (bytes[0]! << 8) | bytes[1]!);
      assert.ok(m.flags & 0x8000, "QR set");
      assert.ok(r.length <= 1232);
    }),
    { numRuns: 1500 },
  );
  assert.equal(handler.stats.errors, 0, "no exception reached the handler's boundary");
});

test("handleLocal (the receive thread): cached answers as handle() gives them, UPSTREAM for the resolver, errors locally; fuzzed", async () => {
  const { handler, up } = setup();
  const warm = queryWire("a-only.example", "AAAA", { id: 5 });
  const full = await ask(handler, warm);
  const asked = up.asked.length;
  // the same question in another case and ID: answered here, byte for byte as handle() does
  const q = queryWire("A-ONLY.example", "AAAA", { id: 6 });
  const local = handler.handleLocal(q, "127.0.0.1");
  assert.ok(local instanceof Uint8Array, "a cached question is answered without the resolver");
  assert.deepEqual(local, await ask(handler, q));
  assert.equal(local.length, full.length);
  assert.equal(handler.handleLocal(queryWire("fresh.example", "AAAA"), "127.0.0.1"), UPSTREAM);
  assert.equal(up.asked.length, asked, "handleLocal never asks upstream");
  const refused = handler.handleLocal(q, "192.0.2.9");
  assert.ok(refused instanceof Uint8Array && (refused[3]! & 0x0f) === 5, "REFUSED outside allowClients");
  const two = q.slice();
  two[5] = 2;
  const formerr = handler.handleLocal(two, "127.0.0.1");
  assert.ok(formerr instanceof Uint8Array && (formerr[3]! & 0x0f) === 1, "FORMERR");
  // the key the event loop sends an entry back under is the resolver's key for that question
  assert.equal(
    queryCacheKey(q),
    cacheKey(new TextEncoder().encode("\x06a-only\x07example\x00"), 28, 1, false, false),
  );
  await fc.assert(
    fc.asyncProperty(queryBytes(warm), async (bytes) => {
      queryCacheKey(bytes);
      const r = handler.handleLocal(bytes, "127.0.0.1");
      if (r === undefined || r === UPSTREAM) return;
      const m = parseMessage(r);
      assert.ok(m, "our answer parses");
      assert.equal(m.id, (bytes[0]! << 8) | bytes[1]!);
      assert.ok(m.flags & 0x8000, "QR set");
      assert.deepEqual(r, await handler.handle(bytes, "127.0.0.1", false), "as handle() answers");
    }),
    { numRuns: 1500 },
  );
  assert.equal(handler.stats.errors, 0, "no exception reached the handler's boundary");
});

test("cachedInto (the receive thread's hit path): into a slot full of garbage, byte for byte what handleLocal answers, or -1; fuzzed", async () => {
  const { handler } = setup();
  const warm = queryWire("a-only.example", "AAAA", { id: 5 });
  await ask(handler, warm);
  await ask(handler, queryWire("a-only.example", "AAAA", { id: 5, edns: false }));
  const slot = new Uint8Array(4096);
  const into = (bytes: Uint8Array, client = "127.0.0.1", out = slot): Uint8Array | undefined => {
    out.fill(0xaa);
    const n = handler.cachedInto(bytes, client, out);
    return n < 0 ? undefined : out.slice(0, n);
  };
  /** handleLocal's answer as plain bytes (it may be a Buffer) */
  const local = (bytes: Uint8Array) => {
    const r = handler.handleLocal(bytes, "127.0.0.1");
    return r instanceof Uint8Array ? new Uint8Array(r) : r;
  };
  const q = queryWire("A-ONLY.example", "AAAA", { id: 6 });
  const hits = handler.stats.cacheHits;
  assert.deepEqual(into(q), local(q), "a cached answer, as handleLocal gives it");
  assert.equal(handler.stats.cacheHits, hits + 2, "counted once per answer");
  assert.equal(into(q, "192.0.2.9"), undefined, "outside allowClients: handleLocal refuses it");
  assert.equal(into(q, "127.0.0.1", new Uint8Array(20)), undefined, "longer than the slot");
  assert.equal(into(queryWire("fresh.example", "AAAA")), undefined, "not cached");
  let answered = 0;
  await fc.assert(
    fc.asyncProperty(queryBytes(warm), async (bytes) => {
      const r = into(bytes);
      if (r === undefined) return;
      answered++;
      assert.deepEqual(r, local(bytes), "as handleLocal answers");
    }),
    { numRuns: 1500 },
  );
  assert.ok(answered > 0, "the fuzzed queries include cache hits");
  assert.equal(handler.stats.errors, 0, "no exception reached the handler's boundary");
});

test("fuzz: hostile upstream answers (mutated after the question) never break the resolver", async () => {
  const AAAA_ANSWERS = {
    "x.example AAAA": {
      answers: [{ type: "CNAME", name: "x.example", ttl: 60, class: "IN", data: "y.example" } as Answer],
      authorities: [soa("example")],
    },
    "x.example A": {
      answers: [
        { type: "CNAME", name: "x.example", ttl: 60, class: "IN", data: "y.example" } as Answer,
        a("y.example", "192.0.2.7"),
      ],
      authorities: [soa("example")],
    },
  };
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.constantFrom<dnsPacket.RecordType>("AAAA", "A", "PTR"),
      async (edits, qtype) => {
        const inner = new TableUpstream(AAAA_ANSWERS);
        const hostile: Fetcher = {
          async query(q) {
            const good = await inner.query(q);
            if (!good) return undefined;
            const b = good.wire.slice();
            const qend = good.msg.question!.end;
            for (const [i, v] of edits) if (qend + i < b.length) b[qend + i] = v;
            const msg = parseMessage(b);
            return msg?.question ? { wire: b, msg } : undefined;
          },
        };
        const handler = new QueryHandler(
          new Resolver(config(), hostile),
          new ClientAcl([prefixOf("127.0.0.0/8")]),
        );
        const r = await handler.handle(queryWire("x.example", qtype, { do: true }), "127.0.0.1", false);
        if (r) assert.ok(parseMessage(r), "our answer parses");
        assert.equal(handler.stats.errors, 0, "no exception reached the boundary");
      },
    ),
    { numRuns: 1500 },
  );
});

test("identical questions in flight are resolved once; the A query of synthesis is not asked again", async () => {
  const { up, resolver, handler } = setup();
  const aaaaQ = (id: number) => queryWire("a-only.example", "AAAA", { id });
  const answers = await Promise.all([
    ask(handler, aaaaQ(1)),
    ask(handler, aaaaQ(2)),
    ask(handler, queryWire("A-ONLY.example", "A", { id: 3 })),
  ]);
  assert.deepEqual(
    answers.map((r) => decode(r).id),
    [1, 2, 3],
  );
  assert.deepEqual(
    decode(answers[1]!).answers.map((r) => expand6(r.data)),
    [expand6("64:ff9b::192.0.2.1")],
  );
  assert.deepEqual(
    decode(answers[2]!).answers.map((r) => r.data),
    ["192.0.2.1"],
  );
  assert.deepEqual(up.asked.sort(), ["a-only.example A", "a-only.example AAAA"]);
  assert.equal(resolver.stats.coalesced, 1, "the second AAAA joined the first");
});

const addrs = (p: ReturnType<typeof decode>) =>
  p.answers.filter((r) => r.type === "AAAA").map((r) => expand6(r.data));

test("§5.1.4: excluded AAAA are never returned; with no A either the answer is NODATA", async () => {
  const cfg = config("64:ff9b::/96", {
    exclude: ["::ffff:0:0/96", "2001:db8:dead::/48"].map((t) => compilePrefix6(prefixOf(t))),
  });
  const { up, handler } = setup(undefined, cfg);
  for (const name of ["mapped-only.example", "excluded-only.example"]) {
    const p = decode(await ask(handler, queryWire(name, "AAAA")));
    assert.equal(p.rcode, "NOERROR", name);
    assert.deepEqual(p.answers, [], `${name}: no AAAA in an excluded range`);
    assert.deepEqual(
      p.authorities.map((r) => `${r.type} ${r.name}`),
      ["SOA example"],
      `${name}: the A answer's SOA, so that the NODATA can be cached (RFC 2308 §3)`,
    );
  }
  assert.deepEqual(up.asked, [
    "mapped-only.example AAAA",
    "mapped-only.example A",
    "excluded-only.example AAAA",
    "excluded-only.example A",
  ]);
  // a CNAME chain is kept, the excluded AAAA at its end is not
  const alias = decode(await ask(handler, queryWire("alias-mapped.example", "AAAA")));
  assert.deepEqual(
    alias.answers.map((r) => `${r.type} ${r.data}`),
    ["CNAME mapped-only.example"],
  );
  // the excluded answer is cached as the NODATA it is
  const again = decode(await ask(handler, queryWire("mapped-only.example", "AAAA")));
  assert.deepEqual(again.answers, []);
});

test("§5.1.4 with alwaysSynthesize and no A: the usable AAAA stand, the excluded ones do not", async () => {
  const { handler } = setup(undefined, config("64:ff9b::/96", { alwaysSynthesize: true }));
  assert.deepEqual(addrs(decode(await ask(handler, queryWire("mixed-only.example", "AAAA")))), [
    expand6("2001:db8::6"),
  ]);
  assert.deepEqual(decode(await ask(handler, queryWire("mapped-only.example", "AAAA"))).answers, []);
  // real AAAA and a failing A query: the real AAAA stand (there is an answer, just not a synthesized one)
  assert.deepEqual(addrs(decode(await ask(handler, queryWire("dual-a-servfail.example", "AAAA")))), [
    expand6("2001:db8::7"),
  ]);
});

test("AAAA NODATA, then the A query fails: the client gets the failure, not an empty NOERROR", async () => {
  const { up, handler } = setup();
  const sf = decode(await ask(handler, queryWire("a-servfail.example", "AAAA")));
  assert.equal(sf.rcode, "SERVFAIL");
  assert.deepEqual(sf.answers, []);
  await ask(handler, queryWire("a-servfail.example", "AAAA"));
  assert.equal(
    up.asked.filter((q) => q === "a-servfail.example A").length,
    2,
    "the failure is not cached (RFC 2308 §7.1 allows it, we do not)",
  );
  const nx = decode(await ask(handler, queryWire("a-nxdomain.example", "AAAA")));
  assert.equal(nx.rcode, "NXDOMAIN");
  assert.deepEqual(
    nx.authorities.map((r) => `${r.type} ${r.name}`),
    ["SOA example"],
    "the SOA for negative caching (RFC 2308 §3)",
  );
  assert.equal(nx.questions[0]!.type, "AAAA");
  // an AAAA SERVFAIL counts as NODATA (§5.1.2): the A answer decides
  assert.equal(decode(await ask(handler, queryWire("aaaa-servfail.example", "AAAA"))).rcode, "NXDOMAIN");
});

test("§5.3.1: a PTR query above the addresses of the PREF64's zone gets NODATA with the SOA, not upstream's REFUSED", async () => {
  const { up, handler } = setup();
  for (const name of [
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa",
    "0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa",
  ]) {
    const p = decode(await ask(handler, queryWire(name, "PTR")));
    assert.equal(p.rcode, "NOERROR", name);
    assert.deepEqual(p.answers, []);
    assert.deepEqual(
      p.authorities.map((r) => `${r.type} ${r.name}`),
      ["SOA 0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa"],
    );
  }
  assert.deepEqual(up.asked, [], "answered without an upstream query");
});

test("EDNS: an answer that fits the client's UDP size is sent whole (names compressed); one that does not gets TC and TCP gets it whole", async () => {
  const { up, handler } = setup();
  const q = (o: Parameters<typeof queryWire>[2]) => queryWire(LONG, "AAAA", { id: 99, ...o });
  for (const udpSize of [1232, 1400, 4096]) {
    const r = await ask(handler, q({ udpSize }));
    const p = decode(r);
    assert.ok(!p.flag_tc, `fits in ${r.length} bytes: no TC (client size ${udpSize})`);
    assert.ok(r.length <= 1232);
    assert.equal(p.answers.length, 40);
    assert.deepEqual(new Set(p.answers.map((x) => x.name)), new Set([LONG]));
  }
  // too big for a client without EDNS (512 bytes): TC, and nothing else broken
  const small = await ask(handler, q({ edns: false, id: 7 }));
  const t = decode(small);
  assert.ok(t.flag_tc);
  assert.equal(t.id, 7);
  assert.equal(t.rcode, "NOERROR");
  assert.deepEqual(t.questions, [{ name: LONG, type: "AAAA", class: "IN" }]);
  assert.deepEqual([t.answers.length, t.authorities.length, t.additionals.length], [0, 0, 0]);
  // the same with EDNS 512 and DO: the OPT record comes back with DO
  const withDo = decode(await ask(handler, q({ udpSize: 512, do: true })));
  assert.ok(withDo.flag_tc);
  assert.deepEqual(
    withDo.additionals.map((x) => [x.type, (x as unknown as { flags: number }).flags & 0x8000]),
    [["OPT", 0x8000]],
  );
  // TCP gets it whole, from the cache (one upstream exchange per question and DO bit)
  const whole = decode(await ask(handler, q({ edns: false }), "127.0.0.1", true));
  assert.ok(!whole.flag_tc);
  assert.equal(whole.answers.length, 40);
  assert.deepEqual(up.asked, [`${LONG} AAAA`, `${LONG} A`, `${LONG} AAAA +do`, `${LONG} A +do`]);
  assert.equal(handler.stats.truncated, 2);
});
