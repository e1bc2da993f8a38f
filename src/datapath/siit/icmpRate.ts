/**
 * RFC 4443 §2.4 (f): an ICMP error originator limits the rate of the errors it
 * sends, with a token bucket (the RFC's example): `burst` errors at once, then
 * `perSecond` on average. The defaults are Linux's icmp_msgs_per_sec (1000) and
 * icmp_msgs_burst (50). A translator owns one bucket for every error it
 * originates (ICMPv4 and ICMPv6 alike); an error the bucket refuses is not sent
 * and is counted in `suppressed`.
 */
export interface IcmpRate {
  perSecond: number;
  burst: number;
}

export const DEFAULT_ICMP_RATE: IcmpRate = { perSecond: 1000, burst: 50 };

export class IcmpRateLimit {
  /** Errors not sent because the bucket was empty. */
  suppressed = 0;
  private tokens: number;
  private last = Number.NEGATIVE_INFINITY;

  constructor(readonly rate: IcmpRate = DEFAULT_ICMP_RATE) {
    this.tokens = rate.burst;
  }

  /** Whether an error may be sent at clock time `now` (ms); takes its token, or counts it suppressed. */
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.last) * this.rate.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.suppressed++;
    return false;
  }
}
