// One serving stack: upstream client, cache, resolver, client checks and listeners for one
// assignment. The main thread runs one; each extra worker thread runs another (UDP only, on
// SO_REUSEPORT sockets shared with the main thread).

import type { Dns64Assignment } from "../../planner/plan.ts";
import type { Logger } from "../../util/log.ts";
import type { Endpoint } from "../../util/net.ts";
import { ClientAcl, RateLimiter } from "./access.ts";
import { AnswerCache, type CacheLimits, DEFAULT_CACHE_LIMITS } from "./cache.ts";
import { QueryHandler } from "./handler.ts";
import { Resolver } from "./resolver.ts";
import { DEFAULT_SERVER_OPTIONS, Dns64Server, type ListenAddress, type ServerOptions } from "./server.ts";
import type { Dns64Config } from "./synth.ts";
import { compileConfig, type Dns64Policy } from "./synth.ts";
import { DEFAULT_TCP_OPTIONS, TcpFront, type TcpOptions } from "./tcp.ts";
import {
  DEFAULT_UPSTREAM_OPTIONS,
  UpstreamClient,
  type UpstreamEndpoint,
  type UpstreamOptions,
} from "./upstream.ts";

/** Tuning that is not part of the resource (tests and the benchmark set it). */
export interface Dns64Options {
  upstream?: Partial<UpstreamOptions>;
  cache?: Partial<CacheLimits>;
  /** the limits on client TCP connections (tcp.ts) */
  tcp?: Partial<TcpOptions>;
  /** queries per second per client over UDP; 0 = unlimited. Default: the spec's rateLimit. */
  rateLimit?: number;
  /**
   * event loops serving UDP: 1 (default) = this thread only; N > 1 adds N-1 worker threads, each
   * with its own SO_REUSEPORT socket per listen address; all share one cache (cache.ts)
   */
  workers?: number;
  /**
   * false: UDP served by the event loop (dgram wake-ups, recvmmsg drains) instead of one thread for
   * all of the stack's UDP sockets waiting in recvmmsg or poll (udpthread.ts); default true
   */
  udpThread?: boolean;
}

/** Default per-client limit when the spec does not say. */
export const DEFAULT_RATE_LIMIT = 1000;

/** A worker thread's name (startDns64 { workers }) in `top -H`, `ps -L` and /proc/PID/task/TID/comm */
export const LOOP_THREAD_NAME = "v6m-dns64-loop";

export function policyOf(a: Dns64Assignment): Dns64Policy {
  return {
    prefix: a.prefix,
    exclude: a.spec.exclude,
    alwaysSynthesize: a.spec.alwaysSynthesize,
    forwardOnly: a.forwardOnly === true,
  };
}

export function configOf(a: Dns64Assignment): Dns64Config {
  return compileConfig(policyOf(a));
}

export function endpoints(list: readonly Endpoint[]): ListenAddress[] {
  return list.map((e) => ({ family: e.family, host: e.host, port: e.port }));
}

function rateOf(a: Dns64Assignment, opts: Dns64Options): number {
  if (opts.rateLimit !== undefined) return opts.rateLimit;
  return a.spec.rateLimit ?? DEFAULT_RATE_LIMIT;
}

export class Stack {
  private constructor(
    readonly server: Dns64Server,
    readonly handler: QueryHandler,
    readonly upstream: UpstreamClient,
    readonly resolver: Resolver,
    readonly limiter: RateLimiter,
    readonly cache: AnswerCache,
  ) {}

  /** `role`: SO_REUSEPORT sockets (several threads), and whether this stack serves TCP too. */
  static async start(
    a: Dns64Assignment,
    opts: Dns64Options,
    role: Partial<ServerOptions> & { tcp: boolean },
    log: Logger,
    cache = new AnswerCache({ ...DEFAULT_CACHE_LIMITS, ...opts.cache }),
  ): Promise<Stack> {
    const upstream = new UpstreamClient(endpoints(a.spec.upstreams) as UpstreamEndpoint[], {
      ...DEFAULT_UPSTREAM_OPTIONS,
      ...opts.upstream,
    });
    const resolver = new Resolver(configOf(a), upstream, cache);
    const limiter = new RateLimiter(rateOf(a, opts));
    const acl = new ClientAcl(a.spec.allowClients);
    const handler = new QueryHandler(resolver, acl);
    const tcp = role.tcp ? new TcpFront(handler, acl, { ...DEFAULT_TCP_OPTIONS, ...opts.tcp }) : undefined;
    const srv = new Dns64Server(
      handler,
      limiter,
      log,
      { ...DEFAULT_SERVER_OPTIONS, udpThread: opts.udpThread ?? true, ...role },
      tcp,
      {
        policy: policyOf(a),
        allowClients: a.spec.allowClients,
        rate: rateOf(a, opts),
        resolver,
      },
    );
    try {
      await srv.listen(endpoints(a.spec.listen));
    } catch (e) {
      await srv.close();
      upstream.close();
      throw e;
    }
    return new Stack(srv, handler, upstream, resolver, limiter, cache);
  }

  async close(): Promise<void> {
    await this.server.close();
    this.upstream.close();
  }

  stats(): Record<string, number> {
    const u = this.upstream.stats;
    const udp = this.upstream.udp;
    const r = this.resolver.stats;
    const rejected = udp.stats.rejected;
    const ports = udp.portStats;
    const thread = this.server.threadStats();
    const handler: Record<string, number> = { ...this.handler.stats };
    for (const [k, v] of Object.entries(thread)) handler[k] = (handler[k] ?? 0) + v;
    return {
      ...handler,
      ...this.server.tcp?.stats,
      tcpOpen: this.server.tcp?.open ?? 0,
      cacheEntries: this.cache.size,
      cacheBytes: this.cache.usedBytes,
      cacheHitsTotal: this.cache.hits,
      cacheMisses: this.cache.misses,
      cacheEvictions: this.cache.evictions,
      // a thread died holding the cache's lock (cache.ts): until recovered, answers from upstream
      cacheLockFailures: this.cache.lockFailures,
      synthesized: r.synthesized,
      excludedFiltered: r.excludedFiltered,
      ptrSynthesized: r.ptrSynthesized,
      ipv4only: r.ipv4only,
      coalesced: r.coalesced,
      upstreamQueries: u.queries,
      upstreamUdpSent: udp.stats.udpSent,
      upstreamTimeouts: udp.stats.timeouts + u.tcpTimeouts,
      upstreamTruncated: u.truncated,
      upstreamTcp: u.tcpSent,
      upstreamTcpRejected: u.tcpRejected,
      upstreamBatched: udp.stats.udpBatched,
      upstreamFailovers: u.failovers,
      upstreamFailures: u.failures,
      // RFC 5452: answers not taken, by reason (upstreamwire.ts); none of them is ever cached
      upstreamRejected: Object.values(rejected).reduce((x, y) => x + y, 0),
      upstreamRejectedMalformed: rejected.malformed,
      upstreamRejectedNoQuery: rejected.noQuery,
      upstreamRejectedSource: rejected.source,
      upstreamRejectedQuestion: rejected.question,
      upstreamRejectedCase: rejected.case,
      upstreamCaseFallbacks: u.caseFallbacks,
      upstreamNoCaseEcho: udp.caseEcho.offCount(Date.now()),
      upstreamPortsOpen: udp.portsOpen,
      // RFC 5452 §9.2 (ports.ts): sockets opened, port draws that found the port in use, and
      // windows that shared an open socket because 1,024 were open
      upstreamPortsOpened: ports.portsOpened,
      upstreamPortCollisions: ports.portCollisions,
      upstreamPortsShared: ports.portsShared,
    };
  }
}
