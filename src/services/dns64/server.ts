// The listening sockets of one resolver: UDP (RFC 1035 §4.2.1), batched with recvmmsg/sendmmsg
// (udpbatch.ts) or one datagram per event, and TCP (tcp.ts). Each query goes through the
// transport-independent QueryHandler (handler.ts).
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import type { Logger } from "../../util/log.ts";
import { close } from "../../util/sys/libc.ts";
import type { RateLimiter } from "./access.ts";
import type { QueryHandler, ServerStats } from "./handler.ts";
import { libcUdp, udpFd } from "./reuseport.ts";
import type { TcpFront } from "./tcp.ts";
import { UdpBatch } from "./udpbatch.ts";
import { UdpThread, type UdpThreadSetup } from "./udpthread.ts";

export interface ListenAddress {
  family: 4 | 6;
  host: string;
  port: number;
}

export interface ServerOptions {
  /** UDP sockets with SO_REUSEPORT, shared with worker threads serving the same addresses */
  reusePort: boolean;
  /**
   * UDP datagrams per recvmmsg/sendmmsg call when draining a socket after a wake-up (udpbatch.ts);
   * 0 = one datagram per event through dgram only
   */
  udpBatch: number;
  /**
   * the UDP sockets served by one thread that waits in recvmmsg (or poll) and answers cached
   * queries (udpthread.ts); the others come to this event loop. Needs udpBatch > 0.
   */
  udpThread: boolean;
}

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  reusePort: false,
  udpBatch: 64,
  udpThread: true,
};

/** The listening sockets of one resolver; `tcp` absent: UDP only (worker threads). */
export class Dns64Server {
  private readonly udp: UdpSocket[] = [];
  private batch: UdpBatch | undefined;
  /** the receive thread of all UDP sockets (udpThread) */
  private thread: UdpThread | undefined;

  constructor(
    private readonly handler: QueryHandler,
    private readonly limiter: RateLimiter,
    private readonly log: Logger,
    private readonly opts: ServerOptions,
    readonly tcp: TcpFront | undefined,
    /** what a UDP thread needs (udpThread) */
    private readonly threadSetup?: UdpThreadSetup,
  ) {}

  async listen(addrs: readonly ListenAddress[]): Promise<void> {
    const setup = this.opts.udpThread && this.opts.udpBatch > 0 ? this.threadSetup : undefined;
    // with the thread: every UDP socket first, then one thread for all of them
    const fds: number[] = [];
    try {
      for (const a of addrs) {
        if (setup) fds.push(udpFd(a.family, a.host, a.port, this.opts.reusePort, true));
        else await this.listenUdp(a);
        await this.tcp?.listen(a, this.log);
      }
    } catch (e) {
      for (const fd of fds) close(fd);
      throw e;
    }
    if (setup && fds.length > 0)
      this.thread = await UdpThread.start(fds, this.handler, setup, this.log, this.opts.udpBatch);
  }

  private async listenUdp(a: ListenAddress): Promise<void> {
    const warn = (err: Error) =>
      this.log.warn({ err: err.message, listen: `${a.host}:${a.port}` }, "udp socket error");
    if (this.opts.udpBatch > 0 || this.opts.reusePort) {
      const { socket: s, fd } = await libcUdp(a.family, a.host, a.port, this.opts.reusePort);
      this.udp.push(s);
      s.on("error", warn);
      if (this.opts.udpBatch > 0) {
        this.batch ??= new UdpBatch(this.handler, this.limiter, this.opts.udpBatch);
        const batch = this.batch;
        const l = batch.listener(s, fd);
        s.on("message", (msg, rinfo) => batch.onMessage(l, msg, rinfo));
      } else {
        s.on("message", (msg, rinfo) => this.onUdp(s, msg, rinfo));
      }
      return;
    }
    const s = createSocket({ type: a.family === 4 ? "udp4" : "udp6", ipv6Only: a.family === 6 });
    s.on("message", (msg, rinfo) => this.onUdp(s, msg, rinfo));
    s.on("error", warn);
    this.udp.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.bind(a.port, a.host, () => {
        s.off("error", reject);
        resolve();
      });
    });
  }

  private onUdp(s: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    this.handler.stats.udpQueries++;
    if (!this.limiter.take(rinfo.address, Date.now())) {
      this.handler.stats.rateLimited++;
      return;
    }
    const q = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    const r = this.handler.handleSync(q, rinfo.address, false);
    if (r === undefined) return;
    if (r instanceof Uint8Array) {
      s.send(r, rinfo.port, rinfo.address);
      return;
    }
    r.then(
      (bytes) => {
        if (bytes) s.send(bytes, rinfo.port, rinfo.address);
      },
      () => {
        this.handler.stats.errors++;
      },
    );
  }

  /** The ids of this server's threads (the receive thread), for AnswerCache.recover. */
  threadIds(): number[] {
    const id = this.thread?.threadId;
    return id === undefined || id < 0 ? [] : [id];
  }

  /** The counters of the UDP thread (ServerStats fields); none without one. */
  threadStats(): Partial<ServerStats> {
    return this.thread?.stats() ?? {};
  }

  async close(): Promise<void> {
    await this.thread?.stop();
    this.thread = undefined;
    for (const s of this.udp) s.close();
    this.udp.length = 0;
    this.batch?.close();
    this.batch = undefined;
    await this.tcp?.close();
  }
}
