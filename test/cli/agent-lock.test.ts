// `v6mostly agent` takes the state directory's lock as `run` does (src/agent/lock.ts): with the
// directory held by another process it starts nothing and names the holder; once the holder is
// gone it gets past the lock (and here stops at the kubeconfig, which does not exist).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const REPO = join(import.meta.dirname, "../..");

function agent(stateDir: string) {
  return spawnSync(
    process.execPath,
    [
      join(REPO, "bin/v6mostly.js"),
      "agent",
      "--node-name",
      "n1",
      "--state-dir",
      stateDir,
      "--status-address",
      "off",
      "--kubeconfig",
      join(stateDir, "no-such-kubeconfig"),
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
}

test("agent: a state directory held by another v6mostly is refused, naming the holder", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "v6m-agent-lock-"));
  let holder: ChildProcess | undefined;
  t.after(() => {
    if (holder && holder.exitCode === null) holder.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  holder = spawn(process.execPath, ["--import", "tsx", "test/agent/fixtures/hold-lock.ts", "state", dir], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const first = await new Promise<string>((resolve) =>
    holder!.stdout!.once("data", (b) => resolve(String(b))),
  );
  assert.match(first, /"held"/);

  const refused = agent(dir);
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /nothing started: state directory .* is in use by another v6mostly/);
  assert.match(refused.stderr, new RegExp(`PID ${holder.pid}|pid ${holder.pid}|${holder.pid}`));

  holder.kill("SIGKILL");
  await new Promise((resolve) => holder!.once("exit", resolve));
  const past = agent(dir);
  assert.notEqual(past.status, 0);
  assert.doesNotMatch(past.stderr, /in use by another v6mostly/);
  assert.match(past.stderr, /no-such-kubeconfig/);
});
