// 0x20 case randomisation (src/services/dns64/dns0x20.ts) and the RFC 5452 §9.1 answer check
// (upstreamwire.ts answerCheck), as properties over arbitrary names and bytes, and the CSPRNG
// draws (random.ts) they rely on.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CaseEcho,
  hasLetter,
  MISSES_TO_SWITCH_OFF,
  perturbCase,
} from "../../../src/services/dns64/dns0x20.ts";
import { Entropy } from "../../../src/services/dns64/random.ts";
import {
  answerCheck,
  buildUpstreamQuery,
  type UpstreamQuestion,
} from "../../../src/services/dns64/upstreamwire.ts";
import { HEADER_LEN, lowerName, textToName } from "../../../src/services/dns64/wire.ts";

/** A wire name from labels of arbitrary bytes (1..63 each, 255 bytes at most). */
const wireName = fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), { maxLength: 8 }).map((labels) => {
  const out: number[] = [];
  for (const l of labels) out.push(l.length, ...l);
  out.push(0);
  return Uint8Array.from(out);
});

const isLetter = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;

test("perturbCase: the same name case-insensitively; only letters change; letters take both cases", () => {
  const rnd = new Entropy();
  fc.assert(
    fc.property(wireName, (name) => {
      const p = perturbCase(name, rnd);
      assert.equal(p.length, name.length);
      assert.deepEqual(lowerName(p), lowerName(name));
      for (let i = 0; i < name.length; i++) if (p[i] !== name[i]) assert.ok(isLetter(name[i]!), `byte ${i}`);
      assert.equal(hasLetter(name), hasLetterIn(name));
    }),
  );
  // over many draws of one name, each letter is upper case about half of the time
  const name = textToName("abcdefghijklmnop.example");
  const upper = new Array(name.length).fill(0);
  for (let n = 0; n < 2000; n++) {
    const p = perturbCase(name, rnd);
    p.forEach((c, i) => {
      if (c >= 0x41 && c <= 0x5a) upper[i]++;
    });
  }
  for (let i = 1; i <= 16; i++)
    assert.ok(upper[i] > 850 && upper[i] < 1150, `letter ${i}: ${upper[i]} of 2000`);
  assert.equal(upper[0], 0, "length bytes untouched");
});

/** hasLetter by a plain walk over the labels (an independent reading). */
function hasLetterIn(name: Uint8Array): boolean {
  for (let i = 0; i < name.length && name[i] !== 0; i += name[i]! + 1)
    for (let k = 1; k <= name[i]!; k++) if (isLetter(name[i + k]!)) return true;
  return false;
}

/** A copy of `b` with byte `i` XORed with `mask`. */
function flip(b: Uint8Array, i: number, mask: number): Uint8Array {
  const out = b.slice();
  out[i] = out[i]! ^ mask;
  return out;
}

test("answerCheck: the query itself as an answer passes; a flipped letter is 'case'; another ID, type, class or count fails; never throws", () => {
  const rnd = new Entropy();
  const q = (name: Uint8Array): UpstreamQuestion => ({ name, type: 1, class: 1, dnssecOk: false, cd: false });
  fc.assert(
    fc.property(wireName, fc.integer({ min: 0, max: 0xffff }), (name, id) => {
      const query = buildUpstreamQuery(id, q(name), perturbCase(name, rnd));
      const qend = HEADER_LEN + name.length + 4;
      const answer = query.slice();
      answer[2]! |= 0x80;
      assert.equal(answerCheck(answer, query, qend), undefined);
      assert.equal(answerCheck(query, query, qend), "malformed", "not a response");
      assert.equal(answerCheck(flip(answer, 1, 1), query, qend), "noQuery", "another ID");
      assert.equal(answerCheck(flip(answer, qend - 3, 1), query, qend), "question", "another type");
      assert.equal(answerCheck(flip(answer, qend - 1, 2), query, qend), "question", "another class");
      assert.equal(answerCheck(flip(answer, 5, 3), query, qend), "question", "two questions");
      const letter = [...answer.subarray(HEADER_LEN, qend - 4)].findIndex((c, i) => i > 0 && isLetter(c));
      if (letter > 0) {
        // labels here are at most 20 bytes: a length byte is never a letter
        assert.equal(answerCheck(flip(answer, HEADER_LEN + letter, 0x20), query, qend), "case");
      }
    }),
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.nat(100),
      (a, b, e) => {
        answerCheck(a, b, e);
      },
    ),
  );
});

test("answerCheck: upper-case letters answered in lower case are 'case', other bytes are 'question'", () => {
  const name = textToName("WwW.ExAmple");
  const query = buildUpstreamQuery(7, { name, type: 28, class: 1, dnssecOk: false, cd: false });
  const qend = HEADER_LEN + name.length + 4;
  const answer = query.slice();
  answer[2]! |= 0x80;
  answer.set(lowerName(name), HEADER_LEN);
  assert.equal(answerCheck(answer, query, qend), "case");
  answer.set(textToName("www.exbmple"), HEADER_LEN);
  assert.equal(answerCheck(answer, query, qend), "question");
});

test("CaseEcho: off after MISSES_TO_SWITCH_OFF mismatches in a row, for retryMs, per upstream; an echo resets the count", () => {
  const c = new CaseEcho(true, 1000);
  assert.equal(c.wanted("a", 0), true);
  for (let i = 1; i < MISSES_TO_SWITCH_OFF; i++) c.notEchoed("a", 10);
  c.echoed("a");
  c.notEchoed("a", 10);
  assert.equal(c.wanted("a", 20), true, "an echo in between: still on");
  for (let i = 1; i < MISSES_TO_SWITCH_OFF; i++) c.notEchoed("a", 10);
  assert.equal(c.wanted("a", 20), false, `${MISSES_TO_SWITCH_OFF} in a row: off`);
  assert.equal(c.wanted("b", 20), true, "per upstream");
  assert.equal(c.offCount(500), 1);
  assert.equal(c.wanted("a", 1010), true, "tried again after retryMs");
  assert.equal(c.offCount(1010), 0);
  assert.equal(new CaseEcho(false).wanted("a", 0), false);
});

test("Entropy: range16 stays in range and reaches both ends; u16 covers the 16 bits", () => {
  const rnd = new Entropy();
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < 200_000; i++) {
    const v = rnd.range16(1024, 65535);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.ok(lo >= 1024 && lo < 1100 && hi <= 65535 && hi > 65450, `${lo}..${hi}`);
  const counts = new Array(3).fill(0);
  for (let i = 0; i < 30_000; i++) counts[rnd.range16(0, 2)]++;
  for (const n of counts) assert.ok(n > 9_500 && n < 10_500, String(counts));
  let or = 0;
  let and = 0xffff;
  for (let i = 0; i < 1000; i++) {
    const v = rnd.u16();
    or |= v;
    and &= v;
  }
  assert.equal(or, 0xffff);
  assert.equal(and, 0);
  assert.throws(() => rnd.range16(5, 4));
});
