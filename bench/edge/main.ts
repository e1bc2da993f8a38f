/**
 * `npm run bench:edge`: iperf3 TCP through the EdgeTranslation box of the seed's shape
 * (test/services/edge/lab.ts) against plain kernel forwarding through the same namespaces, in the
 * same run, alternating, BENCH_ROUNDS rounds (default 3) of BENCH_SECONDS (default 3) per figure,
 * medians compared.
 *
 *   SNAT44: LAN 198.18.0.10 -> outside 203.0.113.10, leaving from the one-to-one pool
 *   DNAT66: outside 2001:db8:ff::10 -> 2001:db8:1:0:ffff:ffff:0:10, mapped to the LAN's fd00:1::10
 *
 * The resource is the seed test's (test/services/edge/lab.ts, seedResource).
 *
 * "kernel": no table at all (the box only routes; the gateway is given routes to the LAN, and the
 * outside host uses the LAN server's own address): no conntrack, no NAT, the floor of what the path
 * costs. "edge": `v6mostly run` with the EdgeTranslation (its nftables table: conntrack, NAT,
 * the inbound policy); the gateway finds the external addresses through static neighbour entries
 * (the responder's own figures follow: bench/edge/responder.ts, against Linux's proxy NDP).
 */
import { loadavg } from "node:os";
import { ADDR, canRun, EdgeLab, SEED, seedResource, sh } from "../../test/services/edge/lab.ts";
import { benchResponder } from "./responder.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const { dnat66: DNAT66, pool4: POOL4 } = SEED;

type Mode = "kernel" | "edge";
interface Figures {
  snat44: number;
  dnat66: number;
}

function iperf(lab: EdgeLab, from: string, to: string): number {
  const out = lab.ns(from, ["iperf3", "-c", to, "-t", String(SECONDS), "-J"]);
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e6;
}

async function round(lab: EdgeLab, mode: Mode, file: string): Promise<Figures> {
  const gwRoutes = [
    ["route", "add", "198.18.0.0/24", "via", ADDR.box4],
    ["-6", "route", "add", "fd00:1::/64", "via", ADDR.box6],
  ];
  if (mode === "kernel") {
    for (const r of gwRoutes) lab.ip(lab.gw, ...r);
    lab.ip(lab.box, "route", "replace", "default", "via", ADDR.gw4);
    try {
      return { snat44: iperf(lab, lab.lan, ADDR.out4), dnat66: iperf(lab, lab.out, ADDR.lan6) };
    } finally {
      for (const r of gwRoutes) lab.ip(lab.gw, ...r.map((x) => (x === "add" ? "del" : x)));
    }
  }
  const run = await lab.runWithTable(file);
  try {
    return { snat44: iperf(lab, lab.lan, ADDR.out4), dnat66: iperf(lab, lab.out, DNAT66) };
  } finally {
    await lab.stop(run);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 0 });

async function main(): Promise<void> {
  const why = canRun(["iperf3"]);
  if (why) {
    console.log(`bench:edge skipped: ${why}`);
    return;
  }
  console.log(`uptime: ${sh(["uptime"]).trim()}`);
  const lab = new EdgeLab("B");
  try {
    lab.setup();
    const mac = (JSON.parse(lab.ip(lab.box, "-j", "link", "show", "w0")) as { address: string }[])[0]!
      .address;
    for (const a of [DNAT66, ...POOL4])
      lab.ip(lab.gw, "neigh", "replace", a, "lladdr", mac, "dev", "g0", "nud", "permanent");
    lab.spawnIn(lab.out, ["iperf3", "-s"]);
    lab.spawnIn(lab.lan, ["iperf3", "-s"]);
    await new Promise((r) => setTimeout(r, 500));
    const file = lab.write("edge.yaml", seedResource());
    console.log(
      `iperf3 TCP, 1 stream, ${SECONDS} s per figure, ${ROUNDS} round(s) alternating; LAN ns -> box ns -> home gateway ns -> outside ns (veth); this machine: 2 cores shared with other engineers`,
    );
    const runs: Record<Mode, Figures[]> = { kernel: [], edge: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const mode of ["kernel", "edge"] as const) {
        const f = await round(lab, mode, file);
        runs[mode].push(f);
        console.log(
          `round ${i + 1} ${mode.padEnd(6)} SNAT44 ${fmt(f.snat44)} Mbit/s  DNAT66 ${fmt(f.dnat66)} Mbit/s`,
        );
      }
    }
    console.log(
      `\nmedians of ${ROUNDS} round(s) (load average now ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}):`,
    );
    console.log("| path | EdgeTranslation (nftables) | kernel forwarding, no table | ratio |");
    console.log("|---|---|---|---|");
    for (const k of ["snat44", "dnat66"] as const) {
      const e = median(runs.edge.map((f) => f[k]));
      const p = median(runs.kernel.map((f) => f[k]));
      console.log(`| ${k.toUpperCase()} TCP | ${fmt(e)} Mbit/s | ${fmt(p)} Mbit/s | ${(e / p).toFixed(2)} |`);
    }
  } finally {
    await lab.cleanup();
  }

  await benchResponder();
}

await main();
