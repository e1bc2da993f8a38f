// nameThisThread: the name a thread gives itself is what /proc (and so top -H, ps -L, perf) shows.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../../src/util/worker.ts";
import { threadNames } from "../../support/threads.ts";

const fixture = new URL("./fixtures/named-thread.ts", import.meta.url);

/** A worker that names itself `name` and waits until terminated. */
async function namedWorker(name: string): Promise<Worker> {
  const w = startWorker(fixture, { name });
  await new Promise<void>((resolve, reject) => {
    w.once("message", () => resolve());
    w.once("error", reject);
  });
  return w;
}

test("nameThisThread names the calling thread, and only it; Linux keeps 15 bytes", async () => {
  const before = threadNames();
  assert.ok(!before.includes("v6m-test-a"));
  const a = await namedWorker("v6m-test-a");
  const b = await namedWorker("v6m-test-a-name-too-long");
  try {
    const names = threadNames();
    assert.equal(names.filter((n) => n === "v6m-test-a").length, 1, names.join(", "));
    assert.ok(names.includes("v6m-test-a-name"), `the long name cut to 15 bytes: ${names.join(", ")}`);
    // the main thread keeps its own name
    assert.equal(readFileSync(`/proc/self/task/${process.pid}/comm`, "utf8").trim(), before[0]);
  } finally {
    await a.terminate();
    await b.terminate();
  }
});
