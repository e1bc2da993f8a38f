// 0x20 case randomisation (draft-vixie-dnsext-dns0x20): the letters of the name we ask an upstream
// are given a random case, and an answer counts only if its question comes back in exactly that
// case (DNS compares names case-insensitively, RFC 4343, so a resolver that copies the question
// echoes it). Each letter adds one bit an off-path forger must guess, on top of the ID and port.
//
// Not every upstream echoes the case (some proxies and load balancers lower-case the question).
// Such an upstream answers from the right address and port, with the right ID and the right name
// in the wrong case: the query is asked again without 0x20 and that upstream gets plain queries
// for `retryMs`, after which 0x20 is tried again. A forger cannot use this to switch 0x20 off
// without first matching port and ID.
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

/** Whether an upstream gets 0x20 queries: on until it fails to echo the case, then off for a while. */
export class CaseEcho {
  /** upstreams (by key) that did not echo the case, and until when they get plain queries */
  private readonly offUntil = new Map<string, number>();

  constructor(
    readonly enabled: boolean,
    private readonly retryMs = 10 * 60_000,
  ) {}

  wanted(upstream: string, nowMs: number): boolean {
    if (!this.enabled) return false;
    const until = this.offUntil.get(upstream);
    if (until === undefined) return true;
    if (nowMs < until) return false;
    this.offUntil.delete(upstream);
    return true;
  }

  /** `upstream` answered our question in another case. */
  notEchoed(upstream: string, nowMs: number): void {
    this.offUntil.set(upstream, nowMs + this.retryMs);
  }

  /** upstreams asked without 0x20 at `nowMs` */
  offCount(nowMs: number): number {
    let n = 0;
    for (const until of this.offUntil.values()) if (nowMs < until) n++;
    return n;
  }
}
