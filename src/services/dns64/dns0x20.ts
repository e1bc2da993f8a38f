// 0x20 case randomisation (draft-vixie-dnsext-dns0x20): the letters of the name we ask an upstream
// are given a random case, and an answer counts only if its question comes back in exactly that
// case (DNS compares names case-insensitively, RFC 4343, so a resolver that copies the question
// echoes it). Each letter adds one bit an off-path forger must guess, on top of the ID and port.
//
// Not every upstream echoes the case (some proxies and load balancers lower-case the question).
// Such an upstream answers from the right address and port, with the right ID and the right name
// in the wrong case: that query is asked again over TCP (upstream.ts; a forger who matched port and
// ID but not the case gets no second chance over UDP). After a few such answers in a row that
// upstream gets plain UDP queries for `retryMs`, after which 0x20 is tried again.
import type { Entropy } from "./random.ts";

/** `name` (uncompressed wire form) with each ASCII letter in a random case. */
export function perturbCase(name: Uint8Array, rnd: Entropy): Uint8Array {
  const out = name.slice();
  let bits = 0;
  let left = 0;
  let i = 0;
  while (i < out.length) {
    const len = out[i]!;
    if (len === 0) break;
    for (let k = i + 1; k <= i + len && k < out.length; k++) {
      const c = out[k]! | 0x20;
      if (c < 0x61 || c > 0x7a) continue; // not a letter
      if (left === 0) {
        bits = rnd.byte();
        left = 8;
      }
      out[k] = bits & 1 ? c & ~0x20 : c;
      bits >>= 1;
      left--;
    }
    i += len + 1;
  }
  return out;
}

/** Does this name hold a letter (a name without one gains nothing from 0x20)? */
export function hasLetter(name: Uint8Array): boolean {
  let i = 0;
  while (i < name.length) {
    const len = name[i]!;
    if (len === 0) return false;
    for (let k = i + 1; k <= i + len && k < name.length; k++) {
      const c = name[k]! | 0x20;
      if (c >= 0x61 && c <= 0x7a) return true;
    }
    i += len + 1;
  }
  return false;
}

/** Case mismatches in a row, with no echoed answer between them, before 0x20 is switched off. */
export const MISSES_TO_SWITCH_OFF = 3;

interface EchoState {
  /** case mismatches since the last echoed answer */
  misses: number;
  /** plain queries until then (0: 0x20 on) */
  offUntil: number;
}

/**
 * Whether an upstream gets 0x20 queries: on until it fails to echo the case MISSES_TO_SWITCH_OFF
 * times in a row, then off for `retryMs`. An answer that echoes the case resets the count, so a
 * forger who matched port and ID once or twice cannot switch 0x20 off for an upstream that echoes.
 */
export class CaseEcho {
  private readonly state = new Map<string, EchoState>();

  constructor(
    readonly enabled: boolean,
    private readonly retryMs = 10 * 60_000,
  ) {}

  wanted(upstream: string, nowMs: number): boolean {
    if (!this.enabled) return false;
    const s = this.state.get(upstream);
    if (s === undefined || s.offUntil === 0) return true;
    if (nowMs < s.offUntil) return false;
    this.state.delete(upstream); // tried again
    return true;
  }

  /** `upstream` answered a 0x20 query with the case echoed. */
  echoed(upstream: string): void {
    if (this.state.size > 0) this.state.delete(upstream);
  }

  /** `upstream` answered a 0x20 query with our question in another case. */
  notEchoed(upstream: string, nowMs: number): void {
    const s = this.state.get(upstream) ?? { misses: 0, offUntil: 0 };
    s.misses++;
    if (s.misses >= MISSES_TO_SWITCH_OFF) s.offUntil = nowMs + this.retryMs;
    this.state.set(upstream, s);
  }

  /** upstreams asked without 0x20 at `nowMs` */
  offCount(nowMs: number): number {
    let n = 0;
    for (const s of this.state.values()) if (nowMs < s.offUntil) n++;
    return n;
  }
}
