// `v6mostly run` starts lean (bin/v6mostly.js, src/agent/starters.ts, src/cli/resident.ts): it
// replaces itself once with one V8 helper thread and one malloc arena, loads only the services its
// files run, and gives back its start-up pages some seconds after start. A real process serving a
// Dns64Resolver on loopback, its loaded modules recorded by a resolve hook.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../../src/api/gen.ts";
import { SETTLE_AFTER_S } from "../../src/cli/resident.ts";
import { doc } from "../support/validate.ts";

const dir = mkdtempSync(join(tmpdir(), "v6m-lean-"));
let child: ChildProcess | undefined;
after(() => {
  if (child?.exitCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const host = `127.0.${(process.pid >> 8) & 0xff}.${process.pid & 0xff || 1}`;
const port = 20000 + ((process.pid + 7919) % 20000);

/** Every module URL the process resolves, one a line in `modules` (hooks run in their own thread). */
function moduleRecorder(modules: string): string {
  const hooks = join(dir, "hooks.mjs");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(modules)}, r.url + "\\n");
  return r;
}`,
  );
  const register = join(dir, "register.mjs");
  writeFileSync(
    register,
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  return register;
}

async function until<T>(f: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

describe("v6mostly run starts lean", () => {
  it("re-executes itself lean, loads only its services, and gives back its start-up pages", async () => {
    const file = join(dir, "home.yaml");
    writeFileSync(
      file,
      doc(
        "Dns64Resolver",
        "lo",
        `listen: ["${host}:${port}"]\nprefix: "2001:db8:64::/96"\nupstreams: ["127.0.0.1:9"]\nallowClients: ["127.0.0.0/8"]`,
      ),
    );
    const modules = join(dir, "modules.txt");
    writeFileSync(modules, "");
    const { MALLOC_ARENA_MAX: _, ...env } = process.env;
    child = spawn(
      process.execPath,
      [
        join(repoRoot, "bin", "v6mostly.js"),
        "run",
        "-f",
        file,
        "--state-dir",
        join(dir, "state"),
        "--status-address",
        "off",
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...env, NODE_OPTIONS: `--import=${moduleRecorder(modules)}`, V6MOSTLY_LOG_LEVEL: "debug" },
      },
    );
    let log = "";
    child.stderr!.on("data", (d) => {
      log += String(d);
    });
    const exited = new Promise<number | null>((r) => child!.on("exit", (code) => r(code)));
    const pid = child.pid!;

    assert.ok(await until(() => (/"msg":"running;/.test(log) ? true : undefined), 30_000), log);
    // the same process (execve), now with one V8 helper thread and one malloc arena
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    assert.ok(argv.includes("--v8-pool-size=1"), argv.join(" "));
    assert.equal(argv.filter((a) => a.startsWith("--v8-pool-size")).length, 1, argv.join(" "));
    assert.ok(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes("MALLOC_ARENA_MAX=1"));

    // the DNS64 service's module, and no other service's
    const loaded = readFileSync(modules, "utf8").split("\n");
    const services = (kind: string) =>
      loaded.filter((u) => new RegExp(`/services/${kind}/index\\.[jt]s$`).test(u));
    assert.equal(services("dns64").length > 0, true, "dns64 not seen: the recorder sees nothing");
    for (const kind of ["nat64", "ra", "dhcp4", "edge"]) assert.deepEqual(services(kind), [], kind);

    // some seconds after start, the start-up pages go back
    const settled = await until(
      () => /"fileKiB":(\d+),"trimmed":\w+,"msg":"start-up memory given back"/.exec(log)?.[1],
      (SETTLE_AFTER_S + 10) * 1000,
    );
    assert.ok(Number(settled) > 10 * 1024, log);

    child.kill("SIGTERM");
    assert.equal(await exited, 0, log);
  });
});
