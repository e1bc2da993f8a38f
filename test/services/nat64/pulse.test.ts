/** A packet worker's health from its heartbeats and I/O counters (src/services/nat64/pulse.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { beat, type IoCounts, newPulse, trouble } from "../../../src/services/nat64/pulse.ts";

const io = (writeErrors: number, readErrors: number, packetsRead: number, translated: number): IoCounts => ({
  writeErrors,
  readErrors,
  packetsRead,
  translated,
});

describe("a packet worker's pulse", () => {
  it("is healthy while heartbeats come with passing probes, and stuck once they stop", () => {
    const p = newPulse(0);
    assert.equal(trouble(p, 4000, 5000), null, "a worker just started has time to send its first");
    for (let t = 1000; t <= 5000; t += 1000) beat(p, t, null, io(0, 0, t, t));
    assert.equal(trouble(p, 9000, 5000), null);
    assert.equal(trouble(p, 11_000, 5000), "sent no heartbeat for 6 s: its loop is stuck");
  });

  it("says what the last probe found, and forgets it once one passes", () => {
    const p = newPulse(0);
    beat(p, 1000, "6→4 (fast path): bad UDP checksum", io(0, 0, 0, 0));
    assert.equal(trouble(p, 1000, 5000), "failed its probe: 6→4 (fast path): bad UDP checksum");
    beat(p, 2000, null, io(0, 0, 0, 0));
    assert.equal(trouble(p, 2000, 5000), null);
  });

  it("writes failing through `silentMs` are trouble; one window with fewer errors than packets ends it", () => {
    const p = newPulse(0);
    let errors = 0;
    let translated = 0;
    // every window since the start (0) had as many write errors as packets translated
    for (let t = 1000; t <= 4000; t += 1000) {
      errors += 50;
      translated += 50;
      beat(p, t, null, io(errors, 0, translated, translated));
      assert.equal(trouble(p, t, 5000), null, `failing for ${t} ms only`);
    }
    errors += 50;
    translated += 50;
    beat(p, 5000, null, io(errors, 0, translated, translated));
    assert.equal(trouble(p, 5000, 5000), "cannot write to its TUN queue (write errors for 5 s)");
    // most writes go through again
    beat(p, 6000, null, io(errors + 1, 0, translated + 100, translated + 100));
    assert.equal(trouble(p, 6000, 5000), null);
    // errors alone in a window without traffic are failing writes too (ICMP errors, timers' packets)
    beat(p, 7000, null, io(errors + 2, 0, translated + 100, translated + 100));
    assert.notEqual(p.writesFailing, null);
  });

  it("reads failing with none read through `silentMs` are trouble (the device is gone)", () => {
    const p = newPulse(0);
    for (let t = 1000; t <= 6000; t += 1000) beat(p, t, null, io(0, t, 0, 0));
    assert.equal(trouble(p, 6000, 5000), "cannot read its TUN queue (every read failed for 6 s)");
    beat(p, 7000, null, io(0, 7500, 10, 10));
    assert.equal(trouble(p, 7000, 5000), null, "one read came through");
  });

  it("an exited or failed worker is trouble whatever its heartbeats said", () => {
    const p = newPulse(0);
    beat(p, 1000, null, io(0, 0, 0, 0));
    p.exited = true;
    assert.equal(trouble(p, 1000, 5000), "exited");
    p.failure = new Error("boom");
    assert.equal(trouble(p, 1000, 5000), "failed: boom");
  });
});
