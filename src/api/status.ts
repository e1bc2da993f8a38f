// Status shared by every kind: conditions in the shape of metav1.Condition (as cert-manager and
// controller-runtime use them), observedGeneration, and per-node / per-device detail.
import { z } from "zod";

export const condition = z.strictObject({
  type: z.string().describe("Ready, Programmed, DeviceSynced, NodeCapable, Conflict, ..."),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().describe("one CamelCase word"),
  message: z.string().default(""),
  lastTransitionTime: z.string().describe("RFC 3339 time of the last status change"),
  observedGeneration: z.number().int().optional(),
});

const target = z.strictObject({
  name: z.string().describe("node or ExternalDevice name"),
  ready: z.boolean(),
  message: z.string().default(""),
  detail: z
    .record(z.string(), z.string())
    .default({})
    .describe("for example pool4 share, tun device, version"),
});

export const status = z.strictObject({
  observedGeneration: z.number().int().optional(),
  programmed: z
    .string()
    .optional()
    .describe('where it runs, in words: "2/2 nodes", "device fgt", "0/1 nodes: NoSuchInterface"'),
  conditions: z.array(condition).default([]),
  nodes: z.array(target).default([]).describe("where it runs on nodes, per node"),
  devices: z.array(target).default([]).describe("where it runs on devices, per device"),
  version: z.string().optional().describe("ExternalDevice: the software version found"),
});

export type Condition = z.output<typeof condition>;
export type Status = z.output<typeof status>;
