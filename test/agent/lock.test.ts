// The state directory lock and the interface role locks (src/agent/lock.ts): flock(2) semantics
// checked against Python's fcntl.flock, a holder's crash (kill -9) releasing them, the refusal
// messages, lock files per network namespace, and the RA/DHCP starters holding their role.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  HeldLock,
  lockInterfaceRole,
  lockStateDir,
  STATE_LOCK,
  tryLock,
  withInterfaceRoles,
} from "../../src/agent/lock.ts";
import type { DhcpAssignment, EdgeAssignment, RaAssignment } from "../../src/planner/plan.ts";
import { type RunningService, ServiceError, type Starters } from "../../src/services/contract.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "v6m-lock-"));
const children: ChildProcess[] = [];
const namespaces: string[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const ns of namespaces) spawnSync("ip", ["netns", "del", ns]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A process holding a lock (fixtures/hold-lock.ts), once it said what it holds. */
async function holder(
  args: string[],
  prefix: string[] = [],
): Promise<{ child: ChildProcess; said: { held?: string; error?: string } }> {
  const argv = [
    ...prefix,
    process.execPath,
    "--import",
    "tsx",
    path.join(root, "test/agent/fixtures/hold-lock.ts"),
    ...args,
  ];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const end = Date.now() + 20_000;
  while (!out.includes("\n")) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`hold-lock said nothing: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, said: JSON.parse(out.split("\n")[0]!) };
}

async function kill9(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await gone;
}

describe("flock locks", () => {
  it("a second lock on the file is refused, in this process too, and names the holder; release frees it", () => {
    const file = path.join(dir, "a.lock");
    const first = tryLock(file, { what: "first" });
    assert.ok(first instanceof HeldLock);
    const second = tryLock(file, { what: "second" });
    assert.ok(!(second instanceof HeldLock));
    assert.equal(second.heldBy.pid, process.pid);
    assert.equal(second.heldBy.what, "first");
    first.release();
    const third = tryLock(file, { what: "third" });
    assert.ok(third instanceof HeldLock);
    third.release();
  });

  it("is the same lock as Python's fcntl.flock, and a kill -9 of its holder frees it", async (t) => {
    if (spawnSync("sh", ["-c", "command -v python3"]).status !== 0) return t.skip("python3 is not installed");
    const file = path.join(dir, "py.lock");
    const py = spawn(
      "python3",
      [
        "-c",
        "import fcntl,sys,time\nf=open(sys.argv[1],'a+')\nfcntl.flock(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(60)",
        file,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(py);
    await new Promise<void>((r) => py.stdout!.once("data", () => r()));
    const refused = tryLock(file, { what: "node" });
    assert.ok(!(refused instanceof HeldLock), "Python holds it");
    assert.equal(refused.heldBy.pid, undefined, "Python wrote no record");
    await kill9(py);
    const mine = tryLock(file, { what: "node" });
    assert.ok(mine instanceof HeldLock, "free once its holder is gone");
    // and Python sees ours
    const probe = spawnSync("python3", [
      "-c",
      "import fcntl,sys\nf=open(sys.argv[1],'a+')\ntry:\n  fcntl.flock(f,fcntl.LOCK_EX|fcntl.LOCK_NB); print('got')\nexcept BlockingIOError: print('busy')",
      file,
    ]);
    assert.equal(String(probe.stdout).trim(), "busy");
    mine.release();
  });

  it("the state directory: a second holder is refused with the directory and the first one's PID; after kill -9 it is free", async () => {
    const state = path.join(dir, "state");
    fs.mkdirSync(state);
    const first = await holder(["state", state]);
    assert.equal(first.said.held, path.join(state, STATE_LOCK));
    assert.throws(
      () => lockStateDir(state, "v6mostly run"),
      new RegExp(
        `^Error: state directory ${state} is in use by another v6mostly \\(PID ${first.child.pid}, hold-lock fixture, state directory ${state}, since .*\\): stop that one first, or give this one its own --state-dir$`,
      ),
    );
    await kill9(first.child);
    const again = lockStateDir(state, "v6mostly run");
    again.release();
  });
});

describe("interface role locks", () => {
  it("a role taken on an interface is refused as InterfaceInUse naming the holder; another interface or role is not", async () => {
    const locks = path.join(dir, "roles");
    const other = await holder(["role", locks, "br-lan"]);
    const netns = fs.statSync("/proc/self/ns/net").ino;
    assert.equal(other.said.held, path.join(locks, `ra-br-lan@netns-${netns}.lock`));
    const ctx = { resource: "RouterAdvert/lan", stateDir: "/var/lib/other" };
    assert.throws(
      () => lockInterfaceRole("ra", "br-lan", ctx, locks),
      (e: unknown) =>
        e instanceof ServiceError &&
        e.reason === "InterfaceInUse" &&
        e.message.startsWith(
          `another v6mostly already sends Router Advertisements on br-lan (PID ${other.child.pid}, RouterAdvert/fixture`,
        ),
    );
    lockInterfaceRole("dhcp", "br-lan", ctx, locks).release();
    lockInterfaceRole("ra", "br-wan", ctx, locks).release();
    await kill9(other.child);
    lockInterfaceRole("ra", "br-lan", ctx, locks).release();
  });

  it("an interface of another network namespace is another lock", async (t) => {
    if (process.getuid?.() !== 0 || spawnSync("ip", ["netns", "list"]).status !== 0)
      return t.skip("needs root (network namespaces)");
    const ns = `v6m-lock-${process.pid}`;
    spawnSync("ip", ["netns", "add", ns]);
    namespaces.push(ns);
    const locks = path.join(dir, "roles-ns");
    const mine = lockInterfaceRole("ra", "eth0", { resource: "RouterAdvert/a", stateDir: dir }, locks);
    const there = await holder(["role", locks, "eth0"], ["ip", "netns", "exec", ns]);
    const here = fs.statSync("/proc/self/ns/net").ino;
    assert.match(there.said.held ?? there.said.error ?? "", /ra-eth0@netns-\d+\.lock$/);
    assert.ok(!there.said.held!.endsWith(`@netns-${here}.lock`), there.said.held);
    mine.release();
  });

  it("the RA and DHCP starters hold their interface's role while the service runs, and move it with the interface", async () => {
    const locks = path.join(dir, "roles-starters");
    const events: string[] = [];
    const fake =
      <A extends { spec: { interface: string } }>(kind: string) =>
      async (a: A): Promise<RunningService<A>> => {
        events.push(`start ${kind} ${a.spec.interface}`);
        return {
          stop: async () => void events.push(`stop ${kind}`),
          update: async (n: A) => void events.push(`update ${kind} ${n.spec.interface}`),
          stats: () => ({}),
        };
      };
    const s: Starters = withInterfaceRoles(
      { RouterAdvert: fake<RaAssignment>("ra"), DhcpScope: fake<DhcpAssignment>("dhcp") },
      locks,
    );
    const ra = (iface: string) => ({ spec: { interface: iface } }) as RaAssignment;
    const ctx = (name: string) => ({
      resource: `RouterAdvert/${name}`,
      stateDir: dir,
      log: undefined as never,
    });
    const one = await s.RouterAdvert!(ra("v6m0"), ctx("one"));
    await assert.rejects(
      s.RouterAdvert!(ra("v6m0"), ctx("two")),
      (e: unknown) => e instanceof ServiceError && e.reason === "InterfaceInUse",
    );
    // DHCP on the same interface is another role
    const dhcp = await s.DhcpScope!({ spec: { interface: "v6m0" } } as DhcpAssignment, ctx("d"));
    // moving to another interface takes that one's lock and lets the old one go
    await one.update!(ra("v6m1"));
    const two = await s.RouterAdvert!(ra("v6m0"), ctx("two"));
    await assert.rejects(
      s.RouterAdvert!(ra("v6m1"), ctx("three")),
      /already sends Router Advertisements on v6m1/,
    );
    await one.stop();
    const three = await s.RouterAdvert!(ra("v6m1"), ctx("three"));
    for (const svc of [two, three, dhcp]) await svc.stop();
    assert.deepEqual(events, [
      "start ra v6m0",
      "start dhcp v6m0",
      "update ra v6m1",
      "start ra v6m0",
      "stop ra",
      "start ra v6m1",
      "stop ra",
      "stop ra",
      "stop dhcp",
    ]);
  });

  it("an EdgeTranslation holds its outside interface: a second one there is refused, and health passes through", async () => {
    const locks = path.join(dir, "roles-edge");
    let healthy = true;
    const start = async (): Promise<RunningService<EdgeAssignment>> => ({
      stop: async () => {},
      stats: () => ({}),
      health: () => (healthy ? { ok: true } : { ok: false, why: "planted" }),
    });
    const s: Starters = withInterfaceRoles({ EdgeTranslation: start }, locks);
    const edge = (outside: string) => ({ spec: { outsideInterface: outside } }) as EdgeAssignment;
    const ctx = (name: string) => ({
      resource: `EdgeTranslation/${name}`,
      stateDir: dir,
      log: undefined as never,
    });
    const one = await s.EdgeTranslation!(edge("wan0"), ctx("one"));
    await assert.rejects(
      s.EdgeTranslation!(edge("wan0"), ctx("two")),
      (e: unknown) =>
        e instanceof ServiceError &&
        e.reason === "InterfaceInUse" &&
        /already translates at the edge \(EdgeTranslation\) on wan0/.test(e.message),
    );
    healthy = false;
    assert.deepEqual(one.health?.(), { ok: false, why: "planted" });
    await one.stop();
    const two = await s.EdgeTranslation!(edge("wan0"), ctx("two"));
    await two.stop();
  });
});
