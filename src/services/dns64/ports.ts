// Source ports for upstream queries (RFC 5452 §9.2): "an unpredictable source port ... from the
// range of available ports that is as large as possible", and "multiple different source ports
// simultaneously in case of multiple outstanding queries".
//
// A pool of UDP sockets, each bound to a port drawn from 1024-65535 by a CSPRNG (the range Unbound
// and PowerDNS Recursor use; a port in use is drawn again). `ports` slots take new queries; a
// query goes to a random slot. A socket takes at most `queriesPerPort` queries and is used for new
// ones for at most `portLifetimeMs`; then its slot gets a fresh socket on a fresh port and the old
// one is closed once its last query is answered or timed out. So a port an attacker might learn
// (or scan for) serves a bounded number of queries for a short time, while the queries of one
// event-loop turn can still share one socket and go out in one sendmmsg (upstreamudp.ts). With
// `queriesPerPort` 1 every query gets its own fresh port, as Unbound does.
import { createSocket, type Socket } from "node:dgram";
import { SysError } from "../../util/sys/libc.ts";
import type { Entropy } from "./random.ts";
import { udpFd } from "./reuseport.ts";

export interface PortPoolOptions {
  /** sockets taking new queries at once */
  ports: number;
  /** queries a socket takes before it is replaced */
  queriesPerPort: number;
  /** how long a socket takes new queries before it is replaced */
  portLifetimeMs: number;
}

export const DEFAULT_PORT_POOL: PortPoolOptions = {
  ports: 16,
  queriesPerPort: 64,
  portLifetimeMs: 2000,
};

/** RFC 5452 §10: 53, or 1024 and above; 53 is the server's own. */
export const PORT_RANGE = [1024, 65535] as const;
/** Open sockets at most, retired ones waiting for answers included; past it sockets are not replaced. */
export const MAX_OPEN = 1024;
/** Draws of a port before the kernel is left to pick one (port 0) */
const DRAWS = 32;
/** <errno.h> */
const EADDRINUSE = 98;

/** One socket on one source port, and the state the exchange keeps on it. */
export class UdpPort<P> {
  /** queries waiting for an answer on this port, by ID */
  readonly pending = new Map<number, P>();
  /** queries sent (or queued) on it */
  used = 0;
  retired = false;
  closed = false;

  constructor(
    readonly socket: Socket,
    /** the descriptor (sockets made through libc: batched sending and draining) */
    readonly fd: number,
    readonly port: number,
    readonly born: number,
  ) {}
}

export interface PortStats {
  /** sockets opened on fresh ports since the start */
  portsOpened: number;
  /** times a port draw found the port in use and drew again */
  portCollisions: number;
}

export class PortPool<P> {
  private readonly slots: (UdpPort<P> | undefined)[];
  private readonly open = new Set<UdpPort<P>>();
  readonly stats: PortStats = { portsOpened: 0, portCollisions: 0 };

  constructor(
    private readonly family: 4 | 6,
    private readonly opts: PortPoolOptions,
    private readonly rnd: Entropy,
    /** called once for each new socket (to listen for answers on it) */
    private readonly onOpen: (p: UdpPort<P>) => void,
  ) {
    this.slots = new Array(Math.max(1, opts.ports)).fill(undefined);
  }

  /** Can `p` take one more query now? */
  usable(p: UdpPort<P>, nowMs: number): boolean {
    return (
      !p.retired &&
      (this.open.size >= MAX_OPEN ||
        (p.used < this.opts.queriesPerPort && nowMs - p.born < this.opts.portLifetimeMs))
    );
  }

  /** A socket for a new query: the one in a random slot, replaced first if it has served its share. */
  pick(nowMs: number): UdpPort<P> {
    const i = this.slots.length === 1 ? 0 : this.rnd.range16(0, this.slots.length - 1);
    const p = this.slots[i];
    if (p && this.usable(p, nowMs)) return p;
    if (p) this.retire(p);
    const fresh = this.openPort(nowMs);
    this.slots[i] = fresh;
    return fresh;
  }

  /** Counts a query on `p`; a socket that has taken its share leaves its slot. */
  take(p: UdpPort<P>): void {
    p.used++;
    if (p.used >= this.opts.queriesPerPort && this.open.size < MAX_OPEN) this.retire(p);
  }

  private retire(p: UdpPort<P>): void {
    if (p.retired) return;
    p.retired = true;
    const i = this.slots.indexOf(p);
    if (i >= 0) this.slots[i] = undefined;
    this.release(p);
  }

  /** After a query on `p` ended: a retired socket with nothing left to wait for is closed. */
  release(p: UdpPort<P>): void {
    if (p.retired && p.pending.size === 0 && !p.closed) this.closePort(p);
  }

  private openPort(nowMs: number): UdpPort<P> {
    const any = this.family === 4 ? "0.0.0.0" : "::";
    let fd = -1;
    let port = 0;
    for (let draw = 0; draw < DRAWS && fd < 0; draw++) {
      port = this.rnd.range16(PORT_RANGE[0], PORT_RANGE[1]);
      try {
        fd = udpFd(this.family, any, port, false);
      } catch (e) {
        if (!(e instanceof SysError && e.errno === EADDRINUSE)) throw e;
        this.stats.portCollisions++; // in use: draw again
      }
    }
    if (fd < 0) {
      port = 0; // the kernel's own random choice in its ephemeral range
      fd = udpFd(this.family, any, 0, false);
    }
    const socket = createSocket(this.family === 4 ? "udp4" : "udp6");
    // exclusive: in a Node cluster a bind is otherwise shared by every worker
    socket.bind({ fd, exclusive: true });
    socket.unref();
    const p = new UdpPort<P>(socket, fd, port, nowMs);
    this.open.add(p);
    this.stats.portsOpened++;
    this.onOpen(p);
    return p;
  }

  private closePort(p: UdpPort<P>): void {
    p.closed = true;
    this.open.delete(p);
    try {
      p.socket.close();
    } catch {
      // already closed
    }
  }

  /** Sockets open now (taking queries, or retired and waiting for answers). */
  get openCount(): number {
    return this.open.size;
  }

  /** The sockets open now. */
  openPorts(): UdpPort<P>[] {
    return [...this.open];
  }

  close(): void {
    for (const p of [...this.open]) this.closePort(p);
    this.slots.fill(undefined);
  }
}
