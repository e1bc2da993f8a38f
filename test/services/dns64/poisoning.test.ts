// Cache poisoning by an off-path attacker (issue 19, RFC 5452), played in network namespaces
// (netlab.ts): the resolver in one, its upstream (BIND behind a relay that holds each answer 1.5 s:
// a slow upstream, the window a forger races) in another, and the attacker on the LAN, where it
// cannot see the resolver's queries. The attacker is a client: it asks for a fresh name, so it
// knows the name and the moment, then floods forged answers (A → its own address, TTL one day)
// from the upstream's address at the resolver, guessing ports and IDs. It is given the best
// knowledge an off-path attacker could hope for: every source port the resolver used before the
// attack. Bounded: 65,536 forged answers per round, four rounds with 0x20 echoed by the upstream,
// four with an upstream that folds case (so that ports and IDs stand alone).
//
// Asserted: no forged A record is ever answered, cached or synthesized into an AAAA. Printed: the
// distinct source ports over 1,000 queries, forged answers sent, those that reached a socket of
// the resolver (counted by reason), accepted 0.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MISSES_TO_SWITCH_OFF } from "../../../src/services/dns64/dns0x20.ts";
import { ZONE } from "./lab.ts";
import { ADDR, type Agent, type Child, FORGED_A, missingForNetlab, NetLab, REAL_A } from "./netlab.ts";

const ROUNDS = 4;
const BUDGET = 65_536;
const DELAY_MS = 1500;
/** the attacker floods for most of the window */
const FLOOD_MS = 1200;
/** ports the attacker spreads its budget over: the most recent it knows */
const GUESS_PORTS = 16;

interface Answer {
  name: string;
  rcode?: string;
  data?: string[];
  error?: string;
}

/** The RFC 6052 /96 address for an IPv4 address under 64:ff9b::/96, as dns-packet prints it. */
const synthesized = (v4: string) => {
  const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
  return `64:ff9b::${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
};

interface Round {
  name: string;
  a: string[];
  aaaa: string[];
}

async function attackRounds(
  lab: NetLab,
  attacker: Agent,
  client: Agent,
  relay: Child,
  knownPorts: number[],
  tag: string,
): Promise<{ rounds: Round[]; sent: number }> {
  const rounds: Round[] = [];
  let sent = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const name = `victim-${tag}${r}.${ZONE}`;
    const guesses = [...new Set(knownPorts.slice().reverse())].slice(0, GUESS_PORTS);
    const idsPerPort = Math.floor(BUDGET / guesses.length);
    // the attacker asks, so it knows the name and when the resolver's query leaves
    const asked = attacker.call<{ results: Answer[] }>("ask", {
      server: ADDR.resolver,
      names: [name],
      type: "A",
      timeoutMs: 8000,
    });
    await new Promise((res) => setTimeout(res, 30));
    const flood = await attacker.call<{ sent: number }>("forge", {
      target: ADDR.resolver,
      from: ADDR.upstream,
      name,
      answer: FORGED_A,
      ports: guesses,
      idsPerPort,
      windowMs: FLOOD_MS,
    });
    sent += flood.sent;
    const a = (await asked).results[0]!;
    // a second client asks for the synthesized AAAA: built from whatever A record was cached
    const aaaa = (
      await client.call<{ results: Answer[] }>("ask", { server: ADDR.resolver, names: [name], type: "AAAA" })
    ).results[0]!;
    rounds.push({ name, a: a.data ?? [a.error ?? "?"], aaaa: aaaa.data ?? [aaaa.error ?? "?"] });
    // what the relay saw since: the attacker learns these ports too
    knownPorts.push(...(await lab.command<{ ports: number[] }>(relay, "ports")).ports);
  }
  return { rounds, sent };
}

test("dns64 poisoning: an off-path attacker flooding forged answers never gets one cached or synthesized", async (t) => {
  const missing = missingForNetlab();
  if (missing) {
    t.skip(missing);
    return;
  }
  const lab = new NetLab();
  try {
    lab.setup();
    const relay = await lab.startUpstream();
    // the upstream is slow on purpose (1.5 s): wait for it
    const resolver = await lab.startResolver({ upstream: { timeoutMs: 4000 } });
    const attacker = await lab.agent("a");
    const client = await lab.agent("c");

    // 1,000 queries from a LAN client; the relay sees the resolver's source ports
    const names = Array.from({ length: 1000 }, (_, i) => `warm${i}.${ZONE}`);
    const warm = await attacker.call<{ results: Answer[] }>("ask", {
      server: ADDR.resolver,
      names,
      type: "A",
      concurrency: 20,
    });
    assert.equal(warm.results.filter((x) => x.data?.[0] === REAL_A).length, 1000, "all 1,000 answered");
    const known = (await lab.command<{ ports: number[] }>(relay, "ports")).ports;
    const distinct = new Set(known).size;

    await lab.command(relay, `delay ${DELAY_MS}`);
    const echoed = await attackRounds(lab, attacker, client, relay, known, "e");
    // an upstream that does not echo 0x20: the first queries find out (and go over TCP), then
    // plain queries: the attacker's lower-case name is right, only ports and IDs stand in its way
    await lab.command(relay, "fold on");
    const primes = Array.from({ length: MISSES_TO_SWITCH_OFF }, (_, i) => `prime${i}.${ZONE}`);
    await client.call("ask", { server: ADDR.resolver, names: primes, type: "A", timeoutMs: 8000 });
    const folded = await attackRounds(lab, attacker, client, relay, known, "f");

    const stats = await lab.stats(resolver);
    const all = [...echoed.rounds, ...folded.rounds];
    const won = all.filter((r) => r.a.includes(FORGED_A) || r.aaaa.includes(synthesized(FORGED_A)));
    const sent = echoed.sent + folded.sent;
    console.log(
      `# source ports over 1,000 queries: ${distinct} distinct (${Math.min(...known)}-${Math.max(...known)})`,
    );
    console.log(
      `# forged answers sent: ${sent} in ${all.length} rounds; answers rejected by the resolver: ${stats.upstreamRejected} (noQuery ${stats.upstreamRejectedNoQuery}, source ${stats.upstreamRejectedSource}, question ${stats.upstreamRejectedQuestion}, case ${stats.upstreamRejectedCase}); forged answers accepted: ${won.length}`,
    );
    console.log(
      `# 0x20: case fallbacks over TCP ${stats.upstreamCaseFallbacks}, upstreams without 0x20 now ${stats.upstreamNoCaseEcho}; sockets opened ${stats.upstreamPortsOpened}`,
    );
    for (const r of all) {
      assert.deepEqual(r.a, [REAL_A], `${r.name} A`);
      assert.deepEqual(r.aaaa, [synthesized(REAL_A)], `${r.name} AAAA`);
    }
    assert.equal(won.length, 0);
    assert.equal(stats.upstreamCaseFallbacks, MISSES_TO_SWITCH_OFF, "the folding upstream was detected");
    assert.equal(stats.upstreamNoCaseEcho, 1);
    // RFC 5452 §9.2: many ports; with 64 queries a port at most, 1,000 queries need 16 at least
    assert.ok(distinct >= 1000 / 64, `${distinct} distinct source ports`);
    for (const p of known) assert.ok(p >= 1024 && p <= 65535, `port ${p}`);
  } finally {
    await lab.cleanup();
  }
});
