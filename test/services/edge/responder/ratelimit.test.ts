import assert from "node:assert/strict";
import { test } from "node:test";
import { AnswerLimiter, TokenBucket } from "../../../../src/services/edge/responder/ratelimit.ts";

test("token bucket: a burst, then the rate", () => {
  const b = new TokenBucket(10, 5, 0);
  let n = 0;
  for (let i = 0; i < 100; i++) if (b.take(0)) n++;
  assert.equal(n, 5);
  assert.equal(b.take(50), false); // half a token
  assert.equal(b.take(100), true); // one token after 100 ms at 10/s
  let later = 0;
  for (let i = 0; i < 100; i++) if (b.take(10_000)) later++;
  assert.equal(later, 5); // never more than the burst, however long it waited
});

test("limiter: one solicitor gets half, another is still answered, the global bucket bounds both", () => {
  const l = new AnswerLimiter(100, 0);
  let a = 0;
  for (let i = 0; i < 1000; i++) if (l.allow("a", 0)) a++;
  assert.equal(a, 50);
  let b = 0;
  for (let i = 0; i < 1000; i++) if (l.allow("b", 0)) b++;
  assert.equal(b, 50);
  assert.equal(l.allow("c", 0), false); // the global burst (100) is spent
  // one second later: 50 more for a, the global refilled
  let a2 = 0;
  for (let i = 0; i < 1000; i++) if (l.allow("a", 1000)) a2++;
  assert.equal(a2, 50);
});

test("limiter: forged solicitors cannot grow the table beyond its bound, and the global bucket still holds", () => {
  const l = new AnswerLimiter(100, 0, 16);
  let n = 0;
  for (let i = 0; i < 10_000; i++) if (l.allow(`m${i}`, 0)) n++;
  assert.equal(n, 100);
  assert.equal((l as unknown as { solicitors: Map<string, unknown> }).solicitors.size, 16);
});
