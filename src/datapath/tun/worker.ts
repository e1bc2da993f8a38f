/**
 * The packet loop, in a worker thread: read a packet from the TUN device,
 * translate it, write the outputs back to the same device (the kernel routes
 * IPv4 and IPv6 onwards). The fd is non-blocking: read until EAGAIN, then
 * poll() with a timeout, so timers, statistics and the stop flag are served
 * even when no packet arrives. The main thread's event loop is never blocked.
 *
 * With offload (IFF_VNET_HDR, see offload.ts) each packet carries a
 * virtio_net_hdr: TCP super-packets of up to 64 KiB and partial checksums go
 * through the translator whole and are written back as such, so the kernel
 * (or the next NIC) cuts them into segments after us: one read, one
 * translation and one write per 64 KiB instead of per 1500 bytes.
 */
import { parentPort, workerData } from "node:worker_threads";
import { format4, format6 } from "../../util/addrtext.ts";
import { OWNER_FRAGMENT, packetOwner } from "../nat64/shard.ts";
import { bibV6 } from "../nat64/state.ts";
import { tcpStateName } from "../nat64/tcp.ts";
import { bumpHopLimit6, bumpTtl4, type Nat64Config, Nat64Translator } from "../nat64/translator.ts";
import { gsoKeepsWhole } from "../siit/fastpath.ts";
import { type SiitConfig, SiitTranslator, Verdict } from "../siit/index.ts";
import { META_BYTES, Ring } from "./handoff.ts";
import {
  hdr16,
  segmentTcp,
  shortTail,
  splitTail,
  tcpOffset,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_HDR_LEN,
  writeVnetHdr,
} from "./offload.ts";
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
  /** The fd was opened with offload (IFF_VNET_HDR + TUNSETOFFLOAD). */
  offload: boolean;
  /** Multi-queue stateful NAT64: this worker's place among the workers (see nat64/shard.ts). */
  shard?: ShardInput;
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
const tr: SiitTranslator = nat ? nat.siit : siit!;
const xctx = tr.ctx;
const rbuf = tr.inputBuffer;
const offload = input.offload;
// With offload, the virtio_net_hdr is read into the headroom before the packet and written from
// the headroom before the main output (or from wbuf, for outputs elsewhere): one system call each.
const H = offload ? VNET_HDR_LEN : 0;
const rx = tr.inputWithHeadroom.subarray(SiitTranslator.HEADROOM - H);
const txMain = tr.outputWithHeadroom.subarray(SiitTranslator.HEADROOM - H);
const wbuf = new Uint8Array(H + 65536 + 64);
// Software segmentation (rare): up to 256 segments of a 64 KiB super-packet, headers repeated.
const segBuf = new Uint8Array(65536 + 256 * 128);
const segOffs = new Int32Array(256);
const segLens = new Int32Array(256);
// The short last segment of a super-packet, sent on its own (offload.ts shortTail).
const tailBuf = new Uint8Array(2048);
// The hot calls take addresses (sys.readAt/writeAt): these buffers live as long as the worker.
const rxAddr = sys.addressOf(rx);
const trAddr = sys.addressOf(tr.buf);
const txMainAddr = sys.addressOf(txMain);
const wbufAddr = sys.addressOf(wbuf);
// Multi-queue stateful: who owns what (nat64/shard.ts) and the rings between the workers (handoff.ts).
const shard = input.shard;
const me = shard?.index ?? 0;
const workers = shard?.count ?? 1;
const inRings = shard ? shard.rings.map((row, j) => (j === me ? null : new Ring(row[me]!))) : [];
const outRings = shard ? shard.rings[me]!.map((sab, j) => (j === me ? null : new Ring(sab!))) : [];
const sleeping = shard ? new Int32Array(shard.sleeping) : null;
const meta = new Uint8Array(META_BYTES);
const one = new Uint8Array(8);
one[0] = 1;
const efdBuf = new Uint8Array(8);

// struct pollfd[]: the TUN queue, and (multi-queue stateful) this worker's eventfd.
const pfd = new Uint8Array(16);
const pdv = new DataView(pfd.buffer);
pdv.setInt32(0, fd, true);
pfd[4] = sys.POLLIN;
if (shard) {
  pdv.setInt32(8, shard.eventfds[me]!, true);
  pfd[12] = sys.POLLIN;
}
const nfds = shard ? 2 : 1;

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
      state: b.proto === 6 ? tcpStateName[s.state]! : "",
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
    stats[S.icmpErrorsSent] = nat.icmpErrorsSent + nat.siit.icmpErrorsSent;
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
    stats[S.internalErrors] = nat.internalErrors;
    for (let i = 0; i < nat.drops.length; i++) stats[NAT64_DROP_BASE + i] = nat.drops[i]!;
    const d = nat.siit.dropCounters;
    for (let i = 0; i < d.length; i++) stats[SIIT_DROP_BASE + i] = d[i]!;
  } else if (siit) {
    stats[S.icmpErrorsSent] = siit.icmpErrorsSent;
    const d = siit.dropCounters;
    for (let i = 0; i < d.length; i++) stats[SIIT_DROP_BASE + i] = d[i]!;
  }
  stats[S.workerHeapBytes] = process.memoryUsage().heapUsed;
}

let p64 = 0;
let p46 = 0;
let b64 = 0;
let b46 = 0;

/**
 * Writes one output. With offload, a virtio_net_hdr goes in front: a partial
 * checksum (and super-packet) stays one when the translator kept it so.
 */
function writeOut(buf: Uint8Array, off: number, len: number, partial = false): void {
  if (!offload) {
    const r = buf === tr.buf ? sys.writeAt(fd, trAddr + off, len) : sys.write(fd, buf.subarray(off), len);
    if (r < 0) stats[S.writeErrors]!++;
    return;
  }
  let view: Uint8Array;
  let addr: number;
  if (buf === tr.buf && tr.hasHeadroom(off)) {
    view = txMain;
    addr = txMainAddr;
  } else {
    wbuf.set(buf.subarray(off, off + len), H);
    view = wbuf;
    addr = wbufAddr;
  }
  if (partial) {
    const cs = xctx.csumStart;
    const gso = xctx.gsoSize;
    const v4 = view[H]! >>> 4 === 4;
    const hdrLen = gso > 0 ? cs + ((view[H + cs + 12]! >>> 4) << 2) : 0;
    const type = gso === 0 ? VNET_GSO_NONE : v4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
    writeVnetHdr(view, 0, VNET_F_NEEDS_CSUM, type, hdrLen, gso, cs, xctx.csumOffset);
  } else writeVnetHdr(view, 0, 0, VNET_GSO_NONE, 0, 0, 0, 0);
  if (sys.writeAt(fd, addr, len + H) < 0) stats[S.writeErrors]!++;
}

const wake = input.wake;
function isWake(n: number): boolean {
  if (n < 40 || rbuf[0]! >>> 4 !== 6) return false;
  for (let i = 0; i < 16; i++) if (rbuf[24 + i] !== wake[i]) return false;
  return true;
}

/**
 * Reads the virtio_net_hdr of the packet just read into the translator's
 * offload fields. False when the packet was handled here instead: a
 * super-packet the fast path cannot keep whole is cut into segments, each
 * translated as an ordinary packet (or dropped and counted if it cannot be).
 */
function takeOffload(len: number, now: number): boolean {
  const flags = rx[0]!;
  const type = rx[1]! & ~VNET_GSO_ECN;
  xctx.csumPartial = (flags & VNET_F_NEEDS_CSUM) !== 0;
  xctx.csumStart = hdr16(rx, 6);
  xctx.csumOffset = hdr16(rx, 8);
  xctx.gsoSize = 0;
  if (type === VNET_GSO_NONE) return true;
  stats[S.gsoPackets]!++;
  const gso = hdr16(rx, 4);
  const tcp = type === VNET_GSO_TCPV4 || type === VNET_GSO_TCPV6;
  if (tcp && gso > 0 && xctx.csumPartial) {
    // A short last segment whose DF would differ from the others' (6→4): sent on its own, after.
    const l4 = xctx.csumStart;
    const tail = type === VNET_GSO_TCPV6 && l4 === 40 ? shortTail(rbuf, 0, len, l4, gso) : 0;
    const tailLen = tail > 0 ? splitTail(rbuf, 0, len, l4, tail, tailBuf) : -1;
    const headLen = tailLen > 0 ? len - tail : len;
    if (gsoKeepsWhole(tr.cfg, rbuf, 0, headLen, gso)) {
      stats[S.gsoKeptWhole]!++;
      if (tailLen < 0) {
        xctx.gsoSize = gso;
        return true;
      }
      stats[S.gsoTailsSplit]!++;
      xctx.gsoSize = gso;
      translateOne(rbuf, headLen, now);
      sendTail(l4, tailLen, now);
      return false;
    }
    if (tailLen > 0) {
      // Not kept whole after all: cut the head in software, then the tail as it is.
      softwareSegments(headLen, gso, now);
      sendTail(l4, tailLen, now);
      return false;
    }
  }
  return softwareSegments(len, tcp ? gso : 0, now);
}

/** Translates the short last segment split off into tailBuf (an IPv6 TCP packet with a partial checksum). */
function sendTail(l4: number, tailLen: number, now: number): void {
  xctx.gsoSize = 0;
  xctx.csumPartial = true;
  xctx.csumStart = l4;
  xctx.csumOffset = 16;
  translateOne(tailBuf.subarray(0, tailLen), tailLen, now);
}

/** Cuts the super-packet in rbuf into segments, each translated as an ordinary packet (false: handled here). */
function softwareSegments(len: number, gso: number, now: number): boolean {
  const l4 = gso > 0 ? tcpOffset(rbuf, 0, len) : -1;
  const k = l4 < 0 ? -1 : segmentTcp(rbuf, 0, len, l4, gso, segBuf, segOffs, segLens);
  if (k < 0) {
    stats[S.offloadDrops]!++;
    return false;
  }
  stats[S.gsoSoftwareSegmented]!++;
  for (let i = 0; i < k; i++) {
    xctx.csumPartial = false;
    xctx.gsoSize = 0;
    translateOne(segBuf.subarray(segOffs[i]!, segOffs[i]! + segLens[i]!), segLens[i]!, now);
  }
  return false;
}

/**
 * A packet read into rx (virtio_net_hdr, if any, then the packet: n bytes),
 * or taken from a handoff ring (`hops` > 0: how many workers passed it on).
 */
function handle(n: number, now: number, hops = 0): void {
  const len = n - H;
  if (len <= 0) return;
  if (blocking && isWake(len)) return;
  if (hops === 0) stats[S.packetsRead]!++;
  if (workers > 1) {
    let owner = packetOwner(rbuf, 0, len, workers);
    // A non-first fragment: whoever saw the first one; ask the workers in turn.
    if (owner === OWNER_FRAGMENT)
      owner = hops >= workers - 1 || nat!.knowsFragment(rbuf, len) ? me : (me + 1) % workers;
    if (owner !== me) {
      handOff(owner, n, hops + 1);
      return;
    }
  }
  if (offload && !takeOffload(len, now)) return;
  translateOne(rbuf, len, now);
}

/** Passes the packet in rx to the worker that owns it, waking it if it sleeps. */
function handOff(owner: number, n: number, hops: number): void {
  meta.fill(0);
  meta.set(rx.subarray(0, H), 0);
  meta[META_BYTES - 1] = hops;
  if (!outRings[owner]!.push(rbuf, 0, n - H, meta)) {
    stats[S.handoffDrops]!++;
    return;
  }
  stats[S.handoffs]!++;
  if (Atomics.load(sleeping!, owner) === 1) sys.write(shard!.eventfds[owner]!, one, 8);
}

/** Handles the packets other workers passed on (a bounded batch per ring). */
function drainRings(now: number): void {
  for (let j = 0; j < workers; j++) {
    const r = inRings[j];
    if (!r) continue;
    for (let k = 0; k < 64; k++) {
      const len = r.pop(rbuf, 0, meta);
      if (len < 0) break;
      rx.set(meta.subarray(0, H), 0);
      handle(len + H, now, Math.max(1, meta[META_BYTES - 1]!));
    }
  }
}

function ringsPending(): boolean {
  for (const r of inRings) if (r?.pending) return true;
  return false;
}

/** Sleeps in poll() until the TUN queue (or, multi-queue stateful, the eventfd) is readable, 200 ms at most. */
function sleep(): void {
  if (sleeping) {
    Atomics.store(sleeping, me, 1);
    // Look again after raising the flag: a producer either sees the flag or we see its record.
    if (ringsPending()) {
      Atomics.store(sleeping, me, 0);
      return;
    }
  }
  sys.poll(pfd, nfds, 200);
  if (sleeping) {
    Atomics.store(sleeping, me, 0);
    if ((pfd[14]! & sys.POLLIN) !== 0) sys.read(shard!.eventfds[me]!, efdBuf, 8);
  }
}

/** Translates one packet (in the input area, or a software segment) and writes the outputs. */
function translateOne(pkt: Uint8Array, n: number, now: number): void {
  if (nat) {
    const v = nat.translate(pkt, n, now);
    if (v === Verdict.Drop) return;
    const partial = v === Verdict.Translated && xctx.csumPartial;
    for (let i = 0; i < nat.outCount; i++)
      writeOut(nat.outBuf, nat.outOffset[i]!, nat.outLength[i]!, partial);
    return;
  }
  const s = siit!;
  // Between two kernel forwards: net one decrement (see Nat64Config.hopLimitMode).
  const v6 = pkt[0]! >>> 4 === 6;
  if (v6) bumpHopLimit6(pkt);
  else if (n >= 20) bumpTtl4(pkt, 0);
  const v = s.translate(pkt, n);
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
  const partial = v === Verdict.Translated && xctx.csumPartial;
  for (let i = 0; i < s.outCount; i++) {
    const o = s.outOffset[i]!;
    if (v === Verdict.Translated) {
      if (s.outSide === 6) bumpHopLimit6(s.buf.subarray(o));
      else bumpTtl4(s.buf, o);
    }
    writeOut(s.buf, o, s.outLength[i]!, partial);
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
  // The clock is read every 32 packets, after every empty read and after sleeping (timers count
  // in seconds); the blocking loop reads it every time (a read may have waited).
  let now = Date.now();
  let reads = 0;
  for (;;) {
    if (workers > 1) drainRings(now);
    const n = sys.readAt(fd, rxAddr, rx.length);
    if (blocking || n <= 0 || (++reads & 31) === 0) now = Date.now();
    if (n > 0) handle(n, now);
    else if (n < 0) {
      const e = sys.errno();
      if (e === sys.EAGAIN) {
        if (!blocking) {
          sleep();
          now = Date.now();
        }
      } else if (e !== sys.EINTR) {
        stats[S.readErrors]!++;
        sleep();
        now = Date.now();
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
