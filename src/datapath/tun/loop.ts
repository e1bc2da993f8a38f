/**
 * The packet loop of a worker thread: read a packet from the TUN device,
 * translate it, write the outputs back to the same device (the kernel routes
 * IPv4 and IPv6 onwards). The fd is non-blocking: read until EAGAIN, then
 * poll() with a timeout, so timers, statistics and the stop flag are served
 * even when no packet arrives. The main thread's event loop is never blocked.
 *
 * With offload (IFF_VNET_HDR, see offload.ts) each packet carries a
 * virtio_net_hdr: TCP and UDP super-packets of up to 64 KiB and partial
 * checksums go through the translator whole and are written back as such, so
 * the kernel (or the next NIC) cuts them into segments after us: one read, one
 * translation and one write per 64 KiB instead of per 1500 bytes, or, for a
 * flow of small datagrams the kernel's GRO coalesced, per up to 64 of them.
 *
 * Everything outside the loop's own memory goes through a {@link LoopIo}: the
 * system calls on the device and the eventfds (worker.ts, with sys.ts), the
 * clock, and the messages to the main thread; tests pass their own. The
 * shared counters, the stop flag and the handoff rings are SharedArrayBuffers
 * in the WorkerInput.
 */
import { format4, format6 } from "../../util/addrtext.ts";
import { exportSessions, restoreSessions } from "../nat64/handover.ts";
import { OWNER_FRAGMENT, packetOwner } from "../nat64/shard.ts";
import { bibV6 } from "../nat64/state.ts";
import { bumpHopLimit6, bumpTtl4, Nat64Translator } from "../nat64/translator.ts";
import { copyBytes } from "../siit/bytes.ts";
import type { XlatContext } from "../siit/context.ts";
import { gsoKeepsWhole } from "../siit/fastpath.ts";
import { hostPicksSource } from "../siit/icmpErrors.ts";
import { SiitTranslator, Verdict } from "../siit/index.ts";
import type { WorkerInput, WorkerMessage } from "./contract.ts";
import { META_BYTES, Ring } from "./handoff.ts";
import {
  gsoSegments,
  hdr16,
  l4Offset,
  segmentTcp,
  segmentUdp,
  shortTail,
  splitTail,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  writeVnetHdr,
} from "./offload.ts";
import { sessionRecords } from "./snapshot.ts";
import { NAT64_DROP_BASE, S, SIIT_DROP_BASE } from "./stats.ts";

/** LoopIo.readAt's answers instead of a length: nothing to read now (EAGAIN), interrupted (EINTR), failed. */
export const READ_AGAIN = -1;
export const READ_INTERRUPTED = -2;
export const READ_FAILED = -3;
/** LoopIo.originate's answers: sent, no route (or no source address) back, failed otherwise. */
export const ORIGINATE_SENT = 0;
export const ORIGINATE_NO_ROUTE = -1;
export const ORIGINATE_FAILED = -2;

/** Everything the packet loop does outside its own memory. */
export interface LoopIo {
  /**
   * The address of a buffer the loop keeps as long as it runs, as readAt and
   * writeAt take it (sys.addressOf: koffi passes an address for half the
   * cost of a typed array).
   */
  addressOf(b: Uint8Array): number;
  /** read(2) from the TUN queue into the n bytes at addr: the length read, or READ_AGAIN... */
  readAt(addr: number, n: number): number;
  /** write(2) of the n bytes at addr to the TUN queue: the length written, or -1. */
  writeAt(addr: number, n: number): number;
  /**
   * poll(2) for up to `ms` on the TUN queue and, with several workers, this
   * worker's eventfd (emptied when it was written to).
   */
  poll(ms: number): void;
  /** Wakes worker `i` from its poll (writes its eventfd). */
  wake(i: number): void;
  /**
   * Sends b[off, off+len), an ICMP error the translator originated with the unspecified source
   * (SiitConfig.hostErrorSource), as the host's own packet: the kernel picks the source address
   * on its route back (util/sys/originate.ts). ORIGINATE_SENT, _NO_ROUTE or _FAILED.
   */
  originate(b: Uint8Array, off: number, len: number): number;
  /** The clock, in milliseconds. */
  now(): number;
  /** A message to the main thread. */
  post(m: WorkerMessage): void;
}

/** At most this many session events logged a second. */
const LOG_BUDGET = 100;

export class PacketLoop {
  private readonly io: LoopIo;
  private readonly stats: Float64Array;
  private readonly control: Int32Array;
  private readonly blocking: boolean;
  private readonly snapshotLimit: number;
  private readonly nat: Nat64Translator | null;
  private readonly siit: SiitTranslator | null;
  /** The SIIT core that translates (the NAT64's own, or the stateless translator). */
  private readonly tr: SiitTranslator;
  private readonly xctx: XlatContext;
  /** Packets are read straight into the translator's input area: no copy before translation. */
  private readonly rbuf: Uint8Array;
  private readonly offload: boolean;
  /**
   * With offload, the virtio_net_hdr is read into the headroom before the
   * packet and written from the headroom before the main output (or from
   * wbuf, for outputs elsewhere): one system call each. H is its length.
   */
  private readonly H: number;
  private readonly rx: Uint8Array;
  private readonly txMain: Uint8Array;
  private readonly wbuf: Uint8Array;
  // Software segmentation (rare): up to 256 segments of a 64 KiB super-packet, headers repeated.
  private readonly segBuf = new Uint8Array(65536 + 256 * 128);
  private readonly segOffs = new Int32Array(256);
  private readonly segLens = new Int32Array(256);
  /** The short last segment of a super-packet, sent on its own (offload.ts shortTail). */
  private readonly tailBuf = new Uint8Array(2048);
  // The hot calls take addresses (LoopIo.readAt/writeAt): these buffers live as long as the loop.
  private readonly rxAddr: number;
  private readonly trAddr: number;
  private readonly txMainAddr: number;
  private readonly wbufAddr: number;
  /** Multi-queue stateful: who owns what (nat64/shard.ts) and the rings between the workers (handoff.ts). */
  private readonly me: number;
  /** This worker's place among all (WorkerInput.worker; `me` counts the stateful shards only). */
  private readonly worker: number;
  private readonly workers: number;
  private readonly inRings: (Ring | null)[];
  private readonly outRings: (Ring | null)[];
  private readonly sleeping: Int32Array | null;
  private readonly meta = new Uint8Array(META_BYTES);
  private readonly wake: Uint8Array;
  // Stateless counters, published after every packet.
  private p64 = 0;
  private p46 = 0;
  private b64 = 0;
  private b46 = 0;
  /**
   * How many packets the super-packet being translated stands for (1: a plain packet), and the
   * segments beyond the first of those the NAT64 translated (it counts one per call): the
   * packet counters count what goes on the wire.
   */
  private segs = 1;
  private natSegs64 = 0;
  private natSegs46 = 0;
  private logBudget = LOG_BUDGET;
  /** The longest stretch away from the TUN queue, in ms (stretchEnds). */
  private longestPause = 0;
  private logSince = 0;

  constructor(input: WorkerInput, io: LoopIo) {
    this.io = io;
    this.stats = new Float64Array(input.stats);
    this.control = new Int32Array(input.control);
    this.blocking = input.loop === "blocking";
    this.snapshotLimit = input.snapshotLimit;
    if (input.mode === "stateful") {
      const nat = new Nat64Translator({ ...input.nat64!, hopLimitMode: "tun" });
      if (input.logEvents) nat.state.onEvent = (e) => this.logEvent(e);
      if (input.handover)
        io.post({ type: "restored", ...restoreSessions(nat.state, input.handover, io.now()) });
      this.nat = nat;
      this.siit = null;
      this.tr = nat.siit;
    } else {
      this.nat = null;
      this.siit = new SiitTranslator(input.siit!);
      this.tr = this.siit;
    }
    const tr = this.tr;
    this.xctx = tr.ctx;
    this.rbuf = tr.inputBuffer;
    this.offload = input.offload;
    const H = input.offload ? VNET_HDR_LEN : 0;
    this.H = H;
    this.rx = tr.inputWithHeadroom.subarray(SiitTranslator.HEADROOM - H);
    this.txMain = tr.outputWithHeadroom.subarray(SiitTranslator.HEADROOM - H);
    this.wbuf = new Uint8Array(H + 65536 + 64);
    this.rxAddr = io.addressOf(this.rx);
    this.trAddr = io.addressOf(tr.buf);
    this.txMainAddr = io.addressOf(this.txMain);
    this.wbufAddr = io.addressOf(this.wbuf);
    const shard = input.shard;
    const me = shard?.index ?? 0;
    this.me = me;
    this.worker = input.worker;
    this.workers = shard?.count ?? 1;
    this.inRings = shard ? shard.rings.map((row, j) => (j === me ? null : new Ring(row[me]!))) : [];
    this.outRings = shard ? shard.rings[me]!.map((sab, j) => (j === me ? null : new Ring(sab!))) : [];
    this.sleeping = shard ? new Int32Array(shard.sleeping) : null;
    this.wake = input.wake;
  }

  /** Runs until the stop flag (control[0]) is raised; the counters are published on the way out. */
  run(): void {
    const io = this.io;
    const blocking = this.blocking;
    const multi = this.workers > 1;
    io.post({ type: "ready" });
    let lastTick = io.now();
    let lastSnap = 0;
    // The clock is read every 32 packets, after every empty read and after sleeping (timers count
    // in seconds); the blocking loop reads it every time (a read may have waited).
    let now = io.now();
    let reads = 0;
    // The poll loop's stretches away from the queue end at the same points (loopLongestPause).
    let mark = performance.now();
    for (;;) {
      if (multi) this.drainRings(now);
      const n = io.readAt(this.rxAddr, this.rx.length);
      if (blocking || n <= 0 || (++reads & 31) === 0) {
        now = io.now();
        if (!blocking) mark = this.stretchEnds(mark);
      }
      if (n > 0) this.handle(n, now, 0);
      else if (n < 0) {
        if (n === READ_AGAIN) {
          if (!blocking) {
            this.sleep();
            now = io.now();
            mark = performance.now();
          }
        } else if (n !== READ_INTERRUPTED) {
          this.stats[S.readErrors]!++;
          this.sleep();
          now = io.now();
          mark = performance.now();
        }
      }
      if (now - lastTick >= 250 || n <= 0) {
        if (Atomics.load(this.control, 0) !== 0) break;
        if (now - lastTick >= 250) {
          lastTick = now;
          if (this.nat) for (const o of this.nat.tick(now)) this.reply(o.pkt, 0, o.pkt.length);
          this.publishStats();
          if (now - lastSnap >= 1000) {
            lastSnap = now;
            const st = this.nat?.state;
            io.post({
              type: "snapshot",
              records: st ? sessionRecords(st, this.snapshotLimit, now) : new Uint32Array(0),
              total: st ? st.totalSessions() : 0,
              probe: this.probe(),
            });
          }
        }
      }
    }
    this.publishStats();
    if (this.nat) io.post({ type: "handover", records: exportSessions(this.nat.state, io.now()) });
    io.post({ type: "stopped" });
  }

  /**
   * The probe hook: once a second, between packets, the translator's self-test (siit/probe.ts) on
   * this worker's own translator, sent with the heartbeat. Microseconds, nothing allocated.
   */
  private probe(): string | null {
    const broken = (Atomics.load(this.control, 1) >>> this.worker) & 1;
    return this.tr.probe(broken === 1);
  }

  /**
   * Ends a stretch of work that began at `since` (performance.now()): 32 packets, or fewer and a
   * timer tick, between two looks at the clock; keeps the longest. Returns the new stretch's start.
   */
  private stretchEnds(since: number): number {
    const t = performance.now();
    if (t - since > this.longestPause) this.longestPause = t - since;
    return t;
  }

  /** The translator's counters into the shared array (the per-packet ones are written as they change). */
  private publishStats(): void {
    const stats = this.stats;
    const nat = this.nat;
    if (nat) {
      stats[S.packets6to4] = nat.packets6to4 + this.natSegs64;
      stats[S.packets4to6] = nat.packets4to6 + this.natSegs46;
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
      stats.set(nat.drops, NAT64_DROP_BASE);
    } else stats[S.icmpErrorsSent] = this.tr.icmpErrorsSent;
    // One bucket per translator: a NAT64's SIIT core takes from the NAT64's.
    stats[S.icmpErrorsSuppressed] = (nat ? nat.icmpRate : this.tr.icmpRate).suppressed;
    stats.set(this.tr.dropCounters, SIIT_DROP_BASE);
    const mem = process.memoryUsage();
    stats[S.workerHeapBytes] = mem.heapUsed;
    stats[S.workerHeapCommittedBytes] = mem.heapTotal;
    stats[S.loopLongestPause] = this.longestPause / 1000;
  }

  /** A NAT64 state event as a log message (debug level), LOG_BUDGET a second at most. */
  private logEvent(e: Parameters<NonNullable<Nat64Translator["state"]["onEvent"]>>[0]): void {
    const now = this.io.now();
    if (now - this.logSince >= 1000) {
      this.logSince = now;
      this.logBudget = LOG_BUDGET;
    }
    if (this.logBudget-- <= 0) return;
    if ("bib" in e) {
      const b = e.bib;
      this.io.post({
        type: "log",
        msg: e.type,
        proto: b.proto,
        ipv6: `[${format6(bibV6(b))}]:${b.port6}`,
        ipv4: `${format4(b.v4)}:${b.port4}`,
      });
    } else {
      const s = e.session;
      this.io.post({
        type: "log",
        msg: e.type,
        proto: s.bib.proto,
        ipv6: `[${format6(bibV6(s.bib))}]:${s.bib.port6}`,
        ipv4: `${format4(s.bib.v4)}:${s.bib.port4}`,
        remote: `${format4(s.remote4)}:${s.rport}`,
        state: e.state,
      });
    }
  }

  /**
   * Writes one output. With offload, a virtio_net_hdr goes in front: a partial
   * checksum (and super-packet) stays one when the translator kept it so.
   */
  private writeOut(buf: Uint8Array, off: number, len: number, partial: boolean): void {
    const H = this.H;
    let view = this.txMain;
    let addr: number;
    if (buf === this.tr.buf && (!this.offload || this.tr.hasHeadroom(off))) {
      addr = this.offload ? this.txMainAddr : this.trAddr + off;
    } else {
      // An output elsewhere (a NAT64 ICMP error, a timer's packet; with offload, a fragment too).
      this.wbuf.set(buf.subarray(off, off + len), H);
      view = this.wbuf;
      addr = this.wbufAddr;
    }
    if (this.offload) {
      if (partial) {
        const xctx = this.xctx;
        const cs = xctx.csumStart;
        const gso = xctx.gsoSize;
        const v4 = view[H]! >>> 4 === 4;
        // The fast path's outputs have no options or extension headers: the protocol is the header's.
        const udp = view[H + (v4 ? 9 : 6)] === 17;
        const hdrLen = gso === 0 ? 0 : cs + (udp ? 8 : (view[H + cs + 12]! >>> 4) << 2);
        const type = gso === 0 ? VNET_GSO_NONE : udp ? VNET_GSO_UDP_L4 : v4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
        writeVnetHdr(view, 0, VNET_F_NEEDS_CSUM, type, hdrLen, gso, cs, xctx.csumOffset);
      } else writeVnetHdr(view, 0, 0, VNET_GSO_NONE, 0, 0, 0, 0);
    }
    if (this.io.writeAt(addr, len + H) < 0) this.stats[S.writeErrors]!++;
  }

  /**
   * Writes an ICMP error back towards its destination: one the host must source (unspecified
   * source, see SiitConfig.hostErrorSource) through the host's stack, any other into the device.
   */
  private reply(buf: Uint8Array, off: number, len: number): void {
    if (!hostPicksSource(buf, off)) {
      this.writeOut(buf, off, len, false);
      return;
    }
    const r = this.io.originate(buf, off, len);
    if (r === ORIGINATE_NO_ROUTE) this.stats[S.icmpErrorsNoRoute]!++;
    else if (r !== ORIGINATE_SENT) this.stats[S.icmpErrorsSendFailed]!++;
  }

  /** Whether the packet just read is the blocking loop's wake datagram (WorkerInput.wake). */
  private isWake(n: number): boolean {
    const rbuf = this.rbuf;
    const wake = this.wake;
    if (n < 40 || rbuf[0]! >>> 4 !== 6) return false;
    for (let i = 0; i < 16; i++) if (rbuf[24 + i] !== wake[i]) return false;
    return true;
  }

  /**
   * A packet read into rx (virtio_net_hdr, if any, then the packet: n bytes),
   * or taken from a handoff ring (`hops` > 0: how many workers passed it on).
   */
  private handle(n: number, now: number, hops: number): void {
    const len = n - this.H;
    if (len <= 0) return;
    if (this.blocking && this.isWake(len)) return;
    if (hops === 0) this.stats[S.packetsRead]!++;
    const workers = this.workers;
    if (workers > 1) {
      const me = this.me;
      let owner = packetOwner(this.rbuf, 0, len, workers);
      // A non-first fragment: whoever saw the first one; ask the workers in turn.
      if (owner === OWNER_FRAGMENT)
        owner = hops >= workers - 1 || this.nat!.knowsFragment(this.rbuf, len) ? me : (me + 1) % workers;
      if (owner !== me) {
        this.handOff(owner, n, hops + 1);
        return;
      }
    }
    if (this.offload && !this.takeOffload(len, now)) return;
    this.translateOne(this.rbuf, len, now);
  }

  /**
   * Reads the virtio_net_hdr of the packet just read into the translator's
   * offload fields. False when the packet was handled here instead: a
   * super-packet the fast path cannot keep whole is cut into segments, each
   * translated as an ordinary packet (or dropped and counted if it cannot be).
   */
  private takeOffload(len: number, now: number): boolean {
    const rx = this.rx;
    const rbuf = this.rbuf;
    const xctx = this.xctx;
    const flags = rx[0]!;
    const type = rx[1]! & ~VNET_GSO_ECN;
    xctx.csumPartial = (flags & VNET_F_NEEDS_CSUM) !== 0;
    xctx.csumStart = hdr16(rx, 6);
    xctx.csumOffset = hdr16(rx, 8);
    xctx.gsoSize = 0;
    this.segs = 1;
    if (type === VNET_GSO_NONE) return true;
    this.stats[S.gsoPackets]!++;
    const gso = hdr16(rx, 4);
    const tcp = type === VNET_GSO_TCPV4 || type === VNET_GSO_TCPV6;
    const proto = tcp ? 6 : type === VNET_GSO_UDP_L4 ? 17 : 0;
    if (proto === 17 && gso > 0 && xctx.csumPartial) {
      // UDP (USO): no tail to split; a super-packet whose segments differ in DF is cut in software.
      if (gsoKeepsWhole(this.tr.cfg, rbuf, 0, len, gso, 17)) {
        this.stats[S.gsoKeptWhole]!++;
        xctx.gsoSize = gso;
        this.segs = gsoSegments(rbuf, 0, len, xctx.csumStart, 17, gso);
        return true;
      }
    }
    if (tcp && gso > 0 && xctx.csumPartial) {
      // A short last segment whose DF would differ from the others' (6→4): sent on its own, after.
      const l4 = xctx.csumStart;
      const tail = type === VNET_GSO_TCPV6 && l4 === 40 ? shortTail(rbuf, 0, len, l4, gso) : 0;
      const tailLen = tail > 0 ? splitTail(rbuf, 0, len, l4, tail, this.tailBuf) : -1;
      const headLen = tailLen > 0 ? len - tail : len;
      if (gsoKeepsWhole(this.tr.cfg, rbuf, 0, headLen, gso, 6)) {
        this.stats[S.gsoKeptWhole]!++;
        xctx.gsoSize = gso;
        this.segs = gsoSegments(rbuf, 0, headLen, l4, 6, gso);
        if (tailLen < 0) return true;
        this.stats[S.gsoTailsSplit]!++;
        this.translateOne(rbuf, headLen, now);
        this.segs = 1;
        this.sendTail(l4, tailLen, now);
        return false;
      }
      if (tailLen > 0) {
        // Not kept whole after all: cut the head in software, then the tail as it is.
        this.softwareSegments(headLen, 6, gso, now);
        this.sendTail(l4, tailLen, now);
        return false;
      }
    }
    return this.softwareSegments(len, proto, gso, now);
  }

  /** Translates the short last segment split off into tailBuf (an IPv6 TCP packet with a partial checksum). */
  private sendTail(l4: number, tailLen: number, now: number): void {
    const xctx = this.xctx;
    xctx.gsoSize = 0;
    xctx.csumPartial = true;
    xctx.csumStart = l4;
    xctx.csumOffset = 16;
    this.translateOne(this.tailBuf.subarray(0, tailLen), tailLen, now);
  }

  /**
   * Cuts the super-packet in rbuf (`proto` 6 TCP, 17 UDP, 0 a type we do not take) into segments,
   * each translated as an ordinary packet (false: handled here).
   */
  private softwareSegments(len: number, proto: number, gso: number, now: number): boolean {
    const rbuf = this.rbuf;
    const l4 = gso > 0 && proto !== 0 ? l4Offset(rbuf, 0, len, proto) : -1;
    const cut = proto === 6 ? segmentTcp : segmentUdp;
    const k = l4 < 0 ? -1 : cut(rbuf, 0, len, l4, gso, this.segBuf, this.segOffs, this.segLens);
    if (k < 0) {
      this.stats[S.offloadDrops]!++;
      return false;
    }
    this.stats[S.gsoSoftwareSegmented]!++;
    const xctx = this.xctx;
    for (let i = 0; i < k; i++) {
      const o = this.segOffs[i]!;
      const n = this.segLens[i]!;
      xctx.csumPartial = false;
      xctx.gsoSize = 0;
      this.translateOne(this.segBuf.subarray(o, o + n), n, now);
    }
    return false;
  }

  /** Passes the packet in rx to the worker that owns it, waking it if it sleeps. */
  private handOff(owner: number, n: number, hops: number): void {
    const meta = this.meta;
    meta.fill(0);
    copyBytes(this.rx, 0, meta, 0, this.H);
    meta[META_BYTES - 1] = hops;
    if (!this.outRings[owner]!.push(this.rbuf, 0, n - this.H, meta)) {
      this.stats[S.handoffDrops]!++;
      return;
    }
    this.stats[S.handoffs]!++;
    if (Atomics.load(this.sleeping!, owner) === 1) this.io.wake(owner);
  }

  /** Handles the packets other workers passed on (a bounded batch per ring). */
  private drainRings(now: number): void {
    const meta = this.meta;
    for (let j = 0; j < this.workers; j++) {
      const r = this.inRings[j];
      if (!r) continue;
      for (let k = 0; k < 64; k++) {
        const len = r.pop(this.rbuf, 0, meta);
        if (len < 0) break;
        copyBytes(meta, 0, this.rx, 0, this.H);
        this.handle(len + this.H, now, Math.max(1, meta[META_BYTES - 1]!));
      }
    }
  }

  private ringsPending(): boolean {
    for (const r of this.inRings) if (r?.pending) return true;
    return false;
  }

  /** Sleeps in poll() until the TUN queue (or, multi-queue stateful, the eventfd) is readable, 200 ms at most. */
  private sleep(): void {
    const sleeping = this.sleeping;
    if (sleeping) {
      Atomics.store(sleeping, this.me, 1);
      // Look again after raising the flag: a producer either sees the flag or we see its record.
      if (this.ringsPending()) {
        Atomics.store(sleeping, this.me, 0);
        return;
      }
    }
    this.io.poll(200);
    if (sleeping) Atomics.store(sleeping, this.me, 0);
  }

  /** Translates one packet (in the input area, or a software segment) and writes the outputs. */
  private translateOne(pkt: Uint8Array, n: number, now: number): void {
    const nat = this.nat;
    const xctx = this.xctx;
    if (nat) {
      const v = nat.translate(pkt, n, now);
      if (v === Verdict.Translated && xctx.gsoSize > 0) {
        if (pkt[0]! >>> 4 === 6) this.natSegs64 += this.segs - 1;
        else this.natSegs46 += this.segs - 1;
      }
      if (v === Verdict.Drop) return;
      if (v === Verdict.IcmpReply) {
        this.reply(nat.outBuf, nat.outOffset[0]!, nat.outLength[0]!);
        return;
      }
      const partial = xctx.csumPartial;
      for (let i = 0; i < nat.outCount; i++)
        this.writeOut(nat.outBuf, nat.outOffset[i]!, nat.outLength[i]!, partial);
      return;
    }
    const s = this.siit!;
    // Between two kernel forwards: net one decrement (see Nat64Config.hopLimitMode).
    const v6 = pkt[0]! >>> 4 === 6;
    if (v6) bumpHopLimit6(pkt, 0);
    else if (n >= 20) bumpTtl4(pkt, 0);
    const v = s.translate(pkt, n);
    if (v === Verdict.Drop) return;
    if (v === Verdict.IcmpReply) {
      this.reply(s.buf, s.outOffset[0]!, s.outLength[0]!);
      return;
    }
    const k = xctx.gsoSize > 0 ? this.segs : 1;
    if (v6) {
      this.p64 += k;
      this.b64 += n;
    } else {
      this.p46 += k;
      this.b46 += n;
    }
    const partial = xctx.csumPartial;
    for (let i = 0; i < s.outCount; i++) {
      const o = s.outOffset[i]!;
      if (s.outSide === 6) bumpHopLimit6(s.buf, o);
      else bumpTtl4(s.buf, o);
      this.writeOut(s.buf, o, s.outLength[i]!, partial);
    }
    const stats = this.stats;
    stats[S.packets6to4] = this.p64;
    stats[S.packets4to6] = this.p46;
    stats[S.bytes6to4] = this.b64;
    stats[S.bytes4to6] = this.b46;
  }
}
