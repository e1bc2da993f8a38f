// `v6mostly lab up|check|down`: the seed's network in network namespaces, checked end to end.
import type { Command } from "commander";
import { check, renderEvidence } from "../../lab/check.ts";
import { renderMatrix } from "../../lab/matrix.ts";
import { probe } from "../../lab/probe.ts";
import { serveHttp } from "../../lab/serve.ts";
import { DEFAULT_LAB_DIR, readState } from "../../lab/state.ts";
import { down, progressOn, up } from "../../lab/topology.ts";
import { parseEndpoint } from "../../util/net.ts";

interface DirOpt {
  dir: string;
}

export function register(program: Command): void {
  const lab = program
    .command("lab")
    .description(
      "the seed's IPv6-mostly network in network namespaces on this machine, checked end to end (root)",
    )
    .addHelpText(
      "after",
      `
  v6mostly lab up       build it: four clients (IPv4-only, dual-stack, IPv6-only, IPv6-only with a
                        TAYGA CLAT), a router running examples/lab with \`v6mostly run\`, an "internet"
                        with IPv4-only and dual-stack web servers and BIND
  v6mostly lab check    the client-type matrix (DNS64 on and off) against the seed's; exit 1 on any
                        difference. Without a lab up, it builds one, checks and removes it (--keep
                        leaves it up)
  v6mostly lab down     remove it (also what a crashed \`up\` left)

Needs root, iproute2, tayga, bind9 (named), isc-dhcp-client (dhclient), curl. Progress lines go to
standard error, the matrix to standard output. See docs/lab.md.`,
    );
  const dirOption = ["--dir <dir>", "the lab's working folder and state file", DEFAULT_LAB_DIR] as const;

  lab
    .command("up")
    .description("build the lab")
    .option(...dirOption)
    .option("--keep", "on failure, leave what was built for inspection")
    .action(async (opts: DirOpt & { keep?: boolean }) => {
      const p = progressOn(process.stderr);
      try {
        const s = await up(opts.dir, p, { keep: opts.keep });
        const problems = s.learned.problems ?? [];
        process.stderr.write(
          `lab up: namespaces ${s.prefix}*, logs in ${s.dir}${problems.length ? `; ${problems.length} problem(s), \`lab check\` will fail` : ""}\n`,
        );
      } catch (e) {
        process.stderr.write(`lab up failed: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    });

  lab
    .command("check")
    .description("measure the client-type matrix and compare it with the seed's; exit 1 on any difference")
    .option(...dirOption)
    .option("--keep", "when check had to build the lab, leave it up afterwards")
    .option("-o, --output <format>", "text or json", "text")
    .option("-v, --verbose", "also print the evidence behind each cell and the NAT64 counters")
    .action(async (opts: DirOpt & { keep?: boolean; output: string; verbose?: boolean }) => {
      const p = progressOn(process.stderr);
      let s = readState(opts.dir);
      const ours = !s;
      try {
        if (!s?.complete) {
          if (s)
            throw new Error(
              `the lab in ${opts.dir} is not complete (a failed up?): run \`v6mostly lab down\` first`,
            );
          s = await up(opts.dir, p);
        }
        const report = await check(s, p);
        process.stdout.write(
          opts.output === "json"
            ? `${JSON.stringify(report, null, 2)}\n`
            : renderMatrix(report.cells, report.findings) +
                (opts.verbose ? `\n${renderEvidence(report)}` : ""),
        );
        process.stderr.write(
          report.ok ? "lab check: the matrix matches the seed's\n" : "lab check: DIFFERENCES (see above)\n",
        );
        process.exitCode = report.ok ? 0 : 1;
      } catch (e) {
        process.stderr.write(`lab check failed: ${(e as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        if (ours && s && !opts.keep)
          await down(opts.dir, p).catch((e) => process.stderr.write(`lab down: ${(e as Error).message}\n`));
      }
    });

  lab
    .command("down")
    .description("remove the lab (namespaces, processes, files)")
    .option(...dirOption)
    .action(async (opts: DirOpt) => {
      const p = progressOn(process.stderr);
      try {
        await down(opts.dir, p);
      } catch (e) {
        process.stderr.write(`lab down failed: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    });

  // Internal: run inside the lab's namespaces by `up` and `check`.
  lab
    .command("probe", { hidden: true })
    .option("--dns <addr>", "the client's DNS server, or none", "none")
    .action(async (opts: { dns: string }) => {
      const r = await probe({ dns: opts.dns === "none" ? null : opts.dns });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  lab
    .command("serve", { hidden: true })
    .argument("<listen...>", "address:port to serve on")
    .action(async (listen: string[]) => {
      const eps = listen.map((l) => {
        const ep = parseEndpoint(l, 80);
        if (!ep.ok) throw new Error(`${l}: ${ep.error}`);
        return ep.value;
      });
      await serveHttp(eps);
      process.stderr.write(`serving on ${listen.join(" ")}\n`);
      await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
      process.exit(0);
    });
}
