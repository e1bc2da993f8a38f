// Source ports for upstream queries (RFC 5452 §9.2): "an unpredictable source port ... from the
// range of available ports that is as large as possible", and "multiple different source ports
// simultaneously in case of multiple outstanding queries".
//
// Queries leave from sockets bound to ports drawn from 1024-65535 by a CSPRNG (the range Unbound
// and PowerDNS Recursor use; a port in use is drawn again). A socket takes new queries for one
// short window only (upstreamudp.ts: `portWindowMs`, 2 ms by default, at most `queriesPerPort`;
// window 0 = the queries of one event-loop turn, one sendmmsg), then never again, and closes as soon
// as its last query is answered or timed out. So a port is never reused for later queries:
// knowing the ports of earlier queries tells an attacker nothing, as with Unbound's fresh port per
// query, and an idle resolver has no upstream socket open for a scan to find. The window lets a
// busy resolver share a socket among the queries it sends at once (one system call for a batch)
// and a lightly loaded one avoid a socket per query: bench/dns64-ports.ts measures the policies
// (one port for ever, per turn, 2 ms window, per query). At MAX_OPEN sockets (an upstream that does
// not answer, under load) a new window shares a random open socket instead of opening one.
import { createSocket, type Socket } from "node:dgram";
import { SysError, sockaddrIn, sockaddrIn6 } from "../../util/sys/libc.ts";
import type { Entropy } from "./random.ts";
import { udpFdAt } from "./reuseport.ts";

/** RFC 5452 §10: 53, or 1024 and above; 53 is the server's own. */
export const PORT_RANGE = [1024, 65535] as const;
/** Open sockets at most; past it turns share open sockets. */
export const MAX_OPEN = 1024;
/** Draws of a port before the kernel is left to pick one (port 0) */
const DRAWS = 32;
/** <errno.h> */
const EADDRINUSE = 98;

/** One socket on one source port, and the queries waiting on it. */
export class UdpPort<P> {
  /** queries waiting for an answer on this port, by ID */
  readonly pending = new Map<number, P>();
  /** queries sent (or queued) on it */
  used = 0;
  /** its turn is over: it takes no new queries and closes once `pending` is empty */
  done = false;
  closed = false;
  /** when it started taking queries (performance.now()) */
  born = 0;
  /** ends its turn when its window is over, if no query has ended it before */
  expiry: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    /** the descriptor (made through libc: batched sending and draining) */
    readonly fd: number,
    readonly port: number,
  ) {}
}

export interface PortStats {
  /** sockets opened on fresh ports since the start */
  portsOpened: number;
  /** times a port draw found the port in use and drew again */
  portCollisions: number;
  /** turns that shared an open socket because MAX_OPEN were open */
  portsShared: number;
}

export class PortPool<P> {
  private readonly open = new Set<UdpPort<P>>();
  /** the wildcard address of the family; each bind writes its port into bytes 2-3 */
  private readonly any: Uint8Array;
  readonly stats: PortStats = { portsOpened: 0, portCollisions: 0, portsShared: 0 };

  constructor(
    private readonly family: 4 | 6,
    private readonly rnd: Entropy,
    /** called once for each new socket (to listen for answers on it) */
    private readonly onOpen: (p: UdpPort<P>) => void,
  ) {
    this.any = family === 4 ? sockaddrIn(new Uint8Array(4), 0) : sockaddrIn6(new Uint8Array(16), 0, 0);
  }

  /**
   * A socket for a new turn: a fresh port, or (at MAX_OPEN) a random open socket. `windowMs` > 0:
   * its turn ends by itself that long after (endTurn() may end it sooner).
   */
  acquire(windowMs: number): UdpPort<P> {
    let p: UdpPort<P>;
    if (this.open.size >= MAX_OPEN) {
      this.stats.portsShared++;
      const all = [...this.open];
      p = all[this.rnd.range16(0, all.length - 1)]!;
      p.done = false;
      clearTimeout(p.expiry);
    } else p = this.openPort();
    p.born = performance.now();
    if (windowMs > 0) {
      p.expiry = setTimeout(() => this.endTurn(p), windowMs);
      p.expiry.unref();
    }
    return p;
  }

  /** The turn of `p` is over: it closes once its queries are done. */
  endTurn(p: UdpPort<P>): void {
    p.done = true;
    this.release(p);
  }

  /** After a query on `p` ended: a socket whose turn is over and has nothing to wait for closes. */
  release(p: UdpPort<P>): void {
    if (p.done && p.pending.size === 0 && !p.closed) this.closePort(p);
  }

  private bindTo(port: number): number {
    this.any[2] = port >>> 8;
    this.any[3] = port & 0xff;
    return udpFdAt(this.any, false);
  }

  private openPort(): UdpPort<P> {
    let fd = -1;
    let port = 0;
    for (let draw = 0; draw < DRAWS && fd < 0; draw++) {
      port = this.rnd.range16(PORT_RANGE[0], PORT_RANGE[1]);
      try {
        fd = this.bindTo(port);
      } catch (e) {
        if (!(e instanceof SysError && e.errno === EADDRINUSE)) throw e;
        this.stats.portCollisions++; // in use: draw again
      }
    }
    if (fd < 0) {
      port = 0; // the kernel's own random choice in its ephemeral range
      fd = this.bindTo(0);
    }
    const socket = createSocket(this.family === 4 ? "udp4" : "udp6");
    // exclusive: in a Node cluster a bind is otherwise shared by every worker
    socket.bind({ fd, exclusive: true });
    socket.unref();
    const p = new UdpPort<P>(socket, fd, port);
    this.open.add(p);
    this.stats.portsOpened++;
    this.onOpen(p);
    return p;
  }

  private closePort(p: UdpPort<P>): void {
    p.closed = true;
    clearTimeout(p.expiry);
    this.open.delete(p);
    try {
      p.socket.close();
    } catch {
      // already closed
    }
  }

  /** How many sockets are open now. */
  get openCount(): number {
    return this.open.size;
  }

  /** The sockets open now. */
  openPorts(): UdpPort<P>[] {
    return [...this.open];
  }

  close(): void {
    for (const p of [...this.open]) this.closePort(p);
  }
}
