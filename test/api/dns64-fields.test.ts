// Dns64Resolver fields added by the DNS64 service: their defaults and their error messages.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { doc, validateText } from "../support/validate.ts";

const DNS_OK = `
listen: ["192.0.2.53"]
prefix: 64:ff9b::/96
upstreams: ["198.51.100.53"]
allowClients: ["192.0.2.0/24"]`;
const dns = (extra: string) => doc("Dns64Resolver", "lan", `${DNS_OK}\n${extra}`);

describe("Dns64Resolver spec.rateLimit", () => {
  it("defaults to 1000 queries per second per client", () => {
    const v = validateText(dns(""));
    assert.deepEqual(v.errors, []);
    const r = v.resources[0] as unknown as { spec: { rateLimit: number } };
    assert.equal(r.spec.rateLimit, 1000);
  });

  it("accepts 0 (no limit)", () => {
    assert.deepEqual(validateText(dns("rateLimit: 0")).errors, []);
  });

  for (const [value, says] of [
    ["-1", "-1 is below the minimum, 0"],
    ["2.5", "expected a whole number"],
    ["5000000", "5000000 is above the maximum, 1000000"],
  ]) {
    it(`rejects ${value} with a clear message`, () => {
      const { errors } = validateText(dns(`rateLimit: ${value}`));
      const hit = errors.find((l) => l.startsWith("home.yaml#1 Dns64Resolver/lan spec.rateLimit: "));
      assert.ok(hit, `no line for spec.rateLimit; got:\n${errors.join("\n")}`);
      assert.ok(hit.includes(says!), hit);
    });
  }
});
