// `v6mostly run -f PATH... [--state-dir DIR]`: standalone mode, the embedded default.
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { type HeldLock, lockStateDir, withInterfaceRoles } from "../../agent/lock.ts";
import { NodeRuntime, type ServiceStatus } from "../../agent/runtime.ts";
import { FileSource } from "../../agent/sources/files.ts";
import { starters } from "../../agent/starters.ts";
import { DEFAULT_STATUS_ADDRESS, type StatusServer, startStatusServer } from "../../agent/status.ts";
import { localNode } from "../../planner/nodes.ts";
import { createLogger } from "../../util/log.ts";
import { settleLater } from "../resident.ts";

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

A service that cannot start (an interface that is not up yet, a port in use) is retried with
backoff, from 1 s doubling to 5 min; /readyz says which and why meanwhile.

One instance per state directory: a second \`run\` with the same --state-dir exits 1 naming the
first one's PID. RA and DHCP serve an interface from one instance only (locks in /run/v6mostly):
in a second instance with another state directory they wait (InterfaceInUse), the rest runs.

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
        const source = new FileSource({
          paths: opts.filename,
          nodeName: opts.nodeName,
          log,
          report: (line) => process.stderr.write(`${line}\n`),
        });
        // Read the files before anything is opened: bad files start nothing.
        if (!source.load()) {
          process.stderr.write("nothing started: fix the problems above\n");
          process.exitCode = 1;
          return;
        }
        mkdirSync(opts.stateDir, { recursive: true });
        // One instance per state directory, from before anything is touched (src/agent/lock.ts).
        let lock: HeldLock;
        try {
          lock = lockStateDir(opts.stateDir, "v6mostly run");
        } catch (e) {
          process.stderr.write(`nothing started: ${(e as Error).message}\n`);
          process.exitCode = 1;
          return;
        }
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
        const runtime = new NodeRuntime(withInterfaceRoles(await starters()), {
          log,
          stateDir: opts.stateDir,
          server,
        });
        // ready while every service of the plan runs; follows reloads, failures and retries
        server?.setReadiness(() => readiness(runtime.status()));
        await source.start((assignments) => runtime.apply(assignments));
        // once started, give back the pages start-up touched (src/cli/resident.ts)
        const settling = settleLater((s) => log.debug(s, "start-up memory given back"));
        const status = runtime.status();
        log.info(
          {
            running: status.filter((s) => s.running).map((s) => s.resource),
            retrying: status.filter((s) => s.retryAt).map((s) => s.resource),
          },
          "running; SIGHUP reloads, SIGTERM stops",
        );
        process.on("SIGHUP", () => {
          log.info("SIGHUP: reloading");
          void source.reload().then((ok) => {
            settling.again();
            if (!ok) log.error("reload refused: the files have problems; the running services are unchanged");
          });
        });
        // Signal handlers do not keep Node's event loop alive: a run whose services hold no socket
        // (an EdgeTranslation is a table in the kernel) and no status server would exit here.
        const alive = setInterval(() => undefined, 1 << 30);
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            clearInterval(alive);
            settling.stop();
            log.info({ signal }, "stopping");
            void source
              .stop()
              .then(() => runtime.stopAll())
              .then(() => server?.close())
              .then(() => lock.release())
              .then(resolve);
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
        process.exit(process.exitCode ?? 0);
      },
    );
}

/** GET /readyz: ready when every assignment runs; each one's Ready condition otherwise. */
export function readiness(status: readonly ServiceStatus[]): { ready: boolean; detail: unknown } {
  return {
    ready: status.every((s) => s.running),
    detail: status.map((s) => {
      const ready = s.conditions[0]!;
      return s.running
        ? { resource: s.resource, running: true }
        : { resource: s.resource, running: false, reason: ready.reason, message: ready.message };
    }),
  };
}
