// Helpers for the cross-field rules inside a resource's spec.
import type { z } from "zod";
import { overlaps, type Prefix, prefixRange, type Range } from "../util/net.ts";
import { linuxInterfaceProblem } from "./fields.ts";

export type PathKey = string | number;

/** Report a problem at a path relative to the object being refined. */
export function issue(ctx: z.RefinementCtx, path: PathKey[], message: string): void {
  ctx.addIssue({ code: "custom", message, path });
}

export interface Listed {
  path: PathKey[];
  value: Range | Prefix;
}

export function listed(base: PathKey[], items: readonly (Range | Prefix)[]): Listed[] {
  return items.map((value, i) => ({ path: [...base, i], value }));
}

const spanOf = (v: Range | Prefix): Range => ("length" in v ? prefixRange(v) : v);

/** Every pair of entries that share an address is reported once, at the later entry. */
export function checkDisjoint(ctx: z.RefinementCtx, entries: Listed[]): void {
  for (let j = 0; j < entries.length; j++) {
    const b = entries[j]!;
    for (let i = 0; i < j; i++) {
      const a = entries[i]!;
      if (overlaps(spanOf(a.value), spanOf(b.value))) {
        issue(ctx, b.path, `${b.value} overlaps ${a.value} (${formatPath(a.path)})`);
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
