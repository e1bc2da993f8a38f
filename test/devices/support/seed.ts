// Resources for the device tests: the seed's network (examples/seed) with the boxes' interfaces,
// and a FortiGate-only network that exercises NAT64, DNS64 and RA on FortiOS.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocuments } from "../../../src/api/load.ts";
import type { AnyResource } from "../../../src/api/resources.ts";
import { validateDocuments, validatePaths } from "../../../src/api/validate.ts";
import { type Device, devicesOf } from "../../../src/devices/targets.ts";
import { repoRoot, seedWriteup } from "./paths.ts";

/** The seed's boxes as the write-up describes them (addresses from its config). */
export const SEED_INTERFACES = {
  fortigate: [
    { name: "wan1", addresses: ["192.168.1.99/24"] },
    { name: "lan1", addresses: ["172.16.1.254/24", "fc00::1/64"] },
  ],
  isr: [
    { name: "BDI1", addresses: ["192.168.1.254/24"] },
    { name: "BDI10", addresses: ["172.16.1.253/24", "fc00::ffff/64"] },
  ],
};

/** examples/seed as resources; `withInterfaces: false` forgets the boxes' interfaces (as if unknown). */
export function seedResources(withInterfaces = true): AnyResource[] {
  const { resources, problems } = validatePaths([join(repoRoot, "examples", "seed")]);
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length) throw new Error(`examples/seed does not validate: ${JSON.stringify(errors)}`);
  if (!withInterfaces) {
    return resources.map((r) =>
      r.kind === "ExternalDevice" ? { ...r, spec: { ...r.spec, interfaces: [] } } : r,
    ) as AnyResource[];
  }
  return resources.map((r) =>
    r.kind === "ExternalDevice" && r.spec.interfaces.length === 0
      ? {
          ...r,
          spec: { ...r.spec, interfaces: SEED_INTERFACES[r.name as keyof typeof SEED_INTERFACES] ?? [] },
        }
      : r,
  ) as AnyResource[];
}

/**
 * examples/seed with the ISR pointed at a test box: `endpoint`, its CA, the password from the
 * environment variable V6M_TEST_ISR_PASSWORD; its interfaces left for the box to tell. `drop`
 * leaves resources out ("RouterAdvert/lan").
 */
export function seedIsrAt(endpoint: string, caFile: string, drop: string[] = []): AnyResource[] {
  return seedResources(false)
    .filter((r) => !drop.includes(`${r.kind}/${r.name}`))
    .map((r) =>
      r.kind === "ExternalDevice" && r.name === "isr"
        ? {
            ...r,
            spec: {
              ...r.spec,
              endpoint,
              credentialsFile: undefined,
              credentialsEnv: "V6M_TEST_ISR_PASSWORD",
              tls: { insecureSkipVerify: false, caFile },
            },
          }
        : r,
    ) as AnyResource[];
}

export function fromYaml(text: string): AnyResource[] {
  const { resources, problems } = validateDocuments(parseDocuments("test.yaml", text));
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length) throw new Error(`test resources do not validate: ${JSON.stringify(errors)}`);
  return resources;
}

export function device(resources: AnyResource[], name: string): Device {
  const d = devicesOf(resources).devices.find((x) => x.name === name);
  if (!d) throw new Error(`no device ${name}`);
  return d;
}

/** A FortiGate that runs NAT64, DNS64 and RA itself (the objects a 7.x box needs). */
export function fortigateYaml(o: {
  version: string;
  endpoint?: string;
  extra?: string;
  tls?: string;
  credentials?: string;
}): string {
  return `apiVersion: v6mostly.dev/v1alpha1
kind: ExternalDevice
metadata: { name: fgt }
spec:
  vendor: fortios
  endpoint: ${o.endpoint ?? "https://192.0.2.99"}
  version: "${o.version}"
  ${o.credentials ?? "credentialsEnv: V6M_TEST_FGT_TOKEN"}
  vdom: root
  ${o.tls ?? ""}
---
apiVersion: v6mostly.dev/v1alpha1
kind: Nat64Gateway
metadata: { name: home }
spec:
  prefix: 64:ff9b::/96
  pool4: ["198.51.100.10-198.51.100.20"]
  allowedSources: ["2001:db8:1::/64"]
  uplinkInterface: wan1
  deviceRef: { name: fgt }
---
apiVersion: v6mostly.dev/v1alpha1
kind: Dns64Resolver
metadata: { name: lan }
spec:
  listen: ["[2001:db8:1::1]:53"]
  nat64GatewayRef: { name: home }
  upstreams: ["198.51.100.53"]
  allowClients: ["2001:db8:1::/64"]
  deviceRef: { name: fgt }
---
apiVersion: v6mostly.dev/v1alpha1
kind: RouterAdvert
metadata: { name: lan }
spec:
  interface: lan1
  prefixes: [{ prefix: "2001:db8:1::/64" }]
  rdnss: [{ address: "2001:db8:1::1" }]
  interval: { max: 200s }
  deviceRef: { name: fgt }
${o.extra ?? ""}`;
}

/** The FortiGate's interfaces in that network. */
export const FGT_INTERFACES = [
  { name: "wan1", ip: "198.51.100.2 255.255.255.0", ipv6: { "ip6-address": "::/0" } },
  { name: "lan1", ip: "192.0.2.1 255.255.255.0", ipv6: { "ip6-address": "2001:db8:1::1/64" } },
];

/** Lines of the seed write-up's config for one box, as written (trimmed). */
export function seedConfig(box: "fortigate" | "isr"): string[] {
  const text = readFileSync(seedWriteup, "utf8");
  const [start, end] = box === "fortigate" ? ["★Fortigate", "※GUA"] : ["★ISR", "赤字の部分"];
  const from = text.indexOf(start);
  const to = text.indexOf(end, from);
  return text
    .slice(from + start.length, to)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}
