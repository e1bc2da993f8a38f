/**
 * Host set-up around a Nat64Gateway's TUN device, through iproute2 (`ip`, run with
 * argument arrays, never a shell) and /proc/sys:
 * - the device's MTU and link state (the device itself is opened by tun.ts);
 * - routes: the NAT64 prefix (or SIIT IPv6 side) and pool4 into the device;
 * - kernel proxy-ARP entries for pool4 on the uplink (`ip neigh ... proxy`), so
 *   pool4 addresses on the uplink's own subnet are answered for, then ARP Announcements of them
 *   (RFC 5227 §3): a share of pool4 taken over from a node that died is still cached by the
 *   link's hosts with the dead node's MAC (measured in test/cluster/twonode.test.ts: 23 to 53 s
 *   until they gave up on it); an announcement makes them replace it at once;
 * - forwarding sysctls (the previous values are restored on stop).
 *
 * Everything is idempotent (`replace`), recorded in a ledger file under the
 * state directory before it is done, and undone on stop; a ledger left by a
 * crash is undone at the next start. Routes vanish with the device (it is not
 * persistent), so a crash leaves at most proxy entries and sysctls behind.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { TUN_PATH } from "../../datapath/tun/tun.ts";
import { type Announcement, announce, interfaceMac, RFC_SCHEDULE } from "../../util/sys/announce.ts";
import type { HostPlan, Span4 } from "./plan.ts";

const exec = promisify(execFile);

export async function ip(args: string[]): Promise<string> {
  const { stdout } = await exec("ip", args, { maxBuffer: 16 << 20 });
  return stdout;
}

async function ipJson<T>(args: string[]): Promise<T> {
  const out = await ip(["-j", ...args]);
  return (out.trim() ? JSON.parse(out) : []) as T;
}

interface Ledger {
  proxy: { address: string; dev: string }[];
  sysctl: { path: string; previous: string }[];
}

/** the most pool4 addresses announced at a start */
const ANNOUNCED_MAX = 1024;

const SYSCTLS = ["/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"];

/** CAP_NET_ADMIN (bit 12) in the effective set. */
export function hasNetAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch {
    return false;
  }
}

function ipv4ToNum(s: string): number {
  return s.split(".").reduce((a, b) => a * 256 + Number(b), 0) >>> 0;
}

/**
 * Checks what the datapath needs before touching anything; each problem is a
 * sentence saying what is missing. Empty = ready.
 */
/** Why the host cannot run the gateway: a CamelCase reason (a status condition's) and a sentence. */
export interface HostProblem {
  reason: string;
  message: string;
}

export async function preflight(plan: HostPlan, pool4: readonly Span4[]): Promise<HostProblem[]> {
  const problems: HostProblem[] = [];
  const problem = (reason: string, message: string) => problems.push({ reason, message });
  if (!existsSync(TUN_PATH))
    problem("NoTunDevice", `${TUN_PATH} is missing: load the tun module (modprobe tun)`);
  if (!hasNetAdmin()) problem("NoNetAdmin", "CAP_NET_ADMIN is missing: run as root or grant cap_net_admin");
  const inPool = (a: string) => {
    const n = ipv4ToNum(a);
    return pool4.some((r) => n >= r.first && n <= r.last);
  };
  if (plan.uplink) {
    if (!existsSync(`/sys/class/net/${plan.uplink}`))
      problem("NoSuchInterface", `uplink interface ${plan.uplink} does not exist`);
    else {
      try {
        const addrs = await ipJson<{ addr_info?: { family: string; local: string }[] }[]>([
          "-4",
          "addr",
          "show",
          "dev",
          plan.uplink,
        ]);
        const v4 = addrs.flatMap((l) => l.addr_info ?? []).filter((a) => a.family === "inet");
        if (v4.length === 0) problem("NoIPv4Uplink", `uplink ${plan.uplink} has no IPv4 address`);
        // pool4 already in use on the segment: a neighbour that answered for a pool4 address.
        const neigh = await ipJson<{ dst: string; lladdr?: string; state?: string[] }[]>([
          "-4",
          "neigh",
          "show",
          "dev",
          plan.uplink,
        ]);
        for (const n of neigh) {
          if (
            n.lladdr &&
            inPool(n.dst) &&
            !(n.state ?? []).includes("FAILED") &&
            !(n.state ?? []).includes("INCOMPLETE")
          ) {
            problem(
              "Pool4InUse",
              `pool4 address ${n.dst} is already in use on ${plan.uplink} (neighbour ${n.lladdr})`,
            );
          }
        }
      } catch (e) {
        problem("UplinkUnreadable", `cannot read ${plan.uplink}: ${(e as Error).message}`);
      }
    }
  }
  try {
    const all = await ipJson<{ ifname: string; addr_info?: { family: string; local: string }[] }[]>([
      "-4",
      "addr",
      "show",
    ]);
    for (const l of all) {
      for (const a of l.addr_info ?? []) {
        if (a.family === "inet" && inPool(a.local))
          problem("Pool4InUse", `pool4 address ${a.local} is assigned to ${l.ifname} on this host`);
      }
    }
  } catch {
    // `ip` missing is reported below by setup; not a preflight blocker on its own
  }
  return problems;
}

export class HostPlumbing {
  private readonly ledgerPath: string;
  private ledger: Ledger = { proxy: [], sysctl: [] };
  /** the announcements of pool4 (RFC 5227 §3: two, 2 s apart), stopped with the plumbing */
  private announcing?: Announcement;
  /** ARP Announcements sent and send errors, for the service's stats */
  get announcements(): { sent: number; errors: number } {
    const c = this.announcing?.counts;
    return { sent: c?.arp ?? 0, errors: c?.errors ?? 0 };
  }

  constructor(
    readonly plan: HostPlan,
    stateDir: string,
    ledgerName: string,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
  ) {
    mkdirSync(stateDir, { recursive: true });
    this.ledgerPath = join(stateDir, `${ledgerName}.plumbing.json`);
  }

  private save(): void {
    const tmp = `${this.ledgerPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.ledger));
    renameSync(tmp, this.ledgerPath);
  }

  /** Undoes what a previous (crashed) run recorded. */
  async cleanStale(): Promise<void> {
    if (!existsSync(this.ledgerPath)) return;
    try {
      const old = JSON.parse(readFileSync(this.ledgerPath, "utf8")) as Ledger;
      this.log("cleaning state left by a previous run", {
        proxy: old.proxy.length,
        sysctl: old.sysctl.length,
      });
      await this.undo(old);
    } catch (e) {
      this.log("could not read the previous plumbing ledger", { error: (e as Error).message });
    }
    rmSync(this.ledgerPath, { force: true });
  }

  /** After the device exists: MTU, up, routes, proxy ARP, forwarding. */
  async apply(): Promise<void> {
    const p = this.plan;
    // A longer queue than the TUN default (500) absorbs bursts while the worker is scheduled out.
    await ip(["link", "set", "dev", p.tunName, "mtu", String(p.mtu), "txqueuelen", "4096", "up"]);
    for (const r of p.routes6) await ip(["-6", "route", "replace", r, "dev", p.tunName]);
    for (const r of p.routes4) await ip(["-4", "route", "replace", r, "dev", p.tunName]);
    this.log("device up with routes", { dev: p.tunName, mtu: p.mtu, routes: [...p.routes6, ...p.routes4] });
    for (const path of SYSCTLS) {
      const previous = readFileSync(path, "utf8").trim();
      if (previous !== "1") {
        this.ledger.sysctl.push({ path, previous });
        this.save();
        writeFileSync(path, "1");
        this.log("forwarding enabled", { sysctl: path });
      }
    }
    if (p.uplink) {
      for (const a of p.proxy4) {
        this.ledger.proxy.push({ address: a, dev: p.uplink });
        if (this.ledger.proxy.length % 64 === 1) this.save();
        await ip(["-4", "neigh", "replace", "proxy", a, "dev", p.uplink]);
      }
      this.save();
      if (p.proxy4.length) {
        this.log("proxy ARP for pool4", { dev: p.uplink, addresses: p.proxy4.length });
        await this.announce(p.uplink, p.proxy4);
      }
    }
  }

  /**
   * RFC 5227 §3 ARP Announcements of the proxied pool4 addresses with the uplink's MAC. Hosts
   * that cache one of them (another node had it) replace the entry; hosts without one create none.
   * At most ANNOUNCED_MAX addresses (a pool4 is a few addresses; a /16 would be a flood).
   */
  private async announce(uplink: string, addresses: readonly string[]): Promise<void> {
    let mac: Uint8Array;
    try {
      mac = await interfaceMac(uplink);
    } catch (e) {
      this.log("pool4 not announced: the uplink has no Ethernet address", { error: (e as Error).message });
      return;
    }
    const some = addresses.slice(0, ANNOUNCED_MAX);
    this.announcing = announce(
      some.map((address) => ({ host: { address, family: 4 as const, dev: uplink }, mac })),
      RFC_SCHEDULE,
      (e, h) => this.log("ARP announcement failed", { address: h.address, error: e.message }),
    );
    this.log("announcing pool4 (RFC 5227 ARP Announcements)", {
      dev: uplink,
      addresses: some.length,
      ...(addresses.length > some.length && { notAnnounced: addresses.length - some.length }),
    });
  }

  private async undo(l: Ledger): Promise<void> {
    for (const e of l.proxy) {
      await ip(["-4", "neigh", "del", "proxy", e.address, "dev", e.dev]).catch(() => undefined);
    }
    for (const s of l.sysctl) {
      try {
        writeFileSync(s.path, s.previous);
      } catch {
        // best effort
      }
    }
  }

  /** Undoes everything (routes go with the device when its fd closes). */
  async remove(): Promise<void> {
    const p = this.plan;
    this.announcing?.stop();
    for (const r of p.routes6) await ip(["-6", "route", "del", r, "dev", p.tunName]).catch(() => undefined);
    for (const r of p.routes4) await ip(["-4", "route", "del", r, "dev", p.tunName]).catch(() => undefined);
    await this.undo(this.ledger);
    this.ledger = { proxy: [], sysctl: [] };
    rmSync(this.ledgerPath, { force: true });
    this.log("host plumbing removed", { dev: p.tunName });
  }
}

/** The IPv4 subnets of an interface, as ranges of 32-bit numbers. */
export async function uplinkSubnets(uplink: string): Promise<Span4[]> {
  const links = await ipJson<{ addr_info?: { family: string; local: string; prefixlen: number }[] }[]>([
    "-4",
    "addr",
    "show",
    "dev",
    uplink,
  ]);
  return links
    .flatMap((l) => l.addr_info ?? [])
    .filter((a) => a.family === "inet")
    .map((a) => {
      const n = ipv4ToNum(a.local);
      const size = 2 ** (32 - a.prefixlen);
      const first = n - (n % size);
      return { first, last: first + size - 1 };
    });
}
