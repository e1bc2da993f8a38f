// Versions as FortiOS and IOS-XE write them, and the clear refusal of what is not one.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  atLeast,
  compareVersions,
  parseVersion,
  sameRelease,
  VersionError,
  versionText,
} from "../../src/devices/version.ts";

test("versions as the boxes and the resources write them", () => {
  assert.deepEqual(parseVersion("v7.2.4"), [7, 2, 4], "FortiOS's monitor API");
  assert.deepEqual(parseVersion("6.2.16"), [6, 2, 16]);
  assert.deepEqual(parseVersion("17.12"), [17, 12, 0], "IOS-XE running-config `version 17.12`");
  assert.deepEqual(parseVersion("17.3.4a"), [17, 3, 4], "IOS-XE rebuilds");
  assert.deepEqual(parseVersion("17.03.04"), [17, 3, 4]);
  assert.deepEqual(parseVersion(" 16.3 "), [16, 3, 0]);
  assert.equal(versionText(parseVersion("v7.2.4")), "7.2.4");
});

test("what is not a version is refused, naming where it came from", () => {
  for (const text of ["banana", "", "7", "7.", ".7.2", "7.2.4banana", "7.2.4 beta", "v", "17.x", "1e3.2"]) {
    assert.throws(
      () => parseVersion(text, "--version"),
      (e: unknown) =>
        e instanceof VersionError &&
        e.message ===
          `--version ${JSON.stringify(text)} is not a version (expected numbers such as 7.2.4 or 17.12.1)`,
      text,
    );
  }
  // a long text is quoted in part
  assert.throws(
    () => parseVersion("x".repeat(5000)),
    (e: unknown) => e instanceof VersionError && e.message.length < 200,
  );
});

test("order and release agreement", () => {
  assert.ok(compareVersions([7, 0, 1], [7, 0, 0]) > 0);
  assert.ok(compareVersions([6, 2, 16], [7, 0, 0]) < 0);
  assert.equal(compareVersions([17, 9, 1], [17, 9, 1]), 0);
  assert.ok(atLeast([17, 9, 1], "17.9.1"));
  assert.ok(!atLeast([17, 6, 5], "17.9.1"));
  assert.ok(atLeast([17, 12, 0], "17.9.1"), "12 > 9 as numbers, not as text");
  assert.ok(sameRelease("17.12", "17.12.3"));
  assert.ok(sameRelease("17.12.3", "17.12"));
  assert.ok(sameRelease("v7.2.4", "7.2.4"));
  assert.ok(!sameRelease("17.1", "17.12.3"), "a common text prefix is not the same release");
  assert.ok(!sameRelease("7.2.4", "7.2.5"));
});

test("property: parseVersion either gives three whole numbers or throws a VersionError", () => {
  const seen = { parsed: 0, refused: 0 };
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.stringMatching(/^v?\d{1,3}(\.\d{1,3}){0,4}[a-z]?$/)), (text) => {
      let v: readonly number[];
      try {
        v = parseVersion(text);
      } catch (e) {
        assert.ok(e instanceof VersionError, String(e));
        seen.refused++;
        return;
      }
      seen.parsed++;
      assert.equal(v.length, 3);
      assert.ok(v.every((n) => Number.isInteger(n) && n >= 0));
      assert.match(text.trim(), /^v?\d+\.\d+/);
    }),
    { numRuns: 2000 },
  );
  assert.ok(seen.parsed > 200 && seen.refused > 200, JSON.stringify(seen));
});
