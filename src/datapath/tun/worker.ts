/**
 * The packet loop, in a worker thread: read a packet from the TUN device,
 * translate it, write the outputs back to the same device (the kernel routes
 * IPv4 and IPv6 onwards). The fd is non-blocking: read until EAGAIN, then
 * poll() with a timeout, so timers, statistics and the stop flag are served
 * even when no packet arrives. The main thread's event loop is never blocked.
 */
import { parentPort, workerData } from "node:worker_threads";
import { format4, format6 } from "../../util/addrtext.ts";
import { bibV6 } from "../nat64/state.ts";
import { bumpHopLimit6, bumpTtl4, type Nat64Config, Nat64Translator } from "../nat64/translator.ts";
import { type SiitConfig, SiitTranslator, Verdict } from "../siit/index.ts";
import { NAT64_DROP_BASE, S, SIIT_DROP_BASE } from "./stats.ts";
import * as sys from "./sys.ts";

export interface WorkerInput {
  fd: number;
  mode: "stateful" | "stateless";
  nat64?: Nat64Config;
  siit?: SiitConfig;
  /** Float64Array layout of stats.ts. */
  stats: SharedArrayBuffer;
  /** Int32Array: [0] stop flag. */
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
}

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

const input = workerData as WorkerInput;
const stats = new Float64Array(input.stats);
const control = new Int32Array(input.control);
const fd = input.fd;
const blocking = input.loop === "blocking";

let nat: Nat64Translator | null = null;
let siit: SiitTranslator | null = null;
if (input.mode === "stateful") {
  nat = new Nat64Translator({ ...input.nat64!, hopLimitMode: "tun" });
  if (input.logEvents) {
    let budget = 100;
    nat.state.onEvent = (e) => {
      if (budget-- <= 0) return;
      if ("bib" in e) {
        const b = e.bib;
        parentPort?.postMessage({
          type: "log",
          msg: e.type,
          proto: b.proto,
          ipv6: `[${format6(bibV6(b))}]:${b.port6}`,
          ipv4: `${format4(b.v4)}:${b.port4}`,
        });
      } else {
        const s = e.session;
        parentPort?.postMessage({
          type: "log",
          msg: e.type,
          proto: s.bib.proto,
          ipv6: `[${format6(bibV6(s.bib))}]:${s.bib.port6}`,
          ipv4: `${format4(s.bib.v4)}:${s.bib.port4}`,
          remote: `${format4(s.remote4)}:${s.rport}`,
          state: e.state,
        });
      }
    };
    setInterval(() => {
      budget = 100;
    }, 1000).unref();
  }
} else {
  siit = new SiitTranslator(input.siit!);
}

// Packets are read straight into the translator's input area: no copy before translation.
const rbuf = nat ? nat.siit.inputBuffer : siit!.inputBuffer;
const pfd = new Uint8Array(8);
new DataView(pfd.buffer).setInt32(0, fd, true);
pfd[4] = sys.POLLIN;

function protoName(p: number): "tcp" | "udp" | "icmp" {
  return p === 6 ? "tcp" : p === 17 ? "udp" : "icmp";
}

function snapshot(now: number): { sessions: SessionRow[]; total: number } {
  const rows: SessionRow[] = [];
  if (!nat) return { sessions: rows, total: 0 };
  const p6 = nat.pool6;
  const tmp = new Uint8Array(4);
  const r6 = new Uint8Array(16);
  for (const s of nat.state.sessions.values()) {
    if (rows.length >= input.snapshotLimit) break;
    tmp[0] = s.remote4 >>> 24;
    tmp[1] = (s.remote4 >>> 16) & 0xff;
    tmp[2] = (s.remote4 >>> 8) & 0xff;
    tmp[3] = s.remote4 & 0xff;
    p6.embed(tmp, 0, r6, 0);
    const b = s.bib;
    rows.push({
      proto: protoName(b.proto),
      ipv6: format6(bibV6(b)),
      port6: b.port6,
      ipv4: format4(b.v4),
      port4: b.port4,
      remote4: format4(s.remote4),
      remotePort: b.proto === 1 ? b.port4 : s.rport,
      remote6: format6(r6),
      state:
        b.proto === 6
          ? [
              "CLOSED",
              "V4_INIT",
              "V6_INIT",
              "ESTABLISHED",
              "V4_FIN_RCV",
              "V6_FIN_RCV",
              "V4_FIN_V6_FIN_RCV",
              "TRANS",
            ][s.state]!
          : "",
      expiresIn: Math.max(0, Math.round((s.expires - now) / 1000)),
      static: b.isStatic,
    });
  }
  return { sessions: rows, total: nat.state.sessions.size };
}

function publishStats(): void {
  if (nat) {
    stats[S.packets6to4] = nat.packets6to4;
    stats[S.packets4to6] = nat.packets4to6;
    stats[S.bytes6to4] = nat.bytes6to4;
    stats[S.bytes4to6] = nat.bytes4to6;
    stats[S.icmpErrors] = nat.icmpErrorsSent + nat.siit.icmpErrorsSent;
    const st = nat.state;
    stats[S.sessionsTcp] = st.sessionCount[0]!;
    stats[S.sessionsUdp] = st.sessionCount[1]!;
    stats[S.sessionsIcmp] = st.sessionCount[2]!;
    stats[S.bibTcp] = st.bibCount[0]!;
    stats[S.bibUdp] = st.bibCount[1]!;
    stats[S.bibIcmp] = st.bibCount[2]!;
    stats[S.poolUsedTcp] = st.pool.used(0);
    stats[S.poolUsedUdp] = st.pool.used(1);
    stats[S.poolUsedIcmp] = st.pool.used(2);
    stats[S.poolCapacity] = st.pool.capacity();
    stats[S.tableBytes] = st.approxBytes();
    stats[S.heldSyns] = st.stored.size;
    for (let i = 0; i < nat.drops.length; i++) stats[NAT64_DROP_BASE + i] = nat.drops[i]!;
    const d = nat.siit.dropCounters;
    for (let i = 0; i < d.length; i++) stats[SIIT_DROP_BASE + i] = d[i]!;
  } else if (siit) {
    stats[S.icmpErrors] = siit.icmpErrorsSent;
    const d = siit.dropCounters;
    for (let i = 0; i < d.length; i++) stats[SIIT_DROP_BASE + i] = d[i]!;
  }
  stats[S.workerHeapBytes] = process.memoryUsage().heapUsed;
}

let p64 = 0;
let p46 = 0;
let b64 = 0;
let b46 = 0;

function writeOut(buf: Uint8Array, off: number, len: number): void {
  if (sys.write(fd, off === 0 ? buf : buf.subarray(off), len) < 0) stats[S.writeErrors]!++;
}

const wake = input.wake;
function isWake(n: number): boolean {
  if (n < 40 || rbuf[0]! >>> 4 !== 6) return false;
  for (let i = 0; i < 16; i++) if (rbuf[24 + i] !== wake[i]) return false;
  return true;
}

function handle(n: number, now: number): void {
  if (blocking && isWake(n)) return;
  stats[S.packetsIn]!++;
  if (nat) {
    const v = nat.translate(rbuf, n, now);
    if (v === Verdict.Drop) return;
    for (let i = 0; i < nat.outCount; i++) writeOut(nat.outBuf, nat.outOffset[i]!, nat.outLength[i]!);
    return;
  }
  const s = siit!;
  // Between two kernel forwards: net one decrement (see Nat64Config.hopLimitMode).
  const v6 = rbuf[0]! >>> 4 === 6;
  if (v6) bumpHopLimit6(rbuf);
  else if (n >= 20) bumpTtl4(rbuf, 0);
  const v = s.translate(rbuf, n);
  if (v === Verdict.Drop) return;
  if (v === Verdict.Translated) {
    if (v6) {
      p64++;
      b64 += n;
    } else {
      p46++;
      b46 += n;
    }
  }
  for (let i = 0; i < s.outCount; i++) {
    const o = s.outOffset[i]!;
    if (v === Verdict.Translated) {
      if (s.outSide === 6) bumpHopLimit6(s.buf.subarray(o));
      else bumpTtl4(s.buf, o);
    }
    writeOut(s.buf, o, s.outLength[i]!);
  }
  stats[S.packets6to4] = p64;
  stats[S.packets4to6] = p46;
  stats[S.bytes6to4] = b64;
  stats[S.bytes4to6] = b46;
}

function loop(): void {
  parentPort?.postMessage({ type: "ready" });
  let lastTick = Date.now();
  let lastSnap = 0;
  for (;;) {
    const n = sys.read(fd, rbuf, rbuf.length);
    const now = Date.now();
    if (n > 0) handle(n, now);
    else if (n < 0) {
      const e = sys.errno();
      if (e === sys.EAGAIN) {
        if (!blocking) sys.poll(pfd, 1, 200);
      } else if (e !== sys.EINTR) {
        stats[S.readErrors]!++;
        sys.poll(pfd, 1, 200);
      }
    }
    if (now - lastTick >= 250 || n <= 0) {
      if (Atomics.load(control, 0) !== 0) break;
      if (now - lastTick >= 250) {
        lastTick = now;
        if (nat) for (const o of nat.tick(now)) writeOut(o.pkt, 0, o.pkt.length);
        publishStats();
        if (now - lastSnap >= 1000) {
          lastSnap = now;
          parentPort?.postMessage({ type: "snapshot", ...snapshot(now) });
        }
      }
    }
  }
  publishStats();
  parentPort?.postMessage({ type: "stopped" });
}

loop();
