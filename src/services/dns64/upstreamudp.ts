// The UDP exchange with the upstream resolvers, built to resist off-path forgery (RFC 5452):
// - each query leaves from a socket on an unpredictable source port that takes queries for 2 ms
//   only, then never again: many ports at once, none reused (ports.ts, §9.2);
// - its ID is drawn from a CSPRNG (random.ts), unique among the queries waiting on that port;
// - its name carries random letter case where the upstream echoes it (0x20, dns0x20.ts);
// - an answer is taken only when it arrives on the port the query left from, from the upstream's
//   address and port, with the ID and the question sent, case included (§9.1, upstreamwire.ts).
// Anything else is counted by reason and the wait goes on; the timer ends it. Nothing rejected is
// ever cached, since it never reaches the resolver.
//
// Batched (`batch` > 0, the default): queries are queued and go out together in one sendmmsg(2)
// when the current callback and its promise continuations are done (process.nextTick), so the
// upstream queries of a whole batch of client queries (udpbatch.ts), or the A queries that follow a
// batch of AAAA answers (RFC 6147 §5.1), share one port and cost one system call. An answer wakes
// the event loop through dgram as usual; that port's socket is then drained with recvmmsg(2)
// (src/util/sys/mmsg.ts). `batch` 0: one dgram send and one 'message' event per datagram.
import { DatagramBatch } from "../../util/sys/mmsg.ts";
import { CaseEcho, hasLetter, perturbCase } from "./dns0x20.ts";
import { PortPool, type PortStats, type UdpPort } from "./ports.ts";
import { Entropy } from "./random.ts";
import {
  answerCheck,
  buildUpstreamQuery,
  endpointSockaddr,
  newRejections,
  type Rejection,
  type Rejections,
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
  /** answers received by recvmmsg while draining a socket (part of the answers) */
  udpBatched: number;
  /** answers not taken, by reason (upstreamwire.ts) */
  rejected: Rejections;
}

/**
 * What ask() returns when the upstream answered with our question in another letter case: it does
 * not echo 0x20 (or a forger matched port and ID but not the case). The caller asks over TCP,
 * which an off-path forger cannot answer; this upstream gets plain UDP queries for a while.
 */
export const CASE_NOT_ECHOED = Symbol("case not echoed");

export type UdpResult = UpstreamAnswer | typeof CASE_NOT_ECHOED | undefined;

export interface UdpExchangeOptions {
  /** per-try wait for an answer */
  timeoutMs: number;
  /** queries per sendmmsg and answers per recvmmsg; 0 = one dgram send and one event per datagram */
  batch: number;
  /** queries per source port at most (ports.ts); 1 = a fresh port for every query */
  queriesPerPort: number;
  /**
   * how long a source port takes new queries (ports.ts); 0 = the queries of one event-loop turn
   * (one sendmmsg) only
   */
  portWindowMs: number;
  /** 0x20 case randomisation towards upstreams that echo it */
  caseRandomization: boolean;
}

export const DEFAULT_UDP_EXCHANGE: UdpExchangeOptions = {
  timeoutMs: 1000,
  batch: 64,
  queriesPerPort: 64,
  portWindowMs: 2,
  caseRandomization: true,
};

interface Target {
  u: UpstreamEndpoint;
  sockaddr: Uint8Array;
  /** "host port", the key of its 0x20 state */
  key: string;
}

/** One query waiting for its answer. */
interface Pending {
  q: UpstreamQuestion;
  target: Target;
  resolve: (a: UdpResult) => void;
  timer: NodeJS.Timeout | undefined;
  /** the port it left from; undefined once answered or timed out */
  port: UdpPort<Pending> | undefined;
  id: number;
  /** the query as sent, and where its question ends */
  query: Uint8Array;
  qend: number;
  /** its name was sent with 0x20 case */
  perturbed: boolean;
}

/** Receive rounds per wake-up at most, so that one busy socket cannot starve the event loop. */
const MAX_ROUNDS = 8;

export class UdpExchange {
  private readonly pools = new Map<4 | 6, PortPool<Pending>>();
  /** the port the queries of this event-loop turn go out on */
  private readonly current = new Map<4 | 6, UdpPort<Pending>>();
  /** queries waiting for the next sendmmsg, per port */
  private readonly queued = new Map<UdpPort<Pending>, Pending[]>();
  private readonly targets = new Map<UpstreamEndpoint, Target>();
  private readonly rnd = new Entropy();
  readonly caseEcho: CaseEcho;
  private readonly rx: DatagramBatch | undefined;
  private readonly tx: DatagramBatch | undefined;
  private flushScheduled = false;
  private closed = false;
  readonly stats: UdpExchangeStats = {
    udpSent: 0,
    timeouts: 0,
    udpBatched: 0,
    rejected: newRejections(),
  };

  constructor(private readonly opts: UdpExchangeOptions = DEFAULT_UDP_EXCHANGE) {
    this.caseEcho = new CaseEcho(opts.caseRandomization);
    if (opts.batch > 0) {
      // RFC 6891: an upstream keeps a UDP answer within our EDNS payload size (1232); a drained
      // answer longer than 4096 bytes is counted as malformed and the query times out
      this.rx = new DatagramBatch(opts.batch, 4096);
      // a query is at most 12 + 255 + 4 + 11 bytes
      this.tx = new DatagramBatch(opts.batch, 512);
    }
  }

  private target(u: UpstreamEndpoint): Target {
    let t = this.targets.get(u);
    if (!t) {
      t = { u, sockaddr: endpointSockaddr(u), key: `${u.host} ${u.port}` };
      this.targets.set(u, t);
    }
    return t;
  }

  private pool(family: 4 | 6): PortPool<Pending> {
    let pool = this.pools.get(family);
    if (!pool) {
      pool = new PortPool<Pending>(family, this.rnd, (port) => this.listenOn(port));
      this.pools.set(family, pool);
    }
    return pool;
  }

  private listenOn(port: UdpPort<Pending>): void {
    port.socket.on("message", (buf, rinfo) => {
      try {
        this.take(port, new Uint8Array(buf.buffer, buf.byteOffset, buf.length), undefined, rinfo);
        if (this.rx) this.drain(port);
      } catch {
        // never thrown into dgram's event (it would end the process)
        this.stats.rejected.malformed++;
      }
    });
    port.socket.on("error", () => {
      // a send error on one query is handled by its timeout; the socket stays usable
    });
  }

  /**
   * One datagram that arrived on `port`: `sa` is its source sockaddr (drained) or `rinfo` its source
   * (dgram). `data` may be a view into a receive buffer: it is copied before it is kept. Returns
   * why it was not taken, if it was not.
   */
  private onDatagram(
    port: UdpPort<Pending>,
    data: Uint8Array,
    sa: Uint8Array | undefined,
    rinfo: { address: string; port: number } | undefined,
  ): Rejection | undefined {
    if (data.length < HEADER_LEN || !(data[2]! & 0x80)) return "malformed";
    // the ID among the queries waiting on this very port: the destination port is checked too
    const p = port.pending.get(readU16(data, 0));
    if (!p) return "noQuery";
    const fromTarget =
      sa !== undefined
        ? sameSockaddr(sa, p.target.sockaddr)
        : rinfo !== undefined && rinfo.address === p.target.u.host && rinfo.port === p.target.u.port;
    if (!fromTarget) return "source";
    const why = answerCheck(data, p.query, p.qend);
    if (why === "case" && p.perturbed) {
      // the upstream does not echo 0x20, or a forger matched all but the case: not over UDP again
      this.caseEcho.notEchoed(p.target.key, Date.now());
      this.unregister(p);
      clearTimeout(p.timer);
      p.resolve(CASE_NOT_ECHOED);
      return "case";
    }
    // without 0x20 the letter case carries nothing to check (RFC 4343)
    if (why !== undefined && why !== "case") return why;
    const wire = data.slice();
    // the question as the resolver asked it: names compressed against it read back in that case
    if (p.perturbed) wire.set(p.q.name, HEADER_LEN);
    const msg = parseMessage(wire);
    if (!msg || msg.optCount > 1) return "malformed"; // keep waiting for a good one
    if (p.perturbed) this.caseEcho.echoed(p.target.key);
    this.unregister(p);
    clearTimeout(p.timer);
    p.resolve({ wire, msg });
    return undefined;
  }

  /** Counts a datagram that was not taken. */
  private take(
    port: UdpPort<Pending>,
    data: Uint8Array,
    sa: Uint8Array | undefined,
    rinfo: { address: string; port: number } | undefined,
  ): void {
    const why = this.onDatagram(port, data, sa, rinfo);
    if (why !== undefined) this.stats.rejected[why]++;
  }

  /** After a wake-up: the answers already queued on the port's socket, with recvmmsg. */
  private drain(port: UdpPort<Pending>): void {
    const rx = this.rx!;
    try {
      for (let round = 0; round < MAX_ROUNDS && !this.closed && !port.closed; round++) {
        const n = rx.receive(port.fd);
        if (n === 0) return;
        this.stats.udpBatched += n;
        for (let i = 0; i < n; i++) {
          if (rx.truncated(i)) this.stats.rejected.malformed++;
          else this.take(port, rx.data(i), rx.name(i), undefined);
        }
        if (n < rx.slots) return;
      }
    } catch {
      // a failed recvmmsg: the datagrams stay queued and wake the loop again
    }
  }

  /** An ID not in use on `port` (RFC 5452 §9.2: the full range, unpredictable). */
  private freshId(port: UdpPort<Pending>): number {
    for (let i = 0; i < 100; i++) {
      const id = this.rnd.u16();
      if (!port.pending.has(id)) return id;
    }
    return -1;
  }

  /** Sends `q` to `u`; the answer, CASE_NOT_ECHOED, or undefined after the timeout. */
  ask(u: UpstreamEndpoint, q: UpstreamQuestion): Promise<UdpResult> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(undefined);
      let p: Pending;
      try {
        p = this.register(this.target(u), q, resolve);
      } catch {
        // no socket could be opened, or no free ID: the query fails now rather than at its timeout
        return resolve(undefined);
      }
      p.timer = setTimeout(() => {
        this.unregister(p);
        this.stats.timeouts++;
        resolve(undefined);
      }, this.opts.timeoutMs);
      this.send(p);
    });
  }

  /** The query for `q` on a port, under an ID free there, waiting for its answer. */
  private register(target: Target, q: UpstreamQuestion, resolve: (a: UdpResult) => void): Pending {
    const pool = this.pool(target.u.family);
    const port = this.portFor(pool, target.u.family);
    const id = this.freshId(port);
    if (id < 0) throw new Error("no free ID on the port");
    const perturbed = this.caseEcho.wanted(target.key, Date.now()) && hasLetter(q.name);
    const name = perturbed ? perturbCase(q.name, this.rnd) : q.name;
    const p: Pending = {
      q,
      target,
      resolve,
      timer: undefined,
      port,
      id,
      query: buildUpstreamQuery(id, q, name),
      qend: HEADER_LEN + name.length + 4,
      perturbed,
    };
    port.pending.set(id, p);
    // a port that has taken its share takes no more: it closes once its queries are done
    if (++port.used >= this.opts.queriesPerPort) pool.endTurn(port);
    return p;
  }

  /** The port of the current window (ports.ts) while it may take one more query, else a fresh one. */
  private portFor(pool: PortPool<Pending>, family: 4 | 6): UdpPort<Pending> {
    const window = this.opts.portWindowMs;
    const port = this.current.get(family);
    if (port && !port.done && (window === 0 || performance.now() - port.born < window)) return port;
    if (port) pool.endTurn(port);
    const fresh = pool.acquire(window);
    this.current.set(family, fresh);
    return fresh;
  }

  /** Sends `p` now (one datagram at a time) or queues it for this turn's sendmmsg. */
  private send(p: Pending): void {
    this.stats.udpSent++;
    const u = p.target.u;
    if (!this.rx) {
      p.port!.socket.send(p.query, u.port, u.host);
      // without a window every query is a turn of its own
      if (this.opts.portWindowMs === 0) {
        this.current.delete(u.family);
        this.pools.get(u.family)?.endTurn(p.port!);
      }
      return;
    }
    const list = this.queued.get(p.port!);
    if (list) list.push(p);
    else this.queued.set(p.port!, [p]);
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
  }

  /** Takes `p` off its port; a port whose window is over and has nothing left to wait for closes. */
  private unregister(p: Pending): void {
    const port = p.port;
    if (!port) return;
    p.port = undefined;
    if (port.pending.get(p.id) === p) port.pending.delete(p.id);
    this.pools.get(p.target.u.family)?.release(port);
  }

  /** The queued queries, one sendmmsg per port and per batch of slots. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.opts.portWindowMs === 0) {
      // the turn is over: its ports take no more queries and close once answered
      for (const [family, port] of this.current) this.pools.get(family)?.endTurn(port);
      this.current.clear();
    }
    if (this.closed) return;
    const tx = this.tx!;
    const queued = [...this.queued];
    this.queued.clear();
    for (const [port, list] of queued) {
      if (port.closed) continue;
      let out = 0;
      for (const p of list) {
        if (p.port !== port) continue; // answered, timed out or moved meanwhile
        const u = p.target.u;
        if (tx.set(out, p.query, p.target.sockaddr)) out++;
        else port.socket.send(p.query, u.port, u.host); // longer than a slot
        if (out === tx.slots) {
          this.sendBatch(port, out);
          out = 0;
        }
      }
      if (out > 0) this.sendBatch(port, out);
    }
  }

  private sendBatch(port: UdpPort<Pending>, count: number): void {
    try {
      this.tx!.send(port.fd, count);
    } catch {
      // a query not sent ends in its timeout, then failover
    }
  }

  /** Sockets open now, over both families. */
  get portsOpen(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.openCount;
    return n;
  }

  /** The port pools' counters (ports.ts), over both families. */
  get portStats(): PortStats {
    const total: PortStats = { portsOpened: 0, portCollisions: 0, portsShared: 0 };
    for (const pool of this.pools.values()) {
      total.portsOpened += pool.stats.portsOpened;
      total.portCollisions += pool.stats.portCollisions;
      total.portsShared += pool.stats.portsShared;
    }
    return total;
  }

  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) {
      for (const port of pool.openPorts()) {
        for (const p of port.pending.values()) {
          clearTimeout(p.timer);
          p.resolve(undefined);
        }
        port.pending.clear();
      }
      pool.close();
    }
    this.pools.clear();
    this.queued.clear();
    this.rx?.free();
    this.tx?.free();
  }
}
