// Assignments for tests, parsed the way an agent parses a NodeConfig (planner/wire.ts): a spec as
// a user or the API writes it, plus what the planner would derive. A mistake in a test's spec is
// a thrown error naming the field, not a silently wrong object.
import type { Assignment, AssignmentByKind, NodeKind } from "../../src/planner/plan.ts";
import { decodeAssignment } from "../../src/planner/wire.ts";

export function assignment<K extends NodeKind>(
  kind: K,
  spec: Record<string, unknown>,
  derived: Record<string, unknown>,
  name = "test",
): AssignmentByKind[K] {
  const d = decodeAssignment({ kind, namespace: "default", name, spec, derived });
  if (!d.ok) throw new Error(d.error);
  return narrow(kind, d.value);
}

function narrow<K extends NodeKind>(kind: K, a: Assignment): AssignmentByKind[K] {
  if (a.kind !== kind) throw new Error(`expected ${kind}, got ${a.kind}`);
  return a as AssignmentByKind[K];
}

export const dns64Assignment = (spec: Record<string, unknown>, name = "test") =>
  assignment("Dns64Resolver", spec, { prefix: spec.prefix ?? "64:ff9b::/96" }, name);
