// The forwarding client: sends a question to the configured upstream resolvers over UDP with EDNS(0),
// retries over TCP when the answer is truncated (RFC 7766 §5), times out and fails over to the next
// upstream, in order, for a bounded number of rounds. Answers are accepted only from the address
// queried, with the ID and the question sent (RFC 5452 §4.3: spoofing resistance, random IDs).
import { randomInt } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, type Socket as TcpSocket } from "node:net";
import {
  EDNS_UDP_SIZE,
  FLAG,
  HEADER_LEN,
  type Message,
  nameEquals,
  parseMessage,
  RCODE,
  readU16,
  Writer,
  writeHeader,
  writeOpt,
} from "./wire.ts";

export interface UpstreamEndpoint {
  family: 4 | 6;
  host: string;
  port: number;
}

export interface UpstreamOptions {
  /** per-try wait for a UDP answer */
  timeoutMs: number;
  /** per-try wait for a whole TCP exchange */
  tcpTimeoutMs: number;
  /** how many times the whole upstream list is tried */
  rounds: number;
}

export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = { timeoutMs: 1000, tcpTimeoutMs: 3000, rounds: 2 };

export interface UpstreamAnswer {
  wire: Uint8Array;
  msg: Message;
}

export interface UpstreamQuestion {
  name: Uint8Array;
  type: number;
  class: number;
  dnssecOk: boolean;
  cd: boolean;
}

/** The query we send: RD, the client's CD, EDNS(0) with our buffer size and the client's DO. */
export function buildUpstreamQuery(id: number, q: UpstreamQuestion): Uint8Array {
  const w = new Writer(HEADER_LEN + q.name.length + 4 + 11);
  writeHeader(w, id, FLAG.RD | (q.cd ? FLAG.CD : 0), 1, 0, 0, 1);
  w.bytes(q.name);
  w.u16(q.type);
  w.u16(q.class);
  writeOpt(w, EDNS_UDP_SIZE, 0, q.dnssecOk);
  return w.finish();
}

/** Does this message answer that question? (QR set, same ID, the same question, RFC 5452 §9.1) */
export function matchesQuestion(msg: Message, id: number, q: UpstreamQuestion): boolean {
  return (
    msg.id === id &&
    (msg.flags & FLAG.QR) !== 0 &&
    msg.qdcount === 1 &&
    msg.optCount <= 1 &&
    msg.question !== undefined &&
    msg.question.type === q.type &&
    msg.question.class === q.class &&
    msg.question.end === HEADER_LEN + msg.question.name.length + 4 && // question uncompressed
    nameEquals(msg.question.name, q.name)
  );
}

interface Pending {
  id: number;
  q: UpstreamQuestion;
  host: string;
  port: number;
  resolve: (a: UpstreamAnswer | undefined) => void;
  timer: NodeJS.Timeout;
}

export interface UpstreamStats {
  queries: number;
  udpSent: number;
  tcpSent: number;
  timeouts: number;
  truncated: number;
  badAnswers: number;
  failovers: number;
  failures: number;
}

export class UpstreamClient {
  private readonly sockets = new Map<4 | 6, UdpSocket>();
  private readonly pending = new Map<number, Pending>();
  private preferred = 0;
  private closed = false;
  private readonly tcpSockets = new Set<TcpSocket>();
  readonly stats: UpstreamStats = {
    queries: 0,
    udpSent: 0,
    tcpSent: 0,
    timeouts: 0,
    truncated: 0,
    badAnswers: 0,
    failovers: 0,
    failures: 0,
  };

  constructor(
    private readonly upstreams: UpstreamEndpoint[],
    private readonly opts: UpstreamOptions = DEFAULT_UPSTREAM_OPTIONS,
  ) {}

  private socket(family: 4 | 6): UdpSocket {
    let s = this.sockets.get(family);
    if (!s) {
      s = createSocket(family === 4 ? "udp4" : "udp6");
      s.on("message", (buf, rinfo) => this.onMessage(buf, rinfo.address, rinfo.port));
      s.on("error", () => {
        // a send error on one query is handled by its timeout; the socket stays usable
      });
      // exclusive: in a Node cluster a port-0 bind is otherwise shared by every worker, and
      // answers would reach the worker that did not ask
      s.bind({ port: 0, exclusive: true });
      s.unref();
      this.sockets.set(family, s);
    }
    return s;
  }

  private onMessage(buf: Buffer, address: string, port: number): void {
    if (buf.length < HEADER_LEN) {
      this.stats.badAnswers++;
      return;
    }
    const id = readU16(buf, 0);
    const p = this.pending.get(id);
    if (!p || p.host !== address || p.port !== port) {
      this.stats.badAnswers++;
      return;
    }
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    const msg = parseMessage(bytes);
    if (!msg || !matchesQuestion(msg, id, p.q)) {
      this.stats.badAnswers++;
      return; // keep waiting: a spoofed or broken answer must not end the wait
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve({ wire: bytes.slice(), msg });
  }

  private freshId(): number {
    for (let i = 0; i < 100; i++) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
    return -1;
  }

  private udp(u: UpstreamEndpoint, q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(undefined);
      const id = this.freshId();
      if (id < 0) return resolve(undefined);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stats.timeouts++;
        resolve(undefined);
      }, this.opts.timeoutMs);
      this.pending.set(id, { id, q, host: u.host, port: u.port, resolve, timer });
      this.stats.udpSent++;
      this.socket(u.family).send(buildUpstreamQuery(id, q), u.port, u.host);
    });
  }

  private tcp(u: UpstreamEndpoint, q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(undefined);
      const id = randomInt(0, 0x10000);
      const query = buildUpstreamQuery(id, q);
      const frame = new Uint8Array(2 + query.length);
      frame[0] = query.length >>> 8;
      frame[1] = query.length & 0xff;
      frame.set(query, 2);
      this.stats.tcpSent++;
      const s = connect({ host: u.host, port: u.port });
      this.tcpSockets.add(s);
      let got = Buffer.alloc(0);
      let done = false;
      const finish = (a: UpstreamAnswer | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.tcpSockets.delete(s);
        s.destroy();
        resolve(a);
      };
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        finish(undefined);
      }, this.opts.tcpTimeoutMs);
      s.on("connect", () => s.write(frame));
      s.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < 2) return;
        const len = got.readUInt16BE(0);
        if (got.length < 2 + len) return;
        const bytes = new Uint8Array(got.subarray(2, 2 + len));
        const msg = parseMessage(bytes);
        if (!msg || !matchesQuestion(msg, id, q)) {
          this.stats.badAnswers++;
          return finish(undefined);
        }
        finish({ wire: bytes, msg });
      });
      s.on("error", () => finish(undefined));
      s.on("close", () => finish(undefined));
    });
  }

  /** One upstream: UDP, then TCP if the UDP answer was truncated. */
  private async ask(u: UpstreamEndpoint, q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    const a = await this.udp(u, q);
    if (a && a.msg.flags & FLAG.TC) {
      this.stats.truncated++;
      return this.tcp(u, q);
    }
    return a;
  }

  /**
   * Asks the upstreams in order, starting with the last one that answered well. SERVFAIL and REFUSED
   * move on to the next upstream; the last such answer is returned if none does better; undefined
   * when nobody answered.
   */
  async query(q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    this.stats.queries++;
    const n = this.upstreams.length;
    let fallback: UpstreamAnswer | undefined;
    for (let round = 0; round < this.opts.rounds; round++) {
      for (let k = 0; k < n; k++) {
        if (this.closed) return undefined;
        const i = (this.preferred + k) % n;
        const a = await this.ask(this.upstreams[i]!, q);
        if (
          a &&
          a.msg.rcode !== RCODE.SERVFAIL &&
          a.msg.rcode !== RCODE.REFUSED &&
          a.msg.rcode !== RCODE.NOTIMP
        ) {
          this.preferred = i;
          return a;
        }
        if (a) fallback = a;
        this.stats.failovers++;
      }
    }
    this.stats.failures++;
    return fallback;
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    for (const s of this.tcpSockets) s.destroy();
    this.tcpSockets.clear();
  }
}
