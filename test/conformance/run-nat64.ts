/**
 * Jool's graybox NAT64 cases (RFC 6146) against one stateful instance, in
 * file order; per-group counts and a final "N passed, M failed" line.
 */
import { Nat64SuiteRunner } from "./jool-nat64.ts";
import { loadCases, suiteDir, suitePresent } from "./jool-suite.ts";

if (!suitePresent()) {
  console.log(`Jool suite absent at ${suiteDir}: nothing run.`);
  console.log("NAT64: 0 passed, 0 failed");
  process.exit(0);
}
const verbose = process.argv.includes("-v");
const cases = loadCases().filter((c) => c.suite === "nat64");
const runner = new Nat64SuiteRunner();
const groups = new Map<string, { pass: number; fail: number }>();
let passed = 0;
let failed = 0;
const failures: string[] = [];
for (const c of cases) {
  const r = runner.run(c);
  const g = groups.get(c.group) ?? { pass: 0, fail: 0 };
  if (r.pass) {
    g.pass++;
    passed++;
  } else {
    g.fail++;
    failed++;
    failures.push(`FAIL ${c.name}: ${r.detail}`);
  }
  if (verbose) console.log(`${r.pass ? "ok  " : "FAIL"} ${c.name} ${r.pass ? "" : r.detail}`);
  groups.set(c.group, g);
}
console.log("NAT64 groups (one instance, file order):");
for (const [name, g] of groups) console.log(`  ${name.padEnd(16)} ${g.pass}/${g.pass + g.fail}`);
for (const f of failures) console.log(f);
console.log(`NAT64: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
