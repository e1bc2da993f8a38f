// The Helm chart's values (charts/v6mostly/values.yaml) as a zod schema: `npm run gen` writes
// values.schema.json from it (Helm checks values against it at install), and a test checks that
// values.yaml satisfies it. Field names follow the charts people already use (MetalLB,
// cert-manager): image.repository/tag/digest/pullPolicy, crds.enabled/keep, per-component
// replicas, resources, nodeSelector, tolerations.
import { z } from "zod";

const quantity = z.union([z.string(), z.number()]);
const resources = z
  .strictObject({
    requests: z.record(z.string(), quantity).optional(),
    limits: z.record(z.string(), quantity).optional(),
  })
  .describe("container resources (requests and limits)");
const toleration = z.looseObject({
  key: z.string().optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute", ""]).optional(),
  tolerationSeconds: z.number().int().optional(),
});
const labels = z.record(z.string(), z.string());
const logLevel = z.enum(["trace", "debug", "info", "warn", "error"]);

export const chartValues = z.strictObject({
  image: z
    .strictObject({
      repository: z
        .string()
        .min(1)
        .describe("the image's repository (build it from the Dockerfile; see the README)"),
      tag: z.string().describe("empty: the chart's appVersion"),
      digest: z.string().describe("sha256:...; when set it is used instead of the tag"),
      pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]),
    })
    .describe("one image runs the operator and the agents"),
  imagePullSecrets: z.array(z.strictObject({ name: z.string() })),
  crds: z
    .strictObject({
      enabled: z
        .boolean()
        .describe("install the CRDs with the chart (Helm never upgrades a chart's crds/ folder)"),
      keep: z
        .boolean()
        .describe("helm.sh/resource-policy: keep: uninstalling leaves the CRDs and your resources"),
    })
    .describe("the CustomResourceDefinitions"),
  operator: z.strictObject({
    replicas: z.number().int().min(1).describe("one leads (a Lease); the others take over when it dies"),
    resources,
    nodeSelector: labels,
    tolerations: z.array(toleration),
    priorityClassName: z.string(),
    leaseDuration: z
      .number()
      .int()
      .min(2)
      .describe("seconds: a standby takes over this long after the leader stops"),
    logLevel,
  }),
  webhook: z
    .strictObject({
      enabled: z
        .boolean()
        .describe(
          "the validating admission webhook: kubectl apply of an invalid resource is refused with validate's message",
        ),
      failurePolicy: z
        .enum(["Ignore", "Fail"])
        .describe(
          "Ignore: while no operator replica answers, resources get in unchecked (the operator marks an invalid one Ready=False Invalid); Fail: no create or update of the five kinds then",
        ),
    })
    .describe(
      "served by every operator replica on port 9443 behind the Service v6mostly-webhook; the operator keeps its own CA in the Secret v6mostly-webhook-tls and puts it in the configuration's caBundle",
    ),
  agent: z.strictObject({
    nodeSelector: labels.describe(
      "nodes the agent may run on at all; the resources' nodeSelectors choose among them",
    ),
    tolerations: z.array(toleration),
    resources,
    priorityClassName: z.string(),
    statusPort: z.number().int().min(1).max(65535).describe("/metrics, /healthz, /readyz on the node"),
    logLevel,
  }),
});

export type ChartValues = z.output<typeof chartValues>;
