/**
 * Jool's SIIT graybox topology (MANIFEST §3) in three network namespaces, with `v6mostly run` as
 * the translator:
 *
 *   n6 ── v6 ═ j6 ──  j: 2001:db8:1c0:2:1::, 198.51.100.1, TUN  ── j4 ═ v4 ── n4
 *
 * n6 and n4 have no addresses and never answer: a helper there (pktio.py) writes the suite's input
 * packets straight onto the link, addressed to j's MAC, and prints every packet that arrives.
 * j holds the translator's addresses as /32 and /128 and no link-local address, with routes for
 * the documentation ranges towards the peer namespaces (2001:db8::/32 via a ULA next hop on n6's
 * link; 198.51.100.0/24, 203.0.113.0/24 and 198.18.0.0/15 via n4; static neighbours, so no ARP
 * or Neighbor Discovery to answer): whatever the translator sends on, and every error the host
 * sends back, leaves through one of the two links and is captured. Every address on an
 * interface, route or packet of the lab is a documentation one or a ULA (the suite's others are
 * rewritten, rewrite.ts), but for loopback's, where the status endpoint listens. The kernel of j
 * forwards into the TUN device and out of it, as on a real host. The veths' MTU is 9000: the TUN
 * device's MTU (the resource's `mtu`) is the only limit, as the suite's link MTUs are for Jool.
 *
 * Names carry the process id; cleanup() removes namespaces, processes and files.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { REPO, sh, waitFor } from "../services/nat64/lab.ts";

/** Why the lab cannot run here (root, `ip netns`, /dev/net/tun, python3, curl), or null. */
export { canRun, waitFor } from "../services/nat64/lab.ts";

/** j's addresses on each link: Jool's translator addresses (MANIFEST §3). */
export const J6 = "2001:db8:1c0:2:1::";
export const J4 = "198.51.100.1";
/** The peers' side (n4's address in the suite; n6 is reached through a ULA next hop, on-link). */
export const N4 = "198.51.100.2";
const GW6 = "fd00:6::6";
/** What j routes to the peers: the documentation ranges (RFC 3849, RFC 5737, RFC 2544's 198.18.0.0/15). */
const ROUTES6 = ["2001:db8::/32"];
const ROUTES4 = ["198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"];
/** The IPv6 side's link (MANIFEST §3: n6 = 2001:db8:1c0:2:21::/64). */
const N6_LINK = "2001:db8:1c0:2::/64";

/** One side's packet helper: send packets, collect what arrives. */
export class Port {
  /** Every packet that arrived since the last clear(), in order. */
  readonly got: Uint8Array[] = [];
  private ready = false;

  constructor(private readonly p: ChildProcess) {
    const rl = createInterface({ input: p.stdout! });
    rl.on("line", (l) => {
      if (l === "ready") this.ready = true;
      else if (l) this.got.push(Uint8Array.from(Buffer.from(l, "hex")));
    });
  }

  async started(): Promise<void> {
    await waitFor("the packet helper", () => this.ready || undefined, 10_000);
  }

  send(pkt: Uint8Array): void {
    this.p.stdin!.write(`${Buffer.from(pkt).toString("hex")}\n`);
  }

  clear(): void {
    this.got.length = 0;
  }
}

export class SiitLab {
  readonly n6: string;
  readonly j: string;
  readonly n4: string;
  readonly tun: string;
  readonly dir: string;
  readonly status = "127.0.0.1:9464";
  private readonly procs: ChildProcess[] = [];
  private run: ChildProcess | null = null;

  constructor(tag: string) {
    const id = `${process.pid}${tag}`;
    this.n6 = `v6m-live-${id}-n6`;
    this.j = `v6m-live-${id}-j`;
    this.n4 = `v6m-live-${id}-n4`;
    this.tun = `siit${id}`.slice(0, 15);
    this.dir = mkdtempSync(join(tmpdir(), "v6m-live-"));
  }

  /** `ip -n NS ...` */
  ip(ns: string, ...a: string[]): string {
    return sh(["ip", "-n", ns, ...a]);
  }

  private sysctl(ns: string, key: string, value: string): void {
    sh(["ip", "netns", "exec", ns, "sysctl", "-qw", `${key}=${value}`]);
  }

  private mac(ns: string, dev: string): string {
    return (JSON.parse(this.ip(ns, "-j", "link", "show", "dev", dev)) as { address: string }[])[0]!.address;
  }

  /** Namespaces, links, j's addresses and routes; `ipv4Routes` false leaves j one IPv4 route, to N4. */
  setup(ipv4Routes = true): void {
    for (const n of [this.n6, this.j, this.n4]) sh(["ip", "netns", "add", n]);
    // no link-local addresses on j's links or its TUN device (RFC 4862 §5.3 otherwise forms them)
    for (const c of ["all", "default"]) this.sysctl(this.j, `net.ipv6.conf.${c}.addr_gen_mode`, "1");
    sh(["ip", "link", "add", "v6", "netns", this.n6, "type", "veth", "peer", "name", "j6", "netns", this.j]);
    sh(["ip", "link", "add", "v4", "netns", this.n4, "type", "veth", "peer", "name", "j4", "netns", this.j]);
    for (const [ns, dev] of [
      [this.n6, "v6"],
      [this.n4, "v4"],
    ] as const) {
      // the peers stay silent: no IPv6 (no Router Solicitations, MLD or DAD), no IPv4 address
      this.sysctl(ns, `net.ipv6.conf.${dev}.disable_ipv6`, "1");
      this.ip(ns, "link", "set", dev, "mtu", "9000", "up");
    }
    this.ip(this.j, "link", "set", "lo", "up");
    // packets from sources j has no route to (RFC 6791 cases, bogus sources) are still forwarded
    for (const c of ["all", "default"]) this.sysctl(this.j, `net.ipv4.conf.${c}.rp_filter`, "0");
    for (const dev of ["j6", "j4"]) {
      this.sysctl(this.j, `net.ipv4.conf.${dev}.rp_filter`, "0");
      this.ip(this.j, "link", "set", dev, "mtu", "9000", "up");
    }
    this.ip(this.j, "addr", "add", `${J6}/128`, "dev", "j6", "nodad");
    this.ip(
      this.j,
      "-6",
      "neigh",
      "replace",
      GW6,
      "lladdr",
      this.mac(this.n6, "v6"),
      "dev",
      "j6",
      "nud",
      "permanent",
    );
    for (const r of ROUTES6) this.ip(this.j, "-6", "route", "add", r, "via", GW6, "dev", "j6", "onlink");
    // n6's own /64 lies inside pool6 (it is 192.0.2.0/24's image): on the link, as for Jool
    this.ip(this.j, "-6", "route", "add", N6_LINK, "via", GW6, "dev", "j6", "onlink");
    this.ip(this.j, "addr", "add", `${J4}/32`, "dev", "j4");
    this.ip(
      this.j,
      "neigh",
      "replace",
      N4,
      "lladdr",
      this.mac(this.n4, "v4"),
      "dev",
      "j4",
      "nud",
      "permanent",
    );
    this.ip(this.j, "route", "add", N4, "dev", "j4");
    if (ipv4Routes) for (const r of ROUTES4) this.ip(this.j, "route", "add", r, "via", N4, "dev", "j4");
  }

  /** The packet helpers on both peer links. */
  async ports(): Promise<{ n6: Port; n4: Port }> {
    const port = (ns: string, dev: string, peer: string) => {
      const p = spawn(
        "ip",
        [
          "netns",
          "exec",
          ns,
          "python3",
          "-u",
          join(REPO, "test/conformance/pktio.py"),
          dev,
          this.mac(this.j, peer),
        ],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      this.procs.push(p);
      return new Port(p);
    };
    const n6 = port(this.n6, "v6", "j6");
    const n4 = port(this.n4, "v4", "j4");
    await Promise.all([n6.started(), n4.started()]);
    return { n6, n4 };
  }

  /**
   * `v6mostly run -f` with one Nat64Gateway (`spec`: YAML lines below `spec:`, tunName added) in
   * j; resolves once the device is up, then routes `routes4` into it (the IPv4 images of the IPv6
   * side: SIIT routes only the EAMT's IPv4 side itself). Stops the one running before.
   */
  async start(spec: string, routes4: readonly string[] = []): Promise<void> {
    await this.stopService();
    const f = join(this.dir, "gateway.yaml");
    writeFileSync(
      f,
      `apiVersion: v6mostly.dev/v1alpha1\nkind: Nat64Gateway\nmetadata:\n  name: live\nspec:\n  tunName: ${this.tun}\n${spec
        .trim()
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n")}\n`,
    );
    const args = [
      "netns",
      "exec",
      this.j,
      process.execPath,
      join(REPO, "bin/v6mostly.js"),
      "run",
      "-f",
      f,
      "--state-dir",
      join(this.dir, "state"),
      "--status-address",
      this.status,
    ];
    const p = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
    const log: Buffer[] = [];
    p.stdout!.on("data", (d: Buffer) => log.push(d));
    p.stderr!.on("data", (d: Buffer) => log.push(d));
    this.run = p;
    this.procs.push(p);
    await waitFor(`the gateway (log: ${join(this.dir, "run.log")})`, () => {
      writeFileSync(join(this.dir, "run.log"), Buffer.concat(log));
      if (p.exitCode !== null) throw new Error(`v6mostly run exited ${p.exitCode}: ${Buffer.concat(log)}`);
      return Buffer.concat(log).includes("translating") || undefined;
    });
    for (const r of routes4) this.ip(this.j, "route", "replace", r, "dev", this.tun);
  }

  /** The gateway's counters (`/translations`). */
  counters(): { counters: Record<string, number>; drops: Record<string, number> } {
    const all = JSON.parse(
      sh([
        "ip",
        "netns",
        "exec",
        this.j,
        "curl",
        "-s",
        "--max-time",
        "3",
        `http://${this.status}/translations`,
      ]),
    ) as Record<string, { counters: Record<string, number>; drops: Record<string, number> }>;
    return Object.values(all)[0]!;
  }

  async stopService(): Promise<void> {
    const p = this.run;
    this.run = null;
    if (p) await stop(p);
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) await stop(p);
    for (const n of [this.n6, this.j, this.n4]) {
      try {
        sh(["ip", "netns", "del", n]);
      } catch {
        // not created
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGTERM, then SIGKILL after 5 s: only this process, by its PID. */
async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once("exit", () => r()));
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(t);
}
