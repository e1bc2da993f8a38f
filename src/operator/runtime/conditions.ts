// Status conditions in the Kubernetes convention (metav1.Condition): type, status, reason,
// message, lastTransitionTime, observedGeneration. lastTransitionTime moves only when the status
// changes, so `kubectl describe` tells how long something has been so; writing the same condition
// again changes nothing.

export type ConditionStatus = "True" | "False" | "Unknown";

export interface StatusCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<StatusCondition, "lastTransitionTime"> & { lastTransitionTime?: string };

/** Reasons must be CamelCase identifiers (the API validates them for metav1.Condition). */
export function reasonWord(text: string): string {
  const w = text.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""));
  const r = w.charAt(0).toUpperCase() + w.slice(1);
  return /^[A-Za-z]/.test(r) ? r.slice(0, 1024) : `R${r}`.slice(0, 1024);
}

/**
 * The conditions after setting `next`: its lastTransitionTime is kept from the existing condition
 * of that type when the status did not change, set to `now` when it did (or is new).
 */
export function setCondition(
  existing: readonly StatusCondition[],
  next: ConditionInput,
  now: Date = new Date(),
): StatusCondition[] {
  const old = existing.find((c) => c.type === next.type);
  const lastTransitionTime =
    old && old.status === next.status
      ? old.lastTransitionTime
      : (next.lastTransitionTime ?? now.toISOString().replace(/\.\d{3}Z$/, "Z"));
  const c: StatusCondition = { ...next, lastTransitionTime };
  const out = existing.filter((x) => x.type !== next.type);
  out.push(c);
  return out.sort((a, b) => order(a.type) - order(b.type) || a.type.localeCompare(b.type));
}

/** Set several; conditions of types not in `next` are kept unless `replace` is set. */
export function setConditions(
  existing: readonly StatusCondition[],
  next: readonly ConditionInput[],
  now: Date = new Date(),
  replace = false,
): StatusCondition[] {
  let out = replace ? existing.filter((c) => next.some((n) => n.type === c.type)) : [...existing];
  for (const n of next) out = setCondition(out, n, now);
  return out;
}

/** Ready first, as users look for it first. */
function order(type: string): number {
  return type === "Ready" ? 0 : 1;
}

export function findCondition(list: readonly StatusCondition[] | undefined, type: string) {
  return list?.find((c) => c.type === type);
}
