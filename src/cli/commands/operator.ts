// `v6mostly operator`: the cluster's control plane half (a Deployment; several replicas, one leads).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parse } from "yaml";
import { startStatusServer } from "../../agent/status.ts";
import { parseDuration } from "../../api/duration.ts";
import { Operator, type OperatorOptions } from "../../operator/index.ts";
import type { AgentTemplate } from "../../operator/manifests/agent.ts";
import { operatorMetrics } from "../../operator/metrics.ts";
import { KubeClient, type Resource } from "../../operator/runtime/client.ts";
import { type FailurePolicy, webhookUrlProblem } from "../../operator/webhook/configuration.ts";
import { Webhook } from "../../operator/webhook/index.ts";
import { createLogger } from "../../util/log.ts";
import { untilSignal } from "../signals.ts";

const DEPLOYMENTS: Resource = {
  group: "apps",
  version: "v1",
  plural: "deployments",
  kind: "Deployment",
  namespaced: true,
};

export function register(program: Command): void {
  program
    .command("operator")
    .description(
      "cluster mode: reconcile the v6mostly resources into per-node configuration, agents and status",
    )
    .option(
      "--kubeconfig <file>",
      "kubeconfig (default: KUBECONFIG, ~/.kube/config, or the pod's service account)",
    )
    .option(
      "-n, --namespace <ns>",
      "the operator's namespace (NodeConfigs, agents, leader Lease)",
      process.env.POD_NAMESPACE ?? "v6mostly",
    )
    .option("--agent-image <image>", "the image the agent DaemonSet runs", process.env.V6MOSTLY_IMAGE)
    .option(
      "--agent-config <file>",
      "YAML or JSON: imagePullPolicy, resources, tolerations, nodeSelector, priorityClassName, statusPort, logLevel",
    )
    .option("--no-leader-elect", "run without a leader Lease (one replica only)")
    .option(
      "--owner-deployment <name>",
      "the operator's Deployment: what it creates (NodeConfigs, the agent DaemonSet) is owned by it and removed with it",
    )
    .option(
      "--lease-duration <seconds>",
      "leader Lease duration: a standby takes over this long after the leader stops renewing",
      "15",
    )
    .option(
      "--device-resync <duration>",
      "ExternalDevices in sync are read again this often (drift corrected)",
      "5m",
    )
    .option(
      "--device-cleanup-timeout <duration>",
      "a deleted ExternalDevice whose box cannot be reached is let go after this long, its configuration left on the box",
      "10m",
    )
    .option(
      "--status-address <addr>",
      "where /metrics, /healthz and /readyz are served; 'off' for none",
      "0.0.0.0:8080",
    )
    .option(
      "--webhook-address <addr>",
      "where the admission webhook listens (HTTPS, every replica); ':9443' is every address, IPv6 and IPv4; 'off' for none",
      ":9443",
    )
    .option("--webhook-url <url>", "the configuration calls this https URL, not the Service v6mostly-webhook")
    .option("--webhook-host <host...>", "more names or addresses for the webhook's certificate")
    .option(
      "--webhook-manage-config",
      "create and update the ValidatingWebhookConfiguration (otherwise only the caBundle of the chart's is kept current)",
    )
    .option(
      "--webhook-failure-policy <policy>",
      "Ignore (invalid objects get in while no replica answers; the operator marks them Invalid) or Fail (no create or update then)",
      "Ignore",
    )
    .addHelpText(
      "after",
      `
The operator never reaches into a node: it writes one NodeConfig per node (kubectl get nodeconfigs
-n NAMESPACE), keeps the agent DaemonSet on the nodes the resources select, and writes each
resource's status from the plan and the agents' reports (kubectl get nat64gateways). It configures
ExternalDevices itself, with the token or password of their credentialsSecretRef, and reads them
again every --device-resync; kubectl annotate externaldevice NAME v6mostly.dev/resync="$(date)"
--overwrite runs one now (a fixed Secret is also picked up at the next retry).

Example (outside a cluster, against the current kubeconfig context):
  v6mostly operator --namespace v6mostly --agent-image localhost/v6mostly:dev`,
    )
    .action(
      async (opts: {
        kubeconfig?: string;
        namespace: string;
        agentImage?: string;
        agentConfig?: string;
        leaderElect: boolean;
        leaseDuration: string;
        ownerDeployment?: string;
        deviceResync: string;
        deviceCleanupTimeout: string;
        statusAddress: string;
        webhookAddress: string;
        webhookUrl?: string;
        webhookHost?: string[];
        webhookManageConfig?: boolean;
        webhookFailurePolicy: string;
      }) => {
        const log = createLogger("v6mostly-operator");
        let agent: AgentTemplate;
        let devices: { resyncMs: number; cleanupTimeoutMs: number };
        let leaderElection: OperatorOptions["leaderElection"];
        try {
          leaderElection = opts.leaderElect ? leaseTimings(Number(opts.leaseDuration)) : false;
          devices = {
            resyncMs: durationMs("--device-resync", opts.deviceResync),
            cleanupTimeoutMs: durationMs("--device-cleanup-timeout", opts.deviceCleanupTimeout),
          };
          const extra = opts.agentConfig
            ? (parse(readFileSync(opts.agentConfig, "utf8")) as Partial<AgentTemplate>)
            : {};
          const image = opts.agentImage ?? extra.image;
          if (!image)
            throw new Error("--agent-image (or V6MOSTLY_IMAGE, or image in --agent-config) is required");
          agent = { ...extra, image };
          if (!["Ignore", "Fail"].includes(opts.webhookFailurePolicy))
            throw new Error(`--webhook-failure-policy is Ignore or Fail, not ${opts.webhookFailurePolicy}`);
          const urlProblem = opts.webhookUrl ? webhookUrlProblem(opts.webhookUrl) : undefined;
          if (urlProblem) throw new Error(`--webhook-url: ${urlProblem}`);
        } catch (e) {
          process.stderr.write(`v6mostly operator: ${(e as Error).message}\n`);
          process.exitCode = 2;
          return;
        }
        const client = await KubeClient.load(opts.kubeconfig);
        const server = opts.statusAddress === "off" ? undefined : await startStatusServer(opts.statusAddress);
        let owner: OperatorOptions["owner"];
        if (opts.ownerDeployment) {
          const d = await client.get(DEPLOYMENTS, opts.namespace, opts.ownerDeployment);
          owner = {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: d.metadata.name,
            uid: d.metadata.uid ?? "",
          };
        }
        const operator = new Operator({
          client,
          owner,
          namespace: opts.namespace,
          log,
          agent,
          leaderElection,
          devices: { ...devices, retryMs: Math.min(30_000, devices.resyncMs) },
          onLostLeadership: () => {
            // it stopped reconciling before the lease could pass to another replica; it keeps its
            // caches warm and campaigns again (an API server restart should not cost a pod restart)
            log.warn("lost leadership; standing by");
          },
        });
        const webhook =
          opts.webhookAddress === "off"
            ? undefined
            : new Webhook({
                client,
                namespace: opts.namespace,
                log,
                address: opts.webhookAddress,
                url: opts.webhookUrl,
                hosts: opts.webhookHost,
                manageConfig: opts.webhookManageConfig,
                failurePolicy: opts.webhookFailurePolicy as FailurePolicy,
                metrics: server?.metrics,
                owner,
              });
        server?.setReadiness(() => ({
          ready: webhook?.serving ?? true,
          detail: { leader: operator.isLeader, webhook: webhook?.serving },
        }));
        if (server) operatorMetrics(server.metrics, operator);
        // every replica serves the webhook, leader or not; reconciling does not wait for it
        webhook?.start().catch((e: Error) => {
          log.error({ err: e.message }, "the admission webhook cannot start");
          process.exit(1);
        });
        await operator.start();
        log.info({ namespace: opts.namespace, server: client.server }, "operator running");
        const signal = await untilSignal();
        log.info({ signal }, "stopping");
        await operator.stop();
        await webhook?.stop();
        await server?.close();
        process.exit(0);
      },
    );
}

function durationMs(flag: string, text: string): number {
  const d = parseDuration(text);
  if (!d.ok) throw new Error(`${flag}: ${d.error}`);
  if (d.seconds < 1) throw new Error(`${flag}: at least 1 second`);
  return d.seconds * 1000;
}

/** client-go's proportions: renew deadline 2/3 of the duration, retry every 2/15 of it. */
function leaseTimings(seconds: number): {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
} {
  if (!Number.isFinite(seconds) || seconds < 2) throw new Error("--lease-duration: at least 2 seconds");
  const ms = seconds * 1000;
  return {
    leaseDurationMs: ms,
    renewDeadlineMs: Math.floor((ms * 2) / 3),
    retryPeriodMs: Math.floor((ms * 2) / 15),
  };
}
