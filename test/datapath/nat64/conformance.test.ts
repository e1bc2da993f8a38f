/**
 * Jool's graybox NAT64 suite (RFC 6146) as node:test cases: one stateful
 * instance, cases in file order (state carries over, MANIFEST §5).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Nat64SuiteRunner } from "../../conformance/jool-nat64.ts";
import { loadCases, suiteDir, suitePresent } from "../../conformance/jool-suite.ts";

test("Jool graybox NAT64 suite (RFC 6146), one instance in file order", async (t) => {
  if (!suitePresent()) {
    t.skip(`Jool graybox suite absent at ${suiteDir}`);
    return;
  }
  const cases = loadCases().filter((c) => c.suite === "nat64");
  assert.equal(cases.length, 42, "cases.json lists 42 NAT64 cases");
  const runner = new Nat64SuiteRunner();
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = runner.run(c);
      assert.ok(r.pass, r.detail);
    });
  }
});
