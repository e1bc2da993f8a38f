/**
 * Jool's SIIT graybox cases through a running service (issue 17): `v6mostly run` stateless in
 * network namespaces, each input written onto its side's link, each output captured on the other
 * side and compared byte for byte as the pure runner compares (live-siit.ts). Every case that
 * can reach the TUN device passes; the others are listed with the reason.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { suiteDir, suitePresent } from "./jool-suite.ts";
import { canRun } from "./live-lab.ts";
import { report, runLiveSiit } from "./live-siit.ts";

const skip = !suitePresent() ? `Jool's suite is absent at ${suiteDir}` : canRun();

test("Jool's SIIT cases through `v6mostly run` in namespaces", {
  skip: skip ?? false,
  timeout: 180_000,
}, async (t) => {
  const results = await runLiveSiit();
  for (const line of report(results)) t.diagnostic(line);
  const failed = results.filter((r) => r.pass === false);
  assert.deepEqual(
    failed.map((r) => `${r.name}: ${r.detail}`),
    [],
  );
  // not run live, each for the reason live-siit.ts gives: a configuration a Nat64Gateway cannot
  // express (no pool6; no own address for an empty RFC 6791 pool), or a packet the kernel answers
  // or drops before the TUN device (larger than its MTU, martian source, source route options)
  assert.deepEqual(
    results.filter((r) => r.pass === null).map((r) => r.name.replace("siit/", "")),
    [
      "manual/6791v64-empty",
      "manual/6791v46-empty",
      "manual/6791v46",
      "7915/aa2",
      "7915/cg1",
      "7915/cg2",
      "7915/ha1",
      "7915/ha2",
    ],
  );
});
