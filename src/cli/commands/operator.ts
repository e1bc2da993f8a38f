// `v6mostly operator`: the cluster's control plane half (a Deployment; several replicas, one leads).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parse } from "yaml";
import { startStatusServer } from "../../agent/status.ts";
import { parseDuration } from "../../api/duration.ts";
import { Operator } from "../../operator/index.ts";
import type { AgentTemplate } from "../../operator/manifests/agent.ts";
import { KubeClient } from "../../operator/runtime/client.ts";
import { createLogger } from "../../util/log.ts";
import { untilSignal } from "../signals.ts";

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
        deviceResync: string;
        deviceCleanupTimeout: string;
        statusAddress: string;
      }) => {
        const log = createLogger("v6mostly-operator");
        let agent: AgentTemplate;
        let devices: { resyncMs: number; cleanupTimeoutMs: number };
        try {
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
        } catch (e) {
          process.stderr.write(`v6mostly operator: ${(e as Error).message}\n`);
          process.exitCode = 2;
          return;
        }
        const client = KubeClient.load(opts.kubeconfig);
        const server = opts.statusAddress === "off" ? undefined : await startStatusServer(opts.statusAddress);
        const operator = new Operator({
          client,
          namespace: opts.namespace,
          log,
          agent,
          leaderElection: opts.leaderElect ? leaseTimings(Number(opts.leaseDuration)) : false,
          devices: { ...devices, retryMs: Math.min(30_000, devices.resyncMs) },
          onLostLeadership: () => {
            // it stopped reconciling before the lease could pass to another replica; it keeps its
            // caches warm and campaigns again (an API server restart should not cost a pod restart)
            log.warn("lost leadership; standing by");
          },
        });
        server?.setReadiness(() => ({ ready: true, detail: { leader: operator.isLeader } }));
        await operator.start();
        log.info({ namespace: opts.namespace, server: client.server }, "operator running");
        const signal = await untilSignal();
        log.info({ signal }, "stopping");
        await operator.stop();
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
