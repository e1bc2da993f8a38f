/**
 * What the main thread and a packet worker exchange: the workerData a worker
 * starts from (plain data and SharedArrayBuffers, copied or shared by
 * postMessage), and the messages it posts back. The packet loop (loop.ts)
 * and the service that starts the workers both import this; neither
 * imports the other.
 */
import type { Nat64Config } from "../nat64/translator.ts";
import type { SiitConfig } from "../siit/index.ts";

/** Int32 words of WorkerInput.control. */
export const CONTROL_WORDS = 2;

export interface WorkerInput {
  fd: number;
  /** This worker's place among its gateway's workers (its TUN queue): how health and logs name it. */
  worker: number;
  mode: "stateful" | "stateless";
  nat64?: Nat64Config;
  siit?: SiitConfig;
  /** Float64Array layout of stats.ts. */
  stats: SharedArrayBuffer;
  /**
   * Int32Array: [0] stop flag; [1] a test hook, one bit per worker (1 << index): while set, that
   * worker's probe is broken on purpose (siit/probe.ts). Only tests set it (services/nat64/workers.ts).
   */
  control: SharedArrayBuffer;
  /** Largest number of sessions in a published snapshot. */
  snapshotLimit: number;
  /** Log session events (debug level). */
  logEvents: boolean;
  /**
   * "poll": non-blocking fd, read until EAGAIN then poll() with a timeout.
   * "blocking": blocking read(); the main thread sends a datagram to `wake`
   * (the prefix's image of 0.0.0.1, never a real destination) every 250 ms and
   * on stop, so timers run and the loop ends.
   */
  loop: "poll" | "blocking";
  wake: Uint8Array;
  /** The fd was opened with offload (IFF_VNET_HDR + TUNSETOFFLOAD). */
  offload: boolean;
  /** Multi-queue stateful NAT64: this worker's place among the workers (see nat64/shard.ts). */
  shard?: ShardInput;
  /** Stateful: sessions handed over from the previous translator, to restore first (nat64/handover.ts). */
  handover?: Uint8Array;
}

export interface ShardInput {
  index: number;
  count: number;
  /** rings[from][to]: the handoff ring from worker `from` to worker `to` (null on the diagonal). */
  rings: (SharedArrayBuffer | null)[][];
  /** Each worker's eventfd, written to wake it. */
  eventfds: number[];
  /** Int32Array, one flag per worker: 1 while it may be asleep in poll(). */
  sleeping: SharedArrayBuffer;
}

/** One session of the published table (`/translations`, `v6mostly translations`). */
export interface SessionRow {
  proto: "tcp" | "udp" | "icmp";
  ipv6: string;
  port6: number;
  ipv4: string;
  port4: number;
  remote4: string;
  remotePort: number;
  remote6: string;
  state: string;
  expiresIn: number;
  static: boolean;
}

/** What a worker posts to the main thread. */
export type WorkerMessage =
  /** The loop runs: translating has started. */
  | { type: "ready" }
  /**
   * The heartbeat, once a second from inside the loop: the session table (at most snapshotLimit
   * sessions of `total` as numbers; snapshot.ts: sessionRecords, read with sessionRows) and the
   * outcome of the translator's probe just run (siit/probe.ts): null when it passed, else what failed.
   */
  | { type: "snapshot"; records: Uint32Array; total: number; probe: string | null }
  /** A session event, when logEvents is set (at most 100 a second). */
  | { type: "log"; msg: string; proto: number; ipv6: string; ipv4: string; remote?: string; state?: string }
  /** Stateful, before "ready": what became of the handed-over sessions. */
  | { type: "restored"; restored: number; refused: number }
  /** Stateful, before "stopped": the sessions to hand over to the next translator (nat64/handover.ts). */
  | { type: "handover"; records: Uint8Array }
  /** The loop has ended after the stop flag was raised; the counters are final. */
  | { type: "stopped" };
