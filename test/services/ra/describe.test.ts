// What `ra listen` prints of text an RA's sender chose: never a character a terminal acts on.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { describeOption, terminalJson, visible } from "../../../src/services/ra/describe.ts";
import { decodeRouterAdvertisement } from "../../../src/services/ra/wire.ts";
import { HOSTILE, hostileAdvertisement } from "./fixtures/hostile-ra.ts";

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** The inverse of visible(), to show that what it prints is unambiguous. */
function unvisible(text: string): string {
  return text.replace(/\\(\\|x([0-9a-f]{2})|u\{([0-9a-f]+)\})/g, (_, all: string, x?: string, u?: string) =>
    all === "\\" ? "\\" : String.fromCodePoint(Number.parseInt((x ?? u)!, 16)),
  );
}

test("a captive portal URI with escape sequences, a C1 CSI, a bidi override and a backslash is shown escaped", () => {
  assert.equal(
    describeOption({ type: "captivePortal", uri: HOSTILE.portal }),
    "captive portal https://portal.example/\\x1b[31mred\\x1b[0m\\x9b2J\\u{202e}gnp.exe\\\\x41",
  );
});

test("the decoder gives DNSSL names in presentation form (escape bytes as \\027); both options described escaped", () => {
  const d = decodeRouterAdvertisement(hostileAdvertisement());
  assert.ok(d.ok);
  assert.deepEqual(d.value.options.map(describeOption), [
    "DNSSL evil\\027\\0912J\\027\\0930\\059pwned\\007.example, lifetime 600s (10m)",
    "captive portal https://portal.example/\\x1b[31mred\\x1b[0m\\x9b2J\\u{202e}gnp.exe\\\\x41",
  ]);
});

test("fuzz: visible() leaves nothing a terminal acts on, and says exactly what the text was", () => {
  for (const s of ["\\x41", "a\\", "\\u{202e}", HOSTILE.portal]) assert.equal(unvisible(visible(s)), s);
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      const v = visible(s);
      assert.ok(!UNSAFE.test(v), JSON.stringify(v));
      assert.equal(unvisible(v), s);
    }),
    { numRuns: 2000 },
  );
});

test("fuzz: terminalJson() leaves nothing a terminal acts on and parses back to the same value", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (value, s) => {
      const record = { value, s };
      const text = terminalJson(record);
      assert.ok(!UNSAFE.test(text), text);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(record)));
    }),
    { numRuns: 1000 },
  );
});
