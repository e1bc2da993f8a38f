// Helpers for the cross-field rules inside a resource's spec.
import type { z } from "zod";
import { type Family, overlaps, parseRange } from "../util/net.ts";
import { linuxInterfaceProblem } from "./fields.ts";

export type PathKey = string | number;

/** Report a problem at a path relative to the object being refined. */
export function issue(ctx: z.RefinementCtx, path: PathKey[], message: string): void {
  ctx.addIssue({ code: "custom", message, path });
}

export interface Listed {
  path: PathKey[];
  text: string;
}

export function listed(base: PathKey[], items: readonly string[]): Listed[] {
  return items.map((text, i) => ({ path: [...base, i], text }));
}

/**
 * Every pair of entries that share an address is reported once, at the later entry.
 * Entries that do not parse are skipped: their own field check already reported them.
 */
export function checkDisjoint(ctx: z.RefinementCtx, entries: Listed[], family: Family): void {
  const parsed = entries.map((e) => ({ e, r: parseRange(e.text, family) }));
  for (let j = 0; j < parsed.length; j++) {
    const b = parsed[j]!;
    if (!b.r.ok) continue;
    for (let i = 0; i < j; i++) {
      const a = parsed[i]!;
      if (a.r.ok && overlaps(a.r.value, b.r.value)) {
        issue(ctx, b.e.path, `${b.e.text} overlaps ${a.e.text} (${formatPath(a.e.path)})`);
        break;
      }
    }
  }
}

/** `spec.pool4[1].ipv6`, the way kubectl and the API server write field paths. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** An interface of a resource that runs on a node (no deviceRef) must be a Linux name. */
export function checkNodeInterface(
  ctx: z.RefinementCtx,
  path: PathKey[],
  name: string | undefined,
  deviceRef: unknown,
): void {
  if (name === undefined || deviceRef !== undefined) return;
  const problem = linuxInterfaceProblem(name);
  if (problem) issue(ctx, path, `${problem}; device interface names need a deviceRef`);
}
