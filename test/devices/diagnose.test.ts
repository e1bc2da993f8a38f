// The seed author's traps, said before they cost two weeks.

import assert from "node:assert/strict";
import { test } from "node:test";
import { diagnose, diagnoseVip6 } from "../../src/devices/diagnose.ts";
import { renderDevice } from "../../src/devices/targets.ts";
import { parseVersion } from "../../src/devices/version.ts";
import type { DeviceTarget, Nat64Assignment, RaAssignment } from "../../src/planner/plan.ts";
import { prefixOf } from "../../src/util/net.ts";
import { device, seedResources } from "./support/seed.ts";

/** The seed ISR's assignments, with the NAT64 and RA specs changed as a test needs (prefixes as text). */
function isr(change: { allowedSources?: string[]; prefix?: string }, raPrefixText?: string): DeviceTarget {
  const nat: Partial<Nat64Assignment["spec"]> = {
    ...(change.allowedSources ? { allowedSources: change.allowedSources.map((t) => prefixOf(t, 6)) } : {}),
    ...(change.prefix ? { prefix: prefixOf(change.prefix, 6) } : {}),
  };
  const raPrefix = raPrefixText === undefined ? undefined : prefixOf(raPrefixText, 6);
  const t = device(seedResources(), "isr").target;
  return {
    ...t,
    assignments: t.assignments.map((a) => {
      if (a.kind === "Nat64Gateway") return { ...a, spec: { ...a.spec, ...nat } };
      if (a.kind === "RouterAdvert" && raPrefix) {
        const ra = a as RaAssignment;
        return { ...ra, spec: { ...ra.spec, prefixes: [{ ...ra.spec.prefixes[0]!, prefix: raPrefix }] } };
      }
      return a;
    }),
  };
}

test("the seed as written: no warning (its ACL covers fc00::/64, PREF64 matches the NAT64 prefix)", () => {
  assert.deepEqual(diagnose(isr({}), "iosxe"), []);
});

test("an ACL that does not cover the clients' prefix is a warning that names the fix", () => {
  const d = diagnose(isr({ allowedSources: ["fc00:0:0:1::/64"] }), "iosxe");
  assert.equal(d.length, 1);
  assert.equal(d[0]!.severity, "warning");
  assert.match(
    d[0]!.message,
    /fc00::\/64 .* does not cover it: their traffic to fd00:ff9b::\/96 would not be translated; add fc00::\/64 to allowedSources/,
  );
});

test("an ACL that reaches into the NAT64 prefix would catch a CLAT's source, which is dropped", () => {
  const d = diagnose(isr({ allowedSources: ["fc00::/64", "fd00::/8"] }), "iosxe");
  const e = d.find((x) => x.severity === "error");
  assert.ok(e, JSON.stringify(d));
  assert.match(
    e.message,
    /fd00::\/8, which reaches into the NAT64 prefix fd00:ff9b::\/96: it would catch a CLAT's source/,
  );
});

test("clients numbered from inside the NAT64 prefix: their sources would be dropped", () => {
  const d = diagnose(isr({ allowedSources: ["fd00:ff9b::/64"] }, "fd00:ff9b::/64"), "iosxe");
  assert.ok(
    d.some(
      (x) =>
        x.severity === "error" &&
        /overlaps the NAT64 prefix .* a source inside the NAT64 prefix is dropped/.test(x.message),
    ),
    JSON.stringify(d),
  );
});

test("PREF64 announced that nobody translates", () => {
  const t = isr({ prefix: "64:ff9b::/96" });
  const d = diagnose(t, "iosxe");
  assert.ok(
    d.some(
      (x) =>
        x.subject === "RouterAdvert/lan" &&
        /announces PREF64 fd00:ff9b::\/96 but Nat64Gateway\/home .* translates 64:ff9b::\/96/.test(x.message),
    ),
  );
});

test("render carries the diagnosis", () => {
  const d = device(seedResources(), "isr");
  const nat = d.target.assignments.find((a) => a.kind === "Nat64Gateway") as Nat64Assignment;
  nat.spec = { ...nat.spec, allowedSources: [prefixOf("fc00:0:0:1::/64")] };
  assert.ok(renderDevice(d).diagnostics.some((x) => /does not cover it/.test(x.message)));
});

test("FortiOS VIP6 and NDP: which versions answer, and what to do on the others", () => {
  const vip = [{ name: "DNAT66", extip: "2001:db8::ffff:ffff:0:0-2001:db8::ffff:ffff:ffff:ffff" }];
  for (const v of ["6.2.16", "6.4.15", "7.0.7", "7.2.3"]) {
    const d = diagnoseVip6(parseVersion(v), vip, "2001:db8::99");
    assert.equal(d.length, 1, v);
    assert.match(d[0]!.message, /has no ndp-reply on vip6/);
    assert.match(d[0]!.message, /route .* to the FortiGate's own address \(2001:db8::99\)/);
    assert.match(d[0]!.message, /static neighbour entries/);
    assert.match(d[0]!.message, /upgrade to 7\.2\.4\+ and set ndp-reply enable/);
  }
  for (const v of ["7.0.8", "7.0.12", "7.2.4", "7.4.7", "7.6.3"])
    assert.deepEqual(diagnoseVip6(parseVersion(v), vip), [], v);
  assert.match(
    diagnoseVip6([7, 4, 7], [{ ...vip[0]!, "ndp-reply": "disable" }])[0]!.message,
    /set ndp-reply enable/,
  );
});

test("policy order: a deny below ours, or on other interfaces, is no warning", async () => {
  const { diagnosePolicyOrder } = await import("../../src/devices/diagnose.ts");
  const ours = [
    { comment: "managed by v6mostly: x", srcintf: [{ name: "lan1" }], dstintf: [{ name: "wan1" }] },
  ];
  const mine = { policyid: 5, comments: "managed by v6mostly: x", action: "accept" };
  const deny = { policyid: 9, srcintf: [{ name: "lan1" }], dstintf: [{ name: "wan1" }], action: "deny" };
  assert.equal(diagnosePolicyOrder("firewall/policy", ours, [mine, deny]).length, 0);
  assert.equal(diagnosePolicyOrder("firewall/policy", ours, [deny, mine]).length, 1);
  assert.equal(
    diagnosePolicyOrder("firewall/policy", ours, [{ ...deny, srcintf: [{ name: "any" }] }, mine]).length,
    1,
  );
  assert.equal(
    diagnosePolicyOrder("firewall/policy", ours, [{ ...deny, dstintf: [{ name: "dmz" }] }, mine]).length,
    0,
  );
  assert.equal(
    diagnosePolicyOrder("firewall/policy", ours, [{ ...deny, status: "disable" }, mine]).length,
    0,
  );
});
