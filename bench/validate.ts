/**
 * `npm run bench:validate`: documents per second through `validate` (read, parse, check every
 * document and the rules across them) at two sizes (BENCH_SIZES, default "2000,20000"), with the
 * peak resident memory, so that a change that makes it superlinear shows as a falling rate. The
 * documents are the five node kinds in turn, each with its own addresses. No peer: no other tool
 * validates these resources.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDocuments } from "../src/api/load.ts";
import { validateDocuments } from "../src/api/validate.ts";

const sizes = (process.env.BENCH_SIZES ?? "2000,20000").split(",").map(Number);

function documents(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i >> 8) & 0xff;
    const b = i & 0xff;
    const hex = i.toString(16);
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
          `${head("Nat64Gateway")}  prefix: 2001:db8:${hex}:64::/96\n  pool4: ["100.${a}.${b}.1-100.${a}.${b}.2"]\n  allowedSources: ["2001:db8:${hex}::/64"]\n  tunName: t${i}\n  nodeSelector: { node: n${i} }\n`,
        );
    }
  }
  return out.join("");
}

const dir = mkdtempSync(join(tmpdir(), "v6m-bench-validate-"));
try {
  console.log(`validate: documents per second, ${sizes.join(" and ")} documents in one file`);
  const rates: number[] = [];
  for (const n of sizes) {
    const file = join(dir, `docs-${n}.yaml`);
    writeFileSync(file, documents(n));
    let peak = process.memoryUsage.rss();
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
    const t0 = process.hrtime.bigint();
    const v = validateDocuments(readDocuments([file]));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage.rss());
    const problems = v.problems.length;
    rates.push(n / s);
    console.log(
      `${String(n).padStart(7)} documents: ${s.toFixed(2)} s, ${Math.round(n / s)} documents/s, peak RSS ${Math.round(peak / 2 ** 20)} MiB, ${v.resources.length} resources, ${problems} problems`,
    );
  }
  if (rates.length === 2)
    console.log(
      `rate at ${sizes[1]} / rate at ${sizes[0]}: ${(rates[1]! / rates[0]!).toFixed(2)} (1.0 = linear)`,
    );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
