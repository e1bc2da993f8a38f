// A broken or hostile box: whatever it answers, plan and apply end with a condition, never a throw.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import type { AnyResource } from "../../src/api/resources.ts";
import { applyDevice, planDevice } from "../../src/devices/apply.ts";
import { capturedLogger } from "./support/logs.ts";
import { device, fortigateYaml, fromYaml, seedResources } from "./support/seed.ts";
import { hasOpenssl, makePki, type TestPki } from "./support/tls.ts";

const skip = !hasOpenssl() && "openssl is not installed (needed for the fake's certificate)";
let pki: TestPki;
const dir = mkdtempSync(join(tmpdir(), "v6m-hostile-"));
/** what the server answers next: status and raw body text */
let next: { status: number; body: string }[] = [];
let server: ReturnType<typeof createServer> | undefined;
let endpoint = "";

before(async () => {
  if (skip) return;
  pki = makePki();
  let i = 0;
  server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    req.resume();
    req.on("end", () => {
      const a = next.length ? next[i++ % next.length]! : { status: 500, body: "" };
      res.writeHead(a.status, { "Content-Type": "application/json" });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  endpoint = `https://127.0.0.1:${(server!.address() as AddressInfo).port}`;
});
after(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
  pki?.cleanup();
});

const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
const answer = fc.record({
  status: fc.constantFrom(200, 200, 200, 201, 204, 400, 401, 404, 409, 424, 500, 503),
  body: fc.oneof(
    json,
    fc.string(),
    fc.constant(""),
    fc.constant('{"results":[{"name":5,"ipv6":"x"}],"version":7}'),
    fc.constant('{"results":{"status":null}}'),
  ),
});

function isr(): AnyResource[] {
  return seedResources().map((r) =>
    r.kind === "ExternalDevice" && r.name === "isr"
      ? {
          ...r,
          spec: {
            ...r.spec,
            endpoint,
            credentialsFile: undefined,
            credentialsEnv: "V6M_PW",
            tls: { insecureSkipVerify: false, caFile: pki.caFile },
          },
        }
      : r,
  ) as AnyResource[];
}

test("random answers from a FortiGate or an ISR: every run ends with a condition", { skip }, async () => {
  const { log } = capturedLogger();
  const opts = {
    log,
    stateDir: dir,
    env: { V6M_TOKEN: "tok-123456", V6M_PW: "pw-123456" },
    retries: 0,
    backoffMs: 1,
    timeoutMs: 2000,
  };
  const fgt = () =>
    device(
      fromYaml(
        fortigateYaml({
          version: "7.2.4",
          endpoint,
          tls: `tls: { caFile: "${pki.caFile}" }`,
          credentials: "credentialsEnv: V6M_TOKEN",
        }),
      ),
      "fgt",
    );
  await fc.assert(
    fc.asyncProperty(
      fc.array(answer, { minLength: 1, maxLength: 12 }),
      fc.boolean(),
      fc.boolean(),
      async (answers, forti, apply) => {
        next = answers;
        const d = forti ? fgt() : device(isr(), "isr");
        const r = apply ? await applyDevice(d, opts) : await planDevice(d, opts);
        assert.ok(["True", "False"].includes(r.condition.status));
        assert.ok(r.condition.reason.length > 0);
      },
    ),
    { numRuns: 40 },
  );
});
