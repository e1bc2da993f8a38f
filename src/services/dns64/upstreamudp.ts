// The UDP exchange with the upstream resolvers: one socket per address family, each query waiting
// for its answer under a random ID (RFC 5452 §9.2), answers accepted only from the address queried,
// with the ID and the question sent (RFC 5452 §4.3, §9.1). A spoofed or broken answer is counted
// and the wait goes on; the timer ends it.
//
// Batched (`batch` > 0, the default): the sockets are made through libc so that their descriptors
// are known. Queries are queued and go out together in one sendmmsg(2) when the current callback
// and its promise continuations are done (process.nextTick), so the upstream queries of a whole
// batch of client queries (udpbatch.ts), or the A queries that follow a batch of AAAA answers
// (RFC 6147 §5.1), cost one system call. An answer wakes the event loop through dgram as usual;
// the socket is then drained with recvmmsg(2) (src/util/sys/mmsg.ts). `batch` 0: one dgram send and
// one 'message' event per datagram.
import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { DatagramBatch } from "../../util/sys/mmsg.ts";
import { udpFd } from "./reuseport.ts";
import {
  buildUpstreamQuery,
  endpointSockaddr,
  matchesQuestion,
  type UpstreamAnswer,
  type UpstreamEndpoint,
  type UpstreamQuestion,
} from "./upstreamwire.ts";
import { HEADER_LEN, parseMessage, readU16 } from "./wire.ts";

/** Same family, port and address (sockaddr_in: bytes 0-7; sockaddr_in6: 0-3 and 8-23). */
function sameSockaddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length < 8 || b.length < 8) return false;
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return false;
  const v4 = a[0] === 2 && a[1] === 0;
  const from = v4 ? 4 : 8;
  const to = v4 ? 8 : 24;
  if (a.length < to || b.length < to) return false;
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface UdpExchangeStats {
  udpSent: number;
  timeouts: number;
  badAnswers: number;
  /** answers received by recvmmsg while draining a socket (part of the answers) */
  udpBatched: number;
}

interface Target {
  u: UpstreamEndpoint;
  sockaddr: Uint8Array;
}

interface Pending {
  id: number;
  q: UpstreamQuestion;
  target: Target;
  resolve: (a: UpstreamAnswer | undefined) => void;
  timer: NodeJS.Timeout;
}

interface Side {
  socket: Socket;
  /** the descriptor (batched sockets only) */
  fd: number;
  /** queries waiting for the next sendmmsg */
  queue: { bytes: Uint8Array; target: Target }[];
}

/** Receive rounds per wake-up at most, so that one busy socket cannot starve the event loop. */
const MAX_ROUNDS = 8;

export class UdpExchange {
  private readonly sides = new Map<4 | 6, Side>();
  private readonly pending = new Map<number, Pending>();
  private readonly targets = new Map<UpstreamEndpoint, Target>();
  private readonly rx: DatagramBatch | undefined;
  private readonly tx: DatagramBatch | undefined;
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly timeoutMs: number,
    readonly stats: UdpExchangeStats,
    batch: number,
  ) {
    if (batch > 0) {
      // RFC 6891: an upstream keeps a UDP answer within our EDNS payload size (1232); a drained
      // answer longer than 4096 bytes is counted as a bad answer and the query times out
      this.rx = new DatagramBatch(batch, 4096);
      // a query is at most 12 + 255 + 4 + 11 bytes
      this.tx = new DatagramBatch(batch, 512);
    }
  }

  private target(u: UpstreamEndpoint): Target {
    let t = this.targets.get(u);
    if (!t) {
      t = { u, sockaddr: endpointSockaddr(u) };
      this.targets.set(u, t);
    }
    return t;
  }

  private side(family: 4 | 6): Side {
    const known = this.sides.get(family);
    if (known) return known;
    const type = family === 4 ? "udp4" : "udp6";
    let fd = -1;
    let socket: Socket;
    if (this.rx) {
      fd = udpFd(family, family === 4 ? "0.0.0.0" : "::", 0, false);
      socket = createSocket(type);
      socket.bind({ fd, exclusive: true });
    } else {
      socket = createSocket(type);
      // exclusive: in a Node cluster a port-0 bind is otherwise shared by every worker, and
      // answers would reach the worker that did not ask
      socket.bind({ port: 0, exclusive: true });
    }
    const s: Side = { socket, fd, queue: [] };
    socket.on("message", (buf, rinfo) => {
      try {
        this.onDatagram(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), undefined, rinfo);
        if (s.fd >= 0) this.drain(s);
      } catch {
        // never thrown into dgram's event (it would end the process)
        this.stats.badAnswers++;
      }
    });
    socket.on("error", () => {
      // a send error on one query is handled by its timeout; the socket stays usable
    });
    socket.unref();
    this.sides.set(family, s);
    return s;
  }

  /**
   * One datagram from an upstream: `sa` is its source sockaddr (drained) or `rinfo` its source
   * (dgram). `data` may be a view into a receive buffer: it is copied before it is kept.
   */
  private onDatagram(
    data: Uint8Array,
    sa: Uint8Array | undefined,
    rinfo: { address: string; port: number } | undefined,
  ): void {
    if (data.length < HEADER_LEN) {
      this.stats.badAnswers++;
      return;
    }
    const id = readU16(data, 0);
    const p = this.pending.get(id);
    const fromTarget =
      p !== undefined &&
      (sa !== undefined
        ? sameSockaddr(sa, p.target.sockaddr)
        : rinfo !== undefined && rinfo.address === p.target.u.host && rinfo.port === p.target.u.port);
    if (!p || !fromTarget) {
      this.stats.badAnswers++;
      return;
    }
    const wire = data.slice();
    const msg = parseMessage(wire);
    if (!msg || !matchesQuestion(msg, id, p.q)) {
      this.stats.badAnswers++;
      return; // keep waiting: a spoofed or broken answer must not end the wait
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve({ wire, msg });
  }

  /** After a wake-up: the answers already queued on the socket, with recvmmsg. */
  private drain(s: Side): void {
    const rx = this.rx!;
    try {
      for (let round = 0; round < MAX_ROUNDS && !this.closed; round++) {
        const n = rx.receive(s.fd);
        if (n === 0) return;
        this.stats.udpBatched += n;
        for (let i = 0; i < n; i++) {
          if (rx.truncated(i)) {
            this.stats.badAnswers++;
            continue;
          }
          this.onDatagram(rx.data(i), rx.name(i), undefined);
        }
        if (n < rx.slots) return;
      }
    } catch {
      // a failed recvmmsg: the datagrams stay queued and wake the loop again
    }
  }

  private freshId(): number {
    for (let i = 0; i < 100; i++) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
    return -1;
  }

  /** Sends `q` to `u`; the answer, or undefined after the timeout. */
  ask(u: UpstreamEndpoint, q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(undefined);
      const id = this.freshId();
      if (id < 0) return resolve(undefined);
      const target = this.target(u);
      const s = this.side(u.family);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stats.timeouts++;
        resolve(undefined);
      }, this.timeoutMs);
      this.pending.set(id, { id, q, target, resolve, timer });
      this.stats.udpSent++;
      const bytes = buildUpstreamQuery(id, q);
      if (s.fd < 0) {
        s.socket.send(bytes, u.port, u.host);
        return;
      }
      s.queue.push({ bytes, target });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(() => {
          try {
            this.flush();
          } catch {
            // queries not sent end in their timeouts
          }
        });
      }
    });
  }

  /** The queued queries, one sendmmsg per socket and per batch of slots. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const tx = this.tx!;
    for (const s of this.sides.values()) {
      const queue = s.queue;
      if (queue.length === 0) continue;
      s.queue = [];
      let out = 0;
      for (const e of queue) {
        if (tx.set(out, e.bytes, e.target.sockaddr)) out++;
        else s.socket.send(e.bytes, e.target.u.port, e.target.u.host); // longer than a slot
        if (out === tx.slots) {
          this.send(s, out);
          out = 0;
        }
      }
      if (out > 0) this.send(s, out);
    }
  }

  private send(s: Side, count: number): void {
    try {
      this.tx!.send(s.fd, count);
    } catch {
      // a query not sent ends in its timeout, then failover
    }
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
    for (const s of this.sides.values()) s.socket.close();
    this.sides.clear();
    this.rx?.free();
    this.tx?.free();
  }
}
