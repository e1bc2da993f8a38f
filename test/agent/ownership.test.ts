// The ownership gate with the in-process fake API and stand-in services: one candidate serves at a
// time; one cut off from the API stops serving before another starts; a candidate that cannot
// start gives the Lease up; stop() hands over at once; a renewal stuck in flight cannot keep a
// node serving; what the runtime reports for the active node and the standbys.
// (Addresses and announcements are in ownership-announce.test.ts, the real API server and real
// services in ownership-cluster.test.ts.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { type OwnershipTiming, ownedStarters } from "../../src/agent/ownership/gate.ts";
import { NodeRuntime } from "../../src/agent/runtime.ts";
import { KubeClient, type RequestInit } from "../../src/operator/runtime/client.ts";
import type { DhcpAssignment } from "../../src/planner/plan.ts";
import { ServiceError, type Starters } from "../../src/services/contract.ts";
import { createLogger } from "../../src/util/log.ts";
import { FakeApi } from "../operator/support/fakeapi.ts";
import { assignment } from "../services/dhcp4/helpers.ts";

const log = createLogger("test", { level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

const TIMING: OwnershipTiming = { leaseDurationMs: 900, renewDeadlineMs: 600, retryPeriodMs: 100 };

/** A client that can be cut off from the API (every request fails) or made to hang (never answers). */
class Link extends KubeClient {
  cut = false;
  hang = false;
  override request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    if (this.hang) return new Promise<T>(() => undefined);
    if (this.cut) return Promise.reject(new Error("connect ECONNREFUSED"));
    return super.request(method, path, init);
  }
}

const scope: DhcpAssignment = {
  ...assignment({ interface: "lo" }),
  owner: { lease: "v6mostly-owner-default-dhcpscope-lan", interface: "lo", addresses: [] },
};

/** What the stand-in service of each node did, with the time of each event. */
interface Journal {
  events: { node: string; what: "start" | "stop"; at: number }[];
  serving: Set<string>;
  failOn: Set<string>;
}

function node(api: FakeApi, name: string, journal: Journal, dir: string) {
  const client = new Link(api.client().connection);
  const base: Starters = {
    DhcpScope: async () => {
      if (journal.failOn.has(name)) throw new ServiceError("PortInUse", "port 67 is taken");
      journal.events.push({ node: name, what: "start", at: Date.now() });
      journal.serving.add(name);
      return {
        stop: async () => {
          journal.serving.delete(name);
          journal.events.push({ node: name, what: "stop", at: Date.now() });
        },
        stats: () => ({ served: 1 }),
      };
    },
  };
  const runtime = new NodeRuntime(
    ownedStarters(base, { client, namespace: "v6mostly", identity: name, log, timing: TIMING, retryMs: 200 }),
    { log, stateDir: join(dir, name) },
  );
  return { name, client, runtime };
}

const cond = (n: { runtime: NodeRuntime }, type: string) =>
  n.runtime.status()[0]?.conditions.find((c) => c.type === type);

describe("ownership gate", () => {
  let api: FakeApi;
  let dir: string;
  let journal: Journal;
  let nodes: ReturnType<typeof node>[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "v6m-gate-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function setup(names: string[]) {
    api = await new FakeApi().start();
    journal = { events: [], serving: new Set(), failOn: new Set() };
    nodes = names.map((n) => node(api, n, journal, dir));
  }
  afterEach(async () => {
    for (const n of nodes) {
      n.client.cut = false;
      n.client.hang = false;
    }
    await Promise.all(nodes.map((n) => n.runtime.stopAll()));
    await api.stop();
  });

  it("one candidate serves; the others stand by, Ready, naming the active one", async () => {
    await setup(["a", "b", "c"]);
    await nodes[0]!.runtime.apply([scope]);
    await until("a serves", () => journal.serving.has("a"));
    await Promise.all(nodes.slice(1).map((n) => n.runtime.apply([scope])));
    await sleep(TIMING.leaseDurationMs * 1.5);
    assert.deepEqual([...journal.serving], ["a"], "exactly one serves");
    assert.deepEqual(
      [cond(nodes[0]!, "Ready")?.reason, cond(nodes[0]!, "Owner")?.status],
      ["Running", "True"],
    );
    for (const b of nodes.slice(1)) {
      assert.deepEqual(
        [cond(b, "Ready")?.status, cond(b, "Ready")?.reason, cond(b, "Owner")?.reason],
        ["True", "Standby", "Standby"],
      );
      assert.match(cond(b, "Ready")!.message, /standby: a serves it/);
    }
    const lease = api.objects("coordination.k8s.io/leases")[0]!;
    assert.equal((lease.spec as { holderIdentity: string }).holderIdentity, "a");
  });

  it("a node cut off from the API stops serving before another starts", async () => {
    await setup(["a", "b"]);
    await nodes[0]!.runtime.apply([scope]);
    await until("a serves", () => journal.serving.has("a"));
    await nodes[1]!.runtime.apply([scope]);
    await sleep(300);
    const cut = Date.now();
    nodes[0]!.client.cut = true;
    await until("b serves", () => journal.serving.has("b"), 5000);
    const aStop = journal.events.find((e) => e.node === "a" && e.what === "stop")!;
    const bStart = journal.events.find((e) => e.node === "b" && e.what === "start")!;
    process.stdout.write(
      `# cut at 0: a stopped at ${aStop.at - cut} ms, b started at ${bStart.at - cut} ms (lease ${TIMING.leaseDurationMs} ms, renew deadline ${TIMING.renewDeadlineMs} ms)\n`,
    );
    assert.ok(aStop.at < bStart.at, "never two at once");
    assert.equal(cond(nodes[0]!, "Ready")?.reason, "LeaseUnavailable");
    // a comes back: it stays a standby (no preemption)
    nodes[0]!.client.cut = false;
    await sleep(TIMING.leaseDurationMs);
    assert.deepEqual([...journal.serving], ["b"]);
    assert.equal(cond(nodes[0]!, "Ready")?.reason, "Standby");
  });

  it("a renewal that hangs cannot keep a node serving past its renew deadline", async () => {
    await setup(["a", "b"]);
    await nodes[0]!.runtime.apply([scope]);
    await until("a serves", () => journal.serving.has("a"));
    await nodes[1]!.runtime.apply([scope]);
    await sleep(300);
    nodes[0]!.client.hang = true;
    await until("b serves", () => journal.serving.has("b"), 5000);
    const aStop = journal.events.find((e) => e.node === "a" && e.what === "stop");
    const bStart = journal.events.find((e) => e.node === "b" && e.what === "start")!;
    assert.ok(aStop && aStop.at < bStart.at, "a stopped by its deadline, before b started");
  });

  it("the winner that cannot start the service gives the Lease up; another serves", async () => {
    await setup(["a", "b"]);
    journal.failOn.add("a");
    await nodes[0]!.runtime.apply([scope]);
    await until("a failed", () => cond(nodes[0]!, "Ready")?.reason === "PortInUse");
    assert.equal(cond(nodes[0]!, "Ready")?.status, "False");
    assert.match(cond(nodes[0]!, "Ready")!.message, /port 67 is taken/);
    await nodes[1]!.runtime.apply([scope]);
    // the Lease was released: b need not wait a lease duration
    const t0 = Date.now();
    await until("b serves", () => journal.serving.has("b"), 2000);
    assert.ok(Date.now() - t0 < TIMING.leaseDurationMs, "took over without waiting for an expiry");
    await sleep(500); // a retries with backoff, and stays a standby now that b serves
    assert.equal(journal.serving.has("a"), false);
  });

  it("stop() stops the service, then releases: another takes over without waiting for an expiry", async () => {
    await setup(["a", "b"]);
    await nodes[0]!.runtime.apply([scope]);
    await until("a serves", () => journal.serving.has("a"));
    await nodes[1]!.runtime.apply([scope]);
    await sleep(200);
    const t0 = Date.now();
    await nodes[0]!.runtime.stopAll();
    await until("b serves", () => journal.serving.has("b"), 2000);
    assert.ok(Date.now() - t0 < TIMING.leaseDurationMs);
    const aStop = journal.events.find((e) => e.node === "a" && e.what === "stop")!;
    const bStart = journal.events.find((e) => e.node === "b" && e.what === "start")!;
    assert.ok(aStop.at <= bStart.at);
  });

  it("an assignment without owner starts at once, as before", async () => {
    await setup(["a"]);
    const { owner: _, ...plain } = scope;
    await nodes[0]!.runtime.apply([plain as DhcpAssignment]);
    assert.ok(journal.serving.has("a"));
    assert.equal(cond(nodes[0]!, "Owner"), undefined);
    assert.equal(api.objects("coordination.k8s.io/leases").length, 0);
  });
});
