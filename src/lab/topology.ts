// `v6mostly lab up` and `lab down`: the seed's network in network namespaces.
//
//   c1 IPv4-only ─┐                      router (v6mostly run: NAT64, DNS64, RA, DHCP)
//   c2 dual-stack ┤                     ┌──────────────┐
//   c3 IPv6-only ─┼── veth ── br0 ──────┤ nat64 (TUN)  ├── wan ── veth ── up ── "internet"
//   c4 IPv6-only ─┘   (LAN)             └──────────────┘                       web servers + BIND
//      + TAYGA CLAT
//
// Every step prints one progress line. The state file is written before the first namespace is
// made, so `down` can always find and remove what `up` made, even after a crash.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CLAT, CLIENTS, type ClientSpec, LAN, POOL4, PREF64, SERVERS, UPLINK } from "./addressing.ts";
import {
  alive,
  CommandError,
  hasCommand,
  inNs,
  inNsAsync,
  run,
  selfCommand,
  sleep,
  startInNs,
  waitFor,
} from "./exec.ts";
import { type LabState, readState, removeState, writeState } from "./state.ts";

export const STATUS_ADDRESS = "127.0.0.1:9464";

export interface Progress {
  step<T>(what: string, fn: () => Promise<T> | T): Promise<T>;
  note(line: string): void;
}

/** One line per step on `out` (standard error): "[lab 3] what ... ok (0.4 s)". */
export function progressOn(out: NodeJS.WritableStream): Progress {
  let n = 0;
  // notes made during a step are printed under its line, once it ends
  let pending: string[] | undefined;
  const flush = () => {
    for (const l of pending ?? []) out.write(`         ${l}\n`);
    pending = undefined;
  };
  return {
    async step(what, fn) {
      const i = ++n;
      const t0 = Date.now();
      out.write(`[lab ${String(i).padStart(2)}] ${what} ...`);
      pending = [];
      try {
        const v = await fn();
        out.write(` ok (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
        flush();
        return v;
      } catch (e) {
        out.write(
          ` FAILED (${((Date.now() - t0) / 1000).toFixed(1)} s)\n         ${(e as Error).message.split("\n").join("\n         ")}\n`,
        );
        flush();
        throw e;
      }
    },
    note(line) {
      if (pending) pending.push(line);
      else out.write(`         ${line}\n`);
    },
  };
}

export function examplesDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "lab");
}

export const ns = (s: LabState, id: string) => `${s.prefix}${id}`;
export const ROUTER = "r";
export const INTERNET = "i";
/** The router's namespace: the lab's own, or the one an external router gave (`up`'s `router`). */
export const routerNs = (s: LabState) => s.routerNs ?? ns(s, ROUTER);

/**
 * A router the caller runs in a namespace of its own instead of the lab's `v6mostly run` (a
 * Kubernetes node whose agent pods run the lab's resources). The lab makes its links, addresses
 * and routes inside `netns` as in its own router namespace, calls `start` where it would start
 * `v6mostly run` (the services must answer on the LAN when it resolves), and never removes `netns`.
 * `check` reads the router's status at STATUS_ADDRESS in `netns` and its log from the lab's
 * router.log, which the caller writes.
 */
export interface ExternalRouter {
  netns: string;
  start(progress: Progress): Promise<void>;
}

export interface UpOptions {
  /** on failure, leave what was built for inspection */
  keep?: boolean;
  router?: ExternalRouter;
}

/** Why the lab cannot run here, or undefined. */
export function missingCapability(): string | undefined {
  if (process.platform !== "linux") return "the lab needs Linux (network namespaces)";
  if (process.getuid?.() !== 0) return "the lab needs root (network namespaces, TUN, raw sockets)";
  if (!hasCommand("ip") || run(["ip", "netns", "list"], { allowFail: true }) === undefined)
    return "no `ip netns` (iproute2)";
  for (const t of ["tayga", "named", "dig", "dhclient", "curl"]) {
    if (!hasCommand(t))
      return `${t} is not installed (Debian: tayga, bind9, bind9-dnsutils, isc-dhcp-client, curl)`;
  }
  if (!existsSync("/dev/net/tun")) return "no /dev/net/tun";
  return undefined;
}

function listLabNamespaces(prefix: string): string[] {
  const out = run(["ip", "-j", "netns", "list"], { allowFail: true }).trim();
  let names: string[] = [];
  try {
    names = (JSON.parse(out || "[]") as { name: string }[]).map((n) => n.name);
  } catch {
    names = out.split("\n").map((l) => l.split(" ")[0] ?? "");
  }
  return names.filter((n) => n.startsWith(prefix));
}

/** PIDs of every process inside a namespace (ours by construction: we made the namespace). */
function pidsIn(name: string): number[] {
  return run(["ip", "netns", "pids", name], { allowFail: true })
    .split("\n")
    .map((l) => Number(l.trim()))
    .filter((p) => Number.isInteger(p) && p > 1);
}

/**
 * Remove a lab: the router's v6mostly first (SIGTERM: it stops its services cleanly), then every
 * other process in the lab's namespaces (by PID), then the namespaces, then the working folder
 * unless `keepFiles`.
 */
export async function down(
  dir: string,
  progress: Progress,
  opts: { keepFiles?: boolean } = {},
): Promise<boolean> {
  const s = readState(dir);
  if (!s) {
    progress.note(`no lab recorded in ${dir}; nothing to remove`);
    return false;
  }
  if (s.routerPid && alive(s.routerPid)) {
    await progress.step(`stopping the router's v6mostly (PID ${s.routerPid})`, async () => {
      process.kill(s.routerPid!, "SIGTERM");
      const gone = await waitFor(
        "v6mostly run to exit",
        () => !alive(s.routerPid!) || undefined,
        10_000,
      ).catch(() => false);
      if (!gone && alive(s.routerPid!)) process.kill(s.routerPid!, "SIGKILL");
    });
  }
  const names = listLabNamespaces(s.prefix);
  await progress.step(`ending the processes in ${names.length} namespaces`, async () => {
    const pids = names.flatMap(pidsIn);
    for (const p of pids) {
      try {
        process.kill(p, "SIGTERM");
      } catch {}
    }
    const end = Date.now() + 5000;
    while (Date.now() < end && pids.some(alive)) await sleep(100);
    for (const p of pids.filter(alive)) {
      try {
        process.kill(p, "SIGKILL");
      } catch {}
    }
  });
  await progress.step(`removing namespaces ${s.prefix}*`, () => {
    for (const n of names) run(["ip", "netns", "del", n], { allowFail: true });
    const left = listLabNamespaces(s.prefix);
    if (left.length) throw new CommandError(`still there: ${left.join(", ")}`);
  });
  if (!opts.keepFiles) rmSync(s.dir, { recursive: true, force: true });
  else removeState(dir);
  return true;
}

/** Build the lab. On failure everything made so far is removed, unless `keep`. */
export async function up(dir: string, progress: Progress, opts: UpOptions = {}): Promise<LabState> {
  const existing = readState(dir);
  if (existing) {
    const left = listLabNamespaces(existing.prefix);
    if (left.length)
      throw new CommandError(
        `a lab is already up (${existing.prefix}*, state in ${dir}); run \`v6mostly lab down\` first`,
      );
    removeState(dir);
  }
  const why = missingCapability();
  if (why) throw new CommandError(why);
  const s: LabState = {
    version: 1,
    prefix: `v6m-lab-${process.pid}-`,
    dir,
    createdAt: new Date().toISOString(),
    complete: false,
    learned: {},
    ...(opts.router ? { routerNs: opts.router.netns } : {}),
  };
  writeState(s);
  try {
    await build(s, progress, opts.router);
    s.complete = true;
    writeState(s);
    return s;
  } catch (e) {
    writeState(s);
    if (opts.keep) {
      progress.note(`--keep: the lab stays as it is for inspection; \`v6mostly lab down\` removes it`);
    } else {
      progress.note("tearing down what was built");
      await down(dir, progress, { keepFiles: true }).catch((e2) =>
        progress.note(`teardown: ${(e2 as Error).message}`),
      );
    }
    throw e;
  }
}

async function build(s: LabState, p: Progress, router?: ExternalRouter): Promise<void> {
  const R = routerNs(s);
  const I = ns(s, INTERNET);
  const file = (name: string) => join(s.dir, name);
  mkdirSync(s.dir, { recursive: true });

  const own = router ? [INTERNET] : [ROUTER, INTERNET];
  await p.step(`namespaces ${s.prefix}{${own.join(",")},c1..c4}${router ? `, router ${R}` : ""}`, () => {
    for (const id of [...own, ...CLIENTS.map((c) => c.id)]) {
      run(["ip", "netns", "add", ns(s, id)]);
      inNs(ns(s, id), ["ip", "link", "set", "lo", "up"]);
    }
  });

  await p.step(
    `links: LAN bridge ${LAN.bridge}, uplink ${UPLINK.routerIf}<->${UPLINK.internetIf}, one veth per client`,
    () => {
      inNs(R, ["ip", "link", "add", LAN.bridge, "type", "bridge", "mcast_snooping", "0"]);
      inNs(R, ["ip", "link", "set", LAN.bridge, "up"]);
      inNs(R, [
        "ip",
        "link",
        "add",
        UPLINK.routerIf,
        "type",
        "veth",
        "peer",
        "name",
        UPLINK.internetIf,
        "netns",
        I,
      ]);
      for (const c of CLIENTS) {
        const C = ns(s, c.id);
        inNs(R, ["ip", "link", "add", c.id, "type", "veth", "peer", "name", "eth0", "netns", C]);
        inNs(R, ["ip", "link", "set", c.id, "master", LAN.bridge, "up"]);
        inNs(C, ["ip", "link", "set", "eth0", "address", c.mac]);
      }
    },
  );

  await p.step("router and internet addresses and routes", () => {
    inNs(R, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
    inNs(R, ["ip", "addr", "add", `${LAN.router6}/64`, "dev", LAN.bridge, "nodad"]);
    inNs(R, ["ip", "addr", "add", `${LAN.router4}/24`, "dev", LAN.bridge]);
    inNs(R, ["ip", "addr", "add", `${UPLINK.router4}/${UPLINK.len4}`, "dev", UPLINK.routerIf]);
    inNs(R, ["ip", "addr", "add", `${UPLINK.router6}/${UPLINK.len6}`, "dev", UPLINK.routerIf, "nodad"]);
    inNs(R, ["ip", "link", "set", UPLINK.routerIf, "up"]);
    inNs(R, ["ip", "route", "add", "default", "via", UPLINK.internet4]);
    inNs(R, ["ip", "-6", "route", "add", "default", "via", UPLINK.internet6]);
    inNs(I, ["ip", "addr", "add", `${UPLINK.internet4}/${UPLINK.len4}`, "dev", UPLINK.internetIf]);
    inNs(I, ["ip", "addr", "add", `${UPLINK.internet6}/${UPLINK.len6}`, "dev", UPLINK.internetIf, "nodad"]);
    inNs(I, ["ip", "link", "set", UPLINK.internetIf, "up"]);
    for (const a of [SERVERS.v4only4, SERVERS.dual4, SERVERS.dns4])
      inNs(I, ["ip", "addr", "add", `${a}/32`, "dev", "lo"]);
    for (const a of [SERVERS.dual6, SERVERS.dns6]) inNs(I, ["ip", "addr", "add", `${a}/128`, "dev", "lo"]);
    // The internet routes the LAN back to the router (the seed's FortiGate hides it behind SNAT44
    // and SNAT66; routing keeps the clients' own addresses visible to the servers, which is how
    // the lab tells the paths apart). pool4 is on the uplink's subnet: the NAT64 answers ARP.
    inNs(I, ["ip", "route", "add", LAN.subnet4, "via", UPLINK.router4]);
    inNs(I, ["ip", "-6", "route", "add", LAN.prefix6, "via", UPLINK.router6]);
  });

  await p.step(
    `internet: web servers (${SERVERS.v4only4}, ${SERVERS.dual4}, [${SERVERS.dual6}]) and BIND for ${SERVERS.zone}`,
    async () => {
      const bind = file("bind");
      mkdirSync(bind, { recursive: true });
      writeFileSync(join(bind, "named.conf"), namedConf(bind));
      writeFileSync(join(bind, `${SERVERS.zone}.zone`), zoneFile());
      startInNs(I, ["named", "-g", "-c", join(bind, "named.conf")], file("named.log"));
      startInNs(
        I,
        [
          ...selfCommand(),
          "lab",
          "serve",
          `${SERVERS.v4only4}:${SERVERS.httpPort}`,
          `${SERVERS.dual4}:${SERVERS.httpPort}`,
          `[${SERVERS.dual6}]:${SERVERS.httpPort}`,
        ],
        file("http.log"),
      );
      await waitFor(
        "BIND to answer (named.log)",
        () =>
          inNs(I, ["dig", "+short", "+time=1", "+tries=1", `@${SERVERS.dns4}`, SERVERS.dualName, "A"], {
            allowFail: true,
          }).trim() === SERVERS.dual4 || undefined,
        20_000,
        300,
      );
      await waitFor(
        "the web servers (http.log)",
        () =>
          inNs(I, ["curl", "-s", "-m", "1", `http://[${SERVERS.dual6}]/`], { allowFail: true }).includes(
            "from",
          ) || undefined,
        20_000,
        300,
      );
    },
  );

  if (router) await router.start(p);
  else await runRouter(s, p, R);

  await p.step(
    "clients: links up (IPv4-only without IPv6; the CLAT client accepts RAs while forwarding)",
    () => {
      for (const c of CLIENTS) {
        const C = ns(s, c.id);
        if (!c.ipv6) inNs(C, ["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"]);
        else
          inNs(C, [
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.accept_dad=0",
            `net.ipv6.conf.eth0.accept_ra=${c.clat ? 2 : 1}`,
          ]);
        inNs(C, ["ip", "link", "set", "eth0", "up"]);
      }
    },
  );

  await p.step("IPv6 clients: SLAAC address and default route from the router's RA", async () => {
    s.learned.ipv6 = {};
    for (const c of CLIENTS.filter((x) => x.ipv6)) {
      const C = ns(s, c.id);
      s.learned.ipv6[c.id] = await waitFor(
        `an address in ${LAN.prefix6} and a default route in ${c.id}`,
        () => {
          const addrs = globalIpv6(C);
          const route = inNs(C, ["ip", "-6", "route", "show", "default"], { allowFail: true }).trim();
          return addrs.length && route ? addrs : undefined;
        },
        30_000,
      );
    }
    writeState(s);
  });

  await p.step(
    "CLAT client: PREF64 and RDNSS from the router's RA (v6mostly ra listen --solicit)",
    async () => {
      const C = ns(s, "c4");
      const r = await inNsAsync(
        C,
        [
          ...selfCommand(),
          "ra",
          "listen",
          "-i",
          "eth0",
          "--solicit",
          "--count",
          "1",
          "--timeout",
          "25s",
          "-o",
          "json",
        ],
        40_000,
      );
      const line = r.stdout.split("\n").find((l) => l.trim());
      if (!line) throw new CommandError(`no RA heard on c4's eth0: ${r.stderr.trim()}`);
      const ra = JSON.parse(line) as {
        advertisement?: {
          options: { type: string; prefix?: string; prefixLength?: number; servers?: string[] }[];
        };
      };
      const opts = ra.advertisement?.options ?? [];
      const pref = opts.find((o) => o.type === "pref64");
      const rdnss = opts.find((o) => o.type === "rdnss");
      if (rdnss?.servers?.[0]) s.learned.rdnss = rdnss.servers[0];
      if (pref?.prefix) {
        s.learned.pref64 = `${pref.prefix}/${pref.prefixLength}`;
        s.learned.pref64Source = "RA PREF64 option (RFC 8781)";
      }
      writeState(s);
      if (!s.learned.pref64)
        throw new CommandError("the RA carries no PREF64 option: the CLAT has no prefix to translate to");
      p.note(`PREF64 ${s.learned.pref64} (${s.learned.pref64Source}); RDNSS ${s.learned.rdnss ?? "none"}`);
    },
  );

  await p.step(
    `CLAT client: TAYGA on ${CLAT.tun} (${CLAT.hostIpv4} <-> ${CLAT.hostIpv6}, prefix from the RA)`,
    async () => {
      const C = ns(s, "c4");
      const tdir = file("tayga");
      mkdirSync(tdir, { recursive: true });
      const conf = join(tdir, "tayga.conf");
      writeFileSync(conf, taygaConf(s.learned.pref64!, tdir));
      inNs(C, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.eth0.proxy_ndp=1"]);
      inNs(C, ["tayga", "-c", conf, "--mktun"]);
      inNs(C, ["ip", "link", "set", CLAT.tun, "up"]);
      inNs(C, ["ip", "addr", "add", `${CLAT.hostIpv4}/29`, "dev", CLAT.tun]);
      inNs(C, ["ip", "route", "add", "default", "dev", CLAT.tun, "mtu", String(CLAT.mtu)]);
      for (const a of [CLAT.hostIpv6, CLAT.taygaIpv6]) {
        inNs(C, ["ip", "-6", "route", "add", `${a}/128`, "dev", CLAT.tun]);
        inNs(C, ["ip", "-6", "neigh", "add", "proxy", a, "dev", "eth0"]);
      }
      startInNs(C, ["tayga", "-c", conf, "--nodetach"], file("tayga.log"));
      await sleep(300);
    },
  );

  await p.step(
    "DHCPv4 (dhclient): c1 and c2 ask without option 108, c4 asks for option 108 (RFC 8925)",
    async () => {
      s.learned.lease4 = {};
      s.learned.v6only = {};
      const clients = CLIENTS.filter((c) => c.ipv4 || c.clat);
      for (const c of clients) startDhclient(s, c);
      const results = await Promise.allSettled(
        clients.map((c) =>
          waitFor(
            `${c.id}'s DHCP client to finish (${file(`dhclient-${c.id}.log`)})`,
            () => dhcpOutcome(s, c.id),
            20_000,
            300,
          ),
        ),
      );
      refreshDhcp(s);
      // Not fatal for `up`: `check` reports the clients without DHCP as failures, with this reason.
      const failed = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
      s.learned.problems = [...(s.learned.problems ?? []), ...failed.map((f) => `DHCPv4: ${f}`)];
      writeState(s);
      for (const f of failed) p.note(`DHCP FAILED: ${f}`);
    },
  );
}

/** The lab's own router: `v6mostly run` of examples/lab in namespace R, until its /readyz says ready. */
async function runRouter(s: LabState, p: Progress, R: string): Promise<void> {
  const file = (name: string) => join(s.dir, name);
  await p.step(
    `router: v6mostly run -f examples/lab (NAT64, DNS64, RA, DHCP), status on ${STATUS_ADDRESS}`,
    async () => {
      const stateDir = file("router-state");
      mkdirSync(stateDir, { recursive: true });
      s.routerPid = startInNs(
        R,
        [
          ...selfCommand(),
          "run",
          "-f",
          examplesDir(),
          "--state-dir",
          stateDir,
          "--status-address",
          STATUS_ADDRESS,
          "--node-name",
          "lab-router",
        ],
        file("router.log"),
      );
      writeState(s);
      const ready = await waitFor(
        "the router's /readyz (router.log)",
        () => {
          if (!alive(s.routerPid!))
            throw new CommandError(
              `v6mostly run exited; see ${file("router.log")}:\n${tail(file("router.log"), 15)}`,
            );
          const out = inNs(R, ["curl", "-s", "-m", "1", `http://${STATUS_ADDRESS}/readyz`], {
            allowFail: true,
          });
          try {
            const j = JSON.parse(out) as {
              ready: boolean;
              detail: { resource: string; running: boolean; error?: string }[];
            };
            return j.ready ? j.detail : undefined;
          } catch {
            return undefined;
          }
        },
        60_000,
        300,
      );
      for (const r of ready)
        p.note(`${r.running ? "runs" : "DOES NOT RUN"}: ${r.resource}${r.error ? ` (${r.error})` : ""}`);
    },
  );
}

/**
 * What a client's dhclient reported so far (its script logs every event): a lease, or RFC 8925's
 * V6ONLY (option 108 received, no lease taken). The clients keep running, so a DHCP server that
 * comes up later (a reload) still counts at the next `check`.
 */
export function dhcpOutcome(
  s: LabState,
  id: string,
):
  | {
      lease?: { address: string; dns: string[]; router?: string };
      v6only?: { reason: string; seconds?: number };
    }
  | undefined {
  const lines = readLines(join(s.dir, `dhclient-${id}.events`));
  const line = lines.find((l) => /^reason=(BOUND|REBOOT|V6ONLY)/.test(l));
  if (!line) return undefined;
  if (line.startsWith("reason=V6ONLY")) {
    let log = "";
    try {
      log = readFileSync(join(s.dir, `dhclient-${id}.log`), "utf8");
    } catch {}
    const m = /v6 only preferred for (\d+)/.exec(log);
    return { v6only: { reason: "V6ONLY", ...(m ? { seconds: Number(m[1]) } : {}) } };
  }
  const kv = Object.fromEntries(line.split(" ").map((x) => x.split("=") as [string, string]));
  return {
    lease: {
      address: kv.ip ?? "",
      dns: (kv.dns ?? "").split(",").filter(Boolean),
      ...(kv.routers ? { router: kv.routers.split(",")[0] } : {}),
    },
  };
}

/** s.learned.lease4 and .v6only from the clients' DHCP logs, as they are now */
export function refreshDhcp(s: LabState): void {
  s.learned.lease4 = {};
  s.learned.v6only = {};
  for (const c of CLIENTS.filter((x) => x.ipv4 || x.clat)) {
    const o = dhcpOutcome(s, c.id);
    if (o?.lease) s.learned.lease4[c.id] = o.lease;
    if (o?.v6only) s.learned.v6only[c.id] = o.v6only;
  }
}

function startDhclient(s: LabState, c: ClientSpec): void {
  const f = (x: string) => join(s.dir, `dhclient-${c.id}.${x}`);
  const events = f("events");
  writeFileSync(events, "");
  writeFileSync(f("leases"), "");
  // RFC 8925 §3.1: a client that can do without IPv4 asks for option 108 (v6-only-preferred).
  writeFileSync(
    f("conf"),
    // retry soon after a failure, so that a DHCP server started later (a reload) is found
    `timeout 15;\nretry 10;\nrequest subnet-mask, routers, domain-name-servers${c.clat ? ", v6-only-preferred" : ""};\n`,
  );
  writeFileSync(
    f("sh"),
    `#!/bin/sh
echo "reason=$reason ip=$new_ip_address mask=$new_subnet_mask routers=$(echo $new_routers | tr ' ' ,) dns=$(echo $new_domain_name_servers | tr ' ' ,)" >> "${events}"
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
    for r in $new_routers; do ip route replace default via "$r" dev "$interface"; break; done ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  startInNs(
    ns(s, c.id),
    [
      "dhclient",
      "-4",
      "-d",
      "-v",
      "-cf",
      f("conf"),
      "-lf",
      f("leases"),
      "-pf",
      f("pid"),
      "-sf",
      f("sh"),
      "eth0",
    ],
    join(s.dir, `dhclient-${c.id}.log`),
  );
}

export function globalIpv6(C: string): string[] {
  const out = inNs(C, ["ip", "-j", "-6", "addr", "show", "dev", "eth0", "scope", "global"], {
    allowFail: true,
  });
  try {
    const links = JSON.parse(out || "[]") as { addr_info?: { local: string; tentative?: boolean }[] }[];
    return links
      .flatMap((l) => l.addr_info ?? [])
      .filter((a) => !a.tentative)
      .map((a) => a.local);
  } catch {
    return [];
  }
}

export function ipv4Of(C: string, dev = "eth0"): string[] {
  const out = inNs(C, ["ip", "-j", "-4", "addr", "show", "dev", dev], { allowFail: true });
  try {
    const links = JSON.parse(out || "[]") as { addr_info?: { local: string }[] }[];
    return links.flatMap((l) => l.addr_info ?? []).map((a) => a.local);
  } catch {
    return [];
  }
}

function readLines(f: string): string[] {
  try {
    return readFileSync(f, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

export function tail(f: string, n: number): string {
  return readLines(f).slice(-n).join("\n");
}

function namedConf(dir: string): string {
  return `options {
  directory "${dir}";
  pid-file none;
  session-keyfile none;
  listen-on { ${SERVERS.dns4}; };
  listen-on-v6 { ${SERVERS.dns6}; };
  recursion no;
  dnssec-validation no;
  allow-query { any; };
};
zone "${SERVERS.zone}" { type primary; file "${join(dir, `${SERVERS.zone}.zone`)}"; };
`;
}

/** the lab's zone: an A-only name (the seed's yahoo.co.jp) and a dual-stack one (google.com) */
function zoneFile(): string {
  return `$TTL 60
@       IN SOA ns.${SERVERS.zone}. hostmaster.${SERVERS.zone}. 1 3600 600 86400 60
@       IN NS  ns.${SERVERS.zone}.
ns      IN A    ${SERVERS.dns4}
ns      IN AAAA ${SERVERS.dns6}
v4only  IN A    ${SERVERS.v4only4}
dual    IN A    ${SERVERS.dual4}
dual    IN AAAA ${SERVERS.dual6}
`;
}

/**
 * TAYGA as a CLAT (RFC 6877 §6.3): the host's IPv4 address maps 1:1 to an IPv6 address of the
 * LAN's /64, and TAYGA's own IPv6 address is set explicitly: left out, TAYGA takes its IPv4
 * address embedded in the prefix (fd00:ff9b::c000:2), a source inside the PREF64 that the NAT64
 * drops (the seed author's clatd problem; `v6mostly doctor` names it).
 */
export function taygaConf(pref64: string, dataDir: string): string {
  return `tun-device ${CLAT.tun}
ipv4-addr ${CLAT.taygaIpv4}
ipv6-addr ${CLAT.taygaIpv6}
prefix ${pref64}
map ${CLAT.hostIpv4} ${CLAT.hostIpv6}
data-dir ${dataDir}
`;
}

export { POOL4, PREF64 };
