// The node runtime: keeps one running service per assignment of this node's plan and moves from
// one set of assignments to the next by stopping what went, updating what changed and starting
// what came. A service that cannot start is retried with exponential backoff, as a controller
// requeues a failed reconcile: the cause (an interface not up yet, a port taken) often goes away
// on its own. Level-triggered: `apply` may be called with the same set again at any time.
//
// Hosts every service through the one contract of src/services/contract.ts; fed by an
// AssignmentSource (files for `run`, the node's configuration object for the cluster agent).
import { isDeepStrictEqual } from "node:util";
import { objectLabel } from "../api/resources.ts";
import type { Assignment, AssignmentByKind, NodeKind } from "../planner/plan.ts";
import {
  type Condition,
  type RunningService,
  type ServiceContext,
  ServiceError,
  type Starters,
} from "../services/contract.ts";
import type { Logger } from "../util/log.ts";
import { dependsOn, type Gated, type GatewayState, gate, gatewaysOf } from "./fatesharing.ts";
import type { StatusServer } from "./status.ts";

/** The identity of an assignment on a node: namespace/Kind/name. */
export const keyOf = (a: Assignment): string => `${a.namespace}/${a.kind}/${a.name}`;

/** How people and metrics name it: Kind/name, with the namespace only when it is not the default. */
export const labelOf = (a: Assignment): string => objectLabel(a);

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

/** Where assignments come from: calls `deliver` with this node's whole set, now and on every change. */
export interface AssignmentSource {
  start(deliver: (assignments: Assignment[]) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export interface RetryPolicy {
  /** delay before the first retry of a failed start; doubles with each failure */
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 1000, maxMs: 5 * 60_000 };

export interface ServiceStatus {
  /** Kind/name (namespace/Kind/name outside the default namespace) */
  resource: string;
  kind: NodeKind;
  namespace: string;
  name: string;
  generation?: number;
  running: boolean;
  error?: string;
  /** failed starts in a row */
  failures: number;
  /** ISO time of the next start attempt, while retrying */
  retryAt?: string;
  conditions: Condition[];
  stats: Record<string, number>;
}

interface Entry {
  assignment: Assignment;
  service?: RunningService<Assignment>;
  error?: string;
  /** the Ready condition's reason while not running */
  reason?: string;
  failures: number;
  retryAt?: number;
  timer?: NodeJS.Timeout;
  /** when Ready last changed, per condition type */
  since: Map<string, { status: string; at: string }>;
  /** topics the service published on the status server, withdrawn when it stops */
  unpublish: (() => void)[];
  /** what the service runs: `assignment` as gated by fate-sharing (fatesharing.ts) */
  gated?: Gated;
}

export interface RuntimeOptions {
  log: Logger;
  stateDir: string;
  server?: StatusServer;
  retry?: RetryPolicy;
  /** called after every change the runtime made (apply, retry, stop): the agent reports then */
  onChange?: () => void;
  /** how often the gateways' health is looked at for fate-sharing (default 1 s; 0 = only on changes) */
  healthEveryMs?: number;
}

export class NodeRuntime {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  /** every change runs after the previous one: apply, retries and stop never interleave */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  private readonly health: NodeJS.Timeout | undefined;

  constructor(
    private readonly starters: Starters,
    private readonly options: RuntimeOptions,
  ) {
    this.log = options.log;
    this.retry = options.retry ?? DEFAULT_RETRY;
    const every = options.healthEveryMs ?? 1000;
    if (every > 0) {
      // a gateway can fail without a change of configuration (its workers die): look every second,
      // and tell the agent only when a gate moved
      this.health = setInterval(() => {
        if (this.stopped || !this.hasGateways()) return;
        this.queue = this.queue
          .then(async () => {
            if (await this.regate()) this.options.onChange?.();
          })
          .catch((e: Error) => this.log.error({ err: e.message }, "fate-sharing check failed"));
      }, every);
      this.health.unref();
    }
  }

  private serial(step: () => Promise<void>): Promise<void> {
    const run = this.queue
      .then(step)
      .then(() => this.regate())
      .then(() => this.options.onChange?.());
    this.queue = run.catch((e: Error) => this.log.error({ err: e.message }, "runtime step failed"));
    return run;
  }

  private hasGateways(): boolean {
    for (const e of this.entries.values()) if (e.assignment.kind === "Nat64Gateway") return true;
    return false;
  }

  /** This host's Nat64Gateways: running, and healthy by their own account. */
  private gateways(): GatewayState[] {
    return gatewaysOf(
      [...this.entries.values()].map((e) => {
        const h = e.service?.health?.();
        return {
          assignment: e.assignment,
          running: e.service !== undefined && (h === undefined || h.ok),
          why: e.service ? (h && !h.ok ? h.why : undefined) : (e.error ?? "not running"),
        };
      }),
      labelOf,
    );
  }

  /**
   * Fate-sharing: hand every running service the assignment gate() gives for the gateways as they
   * are now; a service whose gate moved is updated (or restarted). True when a gate moved.
   */
  private async regate(): Promise<boolean> {
    if (this.stopped) return false;
    const gateways = this.gateways();
    let moved = false;
    for (const [key, entry] of [...this.entries]) {
      if (!entry.service || entry.assignment.kind === "Nat64Gateway") continue;
      const next = gate(entry.assignment, gateways);
      const now = entry.gated ?? { assignment: entry.assignment };
      if (isDeepStrictEqual(next.assignment, now.assignment)) continue;
      moved = true;
      const label = labelOf(entry.assignment);
      if (next.withdrawn)
        this.log.warn(
          { resource: label, gateway: next.withdrawn.gateway, why: next.withdrawn.why },
          `fate-sharing: ${next.withdrawn.gateway} is not doing its job here (${next.withdrawn.why}); withdrawing ${next.withdrawn.what}`,
        );
      else this.log.info({ resource: label }, "fate-sharing: the Nat64Gateway runs again; restoring");
      await this.deliver(key, entry, next);
    }
    return moved;
  }

  /** Give a running service a gated assignment: update in place, or restart it with it. */
  private async deliver(key: string, entry: Entry, next: Gated): Promise<void> {
    const svc = entry.service!;
    const label = labelOf(entry.assignment);
    if (svc.update) {
      try {
        await svc.update(next.assignment);
        entry.gated = next;
        return;
      } catch (e) {
        this.log.warn(
          { resource: label, err: (e as Error).message },
          "update failed; restarting the service",
        );
      }
    }
    const assignment = entry.assignment;
    await this.stopOne(key, entry, "changed");
    await this.startOne(key, assignment);
  }

  /** Bring the running services in line with `next`. Never throws: failures are logged, kept and retried. */
  apply(next: readonly Assignment[]): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) return;
      const wanted = new Map(next.map((a) => [keyOf(a), a]));
      for (const [key, entry] of [...this.entries]) {
        if (!wanted.has(key)) await this.stopOne(key, entry, "removed from the configuration");
      }
      for (const [key, a] of wanted) {
        const entry = this.entries.get(key);
        if (!entry) await this.startOne(key, a);
        else if (!entry.service) {
          // not running: a new assignment is tried at once, the same one waits for its retry
          if (!isDeepStrictEqual(entry.assignment, a)) {
            this.clearRetry(entry);
            entry.assignment = a;
            entry.failures = 0;
            await this.attempt(key, entry);
          }
        } else if (!isDeepStrictEqual(entry.assignment, a)) await this.change(key, entry, a);
      }
    });
  }

  private async change(key: string, entry: Entry, to: Assignment): Promise<void> {
    const svc = entry.service!;
    const label = labelOf(to);
    if (svc.update) {
      try {
        const gated = gate(to, this.gateways());
        await svc.update(gated.assignment);
        entry.assignment = to;
        entry.gated = gated;
        this.log.info({ resource: label }, "updated in place");
        return;
      } catch (e) {
        this.log.warn(
          { resource: label, err: (e as Error).message },
          "update failed; restarting the service",
        );
      }
    }
    await this.stopOne(key, entry, "changed");
    await this.startOne(key, to);
  }

  private async startOne(key: string, a: Assignment): Promise<void> {
    const entry: Entry = { assignment: a, failures: 0, since: new Map(), unpublish: [] };
    this.entries.set(key, entry);
    await this.attempt(key, entry);
  }

  /** One start attempt; on failure the next one is scheduled. */
  private async attempt(key: string, entry: Entry): Promise<void> {
    const a = entry.assignment;
    const label = labelOf(a);
    entry.retryAt = undefined;
    const server = this.options.server;
    const ctx: ServiceContext = {
      resource: label,
      log: this.log.child({ resource: label }),
      stateDir: this.options.stateDir,
      metrics: server?.metrics,
      publish: server
        ? (topic, provider) => {
            const undo = server.publish(label, topic, provider);
            entry.unpublish.push(undo);
            return undo;
          }
        : undefined,
    };
    const gated = a.kind === "Nat64Gateway" ? { assignment: a } : gate(a, this.gateways());
    if (gated.withdrawn)
      this.log.warn(
        { resource: label, gateway: gated.withdrawn.gateway, why: gated.withdrawn.why },
        `fate-sharing: ${gated.withdrawn.gateway} is not doing its job here (${gated.withdrawn.why}); starting without ${gated.withdrawn.what}`,
      );
    const started = await startWith(this.starters, a.kind, gated.assignment, ctx);
    if (started.ok) {
      entry.service = started.service;
      entry.gated = gated;
      entry.error = undefined;
      entry.reason = undefined;
      entry.failures = 0;
      this.log.info({ resource: label }, "started");
      return;
    }
    for (const undo of entry.unpublish.splice(0)) undo();
    entry.error = started.error;
    entry.reason = started.reason;
    if (started.reason === "NotImplemented") {
      this.log.warn({ resource: label }, started.error);
      return;
    }
    entry.failures++;
    const delay = Math.min(this.retry.initialMs * 2 ** (entry.failures - 1), this.retry.maxMs);
    entry.retryAt = Date.now() + delay;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.serial(async () => {
        if (this.stopped || this.entries.get(key) !== entry || entry.service) return;
        await this.attempt(key, entry);
      });
    }, delay);
    entry.timer.unref();
    this.log.error(
      { resource: label, err: started.error, failures: entry.failures, retryInMs: delay },
      "could not start; will retry",
    );
  }

  private clearRetry(entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.retryAt = undefined;
  }

  private async stopOne(key: string, entry: Entry, why: string): Promise<void> {
    this.entries.delete(key);
    this.clearRetry(entry);
    for (const undo of entry.unpublish.splice(0)) undo();
    if (!entry.service) return;
    const label = labelOf(entry.assignment);
    try {
      await entry.service.stop();
      this.log.info({ resource: label, why }, "stopped");
    } catch (e) {
      this.log.error({ resource: label, err: (e as Error).message }, "stop failed");
    }
  }

  /** Stop everything, newest first; later `apply` calls do nothing. */
  stopAll(why = "shutting down"): Promise<void> {
    if (this.health) clearInterval(this.health);
    return this.serial(async () => {
      this.stopped = true;
      for (const [key, entry] of [...this.entries].reverse()) await this.stopOne(key, entry, why);
    });
  }

  /** Every assignment of this node, running or not, with its conditions (Ready first). */
  status(): ServiceStatus[] {
    const gateways = this.gateways();
    return [...this.entries.values()].map((e) => {
      const a = e.assignment;
      const ready: Condition = e.service
        ? { type: "Ready", status: "True", reason: "Running", message: "running on this node" }
        : {
            type: "Ready",
            status: "False",
            reason: e.reason ?? "StartFailed",
            message:
              e.retryAt === undefined
                ? (e.error ?? "not started")
                : `${e.error}; retrying at ${new Date(e.retryAt).toISOString()} (${e.failures} failed start${e.failures === 1 ? "" : "s"})`,
          };
      // A service may say itself whether it is Ready (the ownership gate's standby, src/agent/ownership).
      const own = e.service?.conditions?.() ?? [];
      const shared = e.service ? fateCondition(e, gateways) : undefined;
      const conditions = [
        own.find((c) => c.type === "Ready") ?? ready,
        ...own.filter((c) => c.type !== "Ready"),
        ...(shared ? [shared] : []),
      ].map((c) => this.stamp(e, c));
      return {
        resource: labelOf(a),
        kind: a.kind,
        namespace: a.namespace,
        name: a.name,
        generation: a.generation,
        running: e.service !== undefined,
        error: e.error,
        failures: e.failures,
        retryAt: e.retryAt === undefined ? undefined : new Date(e.retryAt).toISOString(),
        conditions,
        stats: e.service?.stats() ?? {},
      };
    });
  }

  /** Fill `since` with the time the condition's status last changed, as this runtime saw it. */
  private stamp(e: Entry, c: Condition): Condition {
    const seen = e.since.get(c.type);
    if (c.since) return c;
    if (seen && seen.status === c.status) return { ...c, since: seen.at };
    const at = new Date().toISOString();
    e.since.set(c.type, { status: c.status, at });
    return { ...c, since: at };
  }
}

/**
 * NAT64Available, for a service that shares a local gateway's fate: False while what it would
 * send clients to is withdrawn (fatesharing.ts), True while the gateway runs.
 */
function fateCondition(e: Entry, gateways: GatewayState[]): Condition | undefined {
  const w = e.gated?.withdrawn;
  if (w)
    return {
      type: "NAT64Available",
      status: "False",
      reason: "GatewayDown",
      message: `${w.gateway} is not running on this node (${w.why}): ${w.what} withdrawn`,
    };
  const on = dependsOn(e.assignment, gateways);
  if (on.length === 0) return undefined;
  return {
    type: "NAT64Available",
    status: "True",
    reason: "GatewayRunning",
    message: `${on.map((g) => g.resource).join(", ")} runs on this node`,
  };
}

type Started =
  | { ok: true; service: RunningService<Assignment> }
  | { ok: false; reason: string; error: string };

/** Start `a` with the starter of its kind (the kind ties the assignment to its starter's type). */
async function startWith<K extends NodeKind>(
  starters: Starters,
  kind: K,
  a: AssignmentByKind[K],
  ctx: ServiceContext,
): Promise<Started> {
  const start = starters[kind];
  if (!start) {
    return {
      ok: false,
      reason: "NotImplemented",
      error: `${kind} does not run on nodes in this version of v6mostly`,
    };
  }
  try {
    return { ok: true, service: await start(a, ctx) };
  } catch (e) {
    return {
      ok: false,
      reason: e instanceof ServiceError ? e.reason : "StartFailed",
      error: (e as Error).message,
    };
  }
}
