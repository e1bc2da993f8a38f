// The kinds of group v6mostly.dev/v1alpha1: one registry that the loader, the CRD generator and
// the planner all read, so a field exists in exactly one place.
import { z } from "zod";
import { dhcpScopeSpec } from "./dhcpscope.ts";
import { dns64ResolverSpec } from "./dns64resolver.ts";
import { edgeTranslationSpec } from "./edgetranslation.ts";
import { externalDeviceSpec } from "./externaldevice.ts";
import { objectName } from "./fields.ts";
import { nat64GatewaySpec } from "./nat64gateway.ts";
import { routerAdvertSpec } from "./routeradvert.ts";
import { status } from "./status.ts";

export const GROUP = "v6mostly.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Where a resource without `metadata.namespace` lives (standalone files, as `kubectl apply` without -n). */
export const DEFAULT_NAMESPACE = "default";

export const metadata = z
  .looseObject({
    name: objectName,
    namespace: objectName.optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    generation: z.number().int().optional(),
    creationTimestamp: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
  })
  .describe("standard object metadata");

interface KindInfo<S extends z.ZodType> {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: S;
  /** `kubectl get` columns: JSONPath into the object */
  columns: {
    name: string;
    type: "string" | "integer" | "boolean" | "date";
    jsonPath: string;
    description: string;
  }[];
}

const ready = {
  name: "Ready",
  type: "string",
  jsonPath: `.status.conditions[?(@.type=="Ready")].status`,
  description: "whether it is in force",
} as const;
const programmed = {
  name: "Programmed",
  type: "string",
  jsonPath: ".status.programmed",
  description: "where it runs",
} as const;
const age = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "" } as const;

export const KINDS = {
  Nat64Gateway: {
    kind: "Nat64Gateway",
    plural: "nat64gateways",
    singular: "nat64gateway",
    shortNames: ["nat64"],
    spec: nat64GatewaySpec,
    columns: [
      { name: "Prefix", type: "string", jsonPath: ".spec.prefix", description: "the NAT64 prefix" },
      { name: "Mode", type: "string", jsonPath: ".spec.mode", description: "stateful or stateless" },
      { name: "Pool4", type: "string", jsonPath: ".spec.pool4", description: "IPv4 pool" },
      ready,
      programmed,
      age,
    ],
  },
  Dns64Resolver: {
    kind: "Dns64Resolver",
    plural: "dns64resolvers",
    singular: "dns64resolver",
    shortNames: ["dns64"],
    spec: dns64ResolverSpec,
    columns: [
      { name: "Prefix", type: "string", jsonPath: ".spec.prefix", description: "the NAT64 prefix" },
      { name: "Listen", type: "string", jsonPath: ".spec.listen", description: "addresses served" },
      ready,
      programmed,
      age,
    ],
  },
  RouterAdvert: {
    kind: "RouterAdvert",
    plural: "routeradverts",
    singular: "routeradvert",
    shortNames: ["ra"],
    spec: routerAdvertSpec,
    columns: [
      { name: "Interface", type: "string", jsonPath: ".spec.interface", description: "link advertised on" },
      { name: "Prefix", type: "string", jsonPath: ".spec.prefixes[*].prefix", description: "prefixes" },
      {
        name: "PREF64",
        type: "string",
        jsonPath: ".spec.pref64.prefix",
        description: "announced NAT64 prefix",
      },
      ready,
      programmed,
      age,
    ],
  },
  DhcpScope: {
    kind: "DhcpScope",
    plural: "dhcpscopes",
    singular: "dhcpscope",
    shortNames: ["dhcp"],
    spec: dhcpScopeSpec,
    columns: [
      { name: "Interface", type: "string", jsonPath: ".spec.interface", description: "link served" },
      { name: "Subnet", type: "string", jsonPath: ".spec.subnet", description: "IPv4 subnet" },
      { name: "Pool", type: "string", jsonPath: ".spec.ranges", description: "dynamic ranges" },
      { name: "V6Only", type: "string", jsonPath: ".spec.ipv6OnlyPreferred", description: "option 108 wait" },
      ready,
      programmed,
      age,
    ],
  },
  ExternalDevice: {
    kind: "ExternalDevice",
    plural: "externaldevices",
    singular: "externaldevice",
    shortNames: ["xdev"],
    spec: externalDeviceSpec,
    columns: [
      { name: "Vendor", type: "string", jsonPath: ".spec.vendor", description: "fortios or iosxe" },
      { name: "Endpoint", type: "string", jsonPath: ".spec.endpoint", description: "management URL" },
      { name: "Version", type: "string", jsonPath: ".status.version", description: "software version" },
      ready,
      programmed,
      age,
    ],
  },
  EdgeTranslation: {
    kind: "EdgeTranslation",
    plural: "edgetranslations",
    singular: "edgetranslation",
    shortNames: ["edge"],
    spec: edgeTranslationSpec,
    columns: [
      { name: "Inside", type: "string", jsonPath: ".spec.insideInterfaces", description: "LAN interfaces" },
      {
        name: "Outside",
        type: "string",
        jsonPath: ".spec.outsideInterface",
        description: "upstream interface",
      },
      ready,
      programmed,
      age,
    ],
  },
} satisfies Record<string, KindInfo<z.ZodType>>;

export type Kind = keyof typeof KINDS;

/** Where objects of a kind are in the API (the shape of operator/runtime/client.ts Resource). */
export function kindResource(kind: Kind) {
  return { group: GROUP, version: VERSION, plural: KINDS[kind].plural, kind, namespaced: true } as const;
}
export const KIND_NAMES = Object.keys(KINDS) as Kind[];

export function isKind(k: unknown): k is Kind {
  return typeof k === "string" && Object.hasOwn(KINDS, k);
}

function buildResourceSchema<K extends Kind>(kind: K) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata,
    spec: KINDS[kind].spec as (typeof KINDS)[K]["spec"],
    status: status.optional(),
  });
}

/** one schema per kind: zod compiles a schema on its first use, which costs per instance */
const resourceSchemas = new Map<Kind, unknown>();

/** The whole object of a kind: apiVersion, kind, metadata, spec, status. */
export function resourceSchema<K extends Kind>(kind: K): ReturnType<typeof buildResourceSchema<K>> {
  let s = resourceSchemas.get(kind);
  if (!s) {
    s = buildResourceSchema(kind);
    resourceSchemas.set(kind, s);
  }
  return s as ReturnType<typeof buildResourceSchema<K>>;
}

export type Spec<K extends Kind> = z.output<(typeof KINDS)[K]["spec"]>;

/**
 * A validated resource with its origin, for messages. Its identity is namespace/kind/name; `uid`
 * and `generation` come from the API server (absent in files).
 */
export interface Resource<K extends Kind = Kind> {
  kind: K;
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  spec: Spec<K>;
  labels: Record<string, string>;
  creationTimestamp?: string;
  source: Source;
}

/** How people, logs and metrics name an object: Kind/name, namespace/Kind/name outside the default namespace. */
export function objectLabel(o: { kind: string; namespace: string; name: string }): string {
  return o.namespace === DEFAULT_NAMESPACE ? `${o.kind}/${o.name}` : `${o.namespace}/${o.kind}/${o.name}`;
}

/** Where a document came from: `home.yaml#2`. */
export interface Source {
  file: string;
  /** 1-based document number inside the file */
  doc: number;
  /** 1-based line where the document starts, when known */
  line?: number;
}

export type AnyResource = { [K in Kind]: Resource<K> }[Kind];
