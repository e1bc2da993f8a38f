// What the status says about devices, decided from the device controller's outcomes. Pure.
//
// One writer per status (no two controllers patch one `conditions` array, which a merge patch
// replaces whole):
//   ExternalDevice  written by the device controller: Ready, DeviceSynced, version, programmed;
//   a resource with a deviceRef  written by the plan reconciler, as every resource: its Ready,
//     DeviceSynced and devices[] come from the outcome the device controller stored for the device
//     (./state.ts). The resource is in sync on a device when the device's last run succeeded and
//     applied the resource's current assignment (same digest): an edit not applied yet is Pending,
//     never a stale True.

import type { TargetStatus } from "../reconcile/target.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import type { DeviceOutcome } from "./state.ts";

/** The status the device controller writes on an ExternalDevice. */
export interface ExternalDeviceStatus {
  observedGeneration?: number;
  programmed: string;
  version?: string;
  conditions: ConditionInput[];
}

export type DeviceView =
  /** the spec does not validate: field paths and messages */
  | { kind: "invalid"; message: string }
  /** the last run */
  | { kind: "ran"; outcome: DeviceOutcome }
  /** being deleted: the configuration is being removed (the last attempt's outcome) */
  | { kind: "deleting"; outcome: DeviceOutcome };

export function externalDeviceStatus(
  view: DeviceView,
  generation: number | undefined,
  version: string | undefined,
): ExternalDeviceStatus {
  const g = { observedGeneration: generation };
  if (view.kind === "invalid") {
    const c = { status: "False", reason: "Invalid", message: view.message, ...g } as const;
    return {
      ...g,
      version,
      programmed: "invalid",
      conditions: [
        { type: "Ready", ...c },
        { type: "DeviceSynced", ...c },
      ],
    };
  }
  const o = view.outcome;
  const synced: ConditionInput = {
    type: "DeviceSynced",
    status: o.status,
    reason: o.reason,
    message: o.message,
    ...g,
  };
  if (view.kind === "deleting")
    return {
      ...g,
      version: o.version ?? version,
      programmed: "deleting",
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: "Deleting",
          message: `removing what v6mostly configured on the box: ${o.reason}: ${o.message}`,
          ...g,
        },
        synced,
      ],
    };
  return {
    ...g,
    version: o.version ?? version,
    programmed: o.status === "True" ? `${o.objects} object(s) in sync` : o.reason,
    conditions: [{ ...synced, type: "Ready" }, synced],
  };
}

/** The condition of a run that succeeded: the version and the objects in sync. */
export function inSync(objects: number, version: string | undefined): { reason: string; message: string } {
  return {
    reason: "InSync",
    message: `${objects} object(s) in sync${version ? `, version ${version}` : ""}`,
  };
}

/** One resource's assignment on one device. */
export interface Placement {
  namespace: string;
  /** the ExternalDevice's name */
  device: string;
  /** assignmentDigest() of the assignment as planned now */
  digest: string;
}

export interface PlacedStatus {
  devices: TargetStatus[];
  programmed: string;
  synced: ConditionInput;
  ready: ConditionInput;
}

/** A resource placed on devices: its devices[], DeviceSynced and Ready from their outcomes. */
export function placedStatus(
  key: string,
  placements: readonly Placement[],
  outcomeOf: (namespace: string, name: string) => DeviceOutcome | undefined,
  generation: number | undefined,
): PlacedStatus {
  const devices: TargetStatus[] = [];
  const failing: { device: string; reason: string; message: string }[] = [];
  const pending: string[] = [];
  for (const p of placements) {
    const o = outcomeOf(p.namespace, p.device);
    const detail: Record<string, string> = o?.version ? { version: o.version } : {};
    if (o?.status === "False") {
      failing.push({ device: p.device, reason: o.reason, message: o.message });
      devices.push({ name: p.device, ready: false, message: `${o.reason}: ${o.message}`, detail });
    } else if (!o || o.resources[key] !== p.digest) {
      pending.push(p.device);
      const message = o ? "not applied yet" : "waiting for the device controller";
      devices.push({ name: p.device, ready: false, message, detail });
    } else devices.push({ name: p.device, ready: true, message: "in sync", detail });
  }
  devices.sort((a, b) => a.name.localeCompare(b.name));
  const names = devices.map((d) => d.name).join(", ");
  const g = { observedGeneration: generation };
  if (failing.length) {
    const message = failing.map((f) => `${f.device}: ${f.reason}: ${f.message}`).join("; ");
    const reason = failing[0]!.reason;
    return {
      devices,
      programmed: `device ${names}: ${reason}`,
      synced: { type: "DeviceSynced", status: "False", reason, message, ...g },
      ready: { type: "Ready", status: "False", reason, message, ...g },
    };
  }
  if (pending.length) {
    const message = `waiting for device ${pending.join(", ")} to apply generation ${generation ?? "?"}`;
    return {
      devices,
      programmed: `device ${names}: Pending`,
      synced: { type: "DeviceSynced", status: "Unknown", reason: "Pending", message, ...g },
      ready: { type: "Ready", status: "Unknown", reason: "DevicePending", message, ...g },
    };
  }
  const message = `in sync on device ${names}`;
  return {
    devices,
    programmed: `device ${names}`,
    synced: { type: "DeviceSynced", status: "True", reason: "InSync", message, ...g },
    ready: { type: "Ready", status: "True", reason: "InSync", message, ...g },
  };
}
