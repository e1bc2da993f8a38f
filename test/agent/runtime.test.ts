// The node runtime moves between plans: stop what went, update what changed, start what came.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { diffAssignments, NodeRuntime } from "../../src/agent/runtime.ts";
import type { Starter } from "../../src/agent/service.ts";
import type { Assignment } from "../../src/planner/plan.ts";
import { plan } from "../../src/planner/plan.ts";
import { createLogger } from "../../src/util/log.ts";
import { doc, validateText } from "../support/validate.ts";

const ra = (name: string, iface: string) => doc("RouterAdvert", name, `interface: ${iface}`);
const assignments = (...docs: string[]): Assignment[] => {
  const v = validateText(docs.join("---\n"));
  assert.deepEqual(v.errors, []);
  return plan(v.resources).nodes[0]!.assignments;
};

function harness(opts: { failStart?: string; noUpdate?: boolean } = {}) {
  const events: string[] = [];
  const lines: string[] = [];
  const log = createLogger("test", {
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  const starter: Starter = async (a) => {
    if (a.name === opts.failStart)
      throw new Error(`no interface ${a.kind === "RouterAdvert" ? a.spec.interface : ""}`);
    events.push(`start ${a.name}`);
    return {
      stop: async () => {
        events.push(`stop ${a.name}`);
      },
      ...(opts.noUpdate
        ? {}
        : {
            update: async (b: Assignment) => {
              events.push(`update ${b.name}`);
            },
          }),
      stats: () => ({ sent: 1 }),
    };
  };
  const rt = new NodeRuntime({ RouterAdvert: starter }, { log, stateDir: "/nonexistent" });
  return { rt, events, lines };
}

describe("node runtime", () => {
  it("diffs assignments by kind/name and content", () => {
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

  it("starts, updates in place, stops; and stops everything newest first", async () => {
    const { rt, events } = harness();
    await rt.apply(assignments(ra("a", "lan0"), ra("b", "lan1")));
    await rt.apply(assignments(ra("b", "lan2"), ra("c", "lan3")));
    await rt.stopAll();
    assert.deepEqual(events, ["start a", "start b", "stop a", "update b", "start c", "stop c", "stop b"]);
  });

  it("restarts a service that cannot update in place", async () => {
    const { rt, events } = harness({ noUpdate: true });
    await rt.apply(assignments(ra("a", "lan0")));
    await rt.apply(assignments(ra("a", "lan1")));
    assert.deepEqual(events, ["start a", "stop a", "start a"]);
  });

  it("keeps serving the others when one service cannot start, and says why", async () => {
    const { rt, lines } = harness({ failStart: "bad" });
    await rt.apply(assignments(ra("bad", "nope0"), ra("good", "lan0")));
    assert.deepEqual(
      rt.status().map((s) => [s.resource, s.running, s.error]),
      [
        ["RouterAdvert/bad", false, "no interface nope0"],
        ["RouterAdvert/good", true, undefined],
      ],
    );
    assert.ok(lines.some((l) => l.includes('"msg":"could not start"') && l.includes("no interface nope0")));
  });

  it("says a kind is not implemented on nodes instead of pretending", async () => {
    const { rt } = harness();
    await rt.apply(
      assignments(doc("DhcpScope", "d", `interface: lan0\nsubnet: 192.0.2.0/24\nranges: ["192.0.2.10"]`)),
    );
    assert.deepEqual(rt.status()[0], {
      resource: "DhcpScope/d",
      running: false,
      error: "DhcpScope does not run on nodes in this version of v6mostly yet",
      stats: {},
    });
  });
});
