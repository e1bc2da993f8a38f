// Debug-only timing of the receive thread (recvthread.ts), off unless V6MOSTLY_DNS64_TRACE names a
// file: each thread then appends a JSON line per second of serving to <file>.<threadId>, saying
// where a cached query's time in this process goes:
//   - wait: how long its datagram sat in the socket before recvmmsg returned it (the kernel's
//     receive timestamp of the batch's last datagram, SIOCGSTAMPNS, against CLOCK_REALTIME: a lower
//     bound for the batch's other datagrams): the thread's wake-up, or its being busy;
//   - serve: recvmmsg's return to the end of sendmmsg, for every query of the batch;
//   - batch sizes, the queries handed to the event loop, the entry messages from the event loop read on the way, and the thread's garbage
//     collections (v8.GCProfiler: count and pause).
// Each of these costs system calls of its own (an ioctl and a clock_gettime per batch): figures for
// finding the tail, not for the CPU per query.
import { appendFileSync } from "node:fs";
import { GCProfiler } from "node:v8";
import { threadId } from "node:worker_threads";
import koffi from "koffi";

const lib = koffi.load("libc.so.6");
const ioctlRaw = lib.func("int ioctl(int fd, unsigned long request, uintptr_t arg)") as (
  fd: number,
  request: number,
  arg: number,
) => number;
const clockGettimeRaw = lib.func("int clock_gettime(int clk, uintptr_t ts)") as (
  clk: number,
  ts: number,
) => number;
/** linux/sockios.h: the receive time of the last datagram read (struct timespec) */
const SIOCGSTAMPNS = 0x8907;
const CLOCK_REALTIME = 0;

/** 5 µs buckets up to 5 ms, the last one everything above */
const BUCKET_US = 5;
const BUCKETS = 1001;

class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  n = 0;
  max = 0;

  add(us: number, weight: number): void {
    this.counts[Math.min(BUCKETS - 1, Math.floor(us / BUCKET_US))]! += weight;
    this.n += weight;
    if (us > this.max) this.max = us;
  }

  /** the upper edge of the bucket holding percentile p, µs */
  percentile(p: number): number {
    const want = (this.n * p) / 100;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= want) return (i + 1) * BUCKET_US;
    }
    return this.max;
  }

  summary(): Record<string, number> {
    const p = (x: number) => this.percentile(x);
    return { p50: p(50), p90: p(90), p99: p(99), p999: p(99.9), max: Math.round(this.max) };
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.max = 0;
  }
}

export class ThreadTrace {
  private readonly ts = koffi.alloc("uint8_t", 32);
  private readonly tsView = new DataView(koffi.view(this.ts, 32));
  private readonly tsAt = Number(koffi.address(this.ts));
  private readonly wait = new Histogram();
  private readonly serve = new Histogram();
  private readonly sizes = new Float64Array(65);
  private misses = 0;
  private sweeps = 0;
  private gc = new GCProfiler();
  private nextDump = performance.now() + 1000;
  private started = 0;
  private waitUs = 0;

  constructor(private readonly file: string) {
    this.gc.start();
  }

  /** The trace's file when V6MOSTLY_DNS64_TRACE asks for one. */
  static fromEnv(): ThreadTrace | undefined {
    const f = process.env.V6MOSTLY_DNS64_TRACE;
    return f ? new ThreadTrace(`${f}.${threadId}`) : undefined;
  }

  private realtimeNs(offset: number): number {
    return (
      Number(this.tsView.getBigInt64(offset, true)) * 1e9 + Number(this.tsView.getBigInt64(offset + 8, true))
    );
  }

  /** Right after recvmmsg returned n datagrams from fd. */
  received(fd: number, n: number): void {
    this.started = performance.now();
    this.waitUs = -1;
    if (n === 0) return;
    if (ioctlRaw(fd, SIOCGSTAMPNS, this.tsAt) === 0 && clockGettimeRaw(CLOCK_REALTIME, this.tsAt + 16) === 0)
      this.waitUs = (this.realtimeNs(16) - this.realtimeNs(0)) / 1000;
  }

  /** A query handed to the event loop (it needs the resolver). */
  missed(): void {
    this.misses++;
  }

  swept(): void {
    this.sweeps++;
  }

  /** After the batch's sendmmsg. */
  sent(n: number): void {
    if (n === 0) return;
    const us = (performance.now() - this.started) * 1000;
    this.serve.add(us, n);
    if (this.waitUs >= 0) this.wait.add(this.waitUs, n);
    this.sizes[Math.min(64, n)]!++;
    if (performance.now() >= this.nextDump) this.dump();
  }

  private dump(): void {
    this.nextDump = performance.now() + 1000;
    const g = this.gc.stop();
    this.gc = new GCProfiler();
    this.gc.start();
    let gcCount = 0;
    let gcUs = 0;
    let gcMaxUs = 0;
    for (const s of g?.statistics ?? []) {
      gcCount++;
      gcUs += s.cost;
      gcMaxUs = Math.max(gcMaxUs, s.cost);
    }
    const sizes: Record<string, number> = {};
    this.sizes.forEach((c, i) => {
      if (c > 0) sizes[i] = c;
    });
    const line = {
      queries: this.serve.n,
      serveUs: this.serve.summary(),
      waitUs: this.wait.summary(),
      batches: sizes,
      misses: this.misses,
      sweeps: this.sweeps,
      gc: { count: gcCount, us: Math.round(gcUs), maxUs: Math.round(gcMaxUs) },
    };
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
    this.serve.reset();
    this.wait.reset();
    this.sizes.fill(0);
    this.misses = 0;
    this.sweeps = 0;
  }

  free(): void {
    this.gc.stop();
    koffi.free(this.ts);
  }
}
