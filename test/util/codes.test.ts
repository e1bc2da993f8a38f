/** util/codes.ts: names by code, and the refusal of tables that are not 0, 1, 2... */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { namesByCode } from "../../src/util/codes.ts";

describe("namesByCode", () => {
  it("lists the names by code, whatever the order they are written in", () => {
    assert.deepEqual(namesByCode({ B: 1, A: 0, C: 2 }), ["A", "B", "C"]);
    assert.deepEqual(namesByCode({}), []);
  });
  it("refuses a gap, a repeat, a negative or fractional code", () => {
    assert.throws(() => namesByCode({ A: 0, C: 2 }), /no name for code 1/);
    assert.throws(() => namesByCode({ A: 0, B: 0 }), /B = 0/);
    assert.throws(() => namesByCode({ A: -1 }), /A = -1/);
    assert.throws(() => namesByCode({ A: 0.5 }), /A = 0.5/);
  });
});
