// Many UDP queries per system call. A query wakes the event loop through dgram as usual; the
// handler answers it, then drains whatever else is queued on that socket with recvmmsg(2) and sends
// the answers found in the cache with one sendmmsg(2) (src/util/sys/mmsg.ts). Answers that need
// upstream work are sent when ready, gathered into one sendmmsg per event-loop turn. Under load
// (many clients, or one with many queries outstanding) a wake-up serves a whole batch; when idle
// each query costs one extra recvmmsg that finds nothing. Nothing blocks: the event loop keeps
// serving TCP, upstream answers and timers between batches.
//
// Every datagram goes through the same steps as a single one (server.ts onUdp): the rate limit
// (dropped and counted), then QueryHandler (ACL → REFUSED, FORMERR, the cache, the resolver).
import type { RemoteInfo, Socket } from "node:dgram";
import { performance } from "node:perf_hooks";
import { parseAddress } from "../../util/net.ts";
import { DatagramBatch, sockaddrPort, sockaddrText } from "../../util/sys/mmsg.ts";
import type { RateLimiter } from "./access.ts";
import type { QueryHandler } from "./handler.ts";

/** One UDP socket served in batches. */
export interface BatchListener {
  socket: Socket;
  fd: number;
}

interface Pending {
  l: BatchListener;
  bytes: Uint8Array;
  /** the client's sockaddr (a copy) */
  name: Uint8Array;
}

/** Client address text by sockaddr (the ACL and the rate limit key on the text), memoized. */
export class ClientNames {
  private readonly v4 = new Map<number, string>();
  private readonly v6 = new Map<string, string>();

  /** The address text of a sockaddr_in/_in6; undefined for any other sender. */
  of(name: Uint8Array): string | undefined {
    if (name.length >= 8 && name[0] === 2 && name[1] === 0) {
      const k = ((name[4]! << 24) | (name[5]! << 16) | (name[6]! << 8) | name[7]!) >>> 0;
      let t = this.v4.get(k);
      if (t === undefined) {
        t = sockaddrText(name)!;
        if (this.v4.size >= MEMO_MAX) this.v4.clear();
        this.v4.set(k, t);
      }
      return t;
    }
    if (name.length < 24) return undefined;
    const k = String.fromCharCode(...name.subarray(8, 24));
    let t = this.v6.get(k);
    if (t === undefined) {
      t = sockaddrText(name);
      if (t === undefined) return undefined;
      if (this.v6.size >= MEMO_MAX) this.v6.clear();
      this.v6.set(k, t);
    }
    return t;
  }
}

/** Receive rounds per wake-up at most, so that one busy socket cannot starve the event loop. */
const MAX_ROUNDS = 8;
const MEMO_MAX = 10_000;

/** Batched receiving and sending for the UDP sockets of one thread (drains are synchronous). */
export class UdpBatch {
  private readonly rx: DatagramBatch;
  private readonly tx: DatagramBatch;
  private readonly clients = new ClientNames();
  /** sockaddr (port to fill in) by address text, for the datagram dgram delivered */
  private readonly addrs = new Map<string, Uint8Array>();
  /** the event loop's idle time (ms) when the previous datagram was delivered (see onMessage) */
  private lastIdle = -1;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly handler: QueryHandler,
    private readonly limiter: RateLimiter,
    slots: number,
  ) {
    this.rx = new DatagramBatch(slots, 4096);
    this.tx = new DatagramBatch(slots, 4096);
  }

  listener(socket: Socket, fd: number): BatchListener {
    return { socket, fd };
  }

  /**
   * A datagram dgram received: serve it as server.ts does, then drain the socket, unless this
   * datagram woke an idle event loop. libuv counts idle time only while its poll blocks, so a
   * change since the previous datagram means the loop slept until this one came: at a light load
   * nothing else is queued (at 5,000 QPS 80-95% of the drains found nothing) and the drain is a
   * wasted system call. If something is queued all the same, libuv's read loop delivers the next
   * datagram at once, the idle time has not moved, and that one drains the socket.
   */
  onMessage(l: BatchListener, msg: Buffer, rinfo: RemoteInfo): void {
    const idle = performance.nodeTiming.idleTime;
    const woke = idle !== this.lastIdle;
    this.lastIdle = idle;
    this.serve(l, msg, rinfo, !woke);
  }

  private serve(l: BatchListener, msg: Buffer, rinfo: RemoteInfo, drain: boolean): void {
    const stats = this.handler.stats;
    stats.udpQueries++;
    if (!this.limiter.take(rinfo.address, Date.now())) {
      stats.rateLimited++;
    } else {
      const r = this.handler.handleSync(msg, rinfo.address, false);
      if (r instanceof Uint8Array) {
        // its answer goes out with the drained ones, in the same sendmmsg
        const sa = this.sockaddrOf(rinfo);
        if (sa && this.tx.set(0, r, sa)) {
          this.safeDrain(l, 1, drain);
          return;
        }
        l.socket.send(r, rinfo.port, rinfo.address);
      } else if (r !== undefined)
        r.then(
          (bytes) => {
            if (bytes && !this.closed) l.socket.send(bytes, rinfo.port, rinfo.address);
          },
          () => {
            stats.errors++;
          },
        );
    }
    if (drain) this.safeDrain(l, 0, true);
  }

  /**
   * Sends the `first` answers already in tx slots and, when `receive`, drains the socket first. A
   * fault here is counted, never thrown into dgram's event (it would end the process).
   */
  private safeDrain(l: BatchListener, first: number, receive: boolean): void {
    try {
      if (receive) this.drain(l, first);
      else this.tx.send(l.fd, first);
    } catch {
      this.handler.stats.errors++;
    }
  }

  /** `first`: answers already in tx slots 0..first-1, sent with the first batch. */
  private drain(l: BatchListener, first: number): void {
    const { rx, tx } = this;
    const stats = this.handler.stats;
    let out = first;
    for (let round = 0; round < MAX_ROUNDS && !this.closed; round++) {
      let n: number;
      try {
        n = rx.receive(l.fd);
      } catch {
        stats.errors++;
        n = 0;
      }
      if (n === 0) break;
      stats.udpBatched += n;
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        stats.udpQueries++;
        const name = rx.name(i);
        const client = this.clients.of(name);
        if (client === undefined || rx.truncated(i)) {
          // not an IP sender, or a datagram longer than any query we answer (4096 bytes)
          stats.dropped++;
          continue;
        }
        if (!this.limiter.take(client, now)) {
          stats.rateLimited++;
          continue;
        }
        const r = this.handler.handleSync(rx.data(i), client, false, true);
        if (r === undefined) continue;
        if (r instanceof Uint8Array) {
          if (out === tx.slots) {
            tx.send(l.fd, out);
            out = 0;
          }
          if (!tx.set(out, r, name)) l.socket.send(r, sockaddrPort(name), client);
          else out++;
          continue;
        }
        const dest = name.slice();
        r.then(
          (bytes) => {
            if (bytes) this.later(l, bytes, dest);
          },
          () => {
            stats.errors++;
          },
        );
      }
      if (out > 0) tx.send(l.fd, out);
      out = 0;
      if (n < rx.slots) break;
    }
    if (out > 0 && !this.closed) tx.send(l.fd, out);
  }

  /** The sockaddr for a dgram sender (memoized per address; undefined for scoped addresses). */
  private sockaddrOf(rinfo: RemoteInfo): Uint8Array | undefined {
    let sa = this.addrs.get(rinfo.address);
    if (sa === undefined) {
      if (rinfo.address.includes("%")) return undefined;
      const family = rinfo.family === "IPv6" ? 6 : 4;
      const a = parseAddress(rinfo.address, family);
      if (!a.ok) return undefined;
      sa = new Uint8Array(family === 4 ? 16 : 28);
      sa[0] = family === 4 ? 2 : 10;
      const at = family === 4 ? 4 : 8;
      let v = a.value.value;
      for (let i = (family === 4 ? 4 : 16) - 1; i >= 0; i--) {
        sa[at + i] = Number(v & 0xffn);
        v >>= 8n;
      }
      if (this.addrs.size >= MEMO_MAX) this.addrs.clear();
      this.addrs.set(rinfo.address, sa);
    }
    sa[2] = rinfo.port >>> 8;
    sa[3] = rinfo.port & 0xff;
    return sa;
  }

  /** Queues an answer that needed upstream work; all of this turn's go out in one sendmmsg. */
  private later(l: BatchListener, bytes: Uint8Array, name: Uint8Array): void {
    if (this.closed) return;
    this.pending.push({ l, bytes, name });
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      try {
        this.flush();
      } catch {
        this.handler.stats.errors++;
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const list = this.pending;
    this.pending = [];
    if (this.closed) return;
    const tx = this.tx;
    let i = 0;
    while (i < list.length) {
      const l = list[i]!.l;
      let out = 0;
      // one sendmmsg per socket and per batch of slots
      while (i < list.length && list[i]!.l === l && out < tx.slots) {
        const p = list[i++]!;
        if (tx.set(out, p.bytes, p.name)) out++;
        else l.socket.send(p.bytes, sockaddrPort(p.name), sockaddrText(p.name) ?? "");
      }
      if (out > 0) tx.send(l.fd, out);
    }
  }

  /** After the sockets are closed: frees the native buffers. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.rx.free();
    this.tx.free();
  }
}
