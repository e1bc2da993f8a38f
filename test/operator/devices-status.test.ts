// What the statuses say about devices, from the device controller's outcomes (pure), and the state
// the outcomes and ledgers are kept in.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type DeviceOutcome, decodeState, stateName } from "../../src/operator/devices/state.ts";
import { externalDeviceStatus, placedStatus } from "../../src/operator/devices/status.ts";

const KEY = "lan/Nat64Gateway/home";
const ok = (resources: Record<string, string>): DeviceOutcome => ({
  status: "True",
  reason: "InSync",
  message: "5 object(s) in sync, version 7.2.4",
  version: "7.2.4",
  objects: 5,
  resources,
});
const at = (device: string, digest: string) => ({ namespace: "lan", device, digest });

test("a resource on a device: in sync only when the device applied its current assignment", () => {
  const s = placedStatus(KEY, [at("fgt", "d1")], () => ok({ [KEY]: "d1" }), 3);
  assert.deepEqual(
    [s.ready.status, s.ready.reason, s.synced.status, s.synced.reason, s.programmed],
    ["True", "InSync", "True", "InSync", "device fgt"],
  );
  assert.equal(s.ready.observedGeneration, 3);
  assert.deepEqual(s.devices, [
    { name: "fgt", ready: true, message: "in sync", detail: { version: "7.2.4" } },
  ]);
  // the device succeeded, but with the previous assignment: pending, never a stale True
  const old = placedStatus(KEY, [at("fgt", "d2")], () => ok({ [KEY]: "d1" }), 4);
  assert.deepEqual(
    [old.ready.status, old.ready.reason, old.synced.status, old.synced.reason, old.programmed],
    ["Unknown", "DevicePending", "Unknown", "Pending", "device fgt: Pending"],
  );
  assert.equal(old.synced.message, "waiting for device fgt to apply generation 4");
  assert.equal(old.devices[0]!.message, "not applied yet");
  // no outcome yet
  const none = placedStatus(KEY, [at("fgt", "d1")], () => undefined, 1);
  assert.equal(none.devices[0]!.message, "waiting for the device controller");
  assert.equal(none.ready.reason, "DevicePending");
});

test("a device that failed: the resource is False with the device's reason and words", () => {
  const failed: DeviceOutcome = {
    status: "False",
    reason: "Unreachable",
    message: "ECONNREFUSED: connect ECONNREFUSED 192.0.2.99:443",
    version: "7.2.4",
    objects: 0,
    resources: {},
  };
  const outcomes: Record<string, DeviceOutcome> = { fgt: failed, isr: ok({ [KEY]: "d1" }) };
  const s = placedStatus(KEY, [at("isr", "d1"), at("fgt", "d1")], (_ns, name) => outcomes[name], 2);
  assert.deepEqual([s.ready.status, s.ready.reason], ["False", "Unreachable"]);
  assert.equal(s.ready.message, "fgt: Unreachable: ECONNREFUSED: connect ECONNREFUSED 192.0.2.99:443");
  assert.equal(s.programmed, "device fgt, isr: Unreachable");
  assert.deepEqual(
    s.devices.map((d) => [d.name, d.ready]),
    [
      ["fgt", false],
      ["isr", true],
    ],
  );
});

test("an ExternalDevice's status: in sync with the version, failing with the reason, invalid, being deleted", () => {
  const synced = externalDeviceStatus({ kind: "ran", outcome: ok({}) }, 2, undefined);
  assert.equal(synced.version, "7.2.4");
  assert.equal(synced.programmed, "5 object(s) in sync");
  assert.deepEqual(
    synced.conditions.map((c) => [c.type, c.status, c.reason]),
    [
      ["Ready", "True", "InSync"],
      ["DeviceSynced", "True", "InSync"],
    ],
  );
  const denied: DeviceOutcome = {
    status: "False",
    reason: "Unauthorized",
    message: "GET monitor/system/status: HTTP 401",
    objects: 0,
    resources: {},
  };
  const s = externalDeviceStatus({ kind: "ran", outcome: denied }, 2, "7.0.12");
  assert.equal(s.version, "7.0.12", "the version last found is kept while the box cannot be read");
  assert.equal(s.programmed, "Unauthorized");
  const invalid = externalDeviceStatus(
    { kind: "invalid", message: "spec.endpoint: not a URL" },
    1,
    undefined,
  );
  assert.deepEqual(
    invalid.conditions.map((c) => [c.type, c.status, c.reason, c.message]),
    [
      ["Ready", "False", "Invalid", "spec.endpoint: not a URL"],
      ["DeviceSynced", "False", "Invalid", "spec.endpoint: not a URL"],
    ],
  );
  const deleting = externalDeviceStatus({ kind: "deleting", outcome: denied }, 2, undefined);
  assert.deepEqual(
    [deleting.conditions[0]!.reason, deleting.conditions[0]!.message],
    [
      "Deleting",
      "removing what v6mostly configured on the box: Unauthorized: GET monitor/system/status: HTTP 401",
    ],
  );
});

test("the state ConfigMap: its name, and what is read back from a hand-edited one", () => {
  assert.equal(stateName("lan", "fgt"), "device.lan.fgt");
  const long = stateName("lan", "x".repeat(250));
  assert.ok(long.length <= 253 && /^device\.[0-9a-f]{40}$/.test(long), long);
  const meta = { name: "device.lan.fgt" };
  assert.deepEqual(decodeState(undefined, "fgt"), {
    ledger: { device: "fgt", entries: {} },
    outcome: undefined,
  });
  assert.deepEqual(decodeState({ metadata: meta, data: { ledger: "{not json", outcome: '"x"' } }, "fgt"), {
    ledger: { device: "fgt", entries: {} },
    outcome: undefined,
  });
  const entries = { "system/dns64": { id: "system/dns64", path: "system/dns64", removal: { kind: "none" } } };
  const read = decodeState(
    {
      metadata: meta,
      data: { ledger: JSON.stringify({ device: "other", entries }), outcome: JSON.stringify(ok({})) },
    },
    "fgt",
  );
  assert.deepEqual(read.ledger, { device: "fgt", entries });
  assert.equal(read.outcome?.reason, "InSync");
});
