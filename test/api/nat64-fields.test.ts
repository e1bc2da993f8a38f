// Nat64Gateway fields added by the TUN datapath (queues, offload): their defaults and their error messages.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { doc, validateText } from "../support/validate.ts";

const NAT_OK = `
prefix: 64:ff9b::/96
pool4: ["192.0.2.10"]
allowedSources: ["2001:db8:1::/64"]
uplinkInterface: eth0`;
const nat = (extra: string) => doc("Nat64Gateway", "home", `${NAT_OK}\n${extra}`);

describe("Nat64Gateway spec.queues and spec.offload", () => {
  it("default to one queue with offload on", () => {
    const v = validateText(nat(""));
    assert.deepEqual(v.errors, []);
    const r = v.resources[0] as unknown as { spec: { queues: number; offload: boolean } };
    assert.equal(r.spec.queues, 1);
    assert.equal(r.spec.offload, true);
  });

  it("accept 2 queues without offload", () => {
    const v = validateText(nat("queues: 2\noffload: false"));
    assert.deepEqual(v.errors, []);
    const r = v.resources[0] as unknown as { spec: { queues: number; offload: boolean } };
    assert.equal(r.spec.queues, 2);
    assert.equal(r.spec.offload, false);
  });

  for (const [field, value, says] of [
    ["queues", "0", "0 is below the minimum, 1"],
    ["queues", "9", "9 is above the maximum, 8"],
    ["queues", "1.5", "expected a whole number"],
    ["offload", '"yes"', "expected true or false"],
  ]) {
    it(`rejects ${field}: ${value} with a clear message`, () => {
      const { errors } = validateText(nat(`${field}: ${value}`));
      const hit = errors.find((l) => l.startsWith(`home.yaml#1 Nat64Gateway/home spec.${field}: `));
      assert.ok(hit, `no line for spec.${field}; got:\n${errors.join("\n")}`);
      assert.ok(hit.includes(says!), hit);
    });
  }
});
