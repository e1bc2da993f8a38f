// A Nat64Gateway's TUN queues and the packet workers that translate on them: one worker thread per
// queue (src/datapath/tun/worker.ts, running the loop of tun/loop.ts), their shared counters, the
// session tables they publish, and an orderly stop.
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import type { Worker } from "node:worker_threads";
import type { Nat64Config } from "../../datapath/nat64/translator.ts";
import { Rfc6052Prefix } from "../../datapath/siit/index.ts";
import {
  CONTROL_WORDS,
  type SessionRow,
  type ShardInput,
  type WorkerInput,
} from "../../datapath/tun/contract.ts";
import { Ring } from "../../datapath/tun/handoff.ts";
import { sessionRows } from "../../datapath/tun/snapshot.ts";
import { S, STATS_LEN } from "../../datapath/tun/stats.ts";
import * as sys from "../../datapath/tun/sys.ts";
import { closeTun, openTunDevice, TunError } from "../../datapath/tun/tun.ts";
import type { Logger } from "../../util/log.ts";
import { toBytes } from "../../util/net.ts";
import { siblingModule, startWorker } from "../../util/worker.ts";
import type { GatewayPlan } from "./plan.ts";
import { beat, newPulse, type Pulse, trouble } from "./pulse.ts";

/**
 * The packet worker's young generation, in MiB (V8's default lets it grow to 16 MiB a semi-space,
 * 48 MiB in all). The packet path allocates nothing, so a small one is enough: the worker's heap
 * went from 17.5 to 9 MiB committed, its collections from 1.5-2 ms a second to 0.2-0.4 ms every
 * 0.3 s (docs/nat64.md, Memory; bench/nat64-memory.ts measures it).
 */
const WORKER_YOUNG_MB = 2;

/** The device's queues: one file descriptor each, and one eventfd per stateful worker when several. */
export interface Queues {
  fds: number[];
  eventfds: number[];
  /** offload as granted: a kernel that refuses it gets the plain device */
  offload: boolean;
  close(): void;
}

/** Opens (creating) the TUN device with the plan's queues; falls back to no offload when refused. */
export function openQueues(plan: GatewayPlan, log: Logger): Queues {
  const name = plan.host.tunName;
  const q: Queues = {
    fds: [],
    eventfds: [],
    offload: plan.offload,
    close() {
      for (const f of q.fds.splice(0)) closeTun(f);
      for (const f of q.eventfds.splice(0)) sys.close(f);
    },
  };
  let uso = false;
  const open = () => {
    for (let i = 0; i < plan.queues; i++) {
      const d = openTunDevice(name, {
        nonBlocking: plan.loop === "poll",
        multiQueue: plan.queues > 1,
        offload: q.offload,
      });
      q.fds.push(d.fd);
      uso = d.uso;
    }
  };
  try {
    open();
  } catch (e) {
    q.close();
    if (!q.offload || !(e instanceof TunError)) throw e;
    log.warn({ dev: name, error: e.message }, "TUN offload refused: one packet per read");
    q.offload = false;
    open();
  }
  // Several stateful workers wake each other through an eventfd polled next to the TUN queue.
  if (plan.mode === "stateful" && plan.queues > 1) {
    for (let i = 0; i < plan.queues; i++) {
      const e = sys.eventfd(0, sys.O_NONBLOCK | sys.O_CLOEXEC);
      if (e < 0) {
        const why = sys.strerror(sys.errno());
        q.close();
        throw new Error(`eventfd: ${why}`);
      }
      q.eventfds.push(e);
    }
  }
  // udpOffload false with offload on: a kernel before 6.2 (no TUN_F_USO), TCP super-packets only.
  log.info({ dev: name, queues: plan.queues, offload: q.offload, udpOffload: uso }, "TUN device opened");
  return q;
}

export interface SessionTable {
  sessions: SessionRow[];
  total: number;
  /** when (Date.now()) the oldest of the merged tables was received; absent before the first */
  at?: number;
}

/** A worker's latest table as it sent it (tun/snapshot.ts). */
interface Snapshot {
  records: Uint32Array;
  total: number;
  at: number;
}

/** The running workers of one gateway. */
export class PacketWorkers {
  /** the counters of stats.ts: one worker's own, or the sum of several refreshed 4 times a second */
  readonly stats: Float64Array;
  private readonly workers: Worker[];
  private readonly control = new SharedArrayBuffer(4 * CONTROL_WORDS);
  private readonly latest = new Map<Worker, Snapshot>();
  /** pool6, to show each remote's IPv6 address in the rows (stateful) */
  private readonly pool6: Rfc6052Prefix | null;
  /** each worker's own counters (stats.ts) */
  private readonly perWorker: Float64Array[];
  /** each worker's health as its heartbeats tell it, by worker index */
  private readonly pulses: Pulse[];
  /** the test hook's poll (V6MOSTLY_TEST_BREAK_PROBE), when set */
  private readonly breaker: NodeJS.Timeout | null;
  private readonly summer: NodeJS.Timeout | null;
  private readonly waker: { socket: Socket; poke(): void; timer: NodeJS.Timeout } | null;
  private running: number;
  private whenStopped: (() => void) | null = null;
  failure: Error | null = null;
  /** Stateful: each worker's sessions as it stopped, to hand over (nat64/handover.ts). */
  readonly handedOver: Uint8Array[] = [];
  /** Stateful: handed-over sessions the workers put back, and those they refused. */
  readonly restored = { handoverRestored: 0, handoverRefused: 0 };

  private constructor(
    private readonly plan: GatewayPlan,
    queues: Queues,
    private readonly log: Logger,
    handover?: readonly Uint8Array[],
  ) {
    const n = queues.fds.length;
    const p6 = plan.nat64?.pool6;
    this.pool6 = p6 ? new Rfc6052Prefix(toBytes(6, p6.network), p6.length) : null;
    const buffers = queues.fds.map(() => new SharedArrayBuffer(STATS_LEN * 8));
    const perWorker = buffers.map((b) => new Float64Array(b));
    this.perWorker = perWorker;
    this.stats = n === 1 ? perWorker[0]! : new Float64Array(STATS_LEN);
    this.summer =
      n === 1
        ? null
        : setInterval(() => {
            for (let i = 0; i < STATS_LEN; i++) {
              let v = 0;
              // Totals add up; the longest pause is the longest of any worker.
              if (i === S.loopLongestPause) for (const w of perWorker) v = Math.max(v, w[i]!);
              else for (const w of perWorker) v += w[i]!;
              this.stats[i] = v;
            }
          }, 250);
    this.summer?.unref();
    const shard = this.shards(queues);
    const nat64 = plan.nat64;
    const inputFor = (q: number): WorkerInput => ({
      fd: queues.fds[q]!,
      worker: q,
      mode: plan.mode,
      // The limits are the gateway's: each worker takes its share (by default its table is sized from
      // its share of pool4).
      nat64: nat64 && shard ? workerNat64(nat64, q, n) : nat64,
      shard: shard?.(q),
      siit: plan.siit,
      stats: buffers[q]!,
      control: this.control,
      snapshotLimit: plan.snapshotLimit,
      logEvents: log.isLevelEnabled("debug"),
      loop: plan.loop,
      wake: plan.wake.bytes,
      offload: queues.offload,
      handover: handover?.[q],
    });
    const entry = siblingModule(import.meta.url, "../../datapath/tun/worker");
    this.workers = queues.fds.map((_, q) =>
      startWorker(entry, inputFor(q), { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } }),
    );
    this.running = this.workers.length;
    const started = Date.now();
    this.pulses = this.workers.map(() => newPulse(started));
    this.breaker = this.testBreakProbe();
    // Blocking loop: a datagram into the device now and then lets the worker run its timers and stop.
    this.waker = plan.loop === "blocking" ? this.startWaker() : null;
    for (const [q, w] of this.workers.entries()) this.watch(w, q);
  }

  /**
   * Test hook: with V6MOSTLY_TEST_BREAK_PROBE naming a file, the probes of the workers listed in
   * it ("0 2"; empty: all) fail on purpose while it exists (tun/contract.ts WorkerInput.control).
   * Only tests set it: it is how a namespace test makes a running gateway unhealthy, and healthy again.
   */
  private testBreakProbe(): NodeJS.Timeout | null {
    const file = process.env.V6MOSTLY_TEST_BREAK_PROBE;
    if (!file) return null;
    const control = new Int32Array(this.control);
    const t = setInterval(() => {
      let mask = 0;
      try {
        const listed = readFileSync(file, "utf8").split(/\s+/).filter(Boolean);
        mask = listed.length === 0 ? -1 : listed.reduce((m, q) => m | (1 << Number(q)), 0);
      } catch {
        // no file: nothing broken
      }
      Atomics.store(control, 1, mask);
    }, 250);
    t.unref();
    return t;
  }

  /**
   * Starts the workers and waits until each has loaded (tens of ms built, about a second under tsx).
   * `handover`: the sessions each worker restores first (stateful).
   */
  static async start(
    plan: GatewayPlan,
    queues: Queues,
    log: Logger,
    handover?: readonly Uint8Array[],
  ): Promise<PacketWorkers> {
    const pw = new PacketWorkers(plan, queues, log, handover);
    let exited = false;
    await Promise.all(
      pw.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 10_000);
            w.once("message", () => {
              clearTimeout(t);
              resolve();
            });
            w.once("exit", () => {
              exited = true;
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    if (exited) {
      await pw.terminate();
      throw new Error(
        `${plan.resource}: the packet worker did not start${pw.failure ? `: ${pw.failure.message}` : ""}`,
      );
    }
    return pw;
  }

  /** Multi-queue stateful: each worker owns a share of pool4's ports and hands the others their packets. */
  private shards(queues: Queues): ((q: number) => ShardInput) | null {
    const n = queues.fds.length;
    if (this.plan.mode !== "stateful" || n < 2) return null;
    const rings = queues.fds.map((_, from) =>
      queues.fds.map((_, to) => (from === to ? null : new Ring(1 << 22).sab)),
    );
    const sleeping = new SharedArrayBuffer(4 * n);
    return (q) => ({ index: q, count: n, rings, eventfds: queues.eventfds, sleeping });
  }

  private startWaker() {
    const socket = createSocket("udp6");
    socket.on("error", (e) => this.log.warn({ error: e.message }, "wake datagram"));
    const poke = () => socket.send(Buffer.alloc(1), 9, this.plan.wake.text, () => undefined);
    const timer = setInterval(poke, 250);
    timer.unref();
    return { socket, poke, timer };
  }

  private watch(w: Worker, q: number): void {
    const pulse = this.pulses[q]!;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      pulse.exited = true;
      if (--this.running === 0) this.whenStopped?.();
    };
    w.on("message", (m: { type: string } & Record<string, unknown>) => {
      if (m.type === "snapshot") {
        const { records, total } = m as unknown as Snapshot;
        const now = Date.now();
        this.latest.set(w, { records, total, at: now });
        this.beat(q, now, m.probe as string | null);
      } else if (m.type === "log") {
        const { type: _t, msg, ...rest } = m;
        this.log.debug(rest, String(msg));
      } else if (m.type === "handover") this.handedOver.push(m.records as Uint8Array);
      else if (m.type === "restored") {
        this.restored.handoverRestored += m.restored as number;
        this.restored.handoverRefused += m.refused as number;
      } else if (m.type === "stopped") finished();
    });
    w.on("error", (e) => {
      this.failure = e;
      pulse.failure = e;
      this.log.error({ error: e.message }, "packet worker failed");
    });
    w.on("exit", finished);
  }

  /** Every worker still running. */
  get alive(): boolean {
    return this.running === this.workers.length;
  }

  /** A heartbeat of worker q, with its counters as they are now. */
  private beat(q: number, now: number, probe: string | null): void {
    const st = this.perWorker[q]!;
    beat(this.pulses[q]!, now, probe, {
      writeErrors: st[S.writeErrors]!,
      readErrors: st[S.readErrors]!,
      packetsRead: st[S.packetsRead]!,
      translated: st[S.packets6to4]! + st[S.packets4to6]!,
    });
  }

  /**
   * Whether every worker still translates, for fate-sharing (agent/fatesharing.ts): alive, its loop
   * turning (a heartbeat within `silentMs`), its last probe passed (siit/probe.ts: the translator
   * turns a packet into the right one), and its TUN I/O not failing throughout the last `silentMs`.
   * `why` names the worker and what is wrong.
   */
  health(now = Date.now(), silentMs = 5000): { ok: true } | { ok: false; why: string } {
    const n = this.pulses.length;
    for (let q = 0; q < n; q++) {
      const why = trouble(this.pulses[q]!, now, silentMs);
      if (why) return { ok: false, why: `packet worker ${q}${n > 1 ? ` of ${n}` : ""} ${why}` };
    }
    return { ok: true };
  }

  /** The latest session tables of the workers (sent once a second), merged, at most `snapshotLimit` rows. */
  sessions(): SessionTable {
    const sessions: SessionRow[] = [];
    let total = 0;
    let at: number | undefined;
    for (const l of this.latest.values()) {
      total += l.total;
      at = Math.min(at ?? Number.POSITIVE_INFINITY, l.at);
      const room = this.plan.snapshotLimit - sessions.length;
      if (this.pool6 && room > 0) sessions.push(...sessionRows(l.records, this.pool6, room));
    }
    return { sessions, total, at };
  }

  /** Ask the workers to stop (the control word), wait up to 3 s, then end the threads. */
  async stop(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      this.whenStopped = resolve;
      if (this.running === 0) resolve();
    });
    Atomics.store(new Int32Array(this.control), 0, 1);
    if (this.waker) {
      clearInterval(this.waker.timer);
      this.waker.poke();
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    await this.terminate();
  }

  private async terminate(): Promise<void> {
    this.waker?.socket.close();
    if (this.waker) clearInterval(this.waker.timer);
    if (this.summer) clearInterval(this.summer);
    if (this.breaker) clearInterval(this.breaker);
    for (const w of this.workers) await w.terminate();
  }
}

/**
 * Worker q of n's part of a stateful gateway: its share of pool4's ports (shard.ts), of the
 * session table and of each client's limits (a client's flows spread over the workers by port).
 */
export function workerNat64(nat64: Nat64Config, q: number, n: number): Nat64Config {
  const part = (v: number) => Math.ceil(v / n);
  const l = nat64.limits;
  return {
    ...nat64,
    share: { index: q, count: n },
    maxSessions: nat64.maxSessions === undefined ? undefined : part(nat64.maxSessions),
    limits: l && { prefixLength: l.prefixLength, ports: part(l.ports), sessions: part(l.sessions) },
  };
}
