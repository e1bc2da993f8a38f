// `v6mostly agent`: the node half of cluster mode (a DaemonSet pod with hostNetwork).
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import type { Command } from "commander";
import { Agent } from "../../agent/index.ts";
import { type HeldLock, lockStateDir, withInterfaceRoles } from "../../agent/lock.ts";
import { timingFor } from "../../agent/ownership/gate.ts";
import { starters } from "../../agent/starters.ts";
import { startStatusServer } from "../../agent/status.ts";
import { parseDuration } from "../../api/duration.ts";
import { CORE, KubeClient, type Owner } from "../../operator/runtime/client.ts";
import { ApiLeaseStore } from "../../services/dhcp4/storeapi.ts";
import { createLogger } from "../../util/log.ts";
import { settleLater } from "../resident.ts";
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
      "--owner-lease <duration>",
      "how long a node's claim on an owned resource (a DhcpScope, a DNS64's own addresses) lasts unrenewed: a dead node's are served elsewhere after about this long",
      "15s",
    )
    .option(
      "--owner-daemonset <name>",
      "the agent DaemonSet (in --namespace): owns the Leases and DHCP lease ConfigMaps this agent creates, so that deleting it (helm uninstall) removes them",
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
        ownerLease: string;
        ownerDaemonset?: string;
      }) => {
        const log = createLogger("v6mostly-agent").child({ node: opts.nodeName });
        mkdirSync(opts.stateDir, { recursive: true });
        const lease = parseDuration(opts.ownerLease);
        if (!lease.ok || lease.seconds < 3) {
          process.stderr.write(
            `--owner-lease ${opts.ownerLease}: ${lease.ok ? "at least 3s" : lease.error}\n`,
          );
          process.exit(2);
        }
        // one instance per state directory, as `run` (src/agent/lock.ts): a host path shared with a
        // `v6mostly run` on the same node is refused instead of served twice
        let lock: HeldLock;
        try {
          lock = lockStateDir(opts.stateDir, `v6mostly agent (node ${opts.nodeName})`);
        } catch (e) {
          process.stderr.write(`nothing started: ${(e as Error).message}\n`);
          process.exit(1);
        }
        const client = await KubeClient.load(opts.kubeconfig);
        let owner: Owner | undefined;
        if (opts.ownerDaemonset) {
          const ds = await client.get(CORE.daemonsets, opts.namespace, opts.ownerDaemonset);
          owner = {
            apiVersion: "apps/v1",
            kind: "DaemonSet",
            name: ds.metadata.name,
            uid: ds.metadata.uid ?? "",
          };
        }
        const server = opts.statusAddress === "off" ? undefined : await startStatusServer(opts.statusAddress);
        const agent = new Agent({
          client,
          namespace: opts.namespace,
          nodeName: opts.nodeName,
          stateDir: opts.stateDir,
          log,
          // an owned DhcpScope keeps its leases in the API, where the next owner reads them
          starters: withInterfaceRoles(
            await starters({
              dhcpStore: (a) =>
                a.owner
                  ? new ApiLeaseStore({
                      client,
                      namespace: opts.namespace,
                      scope: a,
                      identity: opts.nodeName,
                      log,
                      owner,
                    })
                  : undefined,
            }),
          ),
          ownership: { timing: timingFor(lease.seconds * 1000) },
          owner,
          server,
          version: program.version() ?? "dev",
        });
        await agent.start();
        log.info({ namespace: opts.namespace, server: client.server }, "agent running");
        // once started, give back the pages start-up touched (src/cli/resident.ts), as `run` does
        const settling = settleLater((s) => log.debug(s, "start-up memory given back"));
        const signal = await untilSignal();
        settling.stop();
        log.info({ signal }, "withdrawing and stopping");
        await agent.stop();
        await server?.close();
        lock.release();
        process.exit(0);
      },
    );
}
