/**
 * The handoff ring between packet workers (src/datapath/tun/handoff.ts):
 * first in, first out, bytes and metadata intact across the wrap, "full"
 * refused without damage, and the same between two real threads.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { META_BYTES, Ring } from "../../../src/datapath/tun/handoff.ts";

function packet(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

describe("handoff ring", () => {
  it("behaves as a bounded FIFO queue of (packet, metadata) under any mix of pushes and pops", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(0)), {
          minLength: 1,
          maxLength: 300,
        }),
        (ops) => {
          const ring = new Ring(8192);
          const model: { p: Uint8Array; m: Uint8Array }[] = [];
          const dst = new Uint8Array(4096);
          const meta = new Uint8Array(META_BYTES);
          let seed = 0;
          for (const op of ops) {
            if (op > 0) {
              const p = packet(op, ++seed);
              const m = packet(META_BYTES, seed + 1000);
              if (ring.push(p, 0, p.length, m)) model.push({ p, m });
              else {
                // Refused only when it could not fit: the queue holds at least half the ring then,
                // or the record alone is more than half of it.
                const held = model.reduce((s, x) => s + 16 + ((x.p.length + 3) & ~3), 0);
                assert.ok(held + 16 + op > 4096 || 16 + op > 4096, `refused with ${held} bytes held`);
              }
            } else {
              const n = ring.pop(dst, 0, meta);
              const want = model.shift();
              if (!want) assert.equal(n, -1);
              else {
                assert.equal(n, want.p.length);
                assert.deepEqual(dst.subarray(0, n), want.p);
                assert.deepEqual(meta, want.m);
              }
            }
          }
          assert.equal(ring.pending, model.length > 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("carries 20,000 packets from a producer thread in order, none lost", async () => {
    const ring = new Ring(1 << 16);
    const N = 20_000;
    // The producer runs the real Ring.push in another thread (TypeScript loaded through tsx).
    const mod = new URL("../../../src/datapath/tun/handoff.ts", import.meta.url).href;
    const src = `
      const { workerData } = require("node:worker_threads");
      import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
        .then((t) => { t.register(); return import(${JSON.stringify(mod)}); })
        .then(({ Ring }) => {
          const ring = new Ring(workerData.sab);
          const p = new Uint8Array(2048);
          const m = new Uint8Array(12);
          for (let i = 0; i < ${N}; ) {
            const len = 20 + (i % 1400);
            m[0] = i & 0xff;
            for (let k = 0; k < len; k++) p[k] = (i + k) & 0xff;
            if (ring.push(p, 0, len, m)) i++;
          }
        });`;
    const w = new Worker(src, { eval: true, workerData: { sab: ring.sab } });
    const dst = new Uint8Array(2048);
    const meta = new Uint8Array(META_BYTES);
    let got = 0;
    const deadline = Date.now() + 30_000;
    while (got < N && Date.now() < deadline) {
      const n = ring.pop(dst, 0, meta);
      if (n < 0) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      assert.equal(n, 20 + (got % 1400), `length of packet ${got}`);
      assert.equal(meta[0], got & 0xff);
      for (let k = 0; k < n; k += 97) assert.equal(dst[k], (got + k) & 0xff);
      got++;
    }
    await w.terminate();
    assert.equal(got, N);
  });
});
