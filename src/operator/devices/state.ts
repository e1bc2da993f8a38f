// What the operator remembers about each ExternalDevice between runs, kept in the API so that any
// replica that becomes leader knows it: one ConfigMap per device in the operator's namespace with
//   ledger   what v6mostly put on the box that carries no mark (src/devices' ledger: FortiOS
//            singletons and interface settings, every IOS-XE object), so that it can be undone
//            when no resource wants it any more and when the device is deleted;
//   outcome  the last run: its DeviceSynced condition, the version, and a digest of each
//            resource's assignment it applied. The plan reconciler reads it to write the status
//            of the resources placed on the device (Ready, DeviceSynced, devices[]): a resource
//            is in sync on the device when the device applied its current assignment.
// A file on the operator's disk would be lost with its pod; a status field would be pruned (the
// CRD's status schema is closed) and is the user's to read, not ours to keep state in.
import { createHash } from "node:crypto";
import type { Ledger } from "../../devices/driver.ts";
import type { Assignment } from "../../planner/plan.ts";
import { encodeAssignment } from "../../planner/wire.ts";
import { CORE, type KubeClient, type KubeObject } from "../runtime/client.ts";
import type { Informer } from "../runtime/informer.ts";

/** The label every device state ConfigMap carries (the operator's informer selects on it). */
export const STATE_LABEL = "v6mostly.dev/device-state";
export const STATE_SELECTOR = `${STATE_LABEL}=true`;
/** The ExternalDevice a state ConfigMap is about, "namespace/name". */
export const DEVICE_ANNOTATION = "v6mostly.dev/device";

export interface DeviceOutcome {
  /** the DeviceSynced condition of the last run */
  status: "True" | "False";
  reason: string;
  message: string;
  /** the version the run rendered for (the box's word, else spec.version) */
  version?: string;
  /** objects the resources need on the box */
  objects: number;
  /** the resources the run applied: object key (namespace/Kind/name) -> digest of its assignment */
  resources: Record<string, string>;
  /** the ExternalDevice's generation the run used */
  generation?: number;
}

export interface DeviceState {
  ledger: Ledger;
  outcome?: DeviceOutcome;
}

type ConfigMap = KubeObject & { data?: Record<string, string> };

/** What a resource's assignment on a device is, in 16 hex digits: equal digests, same configuration. */
export function assignmentDigest(a: Assignment): string {
  return createHash("sha256")
    .update(JSON.stringify(encodeAssignment(a)))
    .digest("hex")
    .slice(0, 16);
}

/** The state ConfigMap's name: device.NAMESPACE.NAME (a namespace has no dots), hashed when too long. */
export function stateName(namespace: string, name: string): string {
  const plain = `device.${namespace}.${name}`;
  if (plain.length <= 253) return plain;
  return `device.${createHash("sha256").update(`${namespace}/${name}`).digest("hex").slice(0, 40)}`;
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** A state read back; anything malformed (edited by hand) reads as absent, never as a crash. */
export function decodeState(cm: ConfigMap | undefined, device: string): DeviceState {
  const ledger = parseJson<Ledger>(cm?.data?.ledger);
  const outcome = parseJson<DeviceOutcome>(cm?.data?.outcome);
  return {
    ledger:
      ledger && typeof ledger.entries === "object" && ledger.entries !== null
        ? { device, entries: ledger.entries }
        : { device, entries: {} },
    outcome:
      outcome &&
      typeof outcome.resources === "object" &&
      (outcome.status === "True" || outcome.status === "False")
        ? outcome
        : undefined,
  };
}

/**
 * The device states of one operator: read from the informer's cache (the plan reconciler's view),
 * and, for the device controller, kept in memory once loaded with a GET (fresher than the cache
 * right after our own write) and written through on every change.
 */
export class DeviceStates {
  /** states loaded by the device controller, with the data last written or read */
  private readonly loaded = new Map<string, { state: DeviceState; written: string }>();
  /** state writes, for tests */
  writes = 0;

  constructor(
    private readonly client: KubeClient,
    /** the operator's namespace */
    private readonly namespace: string,
    private readonly informer: Informer<ConfigMap>,
    private readonly fieldManager: string,
  ) {}

  /** The last run's outcome for device namespace/name, as the API has it. */
  outcome(namespace: string, name: string): DeviceOutcome | undefined {
    const cm = this.informer.get(`${this.namespace}/${stateName(namespace, name)}`);
    return cm ? decodeState(cm, name).outcome : undefined;
  }

  /** Devices ("namespace/name") that have a state, as the cache has them. */
  devices(): string[] {
    return this.informer
      .list()
      .map((cm) => cm.metadata.annotations?.[DEVICE_ANNOTATION])
      .filter((k): k is string => k !== undefined);
  }

  /** The device's state: read once with a GET, then the copy in memory (ours is the only writer). */
  async load(key: string): Promise<DeviceState> {
    const had = this.loaded.get(key);
    if (had) return had.state;
    const [namespace, name] = split(key);
    const cm = await this.client.find<ConfigMap>(CORE.configmaps, this.namespace, stateName(namespace, name));
    const state = decodeState(cm, name);
    this.loaded.set(key, { state, written: cm ? JSON.stringify(cm.data ?? {}) : "" });
    return state;
  }

  /** Write the state when it differs from what was last written. */
  async save(key: string, state: DeviceState): Promise<void> {
    const [namespace, name] = split(key);
    const data = {
      ledger: JSON.stringify(state.ledger),
      ...(state.outcome ? { outcome: JSON.stringify(state.outcome) } : {}),
    };
    const text = JSON.stringify(data);
    const had = this.loaded.get(key);
    this.loaded.set(key, { state, written: had?.written ?? "" });
    if (had?.written === text) return;
    await this.client.apply(
      CORE.configmaps,
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: stateName(namespace, name),
          namespace: this.namespace,
          labels: { [STATE_LABEL]: "true", "app.kubernetes.io/managed-by": this.fieldManager },
          annotations: { [DEVICE_ANNOTATION]: key },
        },
        data,
      },
      { fieldManager: this.fieldManager },
    );
    this.loaded.set(key, { state, written: text });
    this.writes++;
  }

  /** The device is gone: its state too. */
  async remove(key: string): Promise<void> {
    const [namespace, name] = split(key);
    this.loaded.delete(key);
    await this.client.delete(CORE.configmaps, this.namespace, stateName(namespace, name));
  }

  /** Leadership lost: what is in memory may be stale when it comes back. */
  forgetAll(): void {
    this.loaded.clear();
  }
}

function split(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}
