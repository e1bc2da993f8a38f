// ExternalDevice.spec.interfaces: the box's own interfaces, and the messages for bad entries.
import assert from "node:assert/strict";
import { test } from "node:test";
import { doc, validateText } from "../support/validate.ts";

const DEVICE = `vendor: fortios
endpoint: https://192.0.2.99
credentialsEnv: FGT_TOKEN`;

test("interfaces with host addresses and lengths validate", () => {
  const v = validateText(
    doc(
      "ExternalDevice",
      "fgt",
      `${DEVICE}\ninterfaces:\n  - { name: lan1, addresses: ["192.0.2.254/24", "2001:db8:1::1/64"] }`,
    ),
  );
  assert.deepEqual(v.errors, []);
});

test("an interface address without a length says how to write it", () => {
  const v = validateText(
    doc("ExternalDevice", "fgt", `${DEVICE}\ninterfaces:\n  - { name: lan1, addresses: ["192.0.2.254"] }`),
  );
  assert.equal(v.errors.length, 1);
  assert.match(
    v.errors[0]!,
    /spec\.interfaces\[0\]\.addresses\[0\].*has no prefix length .*an interface address is written address\/length, e\.g\. 192\.0\.2\.254\/24/,
  );
});

test("an interface listed twice is reported at the second", () => {
  const v = validateText(
    doc("ExternalDevice", "fgt", `${DEVICE}\ninterfaces:\n  - { name: lan1 }\n  - { name: lan1 }`),
  );
  assert.equal(v.errors.length, 1);
  assert.match(v.errors[0]!, /spec\.interfaces\[1\]\.name.*interface lan1 is listed twice/);
});
