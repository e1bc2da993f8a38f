// The controller runtime against an in-process fake API: the work queue's guarantees, informers
// that survive hard disconnects and forgotten versions, leader election, conditions, events.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CORE, type KubeObject } from "../../src/operator/runtime/client.ts";
import { setCondition, setConditions } from "../../src/operator/runtime/conditions.ts";
import { Controller } from "../../src/operator/runtime/controller.ts";
import { EventRecorder } from "../../src/operator/runtime/events.ts";
import { Informer } from "../../src/operator/runtime/informer.ts";
import { LeaderElector } from "../../src/operator/runtime/leader.ts";
import { WorkQueue } from "../../src/operator/runtime/queue.ts";
import { createLogger } from "../../src/util/log.ts";
import { FakeApi } from "./support/fakeapi.ts";

const log = createLogger("test", { level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

describe("work queue", () => {
  it("hands a key out once however often it is added, and never to two workers at once", async () => {
    const q = new WorkQueue<string>();
    q.add("a");
    q.add("a");
    q.add("b");
    assert.equal(q.length, 2);
    assert.equal(q.counts.deduplicated, 1);
    const first = await q.get();
    assert.equal(first, "a");
    q.add("a"); // while "a" is processed: held back
    assert.equal(await q.get(), "b");
    let third: string | undefined;
    void q.get().then((k) => {
      third = k;
    });
    await sleep(10);
    assert.equal(third, undefined, "a is still being processed");
    q.done("a");
    await sleep(1);
    assert.equal(third, "a", "queued again once done");
  });

  it("backs off per key, doubling, until forgotten", () => {
    const q = new WorkQueue<string>({ baseMs: 10, maxMs: 50 });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => q.addRateLimited("k")),
      [10, 20, 40, 50, 50],
    );
    assert.equal(q.addRateLimited("other"), 10);
    q.forget("k");
    assert.equal(q.addRateLimited("k"), 10);
    q.shutdown();
  });

  it("shutdown wakes waiting workers with nothing", async () => {
    const q = new WorkQueue<string>();
    const waiting = q.get();
    q.shutdown();
    assert.equal(await waiting, undefined);
  });
});

describe("controller", () => {
  it("retries a failing reconcile with backoff and requeues on request", async () => {
    const calls: string[] = [];
    let fail = 2;
    const c = new Controller({
      name: "t",
      log,
      queue: new WorkQueue({ baseMs: 5, maxMs: 20 }),
      reconcile: async (key) => {
        calls.push(key);
        if (fail-- > 0) throw new Error("not yet");
        return calls.length < 5 ? { requeueAfterMs: 5 } : undefined;
      },
    });
    c.start();
    c.enqueue("x");
    await until("5 reconciles", () => calls.length >= 5);
    await c.stop();
    assert.equal(c.counts.errors, 2);
    assert.equal(c.queue.failuresOf("x"), 0, "forgotten after success");
  });
});

describe("informer", () => {
  let api: FakeApi;
  before(async () => {
    api = await new FakeApi().start();
  });
  after(() => api.stop());

  const cm = (name: string, v: string): KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "ns" },
    data: { v },
  });

  it("lists, watches, and keeps going after a hard disconnect and after its version is forgotten", async () => {
    const client = api.client();
    await client.create(CORE.configmaps, cm("a", "1"));
    const seen: string[] = [];
    const inf = new Informer<KubeObject>(client, CORE.configmaps, {
      namespace: "ns",
      backoff: { initialMs: 10, maxMs: 50 },
      log,
    }).on({
      added: (o) => seen.push(`+${o.metadata.name}`),
      updated: (o) => seen.push(`~${o.metadata.name}=${(o.data as { v: string }).v}`),
      deleted: (o) => seen.push(`-${o.metadata.name}`),
    });
    await inf.start();
    assert.deepEqual(seen, ["+a"]);
    await client.create(CORE.configmaps, cm("b", "1"));
    await until("b added", () => seen.includes("+b"));

    // a hard disconnect: the watch is cut; changes made meanwhile still arrive
    api.dropWatches();
    await client.mergePatch(CORE.configmaps, "ns", "a", { data: { v: "2" } });
    await until("a updated after the disconnect", () => seen.includes("~a=2"));
    assert.ok(inf.counts.failures >= 1 || inf.counts.watches >= 2);

    // the server forgets history while we are cut off: 410 Gone, then a relist tells us the difference
    api.refuseWatches = true;
    api.dropWatches();
    await client.delete(CORE.configmaps, "ns", "b");
    await client.create(CORE.configmaps, cm("c", "1"));
    api.compact();
    await sleep(100);
    api.refuseWatches = false;
    await until("c added and b deleted", () => seen.includes("+c") && seen.includes("-b"));
    assert.deepEqual(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ["a", "c"],
    );
    assert.ok(inf.counts.lists >= 2, `relisted (${JSON.stringify(inf.counts)})`);
    inf.stop();
  });

  it("relists on the resync period and re-delivers every object", async () => {
    const client = api.client();
    let updates = 0;
    const inf = new Informer<KubeObject>(client, CORE.configmaps, {
      namespace: "ns",
      resyncMs: 1200,
      log,
    }).on({
      updated: () => updates++,
    });
    await inf.start();
    const lists = inf.counts.lists;
    await until("a resync", () => inf.counts.lists > lists, 5000);
    assert.ok(updates >= 2, "each object re-delivered");
    inf.stop();
  });
});

describe("leader election", () => {
  it("one leader; the other takes over within the lease duration when it dies; release hands over at once", async () => {
    const api = await new FakeApi().start();
    try {
      const events: string[] = [];
      const elector = (id: string) =>
        new LeaderElector(api.client(), {
          namespace: "ns",
          name: "op",
          identity: id,
          leaseDurationMs: 1000,
          renewDeadlineMs: 700,
          retryPeriodMs: 100,
          onStartedLeading: () => events.push(`${id} leads`),
          onStoppedLeading: () => events.push(`${id} stops`),
        });
      const a = elector("a");
      const b = elector("b");
      a.start();
      await until("a leads", () => a.isLeader);
      b.start();
      await sleep(1300);
      assert.equal(b.isLeader, false, "b waits while a renews");
      // a dies without releasing: its timers stop, the lease goes stale
      const died = Date.now();
      (a as unknown as { running: boolean }).running = false;
      await until("b takes over", () => b.isLeader, 3000);
      const took = Date.now() - died;
      // the lease's last renewal seen, plus its duration, plus at most one retry period
      assert.ok(took <= 1000 + 100 + 150, `took over in ${took} ms (lease 1000 ms, retry 100 ms)`);
      const lease = api.objects("coordination.k8s.io/leases")[0]!;
      assert.equal((lease.spec as { holderIdentity: string }).holderIdentity, "b");
      assert.equal((lease.spec as { leaseTransitions: number }).leaseTransitions, 1);
      // b stops cleanly: the lease is released, c takes it without waiting a duration
      const c = elector("c");
      c.start();
      await sleep(250);
      assert.equal(c.isLeader, false);
      const released = Date.now();
      await b.stop();
      await until("c leads after the release", () => c.isLeader, 2000);
      assert.ok(Date.now() - released < 1000, "no wait for expiry after a release");
      await c.stop();
      assert.deepEqual(events, ["a leads", "b leads", "b stops", "c leads", "c stops"]);
    } finally {
      await api.stop();
    }
  });

  it("with an owner the Lease names it (uninstall deletes it); a Lease written without one gets it at renewal", async () => {
    const api = await new FakeApi().start();
    try {
      const owner = { apiVersion: "apps/v1", kind: "Deployment", name: "v6mostly-operator", uid: "u-1" };
      const want = [{ ...owner, blockOwnerDeletion: false }];
      await api.client().create(CORE.leases, { metadata: { name: "old", namespace: "ns" }, spec: {} });
      const electors = ["op", "old"].map(
        (name) =>
          new LeaderElector(api.client(), {
            namespace: "ns",
            name,
            identity: "a",
            owner,
            leaseDurationMs: 1000,
            renewDeadlineMs: 700,
            retryPeriodMs: 100,
            onStartedLeading: () => undefined,
            onStoppedLeading: () => undefined,
          }),
      );
      for (const e of electors) e.start();
      await until("both lead", () => electors.every((e) => e.isLeader));
      for (const name of ["op", "old"]) {
        const lease = await api.client().get(CORE.leases, "ns", name);
        assert.deepEqual(lease.metadata.ownerReferences, want, name);
      }
      for (const e of electors) await e.stop();
    } finally {
      await api.stop();
    }
  });

  it("a leader that cannot renew stops leading before the lease expires", async () => {
    const api = await new FakeApi().start();
    try {
      let stopped = 0;
      const e = new LeaderElector(api.client(), {
        namespace: "ns",
        name: "op",
        identity: "a",
        leaseDurationMs: 900,
        renewDeadlineMs: 500,
        retryPeriodMs: 100,
        onStartedLeading: () => undefined,
        onStoppedLeading: () => {
          stopped = Date.now();
        },
      });
      e.start();
      await until("leads", () => e.isLeader);
      const cut = Date.now();
      api.failNext(1_000_000);
      await until("stops", () => !e.isLeader, 2000);
      assert.ok(stopped - cut < 900, `stopped leading ${stopped - cut} ms after losing the API`);
      api.failNext(0);
      await e.stop();
    } finally {
      await api.stop();
    }
  });
});

describe("conditions", () => {
  it("moves lastTransitionTime only when the status changes; Ready first", () => {
    const t0 = new Date("2026-01-01T00:00:00Z");
    const t1 = new Date("2026-01-01T01:00:00Z");
    let c = setCondition([], { type: "Programmed", status: "False", reason: "Pending", message: "0/2" }, t0);
    c = setCondition(c, { type: "Ready", status: "False", reason: "Pending", message: "x" }, t0);
    assert.deepEqual(
      c.map((x) => x.type),
      ["Ready", "Programmed"],
    );
    c = setCondition(c, { type: "Programmed", status: "False", reason: "Pending", message: "1/2" }, t1);
    assert.equal(c[1]!.lastTransitionTime, "2026-01-01T00:00:00Z", "same status: time kept");
    assert.equal(c[1]!.message, "1/2");
    c = setCondition(c, { type: "Programmed", status: "True", reason: "Programmed", message: "2/2" }, t1);
    assert.equal(c[1]!.lastTransitionTime, "2026-01-01T01:00:00Z");
    const replaced = setConditions(
      c,
      [{ type: "Ready", status: "True", reason: "Ok", message: "" }],
      t1,
      true,
    );
    assert.deepEqual(
      replaced.map((x) => x.type),
      ["Ready"],
    );
  });
});

describe("events", () => {
  it("records an event once and counts repeats", async () => {
    const api = await new FakeApi().start();
    try {
      const rec = new EventRecorder(api.client(), "v6mostly-operator", log);
      const about = {
        apiVersion: "v6mostly.dev/v1alpha1",
        kind: "Nat64Gateway",
        name: "home",
        namespace: "ns",
        uid: "u1",
      };
      await rec.record(about, "Normal", "Planned", "2 nodes");
      await rec.record(about, "Normal", "Planned", "2 nodes");
      await rec.record(about, "Warning", "Conflict", "overlaps");
      const events = api.objects("/events");
      assert.equal(events.length, 2);
      const planned = events.find((e) => e.reason === "Planned")!;
      assert.equal(planned.count, 2);
      assert.deepEqual(planned.involvedObject, about);
    } finally {
      await api.stop();
    }
  });
});
