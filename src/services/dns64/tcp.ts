// DNS over TCP from clients (RFC 7766): two-byte length framing (§8), pipelined queries answered as
// they complete (§6.2.1.1), and the resources a client can hold bounded (§6.2.2, §10):
//
// - at accept: a client outside allowClients is reset at once (never a slot for an outside host),
//   and so is a connection over the total or the per-client limit;
// - deadlines per state, not per byte: a message (length and body) must arrive whole within
//   `messageMs` of its first byte, so a client trickling one byte at a time is dropped; a connection
//   with nothing to do is closed after `idleMs`; a client that stops reading its answers is closed
//   when they have not drained for `idleMs`;
// - backpressure: at most `maxInflight` queries of a connection are resolved at once and at most
//   `maxQueuedBytes` of answers wait for the client; past either the connection stops reading
//   (the client's further queries wait in the kernel's TCP window) until answers drain.
//
// Memory per connection is therefore at most one read chunk and one partial message (64 KiB each),
// plus `maxQueuedBytes`, plus `maxInflight` answers: bounded whatever a client sends.
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../../util/log.ts";
import type { ClientAcl } from "./access.ts";
import type { QueryHandler } from "./handler.ts";

export interface TcpOptions {
  /** connections at once over all clients (RFC 7766 §6.2.2) */
  maxConnections: number;
  /** connections at once from one client address */
  maxConnectionsPerClient: number;
  /** RFC 7766 §6.2.3: a connection with no query in progress is closed after this long */
  idleMs: number;
  /** a message must arrive whole within this long of its first byte */
  messageMs: number;
  /** queries of one connection resolved at once; the next ones wait unread */
  maxInflight: number;
  /** answers waiting for a client that does not read: reading stops above this many bytes */
  maxQueuedBytes: number;
}

export const DEFAULT_TCP_OPTIONS: TcpOptions = {
  maxConnections: 256,
  maxConnectionsPerClient: 8,
  idleMs: 10_000,
  messageMs: 5_000,
  maxInflight: 16,
  maxQueuedBytes: 64 * 1024,
};

export interface TcpStats {
  /** connections accepted and served */
  tcpConnections: number;
  /** connections from outside allowClients, reset at accept */
  tcpRefused: number;
  /** connections over maxConnections or maxConnectionsPerClient, reset at accept */
  tcpOverLimit: number;
  /** connections closed because a message did not arrive whole in time */
  tcpMessageTimeouts: number;
  /** connections closed after idleMs with nothing to do */
  tcpIdleTimeouts: number;
  /** connections closed because their answers did not drain (the client did not read) */
  tcpWriteStalls: number;
  /** times a connection stopped reading for backpressure */
  tcpPaused: number;
}

export const newTcpStats = (): TcpStats => ({
  tcpConnections: 0,
  tcpRefused: 0,
  tcpOverLimit: 0,
  tcpMessageTimeouts: 0,
  tcpIdleTimeouts: 0,
  tcpWriteStalls: 0,
  tcpPaused: 0,
});

type Deadline = "idle" | "message" | "stall" | "none";

/** One client connection: its unread bytes, its queries in flight and its single deadline timer. */
class Connection {
  private buf: Buffer = Buffer.alloc(0);
  private inflight = 0;
  /** reading stopped by us (backpressure), not by the client */
  private held = false;
  /** the client has sent FIN: answer what is in flight, then close */
  private ended = false;
  private deadline: Deadline = "none";
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly c: Socket,
    private readonly client: string,
    private readonly front: TcpFront,
  ) {
    c.on("data", (d: Buffer) => this.onData(d));
    c.on("drain", () => this.step());
    c.on("end", () => {
      this.ended = true;
      this.step();
    });
    this.arm(false);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.step();
  }

  /** Starts the complete queries the limits allow, then holds or resumes reading and re-arms. */
  private step(): void {
    const o = this.front.opts;
    const c = this.c;
    if (c.destroyed) return;
    let started = false;
    while (this.inflight < o.maxInflight && c.writableLength <= o.maxQueuedBytes && this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      const query = new Uint8Array(this.buf.subarray(2, 2 + len));
      this.buf = this.buf.subarray(2 + len);
      started = true;
      this.ask(query);
    }
    if (this.ended) {
      // after FIN a partial message can no longer complete; queries read whole are still answered
      if (!this.wholeMessageBuffered()) this.buf = Buffer.alloc(0);
      if (this.inflight === 0 && this.buf.length === 0 && !c.writableEnded) c.end();
    }
    const blocked = this.inflight >= o.maxInflight || c.writableLength > o.maxQueuedBytes;
    if (blocked && !this.held) {
      this.held = true;
      this.front.stats.tcpPaused++;
      c.pause();
    } else if (!blocked && this.held) {
      this.held = false;
      c.resume();
    }
    this.arm(started);
  }

  private wholeMessageBuffered(): boolean {
    return this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0);
  }

  private ask(query: Uint8Array): void {
    this.inflight++;
    this.front.handler.stats.tcpQueries++;
    void this.front.handler.handle(query, this.client, true).then((bytes) => {
      this.inflight--;
      if (this.c.destroyed) return;
      if (bytes) {
        const frame = Buffer.allocUnsafe(2 + bytes.length);
        frame.writeUInt16BE(bytes.length, 0);
        frame.set(bytes, 2);
        this.c.write(frame);
      }
      this.step();
    });
  }

  /**
   * The one deadline that applies now. It changes with the state (a message begun, nothing left to
   * do, answers not draining), never with a byte, so trickling bytes does not extend it.
   */
  private arm(messageDone: boolean): void {
    const o = this.front.opts;
    let next: Deadline;
    if (this.c.writableLength > o.maxQueuedBytes) next = "stall";
    else if (this.held)
      next = "none"; // we stopped reading: the client cannot finish a message
    else if (this.buf.length > 0 && !this.wholeMessageBuffered()) next = "message";
    else if (this.inflight > 0)
      next = "none"; // the upstream timeouts bound the wait
    else next = "idle";
    // a new message after a complete one gets its own deadline
    if (next === this.deadline && !(next === "message" && messageDone)) return;
    this.deadline = next;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (next === "none") return;
    const ms = next === "message" ? o.messageMs : o.idleMs;
    this.timer = setTimeout(() => this.expire(next), ms);
    this.timer.unref();
  }

  private expire(why: Deadline): void {
    const s = this.front.stats;
    if (why === "message") s.tcpMessageTimeouts++;
    else if (why === "stall") s.tcpWriteStalls++;
    else s.tcpIdleTimeouts++;
    this.c.destroy();
  }

  closed(): void {
    clearTimeout(this.timer);
    this.buf = Buffer.alloc(0);
  }
}

/** The TCP side of the listeners: accept checks, the connection limits, and the connections. */
export class TcpFront {
  private readonly servers: Server[] = [];
  private readonly conns = new Set<Socket>();
  private readonly perClient = new Map<string, number>();
  readonly stats: TcpStats = newTcpStats();

  constructor(
    readonly handler: QueryHandler,
    private readonly acl: ClientAcl,
    readonly opts: TcpOptions = DEFAULT_TCP_OPTIONS,
  ) {}

  /** A listener on `a` (half-open connections allowed: a client may send FIN before its answers). */
  listen(a: { family: 4 | 6; host: string; port: number }, log: Logger): Promise<void> {
    const srv = createServer({ allowHalfOpen: true }, (c) => this.accept(c));
    srv.on("error", (err) =>
      log.warn({ err: err.message, listen: `${a.host}:${a.port}` }, "tcp listener error"),
    );
    this.servers.push(srv);
    return new Promise((resolve, reject) => {
      srv.once("error", reject);
      srv.listen({ host: a.host, port: a.port, ipv6Only: a.family === 6 }, () => {
        srv.off("error", reject);
        resolve();
      });
    });
  }

  private accept(c: Socket): void {
    const client = c.remoteAddress ?? "";
    // RFC 7766 §10 and §6.2.2: an outside host gets no slot at all, and no client gets them all
    if (!this.acl.allows(client)) {
      this.stats.tcpRefused++;
      c.resetAndDestroy();
      return;
    }
    const mine = this.perClient.get(client) ?? 0;
    if (this.conns.size >= this.opts.maxConnections || mine >= this.opts.maxConnectionsPerClient) {
      this.stats.tcpOverLimit++;
      c.resetAndDestroy();
      return;
    }
    this.stats.tcpConnections++;
    this.conns.add(c);
    this.perClient.set(client, mine + 1);
    const conn = new Connection(c, client, this);
    c.on("error", () => c.destroy());
    c.on("close", () => {
      conn.closed();
      this.conns.delete(c);
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n > 0) this.perClient.set(client, n);
      else this.perClient.delete(client);
    });
  }

  /** Connections open now. */
  get open(): number {
    return this.conns.size;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    this.perClient.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }
}
