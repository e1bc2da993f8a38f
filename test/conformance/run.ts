/**
 * `npm run test:conformance`: runs the SIIT runner (run-siit.ts, issue 3) and
 * the NAT64 runner (run-nat64.ts, issue 4) on Jool's graybox suites, shows
 * their output, and ends with the combined line "N passed, M failed".
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SUITE_HELP, suitePresent } from "./jool-suite.ts";

if (!suitePresent()) {
  // "0 passed, 0 failed" would read as a pass: without the packets there is nothing to report
  console.error(SUITE_HELP);
  process.exit(2);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const runners = ["run-siit.ts", "run-nat64.ts"];
const args = process.argv.slice(2);
let passed = 0;
let failed = 0;
let exit = 0;
for (const r of runners) {
  const res = spawnSync(process.execPath, ["--import", "tsx", path.join(here, r), ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = res.stdout ?? "";
  process.stdout.write(out);
  const m = /(\d+) passed, (\d+) failed\s*$/.exec(out);
  if (!m) {
    console.log(`${r}: no "N passed, M failed" line (exit ${res.status})`);
    exit = 1;
    continue;
  }
  passed += Number(m[1]);
  failed += Number(m[2]);
  if (res.status !== 0) exit = 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = exit || (failed > 0 ? 1 : 0);
