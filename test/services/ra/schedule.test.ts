// RFC 4861 §6.2.4 and §6.2.6 timing, on a fake clock with a seeded random source.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  AdvertSchedule,
  MAX_INITIAL_RTR_ADVERT_INTERVAL,
  MAX_INITIAL_RTR_ADVERTISEMENTS,
  MAX_RA_DELAY_TIME,
  MIN_DELAY_BETWEEN_RAS,
} from "../../../src/services/ra/schedule.ts";

/** Run the schedule: at each due time send; return the send times. */
function run(s: AdvertSchedule, until: number, solicitations: number[] = []): number[] {
  const sent: number[] = [];
  const rs = [...solicitations].sort((a, b) => a - b);
  let now = 0;
  while (now <= until) {
    const next = Math.min(s.nextAt(), rs[0] ?? Number.POSITIVE_INFINITY);
    if (next > until) break;
    now = Math.max(now, next);
    if (rs.length && rs[0]! <= now && rs[0]! <= s.nextAt()) {
      s.solicited(rs.shift()!);
      continue;
    }
    if (s.due(now)) {
      sent.push(now);
      s.sent(now);
    }
  }
  return sent;
}

test("§6.2.4: first advertisement at once, the first three intervals capped at 16 s, then in [min, max]", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 4, max: 1800 }),
      fc.double({ min: 0, max: 0.75, noNaN: true }),
      fc.integer(),
      (max, f, seed) => {
        const min = Math.max(3, Math.floor(f * max));
        let x = seed;
        const random = () => {
          x = (x * 1103515245 + 12345) & 0x7fffffff;
          return x / 0x80000000;
        };
        const s = new AdvertSchedule(min * 1000, max * 1000, 0, random);
        const times = run(s, 20 * max * 1000);
        assert.equal(times[0], 0);
        for (let i = 1; i < times.length; i++) {
          const gap = times[i]! - times[i - 1]!;
          if (i <= MAX_INITIAL_RTR_ADVERTISEMENTS) {
            assert.ok(
              gap <= MAX_INITIAL_RTR_ADVERT_INTERVAL &&
                gap >= Math.min(min * 1000, MAX_INITIAL_RTR_ADVERT_INTERVAL),
              `initial gap ${gap}`,
            );
          } else {
            assert.ok(gap >= min * 1000 && gap <= max * 1000, `gap ${gap} outside [${min}, ${max}] s`);
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("§6.2.6: a solicitation is answered within MAX_RA_DELAY_TIME, and never sooner than MIN_DELAY_BETWEEN_RAS after the last one", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      fc.integer({ min: 0, max: 10_000 }),
      (r, at) => {
        const s = new AdvertSchedule(200_000, 600_000, 0, () => r);
        s.sent(0); // the first advertisement, at 0
        const rsAt = 1 + at;
        assert.equal(s.solicited(rsAt), "scheduled");
        const answer = s.nextAt();
        if (rsAt >= MIN_DELAY_BETWEEN_RAS) {
          assert.ok(
            answer >= rsAt && answer <= rsAt + MAX_RA_DELAY_TIME,
            `answer ${answer} for RS at ${rsAt}`,
          );
        } else {
          assert.ok(
            answer >= MIN_DELAY_BETWEEN_RAS && answer <= MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME,
            `rate limited answer ${answer}`,
          );
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("§6.2.6: a flood of solicitations gets one answer, then the rate limit holds", () => {
  const s = new AdvertSchedule(200_000, 600_000, 0, () => 0.5);
  s.sent(0);
  const flood = Array.from({ length: 1000 }, (_, i) => 10_000 + i * 10); // 100 RS/s for 10 s
  const sent = run(s, 25_000, flood);
  // answers at least MIN_DELAY_BETWEEN_RAS apart, and there is at least one
  assert.ok(sent.length >= 2);
  for (let i = 1; i < sent.length; i++)
    assert.ok(sent[i]! - sent[i - 1]! >= MIN_DELAY_BETWEEN_RAS, `${sent}`);
  // 10 s of flood → at most 10 / 3 + 1 answers
  assert.ok(sent.filter((t) => t >= 10_000).length <= 5, `${sent}`);
});

test("§6.2.6: a solicitation shortly before the next unsolicited advertisement is folded into it", () => {
  const s = new AdvertSchedule(3_000, 4_000, 0, () => 0.99);
  s.sent(0);
  const next = s.nextAt();
  assert.equal(s.solicited(next - 10), "merged");
  assert.equal(s.nextAt(), next);
});

test("§6.2.4: a configuration change brings the next advertisement forward, rate limit kept", () => {
  const s = new AdvertSchedule(200_000, 600_000, 0, () => 0.5);
  s.sent(0);
  for (let i = 0; i < 3; i++) s.sent(16_000 * (i + 1));
  assert.ok(s.nextAt() > 100_000);
  s.configChanged(50_000); // 2 s after the last one (48 s): the rate limit moves it to 51 s
  assert.equal(s.nextAt(), 48_000 + MIN_DELAY_BETWEEN_RAS);
  s.sent(51_000);
  s.configChanged(60_000);
  assert.equal(s.nextAt(), 60_000);
  // and the initial cap applies again
  s.sent(60_000);
  assert.ok(s.nextAt() - 60_000 <= MAX_INITIAL_RTR_ADVERT_INTERVAL);
});
