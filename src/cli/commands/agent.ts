// `v6mostly agent`: the node half of cluster mode (a DaemonSet pod with hostNetwork).
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import type { Command } from "commander";
import { Agent } from "../../agent/index.ts";
import { starters } from "../../agent/starters.ts";
import { startStatusServer } from "../../agent/status.ts";
import { KubeClient } from "../../operator/runtime/client.ts";
import { createLogger } from "../../util/log.ts";
import { untilSignal } from "../signals.ts";

export function register(program: Command): void {
  program
    .command("agent")
    .description("cluster mode: run what this node's NodeConfig assigns, report it, withdraw it on SIGTERM")
    .option(
      "--kubeconfig <file>",
      "kubeconfig (default: KUBECONFIG, ~/.kube/config, or the pod's service account)",
    )
    .option("-n, --namespace <ns>", "the operator's namespace", process.env.POD_NAMESPACE ?? "v6mostly")
    .option(
      "--node-name <name>",
      "this node (default: NODE_NAME, set by the DaemonSet)",
      process.env.NODE_NAME ?? hostname(),
    )
    .option(
      "--state-dir <dir>",
      "state that survives restarts (DHCP leases, host plumbing)",
      "/var/lib/v6mostly",
    )
    .option(
      "--status-address <addr>",
      "where /metrics, /healthz, /readyz and /translations are served; 'off' for none",
      "127.0.0.1:9464",
    )
    .addHelpText(
      "after",
      `
Runs the same services as \`v6mostly run\`, fed by the NodeConfig the operator writes for this node
(kubectl get nodeconfig NODE -n NAMESPACE -o yaml shows both what it assigns and what the agent reports).
A service that cannot start is reported (NodeCapable=False on the resource) and retried with backoff.`,
    )
    .action(
      async (opts: {
        kubeconfig?: string;
        namespace: string;
        nodeName: string;
        stateDir: string;
        statusAddress: string;
      }) => {
        const log = createLogger("v6mostly-agent").child({ node: opts.nodeName });
        mkdirSync(opts.stateDir, { recursive: true });
        const client = await KubeClient.load(opts.kubeconfig);
        const server = opts.statusAddress === "off" ? undefined : await startStatusServer(opts.statusAddress);
        const agent = new Agent({
          client,
          namespace: opts.namespace,
          nodeName: opts.nodeName,
          stateDir: opts.stateDir,
          log,
          starters: await starters(),
          server,
          version: program.version() ?? "dev",
        });
        await agent.start();
        log.info({ namespace: opts.namespace, server: client.server }, "agent running");
        const signal = await untilSignal();
        log.info({ signal }, "withdrawing and stopping");
        await agent.stop();
        await server?.close();
        process.exit(0);
      },
    );
}
