/**
 * `npm run test:conformance`: every SIIT case of Jool's graybox suites,
 * per-group counts, and a final "N passed, M failed" line.
 */
import { loadCases, runSiitCase, suiteDir, suitePresent } from "./jool-suite.ts";

if (!suitePresent()) {
  console.log(`Jool suite absent at ${suiteDir}: nothing run.`);
  console.log("0 passed, 0 failed");
  process.exit(0);
}
const verbose = process.argv.includes("-v");
const cases = loadCases();
const siit = cases.filter((c) => c.suite === "siit");
const nat64 = cases.filter((c) => c.suite === "nat64");
const groups = new Map<string, { pass: number; fail: number }>();
let passed = 0;
let failed = 0;
const failures: string[] = [];
for (const c of siit) {
  const r = runSiitCase(c);
  const g = groups.get(c.group) ?? { pass: 0, fail: 0 };
  if (r.pass) {
    g.pass++;
    passed++;
  } else {
    g.fail++;
    failed++;
    failures.push(`FAIL ${c.name}${c.upstream ? "" : " (not upstream)"}: ${r.detail}`);
  }
  if (verbose) console.log(`${r.pass ? "ok  " : "FAIL"} ${c.name} ${r.pass ? "" : r.detail}`);
  groups.set(c.group, g);
}
console.log(`Jool graybox suite: ${suiteDir}`);
console.log("SIIT groups:");
for (const [name, g] of groups) console.log(`  ${name.padEnd(16)} ${g.pass}/${g.pass + g.fail}`);
console.log(
  `NAT64: ${nat64.length} cases, not run by this runner (see test/conformance/run-nat64.ts, issue 4)`,
);
for (const f of failures) console.log(f);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
