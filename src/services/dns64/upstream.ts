// The forwarding client: sends a question to the configured upstream resolvers over UDP with EDNS(0),
// retries over TCP when the answer is truncated (RFC 7766 §5), times out and fails over to the next
// upstream, in order, for a bounded number of rounds. The UDP side (random ports, IDs and 0x20, the
// RFC 5452 checks, batching) is ./upstreamudp.ts; the messages are ./upstreamwire.ts.
import { randomInt } from "node:crypto";
import { connect, type Socket as TcpSocket } from "node:net";
import {
  CASE_NOT_ECHOED,
  DEFAULT_UDP_EXCHANGE,
  UdpExchange,
  type UdpExchangeOptions,
} from "./upstreamudp.ts";
import {
  answerCheck,
  buildUpstreamQuery,
  type UpstreamAnswer,
  type UpstreamEndpoint,
  type UpstreamQuestion,
} from "./upstreamwire.ts";
import { FLAG, HEADER_LEN, parseMessage, RCODE } from "./wire.ts";

export {
  buildUpstreamQuery,
  type UpstreamAnswer,
  type UpstreamEndpoint,
  type UpstreamQuestion,
} from "./upstreamwire.ts";

export interface UpstreamOptions extends UdpExchangeOptions {
  /** per-try wait for a whole TCP exchange */
  tcpTimeoutMs: number;
  /** how many times the whole upstream list is tried */
  rounds: number;
}

export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  ...DEFAULT_UDP_EXCHANGE,
  tcpTimeoutMs: 3000,
  rounds: 2,
};

export interface UpstreamStats {
  queries: number;
  tcpSent: number;
  tcpTimeouts: number;
  /** TCP answers that did not answer the query (ID or question) */
  tcpRejected: number;
  truncated: number;
  /** queries asked again over TCP because the upstream did not echo the 0x20 case */
  caseFallbacks: number;
  failovers: number;
  failures: number;
}

export class UpstreamClient {
  private preferred = 0;
  private closed = false;
  private readonly tcpSockets = new Set<TcpSocket>();
  readonly stats: UpstreamStats = {
    queries: 0,
    tcpSent: 0,
    tcpTimeouts: 0,
    tcpRejected: 0,
    truncated: 0,
    caseFallbacks: 0,
    failovers: 0,
    failures: 0,
  };
  readonly udp: UdpExchange;

  constructor(
    private readonly upstreams: UpstreamEndpoint[],
    private readonly opts: UpstreamOptions = DEFAULT_UPSTREAM_OPTIONS,
  ) {
    this.udp = new UdpExchange(opts);
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
        this.stats.tcpTimeouts++;
        finish(undefined);
      }, this.opts.tcpTimeoutMs);
      s.on("connect", () => s.write(frame));
      s.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < 2) return;
        const len = got.readUInt16BE(0);
        if (got.length < 2 + len) return;
        const bytes = new Uint8Array(got.subarray(2, 2 + len));
        // TCP cannot be forged off-path: no 0x20 here (so the letter case carries nothing to
        // check), but the answer must still answer the query (RFC 5452 §9.1)
        const why = answerCheck(bytes, query, HEADER_LEN + q.name.length + 4);
        const msg = why === undefined || why === "case" ? parseMessage(bytes) : undefined;
        if (!msg || msg.optCount > 1) {
          this.stats.tcpRejected++;
          return finish(undefined);
        }
        finish({ wire: bytes, msg });
      });
      s.on("error", () => finish(undefined));
      s.on("close", () => finish(undefined));
    });
  }

  /**
   * One upstream: UDP, then TCP if the UDP answer was truncated, or if it came back with our 0x20
   * question in another case (dns0x20.ts).
   */
  private async ask(u: UpstreamEndpoint, q: UpstreamQuestion): Promise<UpstreamAnswer | undefined> {
    const a = await this.udp.ask(u, q);
    if (a === CASE_NOT_ECHOED) {
      this.stats.caseFallbacks++;
      return this.tcp(u, q);
    }
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
    this.udp.close();
    for (const s of this.tcpSockets) s.destroy();
    this.tcpSockets.clear();
  }
}
