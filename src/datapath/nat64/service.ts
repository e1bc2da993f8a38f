/**
 * The Nat64Gateway service on a node: a TUN device, the host plumbing around
 * it, and the packet loop in a worker thread running the stateful NAT64
 * (RFC 6146) or, with `mode: stateless`, SIIT (RFC 7915) with EAMT (RFC 7757).
 *
 * Publishes "translations" (the live table, for `v6mostly translations`) and
 * Prometheus metrics with a `resource` label.
 */
import { createSocket } from "node:dgram";
import { Worker } from "node:worker_threads";
import { Address6 } from "ip-address";
import { Counter, Gauge } from "prom-client";
import type { RunningService, ServiceContext } from "../../agent/service.ts";
import { parsePrefix, parseRange } from "../../api/net.ts";
import type { Nat64Assignment } from "../../planner/plan.ts";
import { format6 } from "../../util/addrtext.ts";
import { parsePrefix6 } from "../siit/config.ts";
import { Rfc6052Prefix, type SiitConfig } from "../siit/index.ts";
import { Ring } from "../tun/handoff.ts";
import { type HostPlan, HostPlumbing, ip, preflight, rangeToCidrs } from "../tun/host.ts";
import { counters as countersOf, dropsByName, METRICS, STATS_LEN, samples } from "../tun/stats.ts";
import * as sys from "../tun/sys.ts";
import { closeTun, openTun, TunError } from "../tun/tun.ts";
import type { SessionRow, ShardInput, WorkerInput } from "../tun/worker.ts";
import type { Pool4Range } from "./pool4.ts";
import type { Nat64Config } from "./translator.ts";

export interface Nat64ServiceOptions {
  /**
   * Session timers in seconds, overriding spec.timeouts (tests only: the
   * resource schema enforces the RFC 6146 minimums).
   */
  timeouts?: Partial<Nat64Config["timeouts"]>;
  /** Session limit (default 1,000,000). */
  maxSessions?: number;
  /** Ports handed out per pool4 address (default 1024-65535; ICMP identifiers too). */
  portMin?: number;
  portMax?: number;
  /** Largest number of sessions published in /translations (default 2000). */
  snapshotLimit?: number;
  /** Skip the preflight (tests that fake a missing piece on purpose). */
  skipPreflight?: boolean;
  /** Packet loop flavour (see WorkerInput.loop); default from V6MOSTLY_TUN_LOOP or "poll". */
  loop?: "poll" | "blocking";
  /**
   * IFF_MULTI_QUEUE with one worker per queue (default from V6MOSTLY_TUN_QUEUES, else spec.queues).
   * Stateful workers each own a share of pool4's ports and the sessions on them, and pass each
   * other the packets they do not own (nat64/shard.ts, tun/handoff.ts).
   */
  queues?: number;
  /**
   * Segmentation and checksum offload on the TUN device (IFF_VNET_HDR + TUNSETOFFLOAD, see
   * tun/offload.ts). Default from V6MOSTLY_TUN_OFFLOAD (0 = off), else spec.offload. A kernel
   * that refuses it gets the plain device, with a warning.
   */
  offload?: boolean;
}

export interface TranslationsTopic {
  mode: "stateful" | "stateless";
  tun: string;
  prefix: string;
  pool4: string[];
  counters: Record<string, number>;
  drops: Record<string, number>;
  sessions: SessionRow[];
  totalSessions: number;
  truncated: boolean;
}

function v4num(b: bigint): number {
  return Number(b) >>> 0;
}

function v6bytes(s: string): Uint8Array {
  const arr = new Address6(s).toUnsignedByteArray();
  const out = new Uint8Array(16);
  out.set(arr, 16 - arr.length);
  return out;
}

/** The RFC 6052 image of an IPv4 address under `prefix`. */
function embedText(prefix: string, a: number): string {
  const p = parsePrefix6(prefix);
  const out = new Uint8Array(16);
  new Rfc6052Prefix(p.bytes, p.len).embed(
    new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]),
    0,
    out,
    0,
  );
  return format6(out);
}

function fmt4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** pool4 addresses on one of the uplink's IPv4 subnets: those need proxy ARP. */
async function onLinkPool4(uplink: string, pool: Pool4Range[], cap: number): Promise<string[]> {
  const out = await ip(["-j", "-4", "addr", "show", "dev", uplink]);
  const links = JSON.parse(out || "[]") as {
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  const subnets = links
    .flatMap((l) => l.addr_info ?? [])
    .filter((a) => a.family === "inet")
    .map((a) => {
      const n = a.local.split(".").reduce((x, y) => x * 256 + Number(y), 0) >>> 0;
      const size = 2 ** (32 - a.prefixlen);
      const first = n - (n % size);
      return { first, last: first + size - 1 };
    });
  const res: string[] = [];
  for (const r of pool) {
    for (let a = r.first; a <= r.last && res.length < cap; a++) {
      if (subnets.some((s) => a >= s.first && a <= s.last)) res.push(fmt4(a));
    }
  }
  return res;
}

export async function startNat64Gateway(
  assignment: Nat64Assignment,
  ctx: ServiceContext,
  opts: Nat64ServiceOptions = {},
): Promise<RunningService> {
  const spec = assignment.spec;
  const resource = `Nat64Gateway/${assignment.name}`;
  const log = ctx.log;
  const stateful = spec.mode === "stateful";

  const pool4: Pool4Range[] = [];
  for (const t of stateful ? assignment.pool4 : []) {
    const r = parseRange(t, 4);
    if (!r.ok) throw new Error(`pool4 ${t}: ${r.error}`);
    pool4.push({
      first: v4num(r.value.first),
      last: v4num(r.value.last),
      portMin: opts.portMin ?? 1024,
      portMax: opts.portMax ?? 65535,
    });
  }
  const pfx = parsePrefix(spec.prefix, 6);
  if (!pfx.ok) throw new Error(`prefix ${spec.prefix}: ${pfx.error}`);

  const expand = (texts: string[], fam: 4 | 6): string[] => {
    const out: string[] = [];
    for (const t of texts) {
      const r = parseRange(t, fam);
      if (!r.ok) continue;
      for (let a = r.value.first; a <= r.value.last && out.length < 256; a++) {
        out.push(fam === 4 ? fmt4(Number(a)) : Address6.fromBigInt(a).correctForm());
      }
    }
    return out;
  };
  // The translator's own addresses (sources of the ICMP errors it makes): the first pool4 address
  // and its IPv6 image through the prefix.
  const own4 = pool4.length ? fmt4(pool4[0]!.first) : null;
  const siitCommon: SiitConfig = {
    lowestIpv6Mtu: spec.lowestIpv6Mtu,
    amendUdpChecksumZero: spec.amendUdpChecksumZero,
    rfc6791Pool: { ipv4: expand(spec.rfc6791Pool.ipv4, 4), ipv6: expand(spec.rfc6791Pool.ipv6, 6) },
    ipv4LinkMtu: spec.mtu,
    ipv6LinkMtu: spec.mtu,
    ownIpv4: own4,
  };

  const routes4: string[] = [];
  for (const r of pool4) routes4.push(...rangeToCidrs(r.first, r.last));
  for (const e of stateful ? [] : spec.eamt) routes4.push(e.ipv4);
  // Only the prefix goes into the device on the IPv6 side: the IPv6 side of an EAMT entry is
  // usually a local client, reached through its own link (an entry that stands for an IPv4
  // host needs a route of its own).
  const routes6 = [spec.prefix];

  const plan: HostPlan = {
    tunName: spec.tunName,
    mtu: spec.mtu,
    routes6,
    routes4,
    uplink: spec.uplinkInterface,
    proxy4: [],
  };
  if (!opts.skipPreflight) {
    const problems = await preflight(plan, pool4);
    if (problems.length) {
      for (const p of problems) log.error({ problem: p }, "preflight");
      throw new Error(`Nat64Gateway ${assignment.name}: ${problems.join("; ")}`);
    }
  }
  // IPv4 addresses we answer for on the uplink: pool4, or the IPv4 side of the EAMT.
  const answered: Pool4Range[] = stateful
    ? pool4
    : spec.eamt.map((e) => {
        const r = parseRange(e.ipv4, 4);
        if (!r.ok) throw new Error(`eamt ${e.ipv4}: ${r.error}`);
        return { first: v4num(r.value.first), last: v4num(r.value.last), portMin: 0, portMax: 0 };
      });
  if (plan.uplink) plan.proxy4 = await onLinkPool4(plan.uplink, answered, 4096);

  const plumbing = new HostPlumbing(plan, ctx.stateDir, `nat64-${assignment.name}`, (msg, extra) =>
    log.info(extra ?? {}, msg),
  );
  await plumbing.cleanStale();

  // The resource decides; V6MOSTLY_TUN_* override it (benchmarks, tests), options override both.
  const env = process.env;
  const asked = opts.queues ?? (env.V6MOSTLY_TUN_QUEUES ? Number(env.V6MOSTLY_TUN_QUEUES) : spec.queues);
  const queues = Math.max(1, Math.min(8, Math.floor(asked) || 1));
  let loop = opts.loop ?? (process.env.V6MOSTLY_TUN_LOOP === "blocking" ? "blocking" : "poll");
  // Stateful workers wake each other through an eventfd polled next to the TUN queue.
  if (stateful && queues > 1 && loop === "blocking") {
    log.warn({ queues }, "stateful NAT64 on several queues runs the poll loop");
    loop = "poll";
  }
  let offload = opts.offload ?? (env.V6MOSTLY_TUN_OFFLOAD ? env.V6MOSTLY_TUN_OFFLOAD !== "0" : spec.offload);
  const fds: number[] = [];
  /** Multi-queue stateful: one eventfd per worker, to wake it (closed with the queues). */
  const eventfds: number[] = [];
  const closeAll = () => {
    for (const f of fds.splice(0)) closeTun(f);
    for (const f of eventfds.splice(0)) sys.close(f);
  };
  const open = () => {
    for (let q = 0; q < queues; q++) {
      fds.push(openTun(spec.tunName, { nonBlocking: loop === "poll", multiQueue: queues > 1, offload }));
    }
  };
  try {
    open();
  } catch (e) {
    if (!offload || !(e instanceof TunError)) throw e;
    closeAll();
    log.warn({ dev: spec.tunName, error: e.message }, "TUN offload refused: one packet per read");
    offload = false;
    open();
  }
  if (stateful && queues > 1) {
    for (let q = 0; q < queues; q++) {
      const e = sys.eventfd(0, sys.O_NONBLOCK | sys.O_CLOEXEC);
      if (e < 0) {
        const why = sys.strerror(sys.errno());
        closeAll();
        throw new Error(`eventfd: ${why}`);
      }
      eventfds.push(e);
    }
  }
  log.info({ dev: spec.tunName, queues, offload }, "TUN device opened");
  try {
    await plumbing.apply();
  } catch (e) {
    closeAll();
    await plumbing.remove().catch(() => undefined);
    throw e;
  }

  const t = spec.timeouts;
  const nat64: Nat64Config | undefined = stateful
    ? {
        pool6: spec.prefix,
        pool4,
        allowedSources: spec.allowedSources.map((s) => {
          const p = parsePrefix(s, 6);
          if (!p.ok) throw new Error(p.error);
          return { bytes: v6bytes(Address6.fromBigInt(p.value.network).correctForm()), len: p.value.length };
        }),
        filtering: spec.filtering,
        timeouts: {
          udp: opts.timeouts?.udp ?? t.udp,
          icmp: opts.timeouts?.icmp ?? t.icmp,
          tcpEstablished: opts.timeouts?.tcpEstablished ?? t.tcpEstablished,
          tcpTransitory: opts.timeouts?.tcpTransitory ?? t.tcpTransitory,
          tcpIncomingSyn: opts.timeouts?.tcpIncomingSyn ?? 6,
        },
        maxSessions: opts.maxSessions ?? 1_000_000,
        hopLimitMode: "tun",
        siit: {
          ...siitCommon,
          ownIpv6: own4 ? embedText(spec.prefix, pool4[0]!.first) : null,
        },
      }
    : undefined;
  const siit: SiitConfig | undefined = stateful
    ? undefined
    : { ...siitCommon, pool6: spec.prefix, eamt: spec.eamt, ownIpv4: null, hairpinMode: "intrinsic" };

  const statsBufs = fds.map(() => new SharedArrayBuffer(STATS_LEN * 8));
  const perWorker = statsBufs.map((b) => new Float64Array(b));
  // One queue: the worker's own counters; several: their sum, refreshed 4 times a second.
  const stats = queues === 1 ? perWorker[0]! : new Float64Array(STATS_LEN);
  const summer =
    queues === 1
      ? null
      : setInterval(() => {
          for (let i = 0; i < STATS_LEN; i++) {
            let v = 0;
            for (const w of perWorker) v += w[i]!;
            stats[i] = v;
          }
        }, 250);
  summer?.unref();
  const control = new SharedArrayBuffer(4);
  // Several stateful workers: each owns a share of pool4's ports and hands the others their packets.
  const shards =
    stateful && queues > 1
      ? (() => {
          const rings = fds.map((_, from) =>
            fds.map((_, to) => (from === to ? null : new Ring(1 << 22).sab)),
          );
          const sleeping = new SharedArrayBuffer(4 * queues);
          return (q: number): ShardInput => ({ index: q, count: queues, rings, eventfds, sleeping });
        })()
      : null;
  const inputFor = (q: number): WorkerInput => ({
    fd: fds[q]!,
    mode: spec.mode,
    // The session limit is the gateway's: each worker takes its share.
    nat64:
      nat64 && shards
        ? {
            ...nat64,
            share: { index: q, count: queues },
            maxSessions: Math.ceil((nat64.maxSessions ?? 1_000_000) / queues),
          }
        : nat64,
    shard: shards?.(q),
    siit,
    stats: statsBufs[q]!,
    control,
    snapshotLimit: opts.snapshotLimit ?? 2000,
    logEvents: log.isLevelEnabled("debug"),
    loop,
    wake: v6bytes(embedText(spec.prefix, 1)),
    offload,
  });
  const here = import.meta.url;
  const ts = here.endsWith(".ts");
  // Under tsx (a checkout) the worker registers the TypeScript loader first, like bin/v6mostly.js.
  const entry = new URL(ts ? "../tun/worker.ts" : "../tun/worker.js", here);
  const workers = fds.map((_, q) =>
    ts
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`,
          { eval: true, workerData: inputFor(q) },
        )
      : new Worker(entry, { workerData: inputFor(q) }),
  );
  // Blocking loop: a datagram into the device now and then lets the worker run its timers and stop.
  const waker =
    loop === "blocking"
      ? (() => {
          const socket = createSocket("udp6");
          socket.on("error", (e) => log.warn({ error: e.message }, "wake datagram"));
          const to = embedText(spec.prefix, 1);
          const poke = () => socket.send(Buffer.alloc(1), 9, to, () => undefined);
          const timer = setInterval(poke, 250);
          timer.unref();
          return { socket, poke, timer };
        })()
      : null;
  // The latest session table of each worker (sent once a second), merged for /translations.
  const latestOf = new Map<Worker, { sessions: SessionRow[]; total: number }>();
  const latestAll = (): { sessions: SessionRow[]; total: number } => {
    const sessions: SessionRow[] = [];
    let total = 0;
    const limit = opts.snapshotLimit ?? 2000;
    for (const l of latestOf.values()) {
      total += l.total;
      for (const r of l.sessions) if (sessions.length < limit) sessions.push(r);
    }
    return { sessions, total };
  };
  let stopped: (() => void) | null = null;
  let exited = false;
  const done = new Set<Worker>();
  let running = workers.length;
  const finished = (w: Worker) => {
    if (done.has(w)) return;
    done.add(w);
    if (--running === 0) stopped?.();
  };
  let workerError: Error | null = null;
  for (const w of workers) {
    w.on("message", (m: { type: string } & Record<string, unknown>) => {
      if (m.type === "snapshot") {
        latestOf.set(w, m as unknown as { sessions: SessionRow[]; total: number });
      } else if (m.type === "log") {
        const { type: _t, msg, ...rest } = m;
        log.debug(rest, String(msg));
      } else if (m.type === "stopped") finished(w);
    });
    w.on("error", (e) => {
      workerError = e;
      log.error({ error: e.message }, "packet worker failed");
    });
    w.on("exit", () => {
      exited = true;
      finished(w);
    });
  }
  // Translating starts when the workers have loaded (tens of ms built, about a second under tsx).
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 10_000);
          w.once("message", () => {
            clearTimeout(t);
            resolve();
          });
          w.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
  if (exited) {
    for (const w of workers) await w.terminate();
    closeAll();
    await plumbing.remove();
    throw new Error(
      `Nat64Gateway ${assignment.name}: the packet worker did not start${workerError ? `: ${(workerError as Error).message}` : ""}`,
    );
  }
  log.info(
    { mode: spec.mode, prefix: spec.prefix, pool4: assignment.pool4, tun: spec.tunName },
    "translating",
  );

  const counters = (): Record<string, number> => countersOf(stats);

  const unpublish = ctx.publish?.(
    "translations",
    (): TranslationsTopic => ({
      mode: spec.mode,
      tun: spec.tunName,
      prefix: spec.prefix,
      pool4: assignment.pool4,
      counters: counters(),
      drops: Object.fromEntries(Object.entries(dropsByName(stats)).filter(([, v]) => v > 0)),
      ...(() => {
        const l = latestAll();
        return { sessions: l.sessions, totalSessions: l.total, truncated: l.total > l.sessions.length };
      })(),
    }),
  );

  const metrics: { remove(): void }[] = [];
  if (ctx.metrics) {
    const reg = ctx.metrics;
    const labels = { resource };
    const get = <T>(name: string, make: () => T): T => (reg.getSingleMetric(name) as T | undefined) ?? make();
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void) => {
      const g = get(
        name,
        () =>
          new Gauge({
            name,
            help,
            labelNames,
            registers: [reg],
            collect() {
              for (const f of fills.get(name) ?? []) f(this);
            },
          }),
      );
      const list = fills.get(name) ?? [];
      list.push(fill);
      fills.set(name, list);
      metrics.push({
        remove: () => {
          fills.set(
            name,
            (fills.get(name) ?? []).filter((x) => x !== fill),
          );
          g.remove(labels);
        },
      });
    };
    const fills = gaugeFills;
    // Monotonic totals from the worker, exposed as counters.
    const counter = (
      name: string,
      help: string,
      labelNames: string[],
      values: () => [Record<string, string>, number][],
    ) => {
      const last = new Map<string, number>();
      const c = get(
        name,
        () =>
          new Counter({
            name,
            help,
            labelNames,
            registers: [reg],
            collect() {
              for (const f of counterFills.get(name) ?? []) f(this);
            },
          }),
      );
      const fill = (cc: Counter) => {
        for (const [l, v] of values()) {
          const k = JSON.stringify(l);
          const d = v - (last.get(k) ?? 0);
          // Every series from the first scrape on, at 0 too (a total nobody has seen is not 0).
          if (d > 0 || !last.has(k)) cc.inc({ ...labels, ...l }, Math.max(0, d));
          last.set(k, v);
        }
      };
      const list = counterFills.get(name) ?? [];
      list.push(fill);
      counterFills.set(name, list);
      metrics.push({
        remove: () => {
          counterFills.set(
            name,
            (counterFills.get(name) ?? []).filter((x) => x !== fill),
          );
          c.remove(labels);
        },
      });
    };
    // Every family the worker's counters and drops are published in (tun/stats.ts).
    for (const f of METRICS) {
      const labelNames = f.label ? ["resource", f.label] : ["resource"];
      if (f.kind === "gauge")
        gauge(f.name, f.help, labelNames, (g) => {
          for (const [l, v] of samples(f, stats)) g.set({ ...labels, ...l }, v);
        });
      else counter(f.name, f.help, labelNames, () => samples(f, stats));
    }
  }

  return {
    async stop() {
      unpublish?.();
      for (const m of metrics) m.remove();
      const done = new Promise<void>((resolve) => {
        stopped = resolve;
        if (running === 0) resolve();
      });
      Atomics.store(new Int32Array(control), 0, 1);
      if (waker) {
        clearInterval(waker.timer);
        waker.poke();
      }
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      waker?.socket.close();
      if (summer) clearInterval(summer);
      for (const w of workers) await w.terminate();
      closeAll();
      await plumbing.remove();
      log.info({ dev: spec.tunName }, "stopped");
    },
    stats() {
      const c = counters();
      if (workerError) c.workerFailed = 1;
      return c;
    },
  };
}

const gaugeFills = new Map<string, ((g: Gauge) => void)[]>();
const counterFills = new Map<string, ((c: Counter) => void)[]>();
