// The node runtime: keeps one running service per assignment of this node's plan, and moves from
// one plan to the next (a reload) by stopping what went, updating what changed and starting what
// came. Used by standalone `v6mostly run`; the cluster agent feeds it plans the same way.
import { isDeepStrictEqual } from "node:util";
import type { Assignment } from "../planner/plan.ts";
import type { Logger } from "../util/log.ts";
import type { RunningService, ServiceContext, Starter } from "./service.ts";
import type { StatusServer } from "./status.ts";

export const keyOf = (a: Assignment) => `${a.kind}/${a.name}`;

export interface Change {
  stop: Assignment[];
  update: { from: Assignment; to: Assignment }[];
  start: Assignment[];
}

/** What moving from one set of assignments to another takes. Pure. */
export function diffAssignments(current: readonly Assignment[], next: readonly Assignment[]): Change {
  const now = new Map(current.map((a) => [keyOf(a), a]));
  const then = new Map(next.map((a) => [keyOf(a), a]));
  const change: Change = { stop: [], update: [], start: [] };
  for (const [k, a] of now) if (!then.has(k)) change.stop.push(a);
  for (const [k, b] of then) {
    const a = now.get(k);
    if (!a) change.start.push(b);
    else if (!isDeepStrictEqual(a, b)) change.update.push({ from: a, to: b });
  }
  return change;
}

interface Entry {
  assignment: Assignment;
  service?: RunningService;
  error?: string;
  /** topics the service published on the status server, withdrawn when it stops */
  unpublish: (() => void)[];
}

export class NodeRuntime {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly starters: Partial<Record<Assignment["kind"], Starter>>,
    private readonly ctx: { log: Logger; stateDir: string },
    private readonly server?: StatusServer,
  ) {}

  /** Bring the running services in line with `next`. Never throws: failures are logged and kept. */
  async apply(next: readonly Assignment[]): Promise<void> {
    const change = diffAssignments(
      [...this.entries.values()].map((e) => e.assignment),
      next,
    );
    for (const a of change.stop) await this.stopOne(keyOf(a), "removed from the configuration");
    for (const { from, to } of change.update) {
      const key = keyOf(to);
      const entry = this.entries.get(key);
      const svc = entry?.service;
      if (entry && svc?.update) {
        try {
          await (svc.update as (a: Assignment) => Promise<void>)(to);
          entry.assignment = to;
          this.ctx.log.info({ resource: key }, "updated in place");
          continue;
        } catch (e) {
          this.ctx.log.warn(
            { resource: key, err: (e as Error).message },
            "update failed; restarting the service",
          );
        }
      }
      await this.stopOne(keyOf(from), "changed");
      await this.startOne(to);
    }
    for (const a of change.start) await this.startOne(a);
  }

  private async startOne(a: Assignment): Promise<void> {
    const key = keyOf(a);
    const start = this.starters[a.kind];
    if (!start) {
      const error = `${a.kind} does not run on nodes in this version of v6mostly yet`;
      this.ctx.log.warn({ resource: key }, error);
      this.entries.set(key, { assignment: a, error, unpublish: [] });
      return;
    }
    const entry: Entry = { assignment: a, unpublish: [] };
    const server = this.server;
    const ctx: ServiceContext = {
      log: this.ctx.log.child({ resource: key }),
      stateDir: this.ctx.stateDir,
      metrics: server?.metrics,
      publish: server
        ? (topic, provider) => {
            const undo = server.publish(key, topic, provider);
            entry.unpublish.push(undo);
            return undo;
          }
        : undefined,
    };
    try {
      entry.service = await start(a, ctx);
      this.ctx.log.info({ resource: key }, "started");
    } catch (e) {
      entry.error = (e as Error).message;
      for (const undo of entry.unpublish) undo();
      this.ctx.log.error({ resource: key, err: entry.error }, "could not start");
    }
    this.entries.set(key, entry);
  }

  private async stopOne(key: string, why: string): Promise<void> {
    const entry = this.entries.get(key);
    this.entries.delete(key);
    for (const undo of entry?.unpublish ?? []) undo();
    if (!entry?.service) return;
    try {
      await entry.service.stop();
      this.ctx.log.info({ resource: key, why }, "stopped");
    } catch (e) {
      this.ctx.log.error({ resource: key, err: (e as Error).message }, "stop failed");
    }
  }

  /** Stop everything, newest first. */
  async stopAll(why = "shutting down"): Promise<void> {
    for (const key of [...this.entries.keys()].reverse()) await this.stopOne(key, why);
  }

  status(): { resource: string; running: boolean; error?: string; stats: Record<string, number> }[] {
    return [...this.entries].map(([resource, e]) => ({
      resource,
      running: e.service !== undefined,
      error: e.error,
      stats: e.service?.stats() ?? {},
    }));
  }
}
