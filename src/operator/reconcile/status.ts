// What each resource's status says, from the plan and the agents' reports. Pure: the reconciler
// reads the world, this decides, the reconciler writes what changed.
//
// Conditions (cert-manager's style: Ready first, then the specific ones):
//   Ready        True when it runs everywhere it was placed, at its current generation
//   Programmed   "2/2 nodes": nodes whose agent runs this generation / nodes it was placed on
//   NodeCapable  False (reason from the agent: NoSuchInterface, PortInUse, ...) when a node cannot run it
//   Conflict     True when the planner left it out somewhere (message: the planner's words)
//   DeviceSynced (with a deviceRef) from the device controller's outcome: ../devices/status.ts
//   ExternalDevices get no status here: the device controller writes theirs.
//   Invalid resources (stored before the webhook, or with the webhook down) get Ready=False,
//   reason Invalid, with every field path and message; they are left out of the plan.

import type { NodeConfigStatus } from "../../api/nodeconfig.ts";
import { objectLabel } from "../../api/resources.ts";
import type { Problem } from "../../api/validate.ts";
import type { Plan } from "../../planner/plan.ts";
import { assignmentDigest, type DeviceOutcome } from "../devices/state.ts";
import { type Placement, placedStatus } from "../devices/status.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import type { TargetStatus } from "./target.ts";

export interface ObjectIdentity {
  kind: string;
  namespace: string;
  name: string;
  generation?: number;
}

export const keyOf = (o: { kind: string; namespace: string; name: string }) =>
  `${o.namespace}/${o.kind}/${o.name}`;

export type { TargetStatus } from "./target.ts";

export interface DesiredStatus {
  observedGeneration?: number;
  programmed: string;
  conditions: ConditionInput[];
  nodes: TargetStatus[];
  devices: TargetStatus[];
}

export interface StatusInputs {
  objects: readonly ObjectIdentity[];
  /** validation problems by object key */
  problems: ReadonlyMap<string, readonly Problem[]>;
  plan: Plan;
  /** each node's agent report (NodeConfig status), by node name */
  reports: ReadonlyMap<string, NodeConfigStatus>;
  /** nodes whose agent is alive (its heartbeat is fresh); absent = every reporting node */
  alive?: ReadonlySet<string>;
  /** the device controller's last outcome for an ExternalDevice (namespace, name) */
  deviceOutcome?: (namespace: string, name: string) => DeviceOutcome | undefined;
}

/** The status every object should have. */
export function desiredStatuses(input: StatusInputs): Map<string, DesiredStatus> {
  const out = new Map<string, DesiredStatus>();
  const placedOn = new Map<string, { node: string; detail: Record<string, string> }[]>();
  for (const n of input.plan.nodes) {
    for (const a of n.assignments) {
      const k = keyOf(a);
      const detail: Record<string, string> =
        a.kind === "Nat64Gateway" && a.spec.mode === "stateful"
          ? { pool4: a.pool4.join(","), pool4Share: `${a.pool4Count}/${a.pool4Total}` }
          : {};
      const list = placedOn.get(k) ?? [];
      list.push({ node: n.name, detail });
      placedOn.set(k, list);
    }
  }
  const onDevice = new Map<string, Placement[]>();
  for (const d of input.plan.devices) {
    for (const a of d.assignments) {
      const k = keyOf(a);
      const p = { namespace: d.namespace, device: d.name, digest: assignmentDigest(a) };
      onDevice.set(k, [...(onDevice.get(k) ?? []), p]);
    }
  }
  const outcomeOf = input.deviceOutcome ?? (() => undefined);
  const label = (o: ObjectIdentity) => objectLabel(o);
  for (const o of input.objects) {
    if (o.kind === "ExternalDevice") continue;
    const k = keyOf(o);
    const gen = o.generation;
    const conditions: ConditionInput[] = [];
    const problems = input.problems.get(k) ?? [];
    const errors = problems.filter((p) => p.severity === "error");
    if (errors.length) {
      const message = errors.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ");
      out.set(k, {
        observedGeneration: gen,
        programmed: "invalid",
        conditions: [{ type: "Ready", status: "False", reason: "Invalid", message, observedGeneration: gen }],
        nodes: [],
        devices: [],
      });
      continue;
    }
    const conflicts = input.plan.conflicts.filter((c) => c.resource === label(o));
    const unplaced = input.plan.unplaced.find((u) => u.resource === label(o));
    if (conflicts.length) {
      conditions.push({
        type: "Conflict",
        status: "True",
        reason: "Conflict",
        message: conflicts.map((c) => (c.where ? `${c.where}: ${c.message}` : c.message)).join("; "),
        observedGeneration: gen,
      });
    } else
      conditions.push({
        type: "Conflict",
        status: "False",
        reason: "NoConflict",
        message: "",
        observedGeneration: gen,
      });

    const nodes: TargetStatus[] = [];
    const failing: string[] = [];
    let failReason = "";
    for (const p of placedOn.get(k) ?? []) {
      const report = input.reports.get(p.node);
      const dead = input.alive !== undefined && !input.alive.has(p.node);
      const mine = report?.resources.find(
        (r) => r.kind === o.kind && r.namespace === o.namespace && r.name === o.name,
      );
      const ready = mine?.conditions.find((c) => c.type === "Ready");
      const current = mine !== undefined && (gen === undefined || mine.generation === gen);
      let ok = false;
      let message: string;
      if (dead) message = "the node's agent is not reporting";
      else if (!mine) message = "waiting for the node's agent";
      else if (!current) message = `the agent runs generation ${mine.generation ?? "?"}`;
      else if (ready?.status === "True") {
        ok = true;
        message = "running";
      } else if (ready?.reason === "Activating") {
        // an owned assignment being taken over (src/agent/ownership): on its way, not incapable
        message = ready.message || "taking over";
      } else {
        message = ready?.message || "not running";
        failing.push(`${p.node}: ${message}`);
        failReason ||= ready?.reason || "NotRunning";
      }
      nodes.push({ name: p.node, ready: ok, message, detail: p.detail });
    }
    nodes.sort((a, b) => a.name.localeCompare(b.name));
    const placements = onDevice.get(k) ?? [];
    const placed = placements.length ? placedStatus(k, placements, outcomeOf, gen) : undefined;
    const devices: TargetStatus[] = placed?.devices ?? [];
    const readyNodes = nodes.filter((n) => n.ready).length;
    let programmed: string;
    if (placed) programmed = placed.programmed;
    else if (nodes.length)
      programmed = `${readyNodes}/${nodes.length} nodes${failReason ? `: ${failReason}` : ""}`;
    else programmed = unplaced ? "not placed" : conflicts.length ? "left out" : "nowhere";

    if (placed) conditions.push(placed.synced);
    else {
      conditions.push({
        type: "Programmed",
        status: nodes.length > 0 && readyNodes === nodes.length ? "True" : "False",
        reason: nodes.length === 0 ? "NotPlaced" : readyNodes === nodes.length ? "Programmed" : "Pending",
        message: nodes.length ? `${readyNodes}/${nodes.length} nodes run generation ${gen ?? "?"}` : "",
        observedGeneration: gen,
      });
      conditions.push(
        failing.length
          ? {
              type: "NodeCapable",
              status: "False",
              reason: failReason,
              message: failing.join("; "),
              observedGeneration: gen,
            }
          : { type: "NodeCapable", status: "True", reason: "Capable", message: "", observedGeneration: gen },
      );
    }
    let ready: ConditionInput;
    if (unplaced)
      ready = {
        type: "Ready",
        status: "False",
        reason: "Unplaced",
        message: unplaced.reason,
        observedGeneration: gen,
      };
    else if (conflicts.length && !nodes.length && !devices.length)
      ready = {
        type: "Ready",
        status: "False",
        reason: "Conflict",
        message: conditions[0]!.message,
        observedGeneration: gen,
      };
    else if (placed) ready = placed.ready;
    else if (nodes.length && readyNodes === nodes.length)
      ready = {
        type: "Ready",
        status: "True",
        reason: "Running",
        message: programmed,
        observedGeneration: gen,
      };
    else
      ready = {
        type: "Ready",
        status: "False",
        reason: failReason || "Pending",
        message: programmed,
        observedGeneration: gen,
      };
    conditions.unshift(ready);
    out.set(k, { observedGeneration: gen, programmed, conditions, nodes, devices });
  }
  return out;
}
