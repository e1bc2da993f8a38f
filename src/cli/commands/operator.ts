// `v6mostly operator`: the cluster's control plane half (a Deployment; several replicas, one leads).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parse } from "yaml";
import { startStatusServer } from "../../agent/status.ts";
import { Operator } from "../../operator/index.ts";
import type { AgentTemplate } from "../../operator/manifests/agent.ts";
import { KubeClient } from "../../operator/runtime/client.ts";
import { type FailurePolicy, webhookUrlProblem } from "../../operator/webhook/configuration.ts";
import { Webhook } from "../../operator/webhook/index.ts";
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
resource's status from the plan and the agents' reports (kubectl get nat64gateways).

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
        statusAddress: string;
        webhookAddress: string;
        webhookUrl?: string;
        webhookHost?: string[];
        webhookManageConfig?: boolean;
        webhookFailurePolicy: string;
      }) => {
        const log = createLogger("v6mostly-operator");
        let agent: AgentTemplate;
        try {
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
        const client = KubeClient.load(opts.kubeconfig);
        const server = opts.statusAddress === "off" ? undefined : await startStatusServer(opts.statusAddress);
        const operator = new Operator({
          client,
          namespace: opts.namespace,
          log,
          agent,
          leaderElection: opts.leaderElect ? undefined : false,
          onLostLeadership: () => {
            // as controller-runtime: a replica that lost the lease exits and starts clean
            log.error("lost leadership; exiting");
            process.exit(1);
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
              });
        server?.setReadiness(() => ({
          ready: webhook?.serving ?? true,
          detail: { leader: operator.isLeader, webhook: webhook?.serving },
        }));
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
