// The v6mostly command line. One file per command under ./commands.
import { Command } from "commander";
import { isMainModule } from "../util/main.ts";
import { register as registerAgent } from "./commands/agent.ts";
import { register as registerDevice } from "./commands/device.ts";
import { register as registerDoctor } from "./commands/doctor.ts";
import { register as registerLab } from "./commands/lab.ts";
import { register as registerOperator } from "./commands/operator.ts";
import { register as registerPlan } from "./commands/plan.ts";
import { register as registerRa } from "./commands/ra.ts";
import { register as registerRender } from "./commands/render.ts";
import { register as registerRun } from "./commands/run.ts";
import { register as registerTranslations } from "./commands/translations.ts";
import { register as registerValidate } from "./commands/validate.ts";

export function buildProgram(): Command {
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
  registerValidate(program);
  registerPlan(program);
  registerRun(program);
  registerTranslations(program);
  registerRa(program);
  registerRender(program);
  registerDevice(program);
  registerLab(program);
  registerDoctor(program);
  registerOperator(program);
  registerAgent(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    process.stderr.write(`v6mostly: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}

if (isMainModule(import.meta.url)) await main(process.argv);
