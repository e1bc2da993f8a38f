// From validated resources to what each ExternalDevice must hold: the planner's DeviceTargets,
// paired with their ExternalDevice spec and rendered with the vendor's renderer.
import type { ExternalDeviceSpec } from "../api/externaldevice.ts";
import type { AnyResource, Resource } from "../api/resources.ts";
import { type DeviceTarget, plan } from "../planner/plan.ts";
import { diagnose } from "./diagnose.ts";
import { renderFortios } from "./fortios/render.ts";
import { renderIosxe } from "./iosxe/render.ts";
import type { DesiredObject, Diagnostic, InterfaceFacts } from "./model.ts";
import { parseVersion, type Version } from "./version.ts";

export interface Device {
  name: string;
  spec: ExternalDeviceSpec;
  target: DeviceTarget;
}

export interface Rendered {
  device: Device;
  vendor: "fortios" | "iosxe";
  /** the version rendered for, as written where it came from */
  version: string;
  parsedVersion: Version;
  objects: DesiredObject[];
  diagnostics: Diagnostic[];
}

/** Versions rendered for when neither the resource nor --version names one (recent releases of each). */
export const DEFAULT_VERSION = { fortios: "7.2.4", iosxe: "17.12.1" } as const;

/** Every ExternalDevice with what the planner placed on it (devices with nothing placed too). */
export function devicesOf(resources: readonly AnyResource[]): { devices: Device[]; problems: string[] } {
  const p = plan(resources);
  const problems = [
    ...p.conflicts
      .filter((c) => c.where.startsWith("device"))
      .map((c) => `${c.resource} on ${c.where}: ${c.message}`),
    ...p.unplaced.map((u) => `${u.resource}: ${u.reason}`),
  ];
  const devices = resources
    .filter((r): r is Resource<"ExternalDevice"> => r.kind === "ExternalDevice")
    .map((r) => ({
      name: r.name,
      spec: r.spec,
      target: p.devices.find((d) => d.namespace === r.namespace && d.name === r.name) ?? {
        name: r.name,
        namespace: r.namespace,
        vendor: r.spec.vendor,
        version: r.spec.version,
        assignments: [],
      },
    }));
  return { devices, problems };
}

/**
 * Render one device for `version` (default: its spec's, else DEFAULT_VERSION) with the interfaces
 * known. Throws VersionError when the version is not one.
 */
export function renderDevice(
  device: Device,
  version?: string,
  interfaces?: readonly InterfaceFacts[],
): Rendered {
  const vendor = device.spec.vendor;
  const text = version ?? device.spec.version ?? DEFAULT_VERSION[vendor];
  const v = parseVersion(
    text,
    version === undefined ? `ExternalDevice/${device.name} spec.version` : "version",
  );
  const facts = interfaces ?? device.spec.interfaces;
  const r =
    vendor === "fortios"
      ? renderFortios({ target: device.target, version: v, interfaces: facts })
      : renderIosxe({ target: device.target, version: v, interfaces: facts });
  return {
    device,
    vendor,
    version: text,
    parsedVersion: v,
    objects: r.objects,
    diagnostics: [...r.diagnostics, ...diagnose(device.target, vendor)],
  };
}
