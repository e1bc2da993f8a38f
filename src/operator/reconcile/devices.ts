// The device controller: one key per ExternalDevice (namespace/name). Each run reads the device's
// credentials from its Secrets, makes the box hold what the resources placed on it need (the
// drivers of src/devices: probe, read, diff, apply, verify), stores the outcome and the ledger
// (../devices/state.ts), and writes the ExternalDevice's status. A run that succeeded comes back
// after `resyncMs` (drift is corrected then); one that failed comes back sooner, doubling.
//
// Where its work comes from:
//   - the plan: the plan reconciler plans every resource at once (placement is global: pool4 must
//     not overlap anywhere) and tells `planned()` each plan it makes; a device whose assignments,
//     generation or deletion changed since the last plan is queued. The planner runs once per
//     burst of events, never a second time for the devices;
//   - the ExternalDevice's annotations (`kubectl annotate externaldevice fgt
//     v6mostly.dev/resync="$(date)" --overwrite` runs it now) and its deletion;
//   - its own requeue: drift checks, and retries. Secrets are not watched (the operator may only
//     `get` a Secret by name): each run reads them again, so a fixed Secret is used at the next
//     retry, within `retryMs` to `resyncMs`.
//
// Deleting a resource placed on a device needs no finalizer of its own: the device's desired state
// is recomputed from the resources that exist, and what v6mostly put on the box that no resource
// wants any more (found by its mark, or in the ledger) is removed at the next run.
//
// Deleting the ExternalDevice: the finalizer v6mostly.dev/device-config holds it until what
// v6mostly configured on the box is removed. A box that cannot be reached does not hold it
// forever: the operator keeps trying for `cleanupTimeoutMs` (default 10 min, long enough for a box
// to reboot) after the deletion, then lets the object go with a Warning Event naming what was
// left on the box. When nothing was recorded as configured (the ledger is empty: the device never
// got a change), one attempt is made and the object goes whatever its outcome. To let it go at
// once: `kubectl patch externaldevice NAME --type=merge -p '{"metadata":{"finalizers":null}}'`.
import { isDeepStrictEqual } from "node:util";
import type { RawDocument } from "../../api/load.ts";
import { API_VERSION, kindResource, type Resource } from "../../api/resources.ts";
import { validateDocuments } from "../../api/validate.ts";
import { applyDevice, type DeviceRun, type RunOptions } from "../../devices/apply.ts";
import { readSecretCredentials } from "../../devices/credentials.ts";
import type { Change } from "../../devices/model.ts";
import type { Device } from "../../devices/targets.ts";
import type { DeviceTarget, Plan } from "../../planner/plan.ts";
import type { Logger } from "../../util/log.ts";
import {
  assignmentDigest,
  type DeviceOutcome,
  type DeviceState,
  type DeviceStates,
} from "../devices/state.ts";
import { type DeviceView, externalDeviceStatus, inSync } from "../devices/status.ts";
import { CORE, type KubeClient, type KubeObject, withoutEmptyStrings } from "../runtime/client.ts";
import { type StatusCondition, setConditions } from "../runtime/conditions.ts";
import { Controller, type Result } from "../runtime/controller.ts";
import type { EventRecorder, InvolvedObject } from "../runtime/events.ts";
import { type Informer, keyOfObject } from "../runtime/informer.ts";
import { keyOf } from "./status.ts";

export const DEVICE_FINALIZER = "v6mostly.dev/device-config";

const EXTERNAL_DEVICES = kindResource("ExternalDevice");

type DeviceObject = KubeObject & {
  spec?: unknown;
  status?: { conditions?: StatusCondition[]; version?: string } & Record<string, unknown>;
};

export interface DeviceControllerOptions {
  client: KubeClient;
  log: Logger;
  events: EventRecorder;
  /** the ExternalDevice informer */
  devices: Informer<DeviceObject>;
  states: DeviceStates;
  /** time between runs of a device in sync: drift is corrected then (default 5 min) */
  resyncMs?: number;
  /** first retry after a failed run, doubling up to resyncMs (default 30 s) */
  retryMs?: number;
  /** how long a deleted ExternalDevice waits for its configuration to be removed (default 10 min) */
  cleanupTimeoutMs?: number;
  /** driver settings (retries, backoff, timeout of each request) */
  run?: Pick<RunOptions, "retries" | "backoffMs" | "timeoutMs">;
}

export const DEVICE_DEFAULTS = { resyncMs: 5 * 60_000, retryMs: 30_000, cleanupTimeoutMs: 10 * 60_000 };

/** A device whose spec validates, with the plan's assignments for it. */
type Parsed = { ok: true; device: Device } | { ok: false; message: string };

export class DeviceReconciler {
  readonly controller: Controller;
  /** runs against boxes, status writes, changes applied, drift corrected, for tests and metrics */
  readonly counts = { runs: 0, statusesWritten: 0, applied: 0, driftCorrected: 0, released: 0 };
  private plan: Plan | undefined;
  /** what each device's last plan said (its generation, deletion and assignments) */
  private readonly said = new Map<string, string>();
  private readonly failures = new Map<string, number>();
  /** the warnings last reported per device (an Event only when they change) */
  private readonly warned = new Map<string, string>();
  private readonly opts: Required<Omit<DeviceControllerOptions, "run">> &
    Pick<DeviceControllerOptions, "run">;

  constructor(o: DeviceControllerOptions) {
    this.opts = { ...DEVICE_DEFAULTS, ...o };
    this.controller = new Controller({ name: "devices", log: o.log, reconcile: (k) => this.reconcile(k) });
    o.devices.on({
      updated: (now, old) => {
        const m = now.metadata;
        if (
          (m.deletionTimestamp && !old.metadata.deletionTimestamp) ||
          JSON.stringify(m.annotations ?? {}) !== JSON.stringify(old.metadata.annotations ?? {})
        )
          this.controller.enqueue(keyOfObject(now));
      },
      deleted: (gone) => this.controller.enqueue(keyOfObject(gone)),
    });
  }

  start(): void {
    this.controller.start();
  }

  /** Leadership lost: stop, and forget what may be stale when it comes back. */
  async stop(): Promise<void> {
    await this.controller.stop();
    this.plan = undefined;
    this.said.clear();
    this.failures.clear();
    this.opts.states.forgetAll();
  }

  /** The last outcome of device namespace/name (the plan reconciler writes its resources' status from it). */
  outcome(namespace: string, name: string): DeviceOutcome | undefined {
    return this.opts.states.outcome(namespace, name);
  }

  /** A new plan: queue the devices for which it says something new. */
  planned(plan: Plan): void {
    this.plan = plan;
    const targets = new Map(plan.devices.map((d) => [`${d.namespace}/${d.name}`, d]));
    const keys = new Set([
      ...this.opts.devices.list().map(keyOfObject),
      ...this.opts.states.devices(),
      ...this.said.keys(),
    ]);
    for (const key of keys) {
      const o = this.opts.devices.get(key);
      const said = o
        ? JSON.stringify([
            o.metadata.generation,
            Boolean(o.metadata.deletionTimestamp),
            (targets.get(key)?.assignments ?? []).map(assignmentDigest).sort(),
          ])
        : "absent";
      if (this.said.get(key) === said) continue;
      this.said.set(key, said);
      this.controller.enqueue(key);
    }
  }

  async reconcile(key: string): Promise<Result | undefined> {
    const o = this.opts.devices.get(key);
    if (!o) {
      // deleted (after our cleanup, or with the finalizer taken off by hand): its state goes too
      await this.opts.states.remove(key);
      this.said.delete(key);
      this.failures.delete(key);
      return undefined;
    }
    if (o.metadata.deletionTimestamp) return this.finalize(key, o);
    if (!this.plan) return undefined; // planned() queues every device once the first plan is made
    const parsed = parse(o, this.target(o));
    if (!parsed.ok) {
      await this.writeStatus(o, { kind: "invalid", message: parsed.message });
      return undefined;
    }
    await this.ensureFinalizer(o);
    const state = await this.opts.states.load(key);
    const before = state.outcome;
    const run = await this.run(o, parsed.device, state);
    state.outcome = outcomeOf(run, parsed.device.target, o.metadata.generation, before);
    await this.opts.states.save(key, state);
    await this.writeStatus(o, { kind: "ran", outcome: state.outcome });
    const insecure = parsed.device.spec.tls.insecureSkipVerify
      ? ["tls.insecureSkipVerify is set: the box's certificate is not checked"]
      : [];
    await this.tell(o, run, before, insecure);
    return { requeueAfterMs: this.next(key, run) };
  }

  private target(o: DeviceObject): DeviceTarget | undefined {
    const ns = o.metadata.namespace ?? "";
    return this.plan?.devices.find((d) => d.namespace === ns && d.name === o.metadata.name);
  }

  /** One run against the box; a failure is a run with a False condition, never a throw. */
  private run(o: DeviceObject, device: Device, state: DeviceState): Promise<DeviceRun> {
    const namespace = o.metadata.namespace ?? "";
    const { client, states } = this.opts;
    const key = keyOfObject(o);
    this.counts.runs++;
    return applyDevice(device, {
      log: this.opts.log.child({ device: key }),
      ...this.opts.run,
      credentials: () =>
        readSecretCredentials(device.spec, namespace, (name) => readSecret(client, namespace, name)),
      ledger: {
        load: async () => state.ledger,
        save: async (l) => {
          state.ledger = l;
          await states.save(key, state);
        },
      },
    });
  }

  /** When to come back: a device in sync at the next drift check; a failing one sooner, doubling. */
  private next(key: string, run: DeviceRun): number {
    if (run.condition.status !== "True") return this.retryDelay(key);
    this.failures.delete(key);
    return this.opts.resyncMs;
  }

  private retryDelay(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.opts.retryMs * 2 ** n, this.opts.resyncMs);
  }

  /** The ExternalDevice is being deleted: remove what v6mostly configured on the box, then let it go. */
  private async finalize(key: string, o: DeviceObject): Promise<Result | undefined> {
    if (!o.metadata.finalizers?.includes(DEVICE_FINALIZER)) return undefined;
    const state = await this.opts.states.load(key);
    const left = Object.keys(state.ledger.entries);
    const parsed = parse(o, undefined);
    let run: DeviceRun | undefined;
    if (parsed.ok) {
      // nothing placed: everything v6mostly owns there is an orphan, and is removed
      run = await this.run(o, parsed.device, state);
      if (run.condition.status === "True") {
        await this.event(
          o,
          "Normal",
          "ConfigRemoved",
          run.applied
            ? `removed what v6mostly configured on the box: ${describe(run.changes)}`
            : "nothing v6mostly configured was left on the box",
        );
        return this.release(key, o);
      }
    }
    const why = run
      ? `${run.condition.reason}: ${run.condition.message}`
      : `Invalid: ${parsed.ok ? "" : parsed.message}`;
    if (left.length === 0) {
      await this.event(
        o,
        "Normal",
        "Released",
        `nothing was recorded as configured by v6mostly; not waiting for the box (${why})`,
      );
      return this.release(key, o);
    }
    const waited = Date.now() - Date.parse(o.metadata.deletionTimestamp!);
    const remaining = this.opts.cleanupTimeoutMs - waited;
    if (remaining <= 0) {
      await this.event(
        o,
        "Warning",
        "CleanupAbandoned",
        `gave up removing the configuration after ${Math.round(waited / 1000)} s (${why}); left on the box: ${left.join(", ")}`,
      );
      return this.release(key, o);
    }
    const outcome: DeviceOutcome = run
      ? outcomeOf(run, undefined, o.metadata.generation, state.outcome)
      : { status: "False", reason: "Invalid", message: why, objects: 0, resources: {} };
    await this.writeStatus(o, { kind: "deleting", outcome });
    if (state.outcome?.reason !== outcome.reason)
      await this.event(o, "Warning", outcome.reason, `removing the configuration: ${outcome.message}`);
    state.outcome = outcome;
    await this.opts.states.save(key, state);
    return { requeueAfterMs: Math.min(this.retryDelay(key), remaining) };
  }

  private async release(key: string, o: DeviceObject): Promise<undefined> {
    await this.setFinalizer(o, false);
    await this.opts.states.remove(key);
    this.failures.delete(key);
    this.counts.released++;
    return undefined;
  }

  /** The finalizer goes on before anything is written to the box. */
  private async ensureFinalizer(o: DeviceObject): Promise<void> {
    if (!o.metadata.finalizers?.includes(DEVICE_FINALIZER)) await this.setFinalizer(o, true);
  }

  /** Add or remove our finalizer on the freshest object, under its resourceVersion (409 on a race: retried). */
  private async setFinalizer(o: DeviceObject, on: boolean): Promise<void> {
    const { client } = this.opts;
    const fresh = await client.find<DeviceObject>(EXTERNAL_DEVICES, o.metadata.namespace, o.metadata.name);
    if (!fresh) return;
    const had = fresh.metadata.finalizers ?? [];
    if (had.includes(DEVICE_FINALIZER) === on) return;
    if (on && fresh.metadata.deletionTimestamp) return; // the API refuses new finalizers then
    const finalizers = on ? [...had, DEVICE_FINALIZER] : had.filter((f) => f !== DEVICE_FINALIZER);
    await client.mergePatch(EXTERNAL_DEVICES, o.metadata.namespace, o.metadata.name, {
      metadata: { resourceVersion: fresh.metadata.resourceVersion, finalizers },
    });
  }

  /** Write the ExternalDevice's status when it differs from what it says. */
  private async writeStatus(o: DeviceObject, view: DeviceView): Promise<void> {
    const current = o.status ?? {};
    const want = externalDeviceStatus(view, o.metadata.generation, current.version);
    const conditions = setConditions(current.conditions ?? [], want.conditions, new Date(), true);
    const next = withoutEmptyStrings({
      observedGeneration: want.observedGeneration,
      programmed: want.programmed,
      version: want.version,
      conditions,
    });
    const mine = withoutEmptyStrings({
      observedGeneration: current.observedGeneration,
      programmed: current.programmed,
      version: current.version,
      conditions: current.conditions,
    });
    if (isDeepStrictEqual(mine, next)) return;
    await this.opts.client.mergePatch(
      EXTERNAL_DEVICES,
      o.metadata.namespace,
      o.metadata.name,
      { status: next },
      "status",
    );
    this.counts.statusesWritten++;
  }

  /** Events for what changed on the box, and for a change of the run's outcome. */
  private async tell(
    o: DeviceObject,
    run: DeviceRun,
    before: DeviceOutcome | undefined,
    notes: string[],
  ): Promise<void> {
    const key = keyOfObject(o);
    const ok = run.condition.status === "True";
    if (run.applied > 0) this.counts.applied += run.applied;
    if (ok) {
      const drifted = new Set(run.drift.map((c) => c.object.id));
      const asked = run.changes.filter((c) => !drifted.has(c.object.id));
      if (asked.length)
        await this.event(
          o,
          "Normal",
          "Applied",
          `applied ${asked.length} change(s) and verified: ${describe(asked)}`,
        );
      if (run.drift.length) {
        this.counts.driftCorrected += run.drift.length;
        await this.event(
          o,
          "Warning",
          "DriftCorrected",
          `${run.drift.length} object(s) changed on the box since v6mostly set them, put back: ${describe(run.drift)}`,
        );
      }
      if (before?.status === "False" && run.applied === 0)
        await this.event(
          o,
          "Normal",
          "InSync",
          `the box holds what the resources say again (${run.condition.message})`,
        );
    } else if (before?.status !== "False" || before.reason !== run.condition.reason) {
      await this.event(o, "Warning", run.condition.reason, run.condition.message);
    }
    const warnings = [
      ...notes,
      ...run.diagnostics
        .filter((d) => d.severity === "warning")
        .map((d) =>
          d.subject === `ExternalDevice/${o.metadata.name}` ? d.message : `${d.subject}: ${d.message}`,
        ),
    ].join("; ");
    if (warnings !== (this.warned.get(key) ?? "")) {
      this.warned.set(key, warnings);
      if (warnings) await this.event(o, "Warning", "DeviceWarnings", warnings);
    }
    this.opts.log.info(
      {
        device: key,
        reason: run.condition.reason,
        applied: run.applied,
        drift: run.drift.length,
        requests: run.requests,
      },
      "device run",
    );
  }

  private event(o: DeviceObject, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const about: InvolvedObject = {
      apiVersion: API_VERSION,
      kind: "ExternalDevice",
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: o.metadata.uid,
    };
    return this.opts.events.record(about, type, reason, message);
  }
}

/** The ExternalDevice as `validate` reads it, with what the plan places on it (nothing: `target` absent). */
function parse(o: DeviceObject, target: DeviceTarget | undefined): Parsed {
  const namespace = o.metadata.namespace ?? "";
  const doc: RawDocument = {
    source: { file: `${namespace}/ExternalDevice/${o.metadata.name}`, doc: 0 },
    value: { apiVersion: API_VERSION, kind: "ExternalDevice", metadata: o.metadata, spec: o.spec },
  };
  const { resources, problems } = validateDocuments([doc]);
  const errors = problems.filter((p) => p.severity === "error");
  const r = resources[0] as Resource<"ExternalDevice"> | undefined;
  if (errors.length || !r)
    return {
      ok: false,
      message: errors.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; "),
    };
  return {
    ok: true,
    device: {
      name: r.name,
      spec: r.spec,
      target: target ?? {
        name: r.name,
        namespace,
        vendor: r.spec.vendor,
        version: r.spec.version,
        assignments: [],
      },
    },
  };
}

/** What a run leaves for the status: its condition, and the assignments it applied when it succeeded. */
function outcomeOf(
  run: DeviceRun,
  target: DeviceTarget | undefined,
  generation: number | undefined,
  before: DeviceOutcome | undefined,
): DeviceOutcome {
  const version = run.version ?? before?.version;
  if (run.condition.status !== "True")
    return {
      status: "False",
      reason: run.condition.reason,
      message: run.condition.message,
      version,
      objects: run.objects,
      resources: {},
      generation,
    };
  const resources: Record<string, string> = {};
  for (const a of target?.assignments ?? []) resources[keyOf(a)] = assignmentDigest(a);
  return {
    status: "True",
    ...inSync(run.objects, version),
    version,
    objects: run.objects,
    resources,
    generation,
  };
}

/** "create firewall/ippool/v6m-home, update system/dns64", at most ten named. */
function describe(changes: readonly Change[]): string {
  const named = changes.slice(0, 10).map((c) => `${c.op} ${c.object.id}`);
  return changes.length > 10 ? `${named.join(", ")} and ${changes.length - 10} more` : named.join(", ");
}

/** A Secret of `namespace`, its values decoded; undefined when there is none. */
async function readSecret(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const s = await client.find<KubeObject & { data?: Record<string, string> }>(CORE.secrets, namespace, name);
  if (!s) return undefined;
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}
