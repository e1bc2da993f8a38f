// Who may query: the allowClients list (everyone else is REFUSED, so this is never an open resolver)
// and a per-client token bucket (over the limit, UDP queries are dropped and counted, as response
// rate limiting does: answering would let a spoofed source turn us into a reflector).
import { type Prefix, parseAddress, prefixRange, type Range } from "../../util/net.ts";

export class ClientAcl {
  private readonly ranges: Range[];
  private readonly memo = new Map<string, boolean>();

  constructor(prefixes: readonly Prefix[]) {
    this.ranges = prefixes.map(prefixRange);
  }

  /** `address` as Node reports it ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0"). */
  allows(address: string): boolean {
    const m = this.memo.get(address);
    if (m !== undefined) return m;
    const ok = this.check(address);
    if (this.memo.size > 10_000) this.memo.clear();
    this.memo.set(address, ok);
    return ok;
  }

  private check(address: string): boolean {
    let text = address;
    const pct = text.indexOf("%");
    if (pct >= 0) text = text.slice(0, pct);
    // IPv4 clients on a dual-stack socket appear as IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2)
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
    if (mapped) text = mapped[1]!;
    const a = parseAddress(text);
    if (!a.ok) return false;
    return this.ranges.some(
      (r) => r.family === a.value.family && r.first <= a.value.value && a.value.value <= r.last,
    );
  }
}

interface Bucket {
  tokens: number;
  last: number;
}

/** Token buckets per client: `rate` queries per second, bursts of up to `burst`. rate 0 = unlimited. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  dropped = 0;

  constructor(
    private readonly rate: number,
    private readonly burst: number = rate * 2,
    private readonly maxClients = 100_000,
  ) {}

  /** Takes one token for `client` at `nowMs`; false when the client is over its limit. */
  take(client: string, nowMs: number): boolean {
    if (this.rate <= 0) return true;
    let b = this.buckets.get(client);
    if (!b) {
      if (this.buckets.size >= this.maxClients) this.sweep(nowMs);
      b = { tokens: this.burst, last: nowMs };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.last) / 1000) * this.rate);
      b.last = nowMs;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }

  /** Forgets clients whose bucket has refilled (they are indistinguishable from new ones). */
  sweep(nowMs: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.last) / 1000) * this.rate >= this.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxClients) this.buckets.clear();
  }

  get clients(): number {
    return this.buckets.size;
  }
}
