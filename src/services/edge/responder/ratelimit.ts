// Rate limits for answers: a token bucket per solicitor and one for everything. Pure: the caller
// passes the time. A bucket holds up to `burst` tokens, refills at `rate` per second, and each
// answer takes one; a solicitor whose bucket or the global bucket is empty is not answered.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Take one token at `now` (milliseconds); false when none is left. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether a token is there at `now`, without taking it. */
  has(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }
}

/**
 * The global bucket and one bucket per solicitor (keyed by its link-layer address). The table of
 * solicitors is bounded (`maxSolicitors`, oldest forgotten first), so forged sources cannot grow it;
 * a forgotten solicitor starts again with a full bucket, and the global bucket still bounds all.
 */
export class AnswerLimiter {
  private readonly global: TokenBucket;
  private readonly solicitors = new Map<string | number, TokenBucket>();
  readonly perSolicitor: number;

  constructor(
    readonly rate: number,
    now: number,
    readonly maxSolicitors = 4096,
  ) {
    // One solicitor may use half the budget: at least one other still gets answers while it floods.
    this.perSolicitor = Math.max(1, rate / 2);
    this.global = new TokenBucket(rate, Math.max(1, rate), now);
  }

  /** True when an answer to `solicitor` may go out at `now`; takes the tokens. */
  allow(solicitor: string | number, now: number): boolean {
    let b = this.solicitors.get(solicitor);
    if (!b) {
      if (this.solicitors.size >= this.maxSolicitors) {
        const oldest = this.solicitors.keys().next().value;
        if (oldest !== undefined) this.solicitors.delete(oldest);
      }
      b = new TokenBucket(this.perSolicitor, Math.max(1, this.perSolicitor), now);
      this.solicitors.set(solicitor, b);
    }
    if (!b.has(now) || !this.global.has(now)) return false;
    b.take(now);
    this.global.take(now);
    return true;
  }
}
