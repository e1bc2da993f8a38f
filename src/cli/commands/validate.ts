// `v6mostly validate -f PATH...`
import type { Command } from "commander";
import { checkPaths, formatProblem } from "../../api/validate.ts";

export function register(program: Command): void {
  program
    .command("validate")
    .description(
      "check resource files: every problem, one line each, naming file#document, kind/name and field",
    )
    .requiredOption(
      "-f, --filename <path...>",
      "YAML/JSON files or folders (several documents per file allowed)",
    )
    .option("-q, --quiet", "print nothing when valid")
    .addHelpText(
      "after",
      `
Exit status: 0 when every resource is valid, 1 when any problem is found.

Examples:
  v6mostly validate -f home.yaml
  v6mostly validate -f examples/        # every .yaml, .yml and .json below the folder

Output names the file, the document number inside it, the resource and the field:
  home.yaml#2 Nat64Gateway/home spec.prefix: /72 is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)`,
    )
    .action((opts: { filename: string[]; quiet?: boolean }) => {
      // resources are counted, not kept: a large file needs memory only for the checks between them
      const byKind = new Map<string, number>();
      const problems = checkPaths(opts.filename, (r) => byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1));
      for (const p of problems)
        (p.severity === "error" ? process.stdout : process.stderr).write(`${formatProblem(p)}\n`);
      const errors = problems.filter((p) => p.severity === "error").length;
      if (errors > 0) {
        process.stderr.write(`${errors} problem${errors === 1 ? "" : "s"} found\n`);
        process.exitCode = 1;
      } else if (!opts.quiet) {
        const summary = [...byKind].map(([k, n]) => `${n} ${k}`).join(", ") || "no resources";
        process.stdout.write(`valid: ${summary}\n`);
      }
    });
}
