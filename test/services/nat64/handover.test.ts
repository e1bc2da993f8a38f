/**
 * The session handover file (services/nat64/handover.ts), and end to end in namespaces: a TCP
 * connection through `v6mostly run` outlives a stop (SIGTERM) and a start of the translator.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, test } from "node:test";
import { exportSessions } from "../../../src/datapath/nat64/handover.ts";
import { Nat64Translator } from "../../../src/datapath/nat64/translator.ts";
import { SessionHandover } from "../../../src/services/nat64/handover.ts";
import { createLogger } from "../../../src/util/log.ts";
import { nat64Config, pkt6 } from "../../datapath/nat64/packets.ts";
import { canRun, Lab, REPO, SERVER4, SERVER6, waitFor } from "./lab.ts";

const log = createLogger("test", { level: "silent" });

describe("the handover file in the state directory", () => {
  const dir = mkdtempSync(join(tmpdir(), "v6m-handover-"));
  const cfg = { ...nat64Config(), workers: 2 };

  it("save, then take once: the sessions come back, dealt to the workers; the file is gone", () => {
    const t = new Nat64Translator(nat64Config());
    for (let p = 3000; p < 3010; p++)
      t.translate(pkt6("udp", "2001:db8:1::2", p, "2001:db8:64::cb00:710a", 53));
    const h = new SessionHandover(dir, "a", log);
    h.save(cfg.pool6, [exportSessions(t.state, Date.now())]);
    assert.ok(existsSync(h.path));
    const next = new SessionHandover(dir, "a", log);
    const got = next.take(cfg)!;
    assert.equal(got.length, 2);
    assert.equal(next.counts.handoverCarried, 10);
    assert.equal(existsSync(h.path), false);
    assert.equal(next.take(cfg), undefined, "read once");
  });

  it("a corrupt file is a counted skip, removed; no file is nothing", () => {
    const h = new SessionHandover(dir, "b", log);
    assert.equal(h.take(cfg), undefined);
    assert.equal(h.counts.handoverFileSkipped, 0);
    writeFileSync(h.path, "V6MH\u0001 garbage that is not a handover at all.........");
    assert.equal(h.take(cfg), undefined);
    assert.equal(h.counts.handoverFileSkipped, 1);
    assert.equal(existsSync(h.path), false);
    rmSync(dir, { recursive: true, force: true });
  });
});

const skip = canRun();

/** The echo client's JSON lines so far. */
function lines(p: ChildProcess): Record<string, unknown>[] {
  return (p as unknown as { output: () => string })
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

test("a TCP connection through `v6mostly run` survives SIGTERM and a new start (session handover)", {
  timeout: 180_000,
}, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = new Lab("h");
  t.after(() => lab.cleanup());
  lab.setup();
  const echo = join(REPO, "test/services/nat64/echo.py");
  lab.spawnIn(lab.s, ["python3", echo, "server", SERVER4, "7000"], "echo-server.log");
  const status = "127.0.0.1:9471";
  const resource = lab.writeResource();
  const translating = () =>
    waitFor("translations endpoint", () => lab.translations(status)["Nat64Gateway/lab"], 30_000);
  let run = lab.startRun(resource, status);
  await translating();
  const client = lab.spawnIn(lab.c, ["python3", echo, "client", SERVER6, "7000"], "echo-client.log");
  await waitFor("5 echoes", () => lines(client).length >= 5, 20_000);

  await lab.stop(run);
  assert.equal(run.exitCode, 0, "clean exit");
  assert.ok(existsSync(join(lab.dir, "state/nat64-lab.sessions")), "the stop wrote the sessions");
  const before = lines(client).length;
  run = lab.startRun(resource, status);
  await translating();
  // The same connection echoes again: 10 more lines after the new translator started.
  await waitFor(
    "the connection to echo through the new translator",
    () => {
      const l = lines(client);
      const failed = l.find((x) => x.error);
      if (failed) throw new Error(`the connection failed: ${JSON.stringify(failed)}`);
      return l.length >= before + 10 || undefined;
    },
    60_000,
  );
  const c = lab.translations(status)["Nat64Gateway/lab"]!.counters;
  assert.equal(c.handoverCarried, 1, JSON.stringify(c));
  assert.equal(c.handoverRestored, 1, JSON.stringify(c));
  await lab.stop(client);
  const summary = lines(client).at(-1)!;
  assert.equal(summary.done, true, JSON.stringify(summary));
  const peers = new Set(lines(client).flatMap((x) => (x.peer ? [x.peer] : [])));
  assert.equal(peers.size, 1, `one pool4 transport address all along: ${[...peers].join(", ")}`);
  console.log(`# longest gap between two echoes across the restart: ${summary.maxGapMs} ms`);
  await lab.stop(run);
});
