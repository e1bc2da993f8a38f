// The v6mostly command line. One file per command under ./commands.
import { Command } from "commander";
import { isMainModule } from "../util/main.ts";

type Register = (program: Command) => void;

/**
 * Each command's module, loaded on demand: `v6mostly run` does not load the operator's Kubernetes
 * client, the device drivers or the lab (tens of MiB of heap in a process that runs for months).
 */
const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  validate: () => import("./commands/validate.ts"),
  plan: () => import("./commands/plan.ts"),
  run: () => import("./commands/run.ts"),
  translations: () => import("./commands/translations.ts"),
  ra: () => import("./commands/ra.ts"),
  render: () => import("./commands/render.ts"),
  device: () => import("./commands/device.ts"),
  lab: () => import("./commands/lab.ts"),
  doctor: () => import("./commands/doctor.ts"),
  operator: () => import("./commands/operator.ts"),
  agent: () => import("./commands/agent.ts"),
};

/**
 * The program with the commands named in `only` (all of them by default; one when the command
 * line names it, so that only its modules load).
 */
export async function buildProgram(only: string[] = Object.keys(COMMANDS)): Promise<Command> {
  const program = new Command();
  program
    .name("v6mostly")
    .description(
      "An IPv6-mostly network as resources: NAT64/SIIT, DNS64, Router Advertisements with PREF64, DHCPv4 with option 108.",
    )
    .version("0.1.0")
    // `render --version 7.2.4` is the device software version: root options only before the subcommand
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      `
Resources (group v6mostly.dev/v1alpha1): Nat64Gateway, Dns64Resolver, RouterAdvert, DhcpScope, ExternalDevice.
Start with: v6mostly validate -f examples/single-host.yaml`,
    );
  const modules = await Promise.all(only.map((name) => COMMANDS[name]!()));
  for (const m of modules) m.register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    // The first argument that is not an option names the command (root options come before it).
    const name = argv.slice(2).find((a) => !a.startsWith("-"));
    const program = await buildProgram(name !== undefined && name in COMMANDS ? [name] : undefined);
    await program.parseAsync(argv);
  } catch (e) {
    process.stderr.write(`v6mostly: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}

if (isMainModule(import.meta.url)) await main(process.argv);
