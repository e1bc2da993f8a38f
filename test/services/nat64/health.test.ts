/**
 * workers.health() against real packet workers on a real TUN device (workers-host.ts, in a
 * namespace made here): a worker whose probe fails, one whose loop stops turning, one that exits,
 * and the recovery of the first two. This is what fate-sharing (agent/fatesharing.ts) reads.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { threadNames } from "../../support/threads.ts";
import { canRun, PREFIX, REPO, sh, waitFor } from "./lab.ts";

const skip = canRun();

type Health = { ok: true } | { ok: false; why: string };

/** The workers of one gateway in their own namespace, asked over stdin (workers-host.ts). */
class Host {
  readonly ns: string;
  readonly tun: string;
  readonly breakFile: string;
  private readonly dir = mkdtempSync(join(tmpdir(), "v6m-health-"));
  private proc: ChildProcess | null = null;

  /** the workers' host process */
  get pid(): number {
    return this.proc!.pid!;
  }
  private readonly lines: string[] = [];
  private readonly waiting: ((l: string) => void)[] = [];
  private stderr = "";

  constructor(tag: string) {
    this.ns = `v6m-health-${process.pid}-${tag}`;
    this.tun = `hl${process.pid}${tag}`.slice(0, 15);
    this.breakFile = join(this.dir, "break-probe");
    sh(["ip", "netns", "add", this.ns]);
    sh(["ip", "-n", this.ns, "link", "set", "lo", "up"]);
  }

  async start(spec: Record<string, unknown>, options: Record<string, unknown>): Promise<void> {
    const arg = {
      spec: {
        prefix: PREFIX,
        pool4: ["203.0.113.128"],
        allowedSources: ["2001:db8:1::/48"],
        tunName: this.tun,
        ...spec,
      },
      options,
    };
    const p = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.ns,
        process.execPath,
        "--import",
        "tsx",
        join(REPO, "test/services/nat64/workers-host.ts"),
        JSON.stringify(arg),
      ],
      { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, V6MOSTLY_TEST_BREAK_PROBE: this.breakFile } },
    );
    this.proc = p;
    p.stderr!.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: p.stdout! }).on("line", (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
    assert.equal(await this.next(), "ready", this.stderr);
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no answer from the workers' host: ${this.stderr}`)),
        30_000,
      );
      this.waiting.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
    });
  }

  async ask(cmd: string): Promise<Record<string, unknown>> {
    this.proc!.stdin!.write(`${cmd}\n`);
    return JSON.parse(await this.next());
  }

  health(silentMs = 2000): Promise<Health> {
    return this.ask(`health ${silentMs}`) as Promise<Health>;
  }

  /** Waits until health() is `ok` (and, unhealthy, its why matches); returns it. */
  until(ok: boolean, why?: RegExp, ms = 15_000): Promise<Health> {
    return waitFor(
      ok ? "healthy" : `unhealthy: ${why}`,
      async () => {
        const h = await this.health();
        return h.ok === ok && (h.ok || !why || why.test(h.why)) ? h : undefined;
      },
      ms,
    );
  }

  ip(...a: string[]): void {
    sh(["ip", "-n", this.ns, ...a]);
  }

  async cleanup(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      p.stdin!.write("stop\n");
      await Promise.race([new Promise((r) => p.once("exit", r)), new Promise((r) => setTimeout(r, 5000))]);
      if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, "SIGKILL");
    }
    try {
      sh(["ip", "netns", "del", this.ns]);
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

test("workers.health(): a failing probe names its worker, recovers, and an exited worker is unhealthy", {
  skip: skip ?? undefined,
  timeout: 120_000,
}, async (t) => {
  const host = new Host("p");
  t.after(() => host.cleanup());
  await host.start({ queues: 2 }, {});
  await host.until(true);
  // each packet worker's thread carries its name (top -H, ps -L, perf)
  const names = threadNames(host.pid);
  for (const w of ["v6m-packet-0", "v6m-packet-1"])
    assert.ok(names.includes(w), `${w} in ${names.join(", ")}`);

  // worker 1's translator goes wrong (the test hook): unhealthy, naming worker 1 and the probe
  writeFileSync(host.breakFile, "1");
  const broken = await host.until(false, /^packet worker 1 of 2 failed its probe: /);
  assert.ok(
    !broken.ok && /4→6 \(general path\): not the datagram it started from/.test(broken.why),
    JSON.stringify(broken),
  );
  t.diagnostic(`broken: ${!broken.ok && broken.why}`);

  // repaired: the next heartbeat's probe passes
  unlinkSync(host.breakFile);
  await host.until(true);

  // worker 0's thread ends: unhealthy for good (a dead worker is not restarted; the gateway is)
  assert.deepEqual(await host.ask("kill 0"), { killed: 0 });
  const dead = await host.health();
  assert.deepEqual(dead, { ok: false, why: "packet worker 0 of 2 exited" });
});

test("workers.health(): a loop that stops turning is unhealthy, and healthy again once it turns", {
  skip: skip ?? undefined,
  timeout: 120_000,
}, async (t) => {
  const host = new Host("s");
  t.after(() => host.cleanup());
  // The blocking loop turns only when a packet arrives: its wake datagrams (every 250 ms, to the
  // prefix's image of 0.0.0.1) need a route into the device. Without one, it blocks in read().
  await host.start({}, { loop: "blocking" });
  const stuck = await host.until(false, /^packet worker 0 sent no heartbeat for \d+ s: its loop is stuck$/);
  t.diagnostic(`stuck: ${!stuck.ok && stuck.why}`);

  host.ip("addr", "add", "2001:db8:ff::1/128", "dev", "lo");
  host.ip("link", "set", host.tun, "up");
  host.ip("-6", "route", "add", PREFIX, "dev", host.tun);
  await host.until(true);
});

test("workers.health(): a TUN device deleted under the workers is unhealthy (its reads fail)", {
  skip: skip ?? undefined,
  timeout: 120_000,
}, async (t) => {
  const host = new Host("d");
  t.after(() => host.cleanup());
  await host.start({}, {});
  await host.until(true);
  host.ip("link", "del", host.tun);
  const gone = await host.until(
    false,
    /^packet worker 0 cannot read its TUN queue \(every read failed for \d+ s\)$/,
  );
  t.diagnostic(`deleted: ${!gone.ok && gone.why}`);
});
