// The UDP listen sockets of one serving stack served by one thread (recvthread.ts) instead of the
// event loop. At a light load every query woke the event loop alone: epoll_pwait twice (Node
// measures the loop's idle time), libuv's recvmsg and a second one that finds the socket empty, a
// Buffer, an rinfo object and the callback into JavaScript, which made our CPU per cached query
// twice Unbound's. The thread blocks in recvmmsg(2) (one socket) or poll(2) (several) and answers
// cached queries from the stack's cache (shared memory: cache.ts) with sendmmsg(2).
//
// One thread for all of a stack's sockets, not one per socket: a Node thread costs ~10 MiB of
// memory however little it runs (its V8 isolate and Node environment), and a thread per socket
// cost 28 MiB each (README.md, Speed: memory).
//
// This side, on the stack's event loop: the queries the thread cannot answer (they need the
// resolver) come in one message per batch; each is answered through the QueryHandler (sent with
// sendmmsg on the socket it came in on, all of one event-loop turn at once); the answer it stores
// in the cache makes the next such query the thread's.
import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import type { Logger } from "../../util/log.ts";
import type { Prefix } from "../../util/net.ts";
import { check, close, SOL_SOCKET, setsockopt } from "../../util/sys/libc.ts";
import { DatagramBatch, shutdownRead, sockaddrText } from "../../util/sys/mmsg.ts";
import { siblingModule, startWorker } from "../../util/worker.ts";
import type { CacheMemory } from "./cache.ts";
import { newServerStats, type QueryHandler, type ServerStats } from "./handler.ts";
import type { Resolver } from "./resolver.ts";
import type { Dns64Policy } from "./synth.ts";

/** The receive thread's name in `top -H`, `ps -L` and /proc/PID/task/TID/comm */
export const RECV_THREAD_NAME = "v6m-dns64-rx";
/** Control word (Int32 in a SharedArrayBuffer): set before the socket is shut down */
export const STOP = 0;
/** ServerStats fields, in the order of the shared stats array the thread writes after each batch */
export const STAT_KEYS = Object.keys(newServerStats()) as (keyof ServerStats)[];

/** A Prefix's fields (structured clone keeps them, not the class): the thread makes it again. */
export type PrefixFields = Pick<Prefix, "family" | "network" | "length" | "text">;

/**
 * Plain data only: the thread imports what the hit path needs and nothing else (decoding an
 * assignment pulled in zod and every API schema: 5.4 MiB more of the thread's old space).
 */
export interface RecvThreadData {
  /** blocking UDP sockets, bound */
  fds: number[];
  policy: Dns64Policy;
  allowClients: PrefixFields[];
  /** queries per second per client; 0 = unlimited */
  rate: number;
  slots: number;
  /** the stack's cache, which the thread attaches to (one cache in shared memory) */
  cache: CacheMemory;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  port: MessagePort;
}

/** thread → stack: queries for the resolver, each with its client's sockaddr and its socket (index in fds) */
export interface Misses {
  queries: Uint8Array[];
  names: Uint8Array[];
  socks: number[];
}

/** What the thread needs besides the sockets. */
export interface UdpThreadSetup {
  policy: Dns64Policy;
  allowClients: readonly PrefixFields[];
  rate: number;
  /** the stack's resolver: the thread attaches to its cache */
  resolver: Resolver;
}

const threadUrl = siblingModule(import.meta.url, "./recvthread");
/** SO_RCVTIMEO: the longest a thread stays in recvmmsg, should the process end without stop() */
const SO_RCVTIMEO = 20;
const WAKE_SECONDS = 1;
/**
 * The thread's young generation (MiB; with V8's default the thread had 16 MiB of new space
 * committed): the hit path makes little garbage (a key string, the answer's bytes), so a small one
 * is scavenged more often in shorter pauses, 0.2 µs a query more (README.md, Speed: memory).
 */
const YOUNG_MB = 2;

/** Threads still serving, shut down when the process exits without stopping them. */
const live = new Set<UdpThread>();
let exitHook = false;

export class UdpThread {
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private readonly shared = new Float64Array(new SharedArrayBuffer(8 * STAT_KEYS.length));
  private readonly tx: DatagramBatch;
  private readonly out: { bytes: Uint8Array; name: Uint8Array; fd: number }[] = [];
  private flushScheduled = false;
  private closed = false;
  private worker: Worker | undefined;
  private port: MessagePort | undefined;

  private constructor(
    readonly fds: readonly number[],
    private readonly handler: QueryHandler,
    private readonly setup: UdpThreadSetup,
    private readonly log: Logger,
    private readonly slots: number,
  ) {
    this.tx = new DatagramBatch(slots, 4096);
  }

  /** Starts the thread on `fds` (blocking UDP sockets, bound); it owns them from then on. */
  static async start(
    fds: readonly number[],
    handler: QueryHandler,
    setup: UdpThreadSetup,
    log: Logger,
    slots: number,
  ): Promise<UdpThread> {
    const t = new UdpThread(fds, handler, setup, log, slots);
    try {
      await t.run();
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  private async run(): Promise<void> {
    const timeout = new Uint8Array(16); // struct timeval { tv_sec, tv_usec }
    new DataView(timeout.buffer).setBigInt64(0, BigInt(WAKE_SECONDS), true);
    for (const fd of this.fds)
      check(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16), "setsockopt(SO_RCVTIMEO)");
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    port1.on("message", (m: Misses) => this.onMisses(m));
    const data: RecvThreadData = {
      fds: [...this.fds],
      policy: this.setup.policy,
      allowClients: [...this.setup.allowClients],
      rate: this.setup.rate,
      slots: this.slots,
      cache: this.setup.resolver.cache.memory,
      control: this.control.buffer as SharedArrayBuffer,
      stats: this.shared.buffer as SharedArrayBuffer,
      port: port2,
    };
    const worker = startWorker(threadUrl, data, {
      transferList: [port2],
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB },
    });
    this.worker = worker;
    live.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on("exit", () => {
        for (const t of live) t.wake();
      });
    }
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`dns64 receive thread exited (${code})`)));
    });
    worker.on("error", (e) => this.log.error({ err: e.message }, "dns64 receive thread failed"));
    worker.on("exit", (code) => {
      // only stop() ends it: until the stack is rebuilt (update) this socket is not served
      if (!this.closed)
        this.log.error({ code }, "dns64 receive thread exited: UDP on its socket is not served");
    });
  }

  /** The thread's id (worker_threads), while it runs. */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  /** The thread's counters (ServerStats fields). */
  stats(): ServerStats {
    const s = newServerStats();
    for (let k = 0; k < STAT_KEYS.length; k++) s[STAT_KEYS[k]!] = this.shared[k]!;
    return s;
  }

  private onMisses(m: Misses): void {
    for (let i = 0; i < m.queries.length; i++) {
      const q = m.queries[i]!;
      const name = m.names[i]!;
      const fd = this.fds[m.socks[i]!];
      const client = sockaddrText(name);
      if (client === undefined || fd === undefined) continue;
      void this.handler.handle(q, client, false).then((bytes) => {
        if (!bytes || this.closed) return;
        this.out.push({ bytes, name, fd });
        this.schedule();
      });
    }
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      try {
        this.flush();
      } catch {
        this.handler.stats.errors++;
      }
    });
  }

  /** This turn's answers in sendmmsg batches (one per run of answers on the same socket). */
  private flush(): void {
    if (this.closed) return;
    const tx = this.tx;
    let n = 0;
    let fd = -1;
    for (const o of this.out) {
      if (n > 0 && (o.fd !== fd || n === tx.slots)) {
        tx.send(fd, n);
        n = 0;
      }
      fd = o.fd;
      if (tx.set(n, o.bytes, o.name)) n++;
      else this.handler.stats.dropped++;
    }
    if (n > 0) tx.send(fd, n);
    this.out.length = 0;
  }

  /** Tells the thread to end and wakes it (out of recvmmsg or poll: see shutdownRead). */
  private wake(): void {
    Atomics.store(this.control, STOP, 1);
    for (const fd of this.fds) shutdownRead(fd);
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    const w = this.worker;
    if (w && w.threadId >= 0) {
      const id = w.threadId;
      const exited = new Promise<void>((r) => w.once("exit", () => r()));
      this.wake();
      const t = setTimeout(() => void w.terminate(), 3000);
      await exited;
      clearTimeout(t);
      // terminated in the middle of a cache call, it would leave the shared cache locked
      if (this.setup.resolver.cache.recover(id))
        this.log.warn("dns64 receive thread ended holding the cache lock: cache emptied");
    }
    this.port?.close();
    this.tx.free();
    for (const fd of this.fds) close(fd);
  }
}
