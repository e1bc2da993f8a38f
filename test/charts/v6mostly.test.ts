// The Helm chart renders as `helm template` renders it (test/helm: helm-render, and the real helm
// v3.17.2 where the peer is fetched), with default values and with a values file that sets every
// field; its values.yaml satisfies the generated schema; the output applies to a real API server
// (server-side dry run, then for real).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import { chartValues } from "../../src/api/chart.ts";
import { repoRoot } from "../../src/api/gen.ts";
import { KIND_NAMES, KINDS } from "../../src/api/resources.ts";
import { OPERATOR_ACCOUNT, webhookPolicyRules } from "../../src/operator/manifests/rbac.ts";
import { KubeClient, type KubeObject } from "../../src/operator/runtime/client.ts";
import { WEBHOOK_CONFIGURATION, WEBHOOK_SECRET } from "../../src/operator/webhook/configuration.ts";
import { fromSecret } from "../../src/operator/webhook/secret.ts";
import {
  type ControlPlane,
  controlPlaneAvailable,
  serviceAccount,
  startControlPlane,
} from "../cluster/controlplane.ts";
import { helmPeer, helmRender, type RenderedDocument, renderChart, templateArgs } from "../helm/render.ts";
import { applyAll, resourceOf } from "../operator/support/apply.ts";

const CHART = join(repoRoot, "charts", "v6mostly");
const render = helmRender();
const helmSkip = "skip" in render ? render.skip : undefined;
const peer = helmPeer();

/** Every field set to something other than its default. */
const FULL = {
  image: { repository: "registry.example/v6mostly", tag: "9.9.9", digest: "", pullPolicy: "Always" },
  imagePullSecrets: [{ name: "regcred" }],
  crds: { enabled: true, keep: false },
  operator: {
    replicas: 3,
    resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
    nodeSelector: { "node-role.kubernetes.io/control-plane": "true" },
    tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }],
    priorityClassName: "system-cluster-critical",
    leaseDuration: 30,
    logLevel: "debug",
  },
  webhook: { enabled: true, failurePolicy: "Fail" },
  agent: {
    nodeSelector: { "v6mostly.dev/router": "true" },
    tolerations: [{ key: "dedicated", operator: "Equal", value: "router", effect: "NoExecute" }],
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
    priorityClassName: "",
    statusPort: 9555,
    logLevel: "warn",
  },
};

type OperatorDeployment = {
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: {
          args: string[];
          ports: { name: string; containerPort: number; protocol: string }[];
          readinessProbe: { httpGet: unknown };
        }[];
      };
    };
  };
};

const kinds = (docs: RenderedDocument[]) =>
  docs.map((d) => `${(d.object as KubeObject).kind}/${(d.object as KubeObject).metadata.name}`);
const find = (docs: RenderedDocument[], kind: string, name: string) =>
  docs.find((d) => (d.object as KubeObject).kind === kind && (d.object as KubeObject).metadata.name === name)
    ?.object as KubeObject & { spec: Record<string, unknown>; data?: Record<string, string> };

describe("charts/v6mostly", { skip: helmSkip }, () => {
  it("values.yaml satisfies the values schema (src/api/chart.ts) and FULL covers every field", () => {
    const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8"));
    const r = chartValues.safeParse(values);
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    assert.ok(chartValues.safeParse(FULL).success);
    const leaves = (o: unknown, p = ""): string[] =>
      typeof o === "object" && o !== null && !Array.isArray(o)
        ? Object.entries(o).flatMap(([k, v]) =>
            typeof v === "object" &&
            v !== null &&
            !Array.isArray(v) &&
            Object.keys(v).length &&
            !["resources", "nodeSelector", "requests", "limits"].includes(k)
              ? leaves(v, `${p}${k}.`)
              : [`${p}${k}`],
          )
        : [];
    assert.deepEqual(
      leaves(FULL).sort(),
      leaves(values).sort(),
      "the full values file sets every field of values.yaml",
    );
  });

  it("renders with default values: CRDs kept, RBAC, the operator Deployment, the agent's configuration, NOTES", async () => {
    const r = await renderChart(CHART, { release: "v6", namespace: "v6mostly-system" });
    const names = kinds(r.documents);
    for (const want of [
      "CustomResourceDefinition/nat64gateways.v6mostly.dev",
      "CustomResourceDefinition/nodeconfigs.v6mostly.dev",
      "ServiceAccount/v6mostly-operator",
      "ServiceAccount/v6mostly-agent",
      "ClusterRole/v6mostly-operator",
      "Role/v6mostly-agent",
      "ConfigMap/v6mostly-agent",
      "Deployment/v6mostly-operator",
      "Service/v6mostly-webhook",
      "ValidatingWebhookConfiguration/v6mostly-webhook",
      "ClusterRole/v6mostly-operator-webhook",
      "Role/v6mostly-operator-webhook",
    ]) {
      assert.ok(names.includes(want), `${want} in ${names.join(", ")}`);
    }
    const crd = find(r.documents, "CustomResourceDefinition", "nat64gateways.v6mostly.dev");
    assert.deepEqual(crd.metadata.annotations, { "helm.sh/resource-policy": "keep" });
    const d = find(r.documents, "Deployment", "v6mostly-operator") as KubeObject & {
      spec: {
        replicas: number;
        template: { spec: { containers: { image: string; args: string[]; securityContext: object }[] } };
      };
    };
    assert.equal(d.spec.replicas, 2);
    const c = d.spec.template.spec.containers[0]!;
    assert.equal(c.image, "localhost/v6mostly:0.1.0");
    assert.ok(c.args.includes("--agent-image=localhost/v6mostly:0.1.0"));
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    const agent = parse(find(r.documents, "ConfigMap", "v6mostly-agent").data!["agent.yaml"]!);
    assert.deepEqual(agent.tolerations, [{ operator: "Exists" }]);
    assert.equal(agent.priorityClassName, "system-node-critical");
    assert.match(r.notes, /kubectl -n home get nat64gateways/);
    assert.match(r.notes, /pod-security\.kubernetes\.io\/enforce:\s+privileged/);
    assert.match(r.notes, /admission webhook \(failurePolicy Ignore\)/);
  });

  it("the webhook: a Service from 443 to the operator's 9443, a configuration without caBundle, its RBAC; all gone with webhook.enabled=false", async () => {
    const r = await renderChart(CHART, { release: "v6", namespace: "v6mostly-system" });
    const d = find(r.documents, "Deployment", "v6mostly-operator") as unknown as OperatorDeployment;
    const pod = d.spec.template;
    const c = pod.spec.containers[0]!;
    assert.ok(c.args.includes("--webhook-address=:9443"), c.args.join(" "));
    assert.ok(
      !c.args.some((a) => a.startsWith("--webhook-manage-config")),
      "the chart owns the configuration",
    );
    assert.deepEqual(
      c.ports.find((p) => p.name === "webhook"),
      { name: "webhook", containerPort: 9443, protocol: "TCP" },
    );
    assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
    const svc = find(r.documents, "Service", "v6mostly-webhook") as unknown as {
      metadata: { namespace: string };
      spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
    };
    assert.equal(svc.metadata.namespace, "v6mostly-system");
    assert.deepEqual(
      svc.spec.ports.map((p) => [p.port, p.targetPort]),
      [[443, "webhook"]],
    );
    for (const [k, v] of Object.entries(svc.spec.selector))
      assert.equal(pod.metadata.labels[k], v, `the Service selects the operator's pods by ${k}`);
    const vwc = find(r.documents, "ValidatingWebhookConfiguration", "v6mostly-webhook") as unknown as {
      webhooks: {
        name: string;
        clientConfig: { caBundle?: string; service: Record<string, unknown> };
        failurePolicy: string;
        rules: { resources: string[]; operations: string[] }[];
      }[];
    };
    const hook = vwc.webhooks[0]!;
    assert.equal(hook.name, "validate.v6mostly.dev");
    assert.equal(hook.clientConfig.caBundle, undefined, "the operator writes the caBundle, never the chart");
    assert.deepEqual(hook.clientConfig.service, {
      namespace: "v6mostly-system",
      name: "v6mostly-webhook",
      path: "/validate",
      port: 443,
    });
    assert.equal(hook.failurePolicy, "Ignore");
    assert.deepEqual(hook.rules[0]!.operations, ["CREATE", "UPDATE"]);
    assert.deepEqual(hook.rules[0]!.resources.sort(), KIND_NAMES.map((k) => KINDS[k].plural).sort());
    // the webhook's RBAC: by name, bound to the operator
    const role = find(r.documents, "ClusterRole", "v6mostly-operator-webhook") as unknown as {
      rules: { resourceNames?: string[]; verbs: string[] }[];
    };
    assert.deepEqual(role.rules, webhookPolicyRules().cluster);

    const full = await renderChart(CHART, { release: "v6", namespace: "net", values: [FULL] });
    const fullHook = find(
      full.documents,
      "ValidatingWebhookConfiguration",
      "v6mostly-webhook",
    ) as unknown as {
      webhooks: { failurePolicy: string; clientConfig: { service: { namespace: string } } }[];
    };
    assert.equal(fullHook.webhooks[0]!.failurePolicy, "Fail");
    assert.equal(fullHook.webhooks[0]!.clientConfig.service.namespace, "net");
    assert.match(full.notes, /failurePolicy Fail/);

    const off = await renderChart(CHART, { release: "v6", set: ["webhook.enabled=false"] });
    const names = kinds(off.documents);
    for (const gone of [
      "Service/v6mostly-webhook",
      "ValidatingWebhookConfiguration/v6mostly-webhook",
      "ClusterRole/v6mostly-operator-webhook",
      "ClusterRoleBinding/v6mostly-operator-webhook",
      "Role/v6mostly-operator-webhook",
      "RoleBinding/v6mostly-operator-webhook",
    ])
      assert.ok(!names.includes(gone), `${gone} with webhook.enabled=false`);
    const offContainer = (
      find(off.documents, "Deployment", "v6mostly-operator") as unknown as OperatorDeployment
    ).spec.template.spec.containers[0]!;
    assert.ok(offContainer.args.includes("--webhook-address=off"));
    assert.equal(
      offContainer.ports.find((p) => p.name === "webhook"),
      undefined,
    );
    assert.match(off.notes, /webhook\.enabled is false/);
  });

  it("renders every value of a full values file where it belongs", async () => {
    const r = await renderChart(CHART, { release: "v6", namespace: "net", values: [FULL] });
    const crd = find(r.documents, "CustomResourceDefinition", "dhcpscopes.v6mostly.dev");
    assert.equal(crd.metadata.annotations, null, "crds.keep false: no keep annotation");
    const d = find(r.documents, "Deployment", "v6mostly-operator") as KubeObject & {
      spec: {
        replicas: number;
        template: {
          spec: {
            priorityClassName: string;
            imagePullSecrets: unknown;
            nodeSelector: unknown;
            tolerations: unknown;
            containers: {
              image: string;
              imagePullPolicy: string;
              args: string[];
              env: { name: string; value?: string }[];
              resources: unknown;
            }[];
          };
        };
      };
    };
    const pod = d.spec.template.spec;
    const c = pod.containers[0]!;
    assert.equal(d.spec.replicas, 3);
    assert.equal(c.image, "registry.example/v6mostly:9.9.9");
    assert.equal(c.imagePullPolicy, "Always");
    assert.ok(c.args.includes("--lease-duration=30"));
    assert.equal(c.env.find((e) => e.name === "V6MOSTLY_LOG_LEVEL")?.value, "debug");
    assert.deepEqual(c.resources, FULL.operator.resources);
    assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
    assert.deepEqual(pod.nodeSelector, FULL.operator.nodeSelector);
    assert.deepEqual(pod.tolerations, FULL.operator.tolerations);
    assert.equal(pod.priorityClassName, "system-cluster-critical");
    const agent = parse(find(r.documents, "ConfigMap", "v6mostly-agent").data!["agent.yaml"]!);
    assert.deepEqual(agent, {
      imagePullPolicy: "Always",
      statusPort: 9555,
      logLevel: "warn",
      serviceAccountName: "v6mostly-agent",
      nodeSelector: FULL.agent.nodeSelector,
      tolerations: FULL.agent.tolerations,
      resources: FULL.agent.resources,
    });
    // a digest wins over the tag
    const pinned = await renderChart(CHART, {
      release: "v6",
      values: [FULL],
      set: ["image.digest=sha256:0123"],
    });
    const pc = (
      find(pinned.documents, "Deployment", "v6mostly-operator") as unknown as {
        spec: { template: { spec: { containers: { image: string }[] } } };
      }
    ).spec.template.spec.containers[0]!;
    assert.equal(pc.image, "registry.example/v6mostly@sha256:0123");
    // crds.enabled false: no CRD at all
    const none = await renderChart(CHART, { release: "v6", set: ["crds.enabled=false"] });
    assert.ok(!kinds(none.documents).some((k) => k.startsWith("CustomResourceDefinition/")));
  });

  it("renders byte for byte as the real helm v3.17.2 does (default and full values)", {
    skip: "skip" in peer ? peer.skip : undefined,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), "v6m-chart-"));
    try {
      for (const values of [[], [FULL]]) {
        const args = [
          ...templateArgs(CHART, { release: "v6", namespace: "net", values, kubeVersion: "v1.30.0" }, dir),
        ];
        const ours = execFileSync("path" in render ? render.path : "", args, { encoding: "utf8" });
        const theirs = execFileSync("path" in peer ? peer.path : "", args, { encoding: "utf8" });
        assert.equal(ours, theirs);
        assert.ok(ours.includes("kind: Deployment"));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses values the schema refuses, naming the field", async () => {
    await assert.rejects(
      renderChart(CHART, { release: "v6", set: ["operator.replicas=0"] }),
      /operator\.replicas|replicas/,
    );
    await assert.rejects(
      renderChart(CHART, { release: "v6", set: ["image.pullPolicy=Sometimes"] }),
      /pullPolicy/,
    );
  });
});

describe("charts/v6mostly on a real API server", { skip: helmSkip ?? controlPlaneAvailable() }, () => {
  let cp: ControlPlane;
  let client: KubeClient;
  before(async () => {
    cp = await startControlPlane({ name: "chart" });
    client = await KubeClient.load(cp.kubeconfig);
  });
  after(() => cp?.stop());

  for (const [label, values] of [
    ["default values", []],
    ["the full values file", [FULL]],
  ] as const) {
    it(`applies cleanly with ${label}: server-side dry run, then for real`, async () => {
      const ns = label === "default values" ? "v6mostly-system" : "net";
      await applyAll(client, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }]);
      const r = await renderChart(CHART, { release: "v6", namespace: ns, values: [...values] });
      const objects = r.documents.map((d) => d.object as KubeObject);
      // CRDs first for real (the dry run of a custom object needs its CRD), then everything dry, then for real
      for (const o of objects) {
        const kind = String(o.kind);
        if (kind === "CustomResourceDefinition") continue;
        await client
          .apply(resourceOf(kind), o, { fieldManager: "helm-test", dryRun: true })
          .catch((e: Error) => {
            throw new Error(`dry run of ${kind}/${o.metadata.name}: ${e.message}`);
          });
      }
      for (const o of objects)
        await client.apply(resourceOf(String(o.kind)), o, { fieldManager: "helm-test" });
    });
  }

  it("the operator, with only the chart's RBAC, makes its certificate Secret and puts its CA in the chart's configuration", async () => {
    const ns = "v6mostly-webhook";
    await applyAll(client, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }]);
    const r = await renderChart(CHART, { release: "v6", namespace: ns });
    for (const d of r.documents) {
      const o = d.object as KubeObject;
      await client.apply(resourceOf(String(o.kind)), o, { fieldManager: "helm-test" });
    }
    const node = await cp.addNodeNamespace("chart-operator");
    const op = cp.spawn(
      "chart-operator",
      [
        process.execPath,
        "--import",
        "tsx",
        "src/cli/main.ts",
        "operator",
        // the chart's arguments that matter here (no Deployment runs: no kubelet)
        "--namespace",
        ns,
        "--agent-image",
        "localhost/v6mostly:test",
        "--status-address",
        "off",
        "--webhook-address",
        ":9443",
      ],
      {
        ns: node.netns,
        cwd: repoRoot,
        env: { KUBECONFIG: cp.kubeconfigAs(serviceAccount(ns, OPERATOR_ACCOUNT), node.netns) },
      },
    );
    try {
      const configuration = resourceOf("ValidatingWebhookConfiguration");
      const end = Date.now() + 60_000;
      for (;;) {
        const secret = await client.find<KubeObject & { data?: Record<string, string> }>(
          resourceOf("Secret"),
          ns,
          WEBHOOK_SECRET,
        );
        const vwc = await client.find<KubeObject & { webhooks: { clientConfig: { caBundle?: string } }[] }>(
          configuration,
          undefined,
          WEBHOOK_CONFIGURATION,
        );
        const ca = secret ? fromSecret(secret).caCert : undefined;
        const bundle = vwc?.webhooks[0]?.clientConfig.caBundle;
        if (ca && bundle && Buffer.from(bundle, "base64").toString("utf8") === ca) break;
        if (Date.now() > end)
          assert.fail(
            `no caBundle from the Secret ${WEBHOOK_SECRET} in ${WEBHOOK_CONFIGURATION} after 60 s (Secret ${secret ? "made" : "absent"}); the operator's log:\n${readFileSync(op.log, "utf8")}`,
          );
        await sleep(250);
      }
      // An RBAC refusal is an ApiError logged with status 403 and reason Forbidden. A bare /403/
      // matched the hex of a certificate's serial number in CI.
      assert.doesNotMatch(
        readFileSync(op.log, "utf8"),
        /"status":403\b|forbidden/i,
        "no request refused by RBAC",
      );
    } finally {
      await op.stop();
    }
  });
});
