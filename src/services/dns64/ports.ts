// Source ports for upstream queries (RFC 5452 §9.2): "an unpredictable source port ... from the
// range of available ports that is as large as possible", and "multiple different source ports
// simultaneously in case of multiple outstanding queries".
//
// Each event-loop turn's queries (those sent together in one sendmmsg, upstreamudp.ts) leave from a
// socket of their own, bound to a port drawn from 1024-65535 by a CSPRNG (the range Unbound and
// PowerDNS Recursor use; a port in use is drawn again), at most `queriesPerPort` of them. The socket
// takes no queries after its turn and closes as soon as its last query is answered or timed out. So
// a port is never reused for later queries: knowing the ports of earlier queries tells an attacker
// nothing, as with Unbound's fresh port per query, while a turn's queries still cost one system
// call. At MAX_OPEN sockets (an upstream that does not answer, under load) a turn shares a random
// open socket instead of opening one.
import { createSocket, type Socket } from "node:dgram";
import { SysError } from "../../util/sys/libc.ts";
import type { Entropy } from "./random.ts";
import { udpFd } from "./reuseport.ts";

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
  readonly stats: PortStats = { portsOpened: 0, portCollisions: 0, portsShared: 0 };

  constructor(
    private readonly family: 4 | 6,
    private readonly rnd: Entropy,
    /** called once for each new socket (to listen for answers on it) */
    private readonly onOpen: (p: UdpPort<P>) => void,
  ) {}

  /** A socket for a new turn: a fresh port, or (at MAX_OPEN) a random open socket. */
  acquire(): UdpPort<P> {
    if (this.open.size >= MAX_OPEN) {
      this.stats.portsShared++;
      const all = [...this.open];
      const p = all[this.rnd.range16(0, all.length - 1)]!;
      p.done = false;
      return p;
    }
    return this.openPort();
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

  private openPort(): UdpPort<P> {
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
    const p = new UdpPort<P>(socket, fd, port);
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
