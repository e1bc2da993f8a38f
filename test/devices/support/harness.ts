// What the device tests against HTTPS boxes share: a throwaway PKI for the boxes' certificate,
// made before the file's tests and removed after them with every box and folder they used.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import type { RunOptions } from "../../../src/devices/apply.ts";
import { capturedLogger } from "./logs.ts";
import { haveShared } from "./paths.ts";
import { hasOpenssl, makePki, type TestPki } from "./tls.ts";

export interface Harness {
  /** why the file's tests cannot run here, or false */
  skip: string | false;
  /** the PKI (made before the tests; only when they run) */
  readonly pki: TestPki;
  /** `box`, stopped after the tests */
  track<T extends { stop(): Promise<void> }>(box: T): T;
  /** a new folder under the system's temporary one, removed after the tests */
  tempDir(prefix: string): string;
  /**
   * Options for planDevice/applyDevice: credentials from `env`, a logger that keeps its lines
   * (`logs.text()`), a new state folder, quick retries; `o` overrides any of them.
   */
  runOptions(
    env: NodeJS.ProcessEnv,
    o?: Partial<RunOptions>,
  ): { opts: RunOptions & { stateDir: string }; logs: { text(): string }; stateDir: string };
}

/** Registers the file's before/after hooks; `needsShared`: the tests read ../shared/devices. */
export function boxHarness(o: { needsShared?: boolean } = {}): Harness {
  const skip = !hasOpenssl()
    ? "openssl is not installed (needed for the boxes' certificate)"
    : o.needsShared && !haveShared()
      ? "../shared/devices is absent"
      : false;
  let pki: TestPki | undefined;
  const boxes: { stop(): Promise<void> }[] = [];
  const dirs: string[] = [];
  before(() => {
    if (!skip) pki = makePki();
  });
  after(async () => {
    for (const b of boxes) await b.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    pki?.cleanup();
  });
  return {
    skip,
    get pki() {
      if (!pki) throw new Error("the PKI is made in before(): use it inside a test");
      return pki;
    },
    track(box) {
      boxes.push(box);
      return box;
    },
    tempDir(prefix) {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    runOptions(env, o = {}) {
      const logs = capturedLogger();
      const stateDir = o.stateDir ?? this.tempDir("v6m-device-state-");
      const opts = { log: logs.log, stateDir, env, backoffMs: 5, retries: 3, timeoutMs: 3000, ...o };
      return { opts, logs, stateDir };
    },
  };
}
