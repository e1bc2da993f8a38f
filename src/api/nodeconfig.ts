// NodeConfig: the operator's per-node answer to "what runs here", one object per node, named
// after the node. The operator writes `spec` (the node's assignments in their wire form,
// planner/wire.ts); the node's agent writes `status` (what runs, with conditions per resource).
// Lives in the operator's namespace (owned by the operator, removed with it; the agent's rights stay
// within that namespace) and is internal: users read it (`kubectl get nodeconfigs -n v6mostly`).
import { GROUP, VERSION } from "./resources.ts";
import type { Condition } from "./status.ts";

export const NODE_CONFIG = {
  kind: "NodeConfig",
  plural: "nodeconfigs",
  singular: "nodeconfig",
  shortNames: ["v6node"],
} as const;

/** Where NodeConfigs are in the API (the shape of operator/runtime/client.ts Resource). */
export const NODE_CONFIG_RESOURCE = {
  group: GROUP,
  version: VERSION,
  plural: NODE_CONFIG.plural,
  kind: NODE_CONFIG.kind,
  namespaced: true,
} as const;

export interface NodeConfigSpec {
  /** how many assignments (a printer column) */
  count: number;
  /** the node's assignments (planner/wire.ts WireAssignment), in a stable order */
  assignments: unknown[];
}

export interface ResourceReport {
  kind: string;
  namespace: string;
  name: string;
  /** the generation of the resource the agent runs */
  generation?: number;
  conditions: Condition[];
}

export interface NodeConfigStatus {
  /** the NodeConfig generation the agent applied */
  observedGeneration?: number;
  resources: ResourceReport[];
  /** problems with the NodeConfig itself (an assignment the agent could not read) */
  problems?: string[];
  agent?: { version: string; pid: number; started: string };
}

const condition = {
  type: "object",
  required: ["type", "status", "reason", "lastTransitionTime"],
  properties: {
    type: { type: "string" },
    status: { type: "string", enum: ["True", "False", "Unknown"] },
    reason: { type: "string" },
    message: { type: "string" },
    lastTransitionTime: { type: "string" },
    observedGeneration: { type: "integer" },
  },
};

export function nodeConfigCrd(): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${NODE_CONFIG.plural}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "v6mostly" } },
    spec: {
      group: GROUP,
      names: {
        kind: NODE_CONFIG.kind,
        listKind: `${NODE_CONFIG.kind}List`,
        plural: NODE_CONFIG.plural,
        singular: NODE_CONFIG.singular,
        shortNames: NODE_CONFIG.shortNames,
        categories: ["v6mostly"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            {
              name: "Assignments",
              type: "integer",
              jsonPath: ".spec.count",
              description: "resources the node runs",
            },
            {
              name: "Applied",
              type: "integer",
              jsonPath: ".status.observedGeneration",
              description: "generation the agent applied",
            },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description:
                "what v6mostly runs on one node (written by the operator; status by the node's agent)",
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: {
                  type: "object",
                  properties: {
                    count: { type: "integer" },
                    assignments: {
                      type: "array",
                      items: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                    },
                  },
                },
                status: {
                  type: "object",
                  properties: {
                    observedGeneration: { type: "integer" },
                    problems: { type: "array", items: { type: "string" } },
                    agent: {
                      type: "object",
                      properties: {
                        version: { type: "string" },
                        pid: { type: "integer" },
                        started: { type: "string" },
                      },
                    },
                    resources: {
                      type: "array",
                      items: {
                        type: "object",
                        required: ["kind", "namespace", "name"],
                        properties: {
                          kind: { type: "string" },
                          namespace: { type: "string" },
                          name: { type: "string" },
                          generation: { type: "integer" },
                          conditions: { type: "array", items: condition },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}
