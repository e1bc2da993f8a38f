// The UDP receive thread (udpthread.ts, recvthread.ts): cached queries are answered by a thread
// waiting in recvmmsg, without the event loop; a query the thread cannot answer goes to the event
// loop, and the cache entry it was answered from comes back to the thread. `dig` (a separate
// process) asks while this process's event loop is held: only the thread can answer then.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { startDns64 } from "../../../src/services/dns64/index.ts";
import { RECV_THREAD_NAME } from "../../../src/services/dns64/udpthread.ts";
import { createLogger } from "../../../src/util/log.ts";
import { threadNames } from "../../support/threads.ts";
import { decode, loopbackAssignment, queryWire } from "./helpers.ts";
import { portBase } from "./lab.ts";
import { fakeUpstream } from "./upstream.ts";

const log = createLogger("dns64-test", { level: "silent" });
const DIG = "/usr/bin/dig";
/** how long the event loop is held while dig asks */
const HOLD_MS = 2000;

/** One query through this process's event loop (answered by whichever side can). */
async function ask(port: number, name: string, id: number): Promise<ReturnType<typeof decode>> {
  return (await askFrom(port, name, id)).answer;
}

/** The same, with the port the answer came from. */
async function askFrom(
  port: number,
  name: string,
  id: number,
): Promise<{ answer: ReturnType<typeof decode>; from: number }> {
  const s = createSocket("udp4");
  try {
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer for ${name}`)), 3000);
      s.on("message", (m, rinfo) => {
        clearTimeout(t);
        resolve({ answer: decode(new Uint8Array(m)), from: rinfo.port });
      });
      s.send(queryWire(name, "AAAA", { id }), port, "127.0.0.1");
    });
  } finally {
    s.close();
  }
}

/**
 * dig asks for `name` while this thread's event loop is held for HOLD_MS: dig's answer, the query
 * time it reports (ms), and whether dig had finished before the loop ran again (a shell prints the
 * clock after dig ends): an order of events, not a speed.
 */
async function digWhileHeld(
  port: number,
  name: string,
): Promise<{ answer: string; ms: number; beforeRelease: boolean }> {
  const args = [
    "-p",
    String(port),
    "@127.0.0.1",
    name,
    "AAAA",
    "+tries=1",
    "+time=4",
    "+noall",
    "+answer",
    "+stats",
  ];
  // the arguments are the shell's $1.. ("$@"), never part of its script
  const p = spawn("sh", ["-c", `"$0" "$@"; date +%s%3N`, DIG, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  p.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  // spawn() has started dig: hold the loop at once, dig sends while it is held (it starts in
  // tens of ms); its query time shows whether the answer waited for the loop
  const start = Date.now();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, HOLD_MS);
  const released = Date.now();
  const held = released - start;
  await exited;
  assert.ok(held >= HOLD_MS - 5, `held ${held} ms`);
  const answer = /\sAAAA\s+(\S+)/.exec(out)?.[1] ?? `none in: ${out}`;
  const doneAt = Number(/(\d{13})\s*$/.exec(out)?.[1] ?? Number.NaN);
  return {
    answer,
    ms: Number(/Query time: (\d+) msec/.exec(out)?.[1] ?? Number.NaN),
    beforeRelease: doneAt < released,
  };
}

test("udp thread: cached answers need no event loop; a miss goes to the loop, and the thread answers from what it stored", async (t) => {
  if (!existsSync(DIG)) {
    t.skip(`${DIG} is not installed (bind9-dnsutils)`);
    return;
  }
  const base = portBase() + 26;
  const up = await fakeUpstream(base);
  const svc = await startDns64(
    loopbackAssignment(`127.0.0.1:${base + 1}`, `127.0.0.1:${base}`, {}, "thread"),
    {
      log,
      stateDir: "/tmp",
    },
  );
  try {
    assert.ok(threadNames().includes(RECV_THREAD_NAME), "the receive thread carries its name");
    // a miss: the thread hands it to this event loop, which asks upstream and answers
    const first = await ask(base + 1, "Held.Example", 7);
    assert.equal(first.id, 7);
    assert.deepEqual(
      first.answers.map((r) => r.data),
      ["64:ff9b::c000:201"],
    );
    assert.equal(up.seen.udp, 2, "AAAA then A upstream");
    const before = svc.stats();
    assert.equal(before.cacheHits, 0);
    // the same name while the event loop cannot run: the thread answers at once, from the cache it
    // shares with the event loop (one lookup, a hit)
    const d = await digWhileHeld(base + 1, "held.example");
    assert.equal(d.answer, "64:ff9b::c000:201");
    assert.ok(d.beforeRelease, `answered while the event loop was held (dig's query time ${d.ms} ms)`);
    const after = svc.stats();
    assert.equal(after.cacheHits, 1, "a cache hit");
    assert.equal(after.cacheHitsTotal, before.cacheHitsTotal! + 1, "one hit in the shared cache");
    assert.equal(up.seen.udp, 2, "nothing more upstream");
    assert.equal(after.udpQueries, 2);
  } finally {
    await svc.stop();
    await up.close();
  }
  // stopped: the thread has let the port go, a new service binds it again
  const again = await startDns64(
    loopbackAssignment(`127.0.0.1:${base + 1}`, `127.0.0.1:${base}`, {}, "thread"),
    {
      log,
      stateDir: "/tmp",
    },
  );
  await again.stop();
});

test("udp thread: one thread serves every listen socket; a miss is answered from the socket it came to", async (t) => {
  if (!existsSync(DIG)) {
    t.skip(`${DIG} is not installed (bind9-dnsutils)`);
    return;
  }
  const base = portBase() + 26;
  const up = await fakeUpstream(base);
  const listen = [`127.0.0.1:${base + 1}`, `127.0.0.1:${base + 2}`];
  const svc = await startDns64(loopbackAssignment(listen[0]!, `127.0.0.1:${base}`, { listen }, "thread2"), {
    log,
    stateDir: "/tmp",
  });
  try {
    // misses on either socket: the event loop answers each from the socket it was asked on
    for (const port of [base + 2, base + 1]) {
      const { answer, from } = await askFrom(port, `p${port}.example`, port & 0xffff);
      assert.equal(from, port, "answered from the socket asked");
      assert.deepEqual(
        answer.answers.map((r) => r.data),
        ["64:ff9b::c000:201"],
      );
    }
    // the entry of a miss on the second socket serves the first one too, with the loop held
    const d = await digWhileHeld(base + 1, `p${base + 2}.example`);
    assert.equal(d.answer, "64:ff9b::c000:201");
    assert.ok(d.beforeRelease, `answered while the event loop was held (dig's query time ${d.ms} ms)`);
    const s = svc.stats();
    assert.equal(s.cacheHits, 1, "a hit in the thread");
    assert.equal(s.udpQueries, 3);
  } finally {
    await svc.stop();
    await up.close();
  }
});
