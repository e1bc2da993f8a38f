// The node runtime moves between plans: stop what went, update what changed, start what came;
// retries what failed to start, with backoff; reports conditions per resource.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { diffAssignments, keyOf, NodeRuntime } from "../../src/agent/runtime.ts";
import type { Assignment, RaAssignment } from "../../src/planner/plan.ts";
import { plan } from "../../src/planner/plan.ts";
import type { Starter } from "../../src/services/contract.ts";
import { createLogger } from "../../src/util/log.ts";
import { doc, validateText } from "../support/validate.ts";

const ra = (name: string, iface: string, namespace?: string) =>
  doc("RouterAdvert", name, `interface: ${iface}`).replace(
    `name: ${name}\n`,
    `name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ""}`,
  );
const assignments = (...docs: string[]): Assignment[] => {
  const v = validateText(docs.join("---\n"));
  assert.deepEqual(v.errors, []);
  return plan(v.resources).nodes[0]!.assignments;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(f: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(5);
  }
}

function harness(opts: { failStarts?: Record<string, number>; noUpdate?: boolean } = {}) {
  const events: string[] = [];
  const lines: string[] = [];
  const failures = new Map(Object.entries(opts.failStarts ?? {}));
  const log = createLogger("test", {
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  const starter: Starter<RaAssignment> = async (a, ctx) => {
    const left = failures.get(a.name) ?? 0;
    if (left > 0) {
      failures.set(a.name, left - 1);
      events.push(`fail ${a.name}`);
      throw new Error(`no interface ${a.spec.interface}`);
    }
    events.push(`start ${ctx.resource}`);
    return {
      stop: async () => {
        events.push(`stop ${a.name}`);
      },
      ...(opts.noUpdate
        ? {}
        : {
            update: async (b: RaAssignment) => {
              events.push(`update ${b.name}`);
            },
          }),
      stats: () => ({ sent: 1 }),
      conditions: () => [{ type: "Advertising", status: "True", reason: "Sent", message: "ok" }],
    };
  };
  const rt = new NodeRuntime(
    { RouterAdvert: starter },
    { log, stateDir: "/nonexistent", retry: { initialMs: 30, maxMs: 100 } },
  );
  return { rt, events, lines };
}

describe("node runtime", () => {
  it("diffs assignments by namespace/kind/name and content", () => {
    const before = assignments(ra("a", "lan0"), ra("b", "lan1"));
    const after = assignments(ra("b", "lan2"), ra("c", "lan3"));
    const d = diffAssignments(before, after);
    assert.deepEqual(
      d.stop.map((a) => a.name),
      ["a"],
    );
    assert.deepEqual(
      d.update.map((u) => u.to.name),
      ["b"],
    );
    assert.deepEqual(
      d.start.map((a) => a.name),
      ["c"],
    );
    assert.deepEqual(diffAssignments(before, before), { stop: [], update: [], start: [] });
  });

  it("keys resources by namespace: one name in two namespaces is two services", async () => {
    const both = assignments(ra("a", "lan0"), ra("a", "lan1", "site-b"));
    assert.deepEqual(both.map(keyOf), ["default/RouterAdvert/a", "site-b/RouterAdvert/a"]);
    const { rt, events } = harness();
    await rt.apply(both);
    assert.deepEqual(events, ["start RouterAdvert/a", "start site-b/RouterAdvert/a"]);
    assert.deepEqual(
      rt.status().map((s) => [s.resource, s.namespace, s.running]),
      [
        ["RouterAdvert/a", "default", true],
        ["site-b/RouterAdvert/a", "site-b", true],
      ],
    );
  });

  it("starts, updates in place, stops; and stops everything newest first", async () => {
    const { rt, events } = harness();
    await rt.apply(assignments(ra("a", "lan0"), ra("b", "lan1")));
    await rt.apply(assignments(ra("b", "lan2"), ra("c", "lan3")));
    await rt.stopAll();
    assert.deepEqual(events, [
      "start RouterAdvert/a",
      "start RouterAdvert/b",
      "stop a",
      "update b",
      "start RouterAdvert/c",
      "stop c",
      "stop b",
    ]);
  });

  it("restarts a service that cannot update in place", async () => {
    const { rt, events } = harness({ noUpdate: true });
    await rt.apply(assignments(ra("a", "lan0")));
    await rt.apply(assignments(ra("a", "lan1")));
    assert.deepEqual(events, ["start RouterAdvert/a", "stop a", "start RouterAdvert/a"]);
  });

  it("keeps serving the others when one cannot start, says why, and retries it with backoff", async () => {
    const { rt, lines, events } = harness({ failStarts: { bad: 3 } });
    await rt.apply(assignments(ra("bad", "nope0"), ra("good", "lan0")));
    const first = rt.status();
    assert.deepEqual(
      first.map((s) => [s.resource, s.running, s.error, s.failures]),
      [
        ["RouterAdvert/bad", false, "no interface nope0", 1],
        ["RouterAdvert/good", true, undefined, 0],
      ],
    );
    const ready = first[0]!.conditions[0]!;
    assert.equal(ready.type, "Ready");
    assert.equal(ready.status, "False");
    assert.equal(ready.reason, "StartFailed");
    assert.match(ready.message, /no interface nope0; retrying at .* \(1 failed start\)/);
    assert.ok(first[0]!.retryAt);
    assert.ok(lines.some((l) => l.includes('"msg":"could not start; will retry"') && l.includes("nope0")));
    // the same assignment again does not hurry the retry
    await rt.apply(assignments(ra("bad", "nope0"), ra("good", "lan0")));
    assert.equal(events.filter((e) => e === "fail bad").length, 1);
    // three failures (30, 60 ms apart), then it runs
    await until(() => rt.status()[0]!.running);
    assert.deepEqual(
      events.filter((e) => e.endsWith("bad")),
      ["fail bad", "fail bad", "fail bad", "start RouterAdvert/bad"],
    );
    const now = rt.status()[0]!;
    assert.equal(now.failures, 0);
    assert.equal(now.retryAt, undefined);
    assert.deepEqual(
      now.conditions.map((c) => [c.type, c.status, c.reason]),
      [
        ["Ready", "True", "Running"],
        ["Advertising", "True", "Sent"],
      ],
    );
    assert.ok(now.conditions.every((c) => c.since && !Number.isNaN(Date.parse(c.since))));
    await rt.stopAll();
  });

  it("tries a changed assignment at once instead of waiting for the retry", async () => {
    const events: string[] = [];
    const slow = new NodeRuntime(
      {
        RouterAdvert: async (a) => {
          events.push(`slow ${a.spec.interface}`);
          if (a.spec.interface === "nope0") throw new Error("no such interface");
          return { stop: async () => undefined, stats: () => ({}) };
        },
      },
      {
        log: createLogger("test", { level: "silent" }),
        stateDir: "/x",
        retry: { initialMs: 60_000, maxMs: 60_000 },
      },
    );
    await slow.apply(assignments(ra("a", "nope0")));
    await slow.apply(assignments(ra("a", "lan0")));
    assert.deepEqual(events, ["slow nope0", "slow lan0"]);
    assert.equal(slow.status()[0]!.running, true);
    await slow.stopAll();
  });

  it("stops retrying a resource that was removed, and after stopAll", async () => {
    const { rt, events } = harness({ failStarts: { a: 100 } });
    await rt.apply(assignments(ra("a", "lan0")));
    await rt.apply([]);
    await sleep(120);
    assert.deepEqual(events, ["fail a"]);
    await rt.apply(assignments(ra("a", "lan0")));
    await rt.stopAll();
    await sleep(120);
    assert.deepEqual(events, ["fail a", "fail a"]);
  });

  it("says a kind does not run on nodes instead of pretending, and does not retry it", async () => {
    const { rt } = harness();
    await rt.apply(
      assignments(doc("DhcpScope", "d", `interface: lan0\nsubnet: 192.0.2.0/24\nranges: ["192.0.2.10"]`)),
    );
    const s = rt.status()[0]!;
    assert.deepEqual(
      [s.resource, s.running, s.error, s.retryAt, s.conditions[0]!.reason],
      [
        "DhcpScope/d",
        false,
        "DhcpScope does not run on nodes in this version of v6mostly",
        undefined,
        "NotImplemented",
      ],
    );
  });
});
