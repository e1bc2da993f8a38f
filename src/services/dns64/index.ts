// The DNS64 service (RFC 6147, with RFC 8880 ipv4only.arpa) as the standalone `run` command and the
// agent host it: startDns64(assignment, ctx) → { stop, update, stats }.
import { parseEndpoint } from "../../api/net.ts";
import type { Dns64Assignment } from "../../planner/plan.ts";
import type { Logger } from "../../util/log.ts";
import { ClientAcl, RateLimiter } from "./access.ts";
import { compilePref64, compilePrefix6 } from "./addressing.ts";
import { AnswerCache, type CacheLimits, DEFAULT_CACHE_LIMITS } from "./cache.ts";
import { Resolver } from "./resolver.ts";
import { DEFAULT_SERVER_OPTIONS, Dns64Server, type ListenAddress, QueryHandler } from "./server.ts";
import type { Dns64Config } from "./synth.ts";
import {
  DEFAULT_UPSTREAM_OPTIONS,
  UpstreamClient,
  type UpstreamEndpoint,
  type UpstreamOptions,
} from "./upstream.ts";

export interface Dns64Context {
  log: Logger;
  stateDir: string;
}

export interface Dns64Service {
  stop(): Promise<void>;
  update(a: Dns64Assignment): Promise<void>;
  stats(): Record<string, number>;
}

/** Tuning that is not part of the resource (tests and the benchmark set it). */
export interface Dns64Options {
  upstream?: Partial<UpstreamOptions>;
  cache?: Partial<CacheLimits>;
  /** queries per second per client over UDP; 0 = unlimited. Default: the spec's rateLimit. */
  rateLimit?: number;
}

/** Default per-client limit when the spec does not say (a busy host resolves far less). */
export const DEFAULT_RATE_LIMIT = 1000;

export function configOf(a: Dns64Assignment): Dns64Config {
  return {
    prefix: compilePref64(a.prefix),
    exclude: a.spec.exclude.map(compilePrefix6),
    alwaysSynthesize: a.spec.alwaysSynthesize,
  };
}

function endpoints(texts: readonly string[]): ListenAddress[] {
  return texts.map((t) => {
    const e = parseEndpoint(t, 53);
    if (!e.ok) throw new Error(e.error);
    return { family: e.value.family, host: e.value.host, port: e.value.port };
  });
}

function rateOf(a: Dns64Assignment, opts: Dns64Options): number {
  if (opts.rateLimit !== undefined) return opts.rateLimit;
  return a.spec.rateLimit ?? DEFAULT_RATE_LIMIT;
}

interface Running {
  server: Dns64Server;
  upstream: UpstreamClient;
  resolver: Resolver;
  limiter: RateLimiter;
  listen: string;
}

export async function startDns64(
  assignment: Dns64Assignment,
  ctx: Dns64Context,
  opts: Dns64Options = {},
): Promise<Dns64Service> {
  const log = ctx.log.child({ service: "dns64", resource: assignment.name });
  const cache = new AnswerCache({ ...DEFAULT_CACHE_LIMITS, ...opts.cache });

  const build = async (a: Dns64Assignment, reuseCache: boolean): Promise<Running> => {
    const upstream = new UpstreamClient(endpoints(a.spec.upstreams) as UpstreamEndpoint[], {
      ...DEFAULT_UPSTREAM_OPTIONS,
      ...opts.upstream,
    });
    if (!reuseCache) cache.clear();
    const resolver = new Resolver(configOf(a), upstream, cache);
    const limiter = new RateLimiter(rateOf(a, opts));
    const handler = new QueryHandler(resolver, new ClientAcl(a.spec.allowClients));
    const server = new Dns64Server(handler, limiter, log, DEFAULT_SERVER_OPTIONS);
    try {
      await server.listen(endpoints(a.spec.listen));
    } catch (e) {
      await server.close();
      upstream.close();
      throw e;
    }
    return { server, upstream, resolver, limiter, listen: JSON.stringify(a.spec.listen) };
  };

  let current = await build(assignment, true);
  let currentSpec = assignment;
  log.info(
    { listen: assignment.spec.listen, prefix: assignment.prefix, upstreams: assignment.spec.upstreams },
    "dns64 serving",
  );
  const sweep = setInterval(() => current.limiter.sweep(Date.now()), 60_000);
  sweep.unref();

  return {
    async stop() {
      clearInterval(sweep);
      await current.server.close();
      current.upstream.close();
      log.info("dns64 stopped");
    },
    async update(a: Dns64Assignment) {
      // answers depend on the prefix and exclusions: a changed prefix empties the cache
      const sameAnswers =
        a.prefix === currentSpec.prefix &&
        JSON.stringify(a.spec.exclude) === JSON.stringify(currentSpec.spec.exclude) &&
        a.spec.alwaysSynthesize === currentSpec.spec.alwaysSynthesize;
      await current.server.close();
      current.upstream.close();
      current = await build(a, sameAnswers);
      currentSpec = a;
      log.info({ listen: a.spec.listen, prefix: a.prefix }, "dns64 updated");
    },
    stats() {
      const s = current.server.stats;
      const u = current.upstream.stats;
      const r = current.resolver.stats;
      return {
        ...s,
        cacheEntries: cache.size,
        cacheBytes: cache.usedBytes,
        cacheHitsTotal: cache.hits,
        cacheMisses: cache.misses,
        cacheEvictions: cache.evictions,
        synthesized: r.synthesized,
        excludedFiltered: r.excludedFiltered,
        ptrSynthesized: r.ptrSynthesized,
        ipv4only: r.ipv4only,
        coalesced: r.coalesced,
        upstreamQueries: u.queries,
        upstreamTimeouts: u.timeouts,
        upstreamTruncated: u.truncated,
        upstreamTcp: u.tcpSent,
        upstreamBadAnswers: u.badAnswers,
        upstreamFailovers: u.failovers,
        upstreamFailures: u.failures,
      };
    },
  };
}
