/**
 * Jool's graybox SIIT packet suites as node:test cases (one subtest per case).
 * The suite lives outside the repository at ../shared/peer/jool; when it is
 * absent the test says so and skips.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadCases, runSiitCase, suiteDir, suitePresent } from "../../conformance/jool-suite.ts";

test("Jool graybox SIIT suite (RFC 7915)", async (t) => {
  if (!suitePresent()) {
    console.log(`Jool graybox suite absent (looked for ${suiteDir}/cases.json): conformance cases skipped`);
    t.skip(`Jool graybox suite absent at ${suiteDir}`);
    return;
  }
  const cases = loadCases().filter((c) => c.suite === "siit");
  assert.ok(cases.length > 0, "cases.json lists SIIT cases");
  for (const c of cases) {
    await t.test(c.name + (c.upstream ? "" : " (not run upstream)"), () => {
      const r = runSiitCase(c);
      assert.ok(r.pass, r.detail);
    });
  }
});
