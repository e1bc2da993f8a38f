// The resolver core: from a client's question to a Reply, through the cache, the upstreams and the
// RFC 6147 decisions in ./synth.ts. No sockets here (the fetcher is passed in), so tests can drive it
// with canned upstream answers.
import { AnswerCache, cacheKey } from "./cache.ts";
import {
  type CachePolicy,
  DEFAULT_POLICY,
  errorReply,
  parseReply,
  type Reply,
  replyFromUpstream,
} from "./reply.ts";
import {
  aFailure,
  type Dns64Config,
  excludedNodata,
  ipv4onlyAnswer,
  judgeAaaa,
  planQuery,
  ptrAnswer,
  reverseNodata,
  synthesize,
} from "./synth.ts";
import type { UpstreamAnswer, UpstreamQuestion } from "./upstream.ts";
import { CLASS_IN, RCODE, TYPE, writeU32 } from "./wire.ts";

export interface Fetcher {
  query(q: UpstreamQuestion): Promise<UpstreamAnswer | undefined>;
}

/** A Reply and how many seconds it has spent in the cache (TTLs are lowered by that when sent). */
export interface Answer {
  reply: Reply;
  age: number;
}

export interface ResolverStats {
  synthesized: number;
  excludedFiltered: number;
  ptrSynthesized: number;
  ipv4only: number;
  upstreamFailures: number;
  coalesced: number;
}

/** CLOCK_MONOTONIC (process.hrtime) minus this thread's performance.now(), both in seconds. */
const hrtimeOffset = Number(process.hrtime.bigint()) / 1e9 - performance.now() / 1000;

/**
 * Monotonic seconds (cache expiry must not follow wall-clock jumps), the same in every thread of the
 * process, since the cache is shared between threads: CLOCK_MONOTONIC, read through performance.now()
 * (which counts from each thread's own start) plus this thread's offset, so that the hot path makes
 * no array (process.hrtime()) or BigInt per call.
 */
export const monotonicSeconds = (): number => Math.floor(hrtimeOffset + performance.now() / 1000);

/** A copy of `reply` with every TTL lowered by `age` seconds. */
export function aged(reply: Reply, age: number): Reply {
  if (age <= 0) return reply;
  const wire = reply.wire.slice();
  for (const o of reply.ttlOffsets) {
    const t = ((wire[o]! << 24) | (wire[o + 1]! << 16) | (wire[o + 2]! << 8) | wire[o + 3]!) >>> 0;
    writeU32(wire, o, t > age ? t - age : 0);
  }
  return { ...reply, wire, ttl: Math.max(0, reply.ttl - age) };
}

export class Resolver {
  readonly stats: ResolverStats = {
    synthesized: 0,
    excludedFiltered: 0,
    ptrSynthesized: 0,
    ipv4only: 0,
    upstreamFailures: 0,
    coalesced: 0,
  };
  private readonly inflight = new Map<string, Promise<Answer>>();

  constructor(
    public cfg: Dns64Config,
    private readonly fetcher: Fetcher,
    readonly cache: AnswerCache = new AnswerCache(),
    private readonly policy: CachePolicy = DEFAULT_POLICY,
    private readonly now: () => number = monotonicSeconds,
  ) {}

  /**
   * The cached answer for a key in cacheKey()'s form, as bytes key[0..len), if there is one (the
   * fast path: no promise, no key string). The reply is borrowed from the cache: render it before
   * anything else calls the cache.
   */
  cachedBytes(key: Uint8Array, len: number): Answer | undefined {
    const now = this.now();
    const reply = this.cache.borrow(key, len, now);
    return reply && { reply, age: now - this.cache.storedAt };
  }

  /** The answer to a client's question (`lowerName` is the case-folded wire name). */
  answer(
    lowerName: Uint8Array,
    qtype: number,
    qclass: number,
    dnssecOk: boolean,
    cd: boolean,
  ): Promise<Answer> {
    const key = cacheKey(lowerName, qtype, qclass, dnssecOk, cd);
    const now = this.now();
    const hit = this.cache.get(key, now);
    if (hit) return Promise.resolve({ reply: hit.reply, age: now - hit.stored });
    return this.once(key, async () => {
      const plan = planQuery(this.cfg, lowerName, qtype, qclass, dnssecOk, cd);
      switch (plan.kind) {
        case "forward":
          return this.fetch(key, { name: lowerName, type: qtype, class: qclass, dnssecOk, cd });
        case "ipv4only":
          this.stats.ipv4only++;
          return { reply: ipv4onlyAnswer(this.cfg, lowerName, qtype, qclass), age: 0 };
        case "aaaa":
          return this.store(key, await this.aaaa(key, lowerName, dnssecOk, cd));
        case "reverseNodata":
          return { reply: reverseNodata(this.cfg, lowerName, qtype, qclass), age: 0 };
        case "ptr": {
          const inAddr = await this.answer(plan.target, TYPE.PTR, CLASS_IN, dnssecOk, cd);
          this.stats.ptrSynthesized++;
          return this.store(key, ptrAnswer(lowerName, plan.target, aged(inAddr.reply, inAddr.age)));
        }
      }
    });
  }

  /** RFC 6147 §5.1: the AAAA answer, real or synthesized. */
  private async aaaa(key: string, name: Uint8Array, dnssecOk: boolean, cd: boolean): Promise<Reply> {
    const raw = await this.forward(`raw|${key}`, { name, type: TYPE.AAAA, class: CLASS_IN, dnssecOk, cd });
    const aaaaReply = aged(raw.reply, raw.age);
    // parsed once for both steps (an NXDOMAIN is returned as it is, unparsed)
    const aaaaMsg = aaaaReply.rcode === RCODE.NXDOMAIN ? undefined : parseReply(aaaaReply);
    const verdict = judgeAaaa(this.cfg, aaaaReply, aaaaMsg);
    if (verdict.kind === "answer") {
      if (verdict.reply !== aaaaReply) this.stats.excludedFiltered++;
      return verdict.reply;
    }
    const a = await this.answer(name, TYPE.A, CLASS_IN, dnssecOk, cd);
    const aReply = aged(a.reply, a.age);
    if (aReply.rcode !== RCODE.NOERROR && verdict.nodata) return aFailure(name, aReply, dnssecOk);
    const synthesized = synthesize(this.cfg, name, aaaaReply, aReply, dnssecOk, aaaaMsg);
    if (!synthesized) {
      // §5.1.6: nothing to synthesize from: the AAAA answer stands, without excluded records (§5.1.4)
      if (verdict.fallback === aaaaReply) return aaaaReply;
      this.stats.excludedFiltered++;
      return verdict.nodata ? excludedNodata(verdict.fallback, aReply) : verdict.fallback;
    }
    this.stats.synthesized++;
    return synthesized;
  }

  private store(key: string, reply: Reply): Answer {
    this.cache.set(key, reply, this.now());
    return { reply, age: 0 };
  }

  /** A question sent upstream as it is (through the cache). */
  private forward(key: string, q: UpstreamQuestion): Promise<Answer> {
    const now = this.now();
    const e = this.cache.get(key, now);
    if (e) return Promise.resolve({ reply: e.reply, age: now - e.stored });
    return this.fetch(key, q);
  }

  /** Asks the upstreams (one question in flight per key) and caches the reply. */
  private fetch(key: string, q: UpstreamQuestion): Promise<Answer> {
    return this.once(`fetch|${key}`, async () => {
      const a = await this.fetcher.query(q);
      if (!a) {
        this.stats.upstreamFailures++;
        return { reply: errorReply(q.name, q.type, q.class, RCODE.SERVFAIL), age: 0 };
      }
      return this.store(key, replyFromUpstream(a.wire, a.msg, this.policy));
    });
  }

  /** Coalesces identical questions in flight into one resolution. */
  private once(key: string, work: () => Promise<Answer>): Promise<Answer> {
    const running = this.inflight.get(key);
    if (running) {
      this.stats.coalesced++;
      return running;
    }
    const p = work().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}
