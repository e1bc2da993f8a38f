// `v6mostly run -f PATH... [--state-dir DIR]`: standalone mode, the embedded default.
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { NodeRuntime } from "../../agent/runtime.ts";
import { starters } from "../../agent/service.ts";
import { DEFAULT_STATUS_ADDRESS, type StatusServer, startStatusServer } from "../../agent/status.ts";
import { formatProblem, validatePaths } from "../../api/validate.ts";
import { localNode } from "../../planner/nodes.ts";
import { type Plan, plan } from "../../planner/plan.ts";
import { createLogger } from "../../util/log.ts";

export function defaultStateDir(): string {
  return process.getuid?.() === 0 ? "/var/lib/v6mostly" : join(homedir(), ".local", "state", "v6mostly");
}

export function register(program: Command): void {
  program
    .command("run")
    .description("standalone mode: run every node-side resource in the files on this host until SIGTERM")
    .requiredOption("-f, --filename <path...>", "YAML/JSON files or folders")
    .option(
      "--state-dir <dir>",
      "where state that survives restarts is kept (DHCP leases)",
      defaultStateDir(),
    )
    .option("--node-name <name>", "this host's name in logs and plans", localNode().name)
    .option(
      "--status-address <addr>",
      "where /metrics, /healthz, /readyz and /translations are served; 'off' for none",
      DEFAULT_STATUS_ADDRESS,
    )
    .addHelpText(
      "after",
      `
Resources with a deviceRef are not run here (use \`v6mostly device apply\`). Everything else runs
on this host; nodeSelector is ignored. Most services need root or CAP_NET_ADMIN/CAP_NET_RAW.

Signals: SIGTERM or Ctrl-C stops every service cleanly (the RA sender sends a final RA with router
lifetime 0); SIGHUP re-reads the files and applies the difference without restarting what did
not change.

Logs are JSON lines on standard error (pino); V6MOSTLY_LOG_LEVEL=debug for more.

Example:
  sudo v6mostly run -f /etc/v6mostly/home.yaml --state-dir /var/lib/v6mostly`,
    )
    .action(
      async (opts: { filename: string[]; stateDir: string; nodeName: string; statusAddress: string }) => {
        const log = createLogger("v6mostly");
        const load = (): Plan | undefined => {
          const { resources, problems } = validatePaths(opts.filename);
          for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
          if (problems.some((p) => p.severity === "error")) return undefined;
          const result = plan(resources, { standaloneNode: opts.nodeName });
          for (const c of result.conflicts) {
            process.stderr.write(`${c.source.file}#${c.source.doc} ${c.resource}: conflict: ${c.message}\n`);
          }
          if (result.conflicts.length > 0) return undefined;
          for (const d of result.devices) {
            for (const a of d.assignments) {
              log.info(
                { resource: `${a.kind}/${a.name}`, device: d.name },
                "runs on an ExternalDevice; not started here",
              );
            }
          }
          return result;
        };
        const first = load();
        if (!first) {
          process.stderr.write("nothing started: fix the problems above\n");
          process.exitCode = 1;
          return;
        }
        mkdirSync(opts.stateDir, { recursive: true });
        let server: StatusServer | undefined;
        if (opts.statusAddress !== "off") {
          try {
            server = await startStatusServer(opts.statusAddress);
          } catch (e) {
            process.stderr.write(
              `cannot serve status on ${opts.statusAddress}: ${(e as Error).message} (choose another with --status-address, or 'off')\n`,
            );
            process.exitCode = 1;
            return;
          }
          log.info({ address: server.address() }, "status server: /metrics /healthz /readyz /translations");
        }
        const runtime = new NodeRuntime(await starters(), { log, stateDir: opts.stateDir }, server);
        await runtime.apply(first.nodes[0]!.assignments);
        const status = runtime.status();
        // ready while every service of the plan runs; follows reloads and services that stop
        server?.setReadiness(() => {
          const now = runtime.status();
          return {
            ready: now.every((s) => s.running),
            detail: now.map((s) => ({ resource: s.resource, running: s.running, error: s.error })),
          };
        });
        if (status.length > 0 && status.every((s) => !s.running)) {
          log.error("no service could start");
          await runtime.stopAll();
          await server?.close();
          process.exitCode = 1;
          return;
        }
        log.info(
          { running: status.filter((s) => s.running).map((s) => s.resource) },
          "running; SIGHUP reloads, SIGTERM stops",
        );
        let busy = Promise.resolve();
        process.on("SIGHUP", () => {
          busy = busy.then(async () => {
            log.info("SIGHUP: reloading");
            const next = load();
            if (!next) {
              log.error("reload refused: the files have problems; the running services are unchanged");
              return;
            }
            await runtime.apply(next.nodes[0]!.assignments);
          });
        });
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            log.info({ signal }, "stopping");
            busy = busy
              .then(() => runtime.stopAll())
              .then(() => server?.close())
              .then(resolve);
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
        process.exit(process.exitCode ?? 0);
      },
    );
}
