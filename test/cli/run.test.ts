// `v6mostly run` as a user runs it: a real process serving DNS64 on loopback, reloaded with
// SIGHUP and stopped with SIGTERM; and its lean start (bin/v6mostly.js, src/agent/starters.ts,
// src/cli/resident.ts).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import dnsPacket from "dns-packet";
import { repoRoot } from "../../src/api/gen.ts";
import { SETTLE_AFTER_S } from "../../src/cli/resident.ts";
import { doc } from "../support/validate.ts";

const dir = mkdtempSync(join(tmpdir(), "v6m-run-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** A free-ish port per run: loopback 127.0.0.x with x from the pid, ports above 20000. */
const host = `127.0.${(process.pid >> 8) & 0xff}.${process.pid & 0xff || 1}`;
const port = 20000 + (process.pid % 20000);

const resolver = (listen: string) =>
  doc(
    "Dns64Resolver",
    "lo",
    `listen: ["${listen}"]\nprefix: "2001:db8:64::/96"\nupstreams: ["127.0.0.1:9"]\nallowClients: ["127.0.0.0/8"]`,
  );

/** Ask ipv4only.arpa AAAA (RFC 8880: answered from the prefix, no upstream needed). */
function ask(p: number, timeoutMs = 1000): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      const r = dnsPacket.decode(m);
      resolve((r.answers ?? []).map((a) => String((a as { data: unknown }).data)).sort());
    });
    s.send(
      dnsPacket.encode({
        type: "query",
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type: "AAAA", name: "ipv4only.arpa" }],
      }),
      p,
      host,
    );
  });
}

async function until<T>(f: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

/** `v6mostly run -f file` as a child process (with `env` if given), its standard error collected. */
function startRun(file: string, env?: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, "bin", "v6mostly.js"),
      "run",
      "-f",
      file,
      "--state-dir",
      join(dir, "state"),
      "--status-address",
      `${host}:0`,
    ],
    { stdio: ["ignore", "ignore", "pipe"], env },
  );
  children.push(child);
  let log = "";
  child.stderr!.on("data", (d) => {
    log += String(d);
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, exited, log: () => log };
}

describe("v6mostly run (standalone)", () => {
  it("serves, reloads on SIGHUP, and stops cleanly on SIGTERM", async () => {
    const file = join(dir, "home.yaml");
    writeFileSync(file, resolver(`${host}:${port}`));
    const run = startRun(file);
    const child = run.child;

    const first = await until(
      () => (child.exitCode === null ? ask(port) : Promise.resolve([`exited ${child.exitCode}`])),
      30_000,
    );
    assert.deepEqual(first, ["2001:db8:64::c000:aa", "2001:db8:64::c000:ab"], run.log());

    // the status server: readiness with what runs, Prometheus metrics, and a 404 that lists topics
    const address = /"address":"([^"]+)","msg":"status server/.exec(run.log())?.[1];
    assert.ok(address, run.log());
    const ready = await fetch(`http://${address}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { detail: unknown }).detail, [
      { resource: "Dns64Resolver/lo", running: true },
    ]);
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    assert.match(metrics, /^v6mostly_process_cpu_seconds_total /m);
    assert.equal((await fetch(`http://${address}/nothing`)).status, 404);

    // move the listener to another port; the old one must stop answering
    writeFileSync(file, resolver(`${host}:${port + 1}`));
    child.kill("SIGHUP");
    const moved = await until(() => ask(port + 1), 15_000);
    assert.deepEqual(moved, ["2001:db8:64::c000:aa", "2001:db8:64::c000:ab"], run.log());
    assert.equal(await ask(port, 500), undefined);

    // a broken file on reload changes nothing
    writeFileSync(file, resolver(`${host}:${port + 1}`).replace("2001:db8:64::/96", "2001:db8:64::/72"));
    child.kill("SIGHUP");
    await until(async () => (run.log().includes("reload refused") ? true : undefined), 10_000);
    assert.match(run.log(), /home\.yaml#1 Dns64Resolver\/lo spec\.prefix: \/72 is not a NAT64 prefix length/);
    assert.deepEqual(await ask(port + 1), ["2001:db8:64::c000:aa", "2001:db8:64::c000:ab"]);

    child.kill("SIGTERM");
    assert.equal(await run.exited, 0, run.log());
    assert.match(run.log(), /"msg":"stopped"/);
  });

  it("refuses to start on invalid files, naming the problem", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      resolver(`${host}:${port + 2}`).replace('allowClients: ["127.0.0.0/8"]', 'allowClients: ["::/0"]'),
    );
    const run = startRun(file);
    const code = await run.exited;
    const err = run.log();
    assert.equal(code, 1);
    assert.match(
      err,
      /bad\.yaml#1 Dns64Resolver\/lo spec\.allowClients\[0\]: ::\/0 lets the whole internet query/,
    );
    assert.match(err, /nothing started/);
  });
});

/**
 * A module for `--import` that records every module URL the process resolves, one a line in
 * `modules` (hooks run in their own thread).
 */
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

describe("v6mostly run starts lean", () => {
  it("re-executes itself lean, loads only its services, and gives back its start-up pages", async () => {
    const file = join(dir, "lean.yaml");
    writeFileSync(file, resolver(`${host}:${port + 3}`));
    const modules = join(dir, "modules.txt");
    writeFileSync(modules, "");
    const { MALLOC_ARENA_MAX: _, ...env } = process.env;
    const run = startRun(file, {
      ...env,
      NODE_OPTIONS: `--import=${moduleRecorder(modules)}`,
      V6MOSTLY_LOG_LEVEL: "debug",
    });
    const pid = run.child.pid!;
    const running = await until(async () => (/"msg":"running;/.test(run.log()) ? true : undefined), 30_000);
    assert.ok(running, run.log());

    // the same process (execve), now with one malloc arena, and its own node options only
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    assert.deepEqual(
      argv.filter((a) => a.startsWith("--v8-pool-size")),
      [],
      argv.join(" "),
    );
    assert.ok(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes("MALLOC_ARENA_MAX=1"));

    // the DNS64 service's module, and no other service's
    const loaded = readFileSync(modules, "utf8").split("\n");
    const services = (kind: string) =>
      loaded.filter((u) => new RegExp(`/services/${kind}/index\\.[jt]s$`).test(u));
    assert.notDeepEqual(services("dns64"), [], "the recorder saw no DNS64 module");
    for (const kind of ["nat64", "ra", "dhcp4", "edge"]) assert.deepEqual(services(kind), [], kind);

    // some seconds after start, the start-up pages go back
    const settled = await until(
      async () => /"fileKiB":(\d+),"trimmed":\w+,"msg":"start-up memory given back"/.exec(run.log())?.[1],
      (SETTLE_AFTER_S + 10) * 1000,
    );
    assert.ok(Number(settled) > 10 * 1024, run.log());

    run.child.kill("SIGTERM");
    assert.equal(await run.exited, 0, run.log());
  });
});
