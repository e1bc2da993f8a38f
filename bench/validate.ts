/**
 * `npm run bench:validate`: documents per second through `validate` (read, parse, check every
 * document and the rules across them) at two sizes (BENCH_SIZES, default "2000,20000"), with the
 * peak resident memory (each size in a process of its own), so that a change that makes it
 * superlinear shows as a falling rate. The
 * documents are the five node kinds in turn, each with its own addresses. No peer: no other tool
 * validates these resources.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkPaths } from "../src/api/validate.ts";

const sizes = (process.env.BENCH_SIZES ?? "2000,20000").split(",").map(Number);

function documents(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    // each kind is every fourth document: its own /24 or pool4 up to 4 × 65536 documents
    const a = (i >> 10) & 0xff;
    const b = (i >> 2) & 0xff;
    const hex = `${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
    const head = (kind: string) =>
      `---\napiVersion: v6mostly.dev/v1alpha1\nkind: ${kind}\nmetadata: { name: r${i} }\nspec:\n`;
    switch (i % 4) {
      case 0:
        out.push(
          `${head("RouterAdvert")}  interface: lan${i}\n  prefixes: [{ prefix: "2001:db8:${hex}::/64" }]\n`,
        );
        break;
      case 1:
        out.push(
          `${head("Dns64Resolver")}  listen: ["[2001:db8:${hex}::53]"]\n  prefix: 64:ff9b::/96\n  upstreams: ["198.51.100.53"]\n  allowClients: ["2001:db8:${hex}::/64"]\n`,
        );
        break;
      case 2:
        out.push(
          `${head("DhcpScope")}  interface: lan${i}\n  subnet: 10.${a}.${b}.0/24\n  ranges: ["10.${a}.${b}.100-10.${a}.${b}.199"]\n`,
        );
        break;
      default:
        out.push(
          `${head("Nat64Gateway")}  prefix: 2001:db8:${hex}:64::/96\n  pool4: ["100.${a}.${b}.1-100.${a}.${b}.2"]\n  allowedSources: ["2001:db8:${hex}:1::/80"]\n  tunName: t${i}\n  nodeSelector: { node: n${i} }\n`,
        );
    }
  }
  return out.join("");
}

/** One size in a process of its own, so that its peak RSS is its own: prints a JSON line. */
function measure(file: string): void {
  const before = process.memoryUsage.rss();
  const t0 = process.hrtime.bigint();
  // as `v6mostly validate` does: resources counted, not kept
  let resources = 0;
  const problems = checkPaths([file], () => resources++);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ seconds, before, peak, resources, problems: problems.length }));
}

if (process.argv[2] === "--one") measure(process.argv[3]!);
else {
  const dir = mkdtempSync(join(tmpdir(), "v6m-bench-validate-"));
  try {
    console.log(`validate: documents per second, ${sizes.join(" and ")} documents in one file`);
    console.log("no peer: no other tool validates these resources");
    const rates: number[] = [];
    for (const n of sizes) {
      const file = join(dir, `docs-${n}.yaml`);
      writeFileSync(file, documents(n));
      const size = statSync(file).size;
      const out = execFileSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), "--one", file],
        {
          encoding: "utf8",
          maxBuffer: 1 << 20,
        },
      );
      const r = JSON.parse(out.trim().split("\n").pop()!) as {
        seconds: number;
        before: number;
        peak: number;
        resources: number;
        problems: number;
      };
      rates.push(n / r.seconds);
      const mib = (b: number) => Math.round(b / 2 ** 20);
      console.log(
        `${String(n).padStart(7)} documents (${mib(size)} MiB): ${r.seconds.toFixed(2)} s, ${Math.round(n / r.seconds)} documents/s, peak RSS ${mib(r.peak)} MiB (${mib(r.before)} MiB before reading), ${r.resources} resources, ${r.problems} problems`,
      );
    }
    if (rates.length === 2)
      console.log(
        `rate at ${sizes[1]} / rate at ${sizes[0]}: ${(rates[1]! / rates[0]!).toFixed(2)} (1.0 = linear)`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
