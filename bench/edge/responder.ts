// npm run bench:edge-responder — Neighbor Advertisements per second under a flood of Neighbor
// Solicitations: the v6mostly neighbour responder against the Linux kernel's own proxy NDP
// (`ip -6 neigh add proxy ADDR dev IF`, proxy_ndp=1, forwarding=1), in the same run. Needs root.
//
// Two namespaces: a "gateway" that floods and a "responder" box, joined by two veth pairs: link A
// carries our responder (a separate Node process, the test fixture), link B the kernel's proxy
// entry for the same address, so neither answers on the other's link. The flooder (Node through
// koffi, a packet socket) sends valid solicitations for one address to its solicited-node group as
// fast as it can for BENCH_SECONDS; the answers are the packets the gateway's end of the link
// received in that time (ip -s link: every frame back on the veth), checked against the
// responder's own `ns.answered` and the kernel's Icmp6OutNeighborAdvertisements. Rounds alternate
// (ours, kernel) BENCH_ROUNDS times; medians are compared.
//
// The kernel is measured twice: with proxy_delay 0 (answers at once: its best, the figure to
// compare with) and, in one round, with its default proxy_delay (0.8 s random delay and a queue of
// proxy_qlen 64 for multicast solicitations, RFC 4861 §7.2.7's MAX_ANYCAST_DELAY_TIME). Its work
// happens in softirq, charged to no process: the machine's softirq time is printed for both.
// Our responder runs with ratePerSecond 1e9 (the limit lifted: this measures what it can do).
//   env: BENCH_SECONDS (default 4), BENCH_ROUNDS (default 3)
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURES = "test/services/edge/responder/fixtures";
const TARGET = "2001:db8:5::120";
const BOX_MAC = "00:00:5e:00:53:fb";

interface Round {
  who: string;
  sent: number;
  seconds: number;
  answers: number;
  /** the responder's own count (ns.answered, or the kernel's Icmp6OutNeighborAdvertisements) */
  counted: number;
  /** CPU seconds of our responder process (undefined for the kernel) */
  cpu?: number;
  /** the machine's softirq seconds over the round */
  softirq: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function benchResponder(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("bench:edge-responder: needs root (network namespaces); skipped");
    return;
  }
  const seconds = Number(process.env.BENCH_SECONDS ?? "4");
  const rounds = Number(process.env.BENCH_ROUNDS ?? "3");
  const id = process.pid % 100000;
  const R = `v6m-be-${id}-r`;
  const G = `v6m-be-${id}-g`;
  const A = { r: `be${id}ar`, g: `be${id}ag` };
  const B = { r: `be${id}br`, g: `be${id}bg` };
  const children: ChildProcess[] = [];
  const run = (ns: string, cmd: string[]) =>
    execFileSync("ip", ["netns", "exec", ns, ...cmd], { cwd: root, encoding: "utf8" });
  const softirq = () => {
    // /proc/stat "cpu" line: user nice system idle iowait irq softirq ... in USER_HZ (100/s)
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
    return Number(f[7]) / 100;
  };
  const rxPackets = (ifname: string) =>
    Number(run(G, ["cat", `/sys/class/net/${ifname}/statistics/rx_packets`]).trim());
  const kernelAnswers = () => {
    const out = run(R, ["nstat", "-az", "Icmp6OutNeighborAdvertisements"]);
    return Number(/Icmp6OutNeighborAdvertisements\s+(\d+)/.exec(out)?.[1] ?? "0");
  };
  const flood = (ifname: string) => {
    const out = run(G, [
      process.execPath,
      "--import",
      "tsx",
      `${FIXTURES}/send.ts`,
      ifname,
      "flood",
      TARGET,
      `${seconds}s`,
    ]);
    return JSON.parse(out) as { sent: number; ms: number };
  };

  console.log(
    `uptime: ${execFileSync("uptime", { encoding: "utf8" }).trim()} (${os.cpus().length} cores, shared)`,
  );
  try {
    execFileSync("ip", ["netns", "add", R]);
    execFileSync("ip", ["netns", "add", G]);
    for (const l of [A, B]) {
      execFileSync("ip", `link add ${l.r} netns ${R} type veth peer name ${l.g} netns ${G}`.split(" "));
      run(R, ["ip", "link", "set", l.r, "up"]);
      run(G, ["ip", "link", "set", l.g, "up"]);
      // the gateway's own traffic stays out of the count: no DAD, no MLD, no router solicitations
      run(G, ["sysctl", "-qw", `net.ipv6.conf.${l.g}.router_solicitations=0`]);
    }
    // the kernel's proxy NDP on link B: forwarding on, proxy_ndp on, the proxy entry
    run(R, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    run(R, ["sysctl", "-qw", `net.ipv6.conf.${B.r}.proxy_ndp=1`]);
    run(R, ["sysctl", "-qw", `net.ipv6.neigh.${B.r}.proxy_delay=0`]);
    run(R, ["ip", "-6", "neigh", "add", "proxy", TARGET, "dev", B.r]);

    // our responder on link A, the rate limit lifted
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        R,
        process.execPath,
        "--import",
        "tsx",
        `${FIXTURES}/responder.ts`,
        A.r,
        "-",
        "2001:db8:5::100-2001:db8:5::1ff",
        BOX_MAC,
        "1e9",
      ],
      { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
    );
    children.push(child);
    const lines: string[] = [];
    let partial = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      partial += d;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
    });
    const waitLine = async (prefix: string, from: number) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const l = lines.slice(from).find((x) => x.startsWith(prefix));
        if (l) return JSON.parse(l);
        if (Date.now() > deadline) throw new Error(`the responder did not say ${prefix}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitLine('{"ready"', 0);
    const answered = async () => {
      const from = lines.length;
      child.stdin!.write("stats\n");
      return (
        ((await waitLine('{"stats"', from)) as { stats: Record<string, number> }).stats["ns.answered"] ?? 0
      );
    };
    const cpuOf = () => {
      // /proc/PID/stat fields 14, 15: utime, stime in clock ticks (100/s); the pid is ip's, which exec'd node
      const f = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(f[11]) + Number(f[12])) / 100;
    };
    await new Promise((r) => setTimeout(r, 2000)); // the links' link-local addresses leave DAD

    const measure = async (who: string, link: typeof A): Promise<Round> => {
      const ours = who === "v6mostly";
      const rx0 = rxPackets(link.g);
      const c0 = ours ? await answered() : kernelAnswers();
      const cpu0 = ours ? cpuOf() : 0;
      const si0 = softirq();
      const f = flood(link.g);
      await new Promise((r) => setTimeout(r, 300)); // the last answers drain
      const round: Round = {
        who,
        sent: f.sent,
        seconds: f.ms / 1000,
        answers: rxPackets(link.g) - rx0,
        counted: (ours ? await answered() : kernelAnswers()) - c0,
        cpu: ours ? cpuOf() - cpu0 : undefined,
        softirq: softirq() - si0,
      };
      console.log(
        `${who}: offered ${(round.sent / round.seconds).toFixed(0)} NS/s, answered ${(round.answers / round.seconds).toFixed(0)} NA/s ` +
          `(${((100 * round.answers) / round.sent).toFixed(1)}%; its own count ${round.counted})` +
          (round.cpu === undefined
            ? ""
            : `, responder CPU ${(round.cpu / round.seconds).toFixed(2)} s/s, ${((1e6 * round.cpu) / Math.max(1, round.counted)).toFixed(1)} µs per answer`) +
          `, machine softirq ${(round.softirq / round.seconds).toFixed(2)} s/s`,
      );
      return round;
    };

    flood(A.g); // warm-up, uncounted (JIT, caches)
    const results: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      results.push(await measure("v6mostly", A));
      results.push(await measure("kernel", B));
    }
    run(R, ["sysctl", "-qw", `net.ipv6.neigh.${B.r}.proxy_delay=80`]);
    const delayed = await measure("kernel (default proxy_delay)", B);

    const rate = (who: string) =>
      median(results.filter((r) => r.who === who).map((r) => r.answers / r.seconds));
    const offered = median(results.map((r) => r.sent / r.seconds));
    const ours = rate("v6mostly");
    const kernel = rate("kernel");
    const share = (who: string) =>
      (100 * median(results.filter((r) => r.who === who).map((r) => r.answers / r.sent))).toFixed(1);
    const cpu = median(
      results.filter((r) => r.cpu !== undefined).map((r) => (1e6 * r.cpu!) / Math.max(1, r.counted)),
    );
    console.log(
      `\nmedian of ${rounds}: offered ~${offered.toFixed(0)} NS/s; v6mostly ${ours.toFixed(0)} NA/s (${share("v6mostly")}% of what it was offered; ${cpu.toFixed(1)} µs CPU per answer), ` +
        `Linux proxy NDP ${kernel.toFixed(0)} NA/s (${share("kernel")}%; proxy_delay 0), ratio ${(ours / kernel).toFixed(2)}; ` +
        `Linux with its default proxy_delay ${(delayed.answers / delayed.seconds).toFixed(0)} NA/s`,
    );
  } finally {
    for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, "SIGKILL");
    spawnSync("ip", ["netns", "del", R]);
    spawnSync("ip", ["netns", "del", G]);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await benchResponder();
