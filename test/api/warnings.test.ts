// Warnings: what the RFCs recommend against but allow. validate prints them and exits 0; the
// admission webhook returns them as warnings (test/operator/webhook-admission.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { doc, validateText } from "../support/validate.ts";

const ra = (spec: string) =>
  validateText(doc("RouterAdvert", "lan", `interface: lan0\ninterval: { max: 10m }\n${spec}`));
const warnings = (v: ReturnType<typeof validateText>) => v.lines.filter((l) => !v.errors.includes(l));

describe("warnings: RA option lifetimes below 3 × interval.max", () => {
  it("RDNSS, DNSSL and PREF64 between interval.max and 3 × interval.max: a warning each, no error", () => {
    const v = ra(`rdnss: [{ address: "fd00::53", lifetime: 15m }]
dnssl: [{ domain: home.arpa, lifetime: 10m }]
pref64: { prefix: "64:ff9b::/96", lifetime: 29m }`);
    assert.deepEqual(v.errors, []);
    assert.deepEqual(warnings(v), [
      "home.yaml#1 RouterAdvert/lan spec.rdnss[0].lifetime: warning: 15m is less than 3 × interval.max (30m): hosts drop it after a lost RA or two (RFC 8106 §5.1 recommends at least 3 × MaxRtrAdvInterval)",
      "home.yaml#1 RouterAdvert/lan spec.dnssl[0].lifetime: warning: 10m is less than 3 × interval.max (30m): hosts drop it after a lost RA or two (RFC 8106 §5.2 recommends at least 3 × MaxRtrAdvInterval)",
      "home.yaml#1 RouterAdvert/lan spec.pref64.lifetime: warning: 29m is less than 3 × interval.max (30m): hosts drop it after a lost RA or two (RFC 8781 §4 recommends at least 3 × MaxRtrAdvInterval)",
    ]);
    assert.equal(v.resources.length, 1, "the resource is valid");
  });

  it("none at 3 × interval.max or more, for 0 (withdrawn), infinity, or the default", () => {
    for (const life of ["30m", "1h", "0", "infinity"]) {
      const v = ra(`rdnss: [{ address: "fd00::53", lifetime: ${life} }]`);
      assert.deepEqual(v.lines, [], life);
    }
    assert.deepEqual(ra(`rdnss: [{ address: "fd00::53" }]`).lines, []);
  });

  it("below interval.max it stays an error, not a warning", () => {
    const v = ra(`rdnss: [{ address: "fd00::53", lifetime: 5m }]`);
    assert.equal(v.errors.length, 1);
    assert.deepEqual(warnings(v), []);
  });
});
