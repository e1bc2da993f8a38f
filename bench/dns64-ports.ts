// Part of `npm run bench:dns64`: what the upstream source-port policy (src/services/dns64/ports.ts)
// costs, in this process's CPU time per upstream query, with the lab's authoritative BIND (another
// process) answering. Policies, alternated over rounds, medians kept:
//   one port     one socket for the life of the process (the design before RFC 5452 §9.2 ports)
//   per turn     a fresh port for each event-loop turn of queries (one sendmmsg), never reused
//   2 ms window  a fresh port every 2 ms (at most 64 queries), never reused after
//   per query    a fresh port for every query (Unbound's policy)
// Queries go out in turns of `k` (k queries asked together, then the next k once answered): k 1 is
// a lightly loaded resolver, k 16 a busy one.
import {
  DEFAULT_UPSTREAM_OPTIONS,
  UpstreamClient,
  type UpstreamOptions,
} from "../src/services/dns64/upstream.ts";
import { textToName } from "../src/services/dns64/wire.ts";

const POLICIES: { name: string; opts: Partial<UpstreamOptions> }[] = [
  { name: "one port", opts: { queriesPerPort: Number.MAX_SAFE_INTEGER, portWindowMs: 2 ** 31 - 1 } },
  { name: "per turn", opts: { queriesPerPort: 64, portWindowMs: 0 } },
  { name: "2 ms window", opts: { queriesPerPort: 64, portWindowMs: 2 } },
  { name: "per query", opts: { queriesPerPort: 1, portWindowMs: 0 } },
];
const TURNS = [1, 16];
const QUERIES = 4000;
const ROUNDS = 3;

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

let serial = 0;

/** CPU µs per query for `QUERIES` queries asked in turns of `k`. */
async function measure(client: UpstreamClient, zone: string, k: number): Promise<number> {
  const start = cpuMicros();
  for (let done = 0; done < QUERIES; done += k) {
    await Promise.all(
      Array.from({ length: k }, () =>
        client.query({
          name: textToName(`p${serial++}.${zone}`),
          type: 1,
          class: 1,
          dnssecOk: false,
          cd: false,
        }),
      ),
    );
  }
  return (cpuMicros() - start) / QUERIES;
}

/** One line per policy: CPU µs per upstream query for each turn size. */
export async function measurePortPolicies(
  upstream: { host: string; port: number },
  zone: string,
): Promise<string[]> {
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of POLICIES) {
      const client = new UpstreamClient([{ family: 4, ...upstream }], {
        ...DEFAULT_UPSTREAM_OPTIONS,
        ...p.opts,
      });
      try {
        await measure(client, zone, 4); // warm up
        for (const k of TURNS) {
          const key = `${p.name}|${k}`;
          results.set(key, [...(results.get(key) ?? []), await measure(client, zone, k)]);
        }
      } finally {
        client.close();
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const lines = [
    `\nUpstream source-port policy: CPU µs per upstream query (this process; BIND answers), median of ${ROUNDS} alternating rounds of ${QUERIES} queries`,
    `policy        ${TURNS.map((k) => `turns of ${k}`.padStart(12)).join(" ")}`,
  ];
  for (const p of POLICIES) {
    const cells = TURNS.map((k) =>
      median(results.get(`${p.name}|${k}`)!)
        .toFixed(1)
        .padStart(12),
    );
    lines.push(`${p.name.padEnd(13)} ${cells.join(" ")}`);
  }
  return lines;
}
