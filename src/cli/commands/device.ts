// `v6mostly device plan|apply -f PATH... [--device NAME] [--state-dir DIR] [-o table|json]`
import type { Command } from "commander";
import { formatProblem, validatePaths } from "../../api/validate.ts";
import { applyDevice, type DeviceRun, planDevice } from "../../devices/apply.ts";
import type { Change } from "../../devices/model.ts";
import { devicesOf } from "../../devices/targets.ts";
import { createLogger } from "../../util/log.ts";
import { formatDiagnostic } from "./render.ts";

function describeChange(c: Change): string {
  const id = c.object.id;
  if (c.op !== "update") return `  ${c.op === "create" ? "+" : "-"} ${id}`;
  const fields = c.fields.map((f) => `${f.field}: ${short(f.have)} -> ${short(f.want)}`).join("; ");
  return `  ~ ${id} (${fields})`;
}

function short(v: unknown): string {
  const t = JSON.stringify(v) ?? "absent";
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}

/** The device once, in the first line; what is said about the device itself below it goes without its name. */
export function formatRun(r: DeviceRun, verb: "plan" | "apply"): string {
  const self = `ExternalDevice/${r.device}`;
  const lines = [
    `${self}${r.version ? ` (${r.version})` : ""}: ${r.condition.reason}: ${r.condition.message}`,
  ];
  for (const d of r.diagnostics)
    lines.push(`  ${d.subject === self ? `${d.severity}: ${d.message}` : formatDiagnostic(d)}`);
  if (r.drift.length)
    lines.push(
      `  drift: ${r.drift.length} object(s) changed on the box since v6mostly set them${verb === "apply" ? " (corrected)" : ""}`,
    );
  const reached = ["InSync", "Applied", "Pending", "Drifted", "InvalidForDevice", "VerifyFailed"].includes(
    r.condition.reason,
  );
  if (r.changes.length === 0 && reached) lines.push("  no changes");
  else lines.push(...r.changes.map(describeChange));
  lines.push(`  ${r.requests} request(s)${verb === "apply" ? `, ${r.applied} change(s) applied` : ""}`);
  return lines.join("\n");
}

export function register(program: Command): void {
  const device = program
    .command("device")
    .description("read, diff and configure ExternalDevices (FortiGate, Cisco IOS-XE)");
  for (const verb of ["plan", "apply"] as const) {
    device
      .command(verb)
      .description(
        verb === "plan"
          ? "read each box and show what apply would change (GET only)"
          : "push the changes, save (IOS-XE) and verify",
      )
      .requiredOption("-f, --filename <path...>", "YAML/JSON files or folders")
      .option("--device <name>", "only this ExternalDevice")
      .option(
        "--state-dir <dir>",
        "where the ledger of objects v6mostly created is kept",
        "/var/lib/v6mostly",
      )
      .option("-o, --output <format>", "table or json", "table")
      .addHelpText(
        "after",
        `
Credentials come from the ExternalDevice's credentialsFile or credentialsEnv, never from the command line.
Exit status: 0 when every device is in sync (plan) or applied and verified (apply), 1 otherwise.`,
      )
      .action(async (opts: { filename: string[]; device?: string; stateDir: string; output: string }) => {
        const { resources, problems } = validatePaths(opts.filename);
        for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
        if (problems.some((p) => p.severity === "error")) {
          process.exitCode = 1;
          return;
        }
        const { devices } = devicesOf(resources);
        const chosen = devices.filter((d) => !opts.device || d.name === opts.device);
        if (chosen.length === 0) {
          process.stderr.write("no ExternalDevice to work on\n");
          process.exitCode = 1;
          return;
        }
        const log = createLogger("device");
        const runs: DeviceRun[] = [];
        for (const d of chosen) {
          const run =
            verb === "plan"
              ? await planDevice(d, { log, stateDir: opts.stateDir })
              : await applyDevice(d, { log, stateDir: opts.stateDir });
          runs.push(run);
        }
        process.stdout.write(
          opts.output === "json"
            ? `${JSON.stringify(runs, null, 2)}\n`
            : `${runs.map((r) => formatRun(r, verb)).join("\n\n")}\n`,
        );
        const ok = runs.every((r) =>
          verb === "plan" ? r.condition.reason === "InSync" : r.condition.status === "True",
        );
        if (!ok) process.exitCode = 1;
      });
  }
}
