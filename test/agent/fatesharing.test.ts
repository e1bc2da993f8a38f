// Fate-sharing (issue 17): while the Nat64Gateway with a prefix is not running on this host, the
// RA withdraws the PREF64 and the routes into it and the DNS64 answers as a plain forwarder; both
// return when it runs again. gate() is the pure rule; the runtime applies it on starts, changes,
// failed and retried starts, and on a gateway's own health.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { type GatewayState, gate } from "../../src/agent/fatesharing.ts";
import { NodeRuntime } from "../../src/agent/runtime.ts";
import type { Assignment, Dns64Assignment, Nat64Assignment, RaAssignment } from "../../src/planner/plan.ts";
import { plan } from "../../src/planner/plan.ts";
import type { RunningService, Starter } from "../../src/services/contract.ts";
import { configOf } from "../../src/services/dns64/stack.ts";
import { planQuery } from "../../src/services/dns64/synth.ts";
import { TYPE, textToName } from "../../src/services/dns64/wire.ts";
import { createLogger } from "../../src/util/log.ts";
import { parsePrefix } from "../../src/util/net.ts";
import { doc, validateText } from "../support/validate.ts";

const GW = doc(
  "Nat64Gateway",
  "home",
  `prefix: 64:ff9b::/96\npool4: ["198.51.100.10-198.51.100.20"]\nallowedSources: ["fd00:64:1::/64"]\nuplinkInterface: up0`,
);
const RA = (extra = "") =>
  doc(
    "RouterAdvert",
    "lan",
    `interface: lan0\npref64: { nat64GatewayRef: { name: home } }\nroutes: [{ prefix: "64:ff9b::/96" }, { prefix: "2001:db8:9::/48" }]${extra}`,
  );
const DNS = (extra = "") =>
  doc(
    "Dns64Resolver",
    "lan",
    `listen: ["192.0.2.53"]\nnat64GatewayRef: { name: home }\nupstreams: ["198.51.100.53"]\nallowClients: ["192.0.2.0/24"]${extra}`,
  );

function assignments(...docs: string[]): Assignment[] {
  const v = validateText(docs.join("---\n"));
  assert.deepEqual(v.errors, []);
  return plan(v.resources).nodes[0]!.assignments;
}
const byKind = <K extends Assignment["kind"]>(all: Assignment[], kind: K) =>
  all.find((a) => a.kind === kind) as Extract<Assignment, { kind: K }>;

const prefix = (t: string) => {
  const p = parsePrefix(t);
  assert.ok(p.ok);
  return p.value;
};
const down: GatewayState[] = [
  { resource: "Nat64Gateway/home", prefix: prefix("64:ff9b::/96"), running: false, why: "no uplink" },
];
const up: GatewayState[] = [{ ...down[0]!, running: true }];

describe("fate-sharing: gate()", () => {
  it("RA: the PREF64 and the routes inside the prefix go while the gateway is down; other routes stay", () => {
    const ra = byKind(assignments(GW, RA()), "RouterAdvert");
    assert.equal(gate(ra, up).assignment, ra);
    const g = gate(ra, down);
    const r = (g.assignment as RaAssignment).resolved;
    assert.equal(r.pref64, undefined);
    assert.deepEqual(
      r.routes.map((x) => String(x.prefix)),
      ["2001:db8:9::/48"],
    );
    assert.deepEqual(g.withdrawn, {
      gateway: "Nat64Gateway/home",
      why: "no uplink",
      what: "PREF64 64:ff9b::/96, route 64:ff9b::/96",
    });
  });

  it("DNS64: forwardOnly while the gateway is down", () => {
    const d = byKind(assignments(GW, DNS()), "Dns64Resolver");
    assert.equal(gate(d, up).assignment, d);
    const g = gate(d, down);
    assert.equal((g.assignment as Dns64Assignment).forwardOnly, true);
    assert.equal(g.withdrawn?.what, "synthesis with 64:ff9b::/96");
  });

  it("fateSharing: false, a gateway with another prefix, or no gateway on this host: nothing withdrawn", () => {
    const all = assignments(GW, RA("\nfateSharing: false"), DNS("\nfateSharing: false"));
    for (const a of all) assert.equal(gate(a, down).assignment, a);
    const other: GatewayState[] = [{ ...down[0]!, prefix: prefix("2001:db8:64::/96") }];
    for (const a of assignments(GW, RA(), DNS())) {
      assert.equal(gate(a, other).assignment, a);
      assert.equal(gate(a, []).assignment, a);
    }
  });

  it("DNS64 forwardOnly: every question is forwarded as it is (no AAAA synthesis, no ipv4only.arpa, no PTR mapping)", () => {
    const d = byKind(assignments(GW, DNS()), "Dns64Resolver");
    const on = configOf(d);
    const off = configOf({ ...d, forwardOnly: true });
    const q = (name: string, type: number) => [textToName(name), type, 1, false, false] as const;
    assert.equal(planQuery(on, ...q("example.com", TYPE.AAAA)).kind, "aaaa");
    assert.equal(planQuery(on, ...q("ipv4only.arpa", TYPE.AAAA)).kind, "ipv4only");
    for (const [name, type] of [
      ["example.com", TYPE.AAAA],
      ["ipv4only.arpa", TYPE.AAAA],
      ["4.3.2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa", TYPE.PTR],
    ] as const)
      assert.equal(planQuery(off, ...q(name, type)).kind, "forward", name);
  });
});

describe("fate-sharing in the runtime", () => {
  function harness(gatewayFails: number) {
    const got: { kind: string; forwardOnly?: boolean; pref64?: string }[] = [];
    // (what each service was started or updated with)
    let failures = gatewayFails;
    let healthy = true;
    const log = createLogger("test", { destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const record = (a: Assignment) =>
      got.push(
        a.kind === "Dns64Resolver"
          ? { kind: a.kind, forwardOnly: a.forwardOnly === true }
          : { kind: a.kind, pref64: (a as RaAssignment).resolved.pref64?.prefix.toString() ?? "none" },
      );
    const service = <A extends Assignment>(a: A): RunningService<A> => {
      record(a);
      return { stop: async () => {}, update: async (b: A) => void record(b), stats: () => ({}) };
    };
    const gateway: Starter<Nat64Assignment> = async () => {
      if (failures-- > 0) throw new Error("uplink up0 does not exist");
      return {
        stop: async () => {},
        stats: () => ({}),
        health: () => (healthy ? { ok: true } : { ok: false, why: "workers died" }),
      };
    };
    const rt = new NodeRuntime(
      {
        Nat64Gateway: gateway,
        RouterAdvert: async (a) => service(a),
        Dns64Resolver: async (a) => service(a),
      },
      { log, stateDir: "/nonexistent", retry: { initialMs: 50, maxMs: 50 }, healthEveryMs: 20 },
    );
    return { rt, got, sick: () => (healthy = false), heal: () => (healthy = true) };
  }
  type Got = { kind: string; forwardOnly?: boolean; pref64?: string };
  const last = (got: Got[], kind: string) => got.filter((g) => g.kind === kind).at(-1);
  const until = async (f: () => boolean, what: string) => {
    const end = Date.now() + 3000;
    while (!f()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const condition = (rt: NodeRuntime, kind: string) =>
    rt
      .status()
      .find((s) => s.kind === kind)!
      .conditions.find((c) => c.type === "NAT64Available");

  it("a gateway that failed to start: RA and DNS64 start without it, and get it back when its retry succeeds", async () => {
    const h = harness(1);
    await h.rt.apply(assignments(GW, RA(), DNS()));
    assert.deepEqual(last(h.got, "RouterAdvert"), { kind: "RouterAdvert", pref64: "none" });
    assert.deepEqual(last(h.got, "Dns64Resolver"), { kind: "Dns64Resolver", forwardOnly: true });
    const c = condition(h.rt, "RouterAdvert")!;
    assert.equal(c.status, "False");
    assert.equal(c.reason, "GatewayDown");
    assert.match(
      c.message,
      /Nat64Gateway\/home is not running on this node \(uplink up0 does not exist\): PREF64 64:ff9b::\/96/,
    );
    await until(() => last(h.got, "RouterAdvert")?.pref64 === "64:ff9b::/96", "PREF64 back after the retry");
    await until(() => last(h.got, "Dns64Resolver")?.forwardOnly === false, "synthesis back");
    assert.equal(condition(h.rt, "Dns64Resolver")!.status, "True");
    await h.rt.stopAll();
  });

  it("a running gateway that says it is unhealthy: withdrawn within a health period, restored when healthy", async () => {
    const h = harness(0);
    await h.rt.apply(assignments(GW, RA(), DNS()));
    assert.deepEqual(last(h.got, "RouterAdvert"), { kind: "RouterAdvert", pref64: "64:ff9b::/96" });
    h.sick();
    await until(() => last(h.got, "RouterAdvert")?.pref64 === "none", "PREF64 withdrawn");
    await until(() => last(h.got, "Dns64Resolver")?.forwardOnly === true, "forward only");
    assert.match(condition(h.rt, "Dns64Resolver")!.message, /workers died/);
    h.heal();
    await until(() => last(h.got, "RouterAdvert")?.pref64 === "64:ff9b::/96", "PREF64 back");
    await h.rt.stopAll();
  });
});
