// `v6mostly render fortios|iosxe -f PATH... [--version V] [--format cli|requests] [--device NAME]`
import type { Command } from "commander";
import { formatProblem, validatePaths } from "../../api/validate.ts";
import { cliOrder, renderFortiCli } from "../../devices/fortios/render.ts";
import { renderIosxeCli } from "../../devices/iosxe/render.ts";
import type { Diagnostic } from "../../devices/model.ts";
import { order } from "../../devices/model.ts";
import { formatRequests, fortiRequests, iosxeRequests, iosxeSshSession } from "../../devices/requests.ts";
import { devicesOf, renderDevice } from "../../devices/targets.ts";
import { parseVersion } from "../../devices/version.ts";

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.severity}: ${d.subject}: ${d.message}`;
}

export function register(program: Command): void {
  program
    .command("render")
    .description(
      "print the configuration an ExternalDevice needs for the resources placed on it, without touching the box",
    )
    .argument("<vendor>", "fortios or iosxe")
    .requiredOption("-f, --filename <path...>", "YAML/JSON files or folders")
    .option(
      "--version <version>",
      "render for this software version (default: the ExternalDevice's spec.version)",
    )
    .option(
      "--format <format>",
      "cli (what an engineer types), requests (the REST/RESTCONF requests apply sends) or ssh (iosxe: an SSH session with a revert timer)",
      "cli",
    )
    .option("--device <name>", "only this ExternalDevice")
    .addHelpText(
      "after",
      `
Warnings and notes go to standard error; standard output is the configuration alone.
Interfaces are matched from the ExternalDevice's spec.interfaces; \`v6mostly device plan\` reads them from the box.

Examples:
  v6mostly render fortios -f examples/seed/
  v6mostly render iosxe -f examples/seed/ --version 17.9.1 --format requests`,
    )
    .action(
      (vendor: string, opts: { filename: string[]; version?: string; format: string; device?: string }) => {
        if (vendor !== "fortios" && vendor !== "iosxe")
          throw new Error(`vendor must be fortios or iosxe, not "${vendor}"`);
        if (opts.format !== "cli" && opts.format !== "requests" && opts.format !== "ssh")
          throw new Error(`--format must be cli, requests or ssh, not "${opts.format}"`);
        if (opts.format === "ssh" && vendor !== "iosxe") throw new Error("--format ssh is for iosxe");
        if (opts.version !== undefined) parseVersion(opts.version, "--version");
        const { resources, problems } = validatePaths(opts.filename);
        for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
        if (problems.some((p) => p.severity === "error")) {
          process.exitCode = 1;
          return;
        }
        const { devices, problems: placement } = devicesOf(resources);
        for (const p of placement) process.stderr.write(`warning: ${p}\n`);
        const chosen = devices.filter(
          (d) => d.spec.vendor === vendor && (!opts.device || d.name === opts.device),
        );
        if (chosen.length === 0) {
          process.stderr.write(
            `no ExternalDevice with vendor ${vendor}${opts.device ? ` named ${opts.device}` : ""} in ${opts.filename.join(", ")}\n`,
          );
          process.exitCode = 1;
          return;
        }
        let failed = false;
        for (const d of chosen) {
          const r = renderDevice(d, opts.version);
          process.stderr.write(
            `# ExternalDevice/${d.name}: ${vendor} ${r.version}, ${r.objects.length} object(s)\n`,
          );
          // The CLI text is typed by an engineer: what only stops sending it through the box's API
          // (no CLI RPC before IOS-XE 17.9.1) does not concern it.
          const diagnostics =
            opts.format === "requests" ? r.diagnostics : r.diagnostics.filter((x) => !x.apiOnly);
          for (const x of diagnostics) process.stderr.write(`${formatDiagnostic(x)}\n`);
          if (diagnostics.some((x) => x.severity === "error")) failed = true;
          let text: string;
          if (opts.format === "cli")
            text =
              vendor === "fortios" ? renderFortiCli(cliOrder(order(r.objects))) : renderIosxeCli(r.objects);
          else if (opts.format === "ssh") text = iosxeSshSession(renderIosxeCli(r.objects));
          else
            text = `${formatRequests(vendor === "fortios" ? fortiRequests(r.objects, d.spec.vdom ?? "root") : iosxeRequests(r.objects), d.spec)}\n`;
          process.stdout.write(text);
        }
        if (failed) process.exitCode = 1;
      },
    );
}
