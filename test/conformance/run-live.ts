/**
 * `npm run test:conformance:live`: Jool's SIIT cases through a running `v6mostly run` in network
 * namespaces (live-siit.ts), per-group counts, the cases that cannot run live and why, and a
 * final "N passed, M failed, K not run live" line. Needs root; exits 2 without the suite.
 */
import { SUITE_HELP, suitePresent } from "./jool-suite.ts";
import { canRun } from "./live-lab.ts";
import { report, runLiveSiit } from "./live-siit.ts";

if (!suitePresent()) {
  console.error(SUITE_HELP);
  process.exit(2);
}
const cannot = canRun();
if (cannot) {
  console.error(`the live conformance run ${cannot}`);
  process.exit(2);
}
const results = await runLiveSiit();
for (const line of report(results)) console.log(line);
process.exitCode = results.some((r) => r.pass === false) ? 1 : 0;
