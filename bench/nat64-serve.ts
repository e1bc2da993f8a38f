// Runs v6mostly's Nat64Gateway for bench/nat64.ts with the bench's knobs (packet loop, queues,
// offload) passed as service options, the way `run` would start it from the same file.
//   node --import tsx bench/nat64-serve.ts '{"file": "...", "status": "127.0.0.1:9470", "stateDir": "...", "options": {...}}'
// BENCH_DIST=1 loads the build (npm run build) instead of the sources. Ends on SIGTERM.
import { startStatusServer } from "../src/agent/status.ts";
import { validatePaths } from "../src/api/validate.ts";
import { plan } from "../src/planner/plan.ts";
import type { GatewayOptions } from "../src/services/nat64/index.ts";
import { createLogger } from "../src/util/log.ts";

const arg = JSON.parse(process.argv[2]!) as {
  file: string;
  status: string;
  stateDir: string;
  options: GatewayOptions;
};
const { resources, problems } = validatePaths([arg.file]);
if (problems.length) throw new Error(problems.map((p) => p.message).join("; "));
const a = plan(resources).nodes[0]!.assignments.find((x) => x.kind === "Nat64Gateway");
if (a?.kind !== "Nat64Gateway") throw new Error(`${arg.file} has no Nat64Gateway`);
const service: typeof import("../src/services/nat64/index.ts") = process.env.BENCH_DIST
  ? await import(new URL("../dist/services/nat64/index.js", import.meta.url).href)
  : await import("../src/services/nat64/index.ts");
const log = createLogger("nat64-bench", { level: "warn" });
const status = await startStatusServer(arg.status);
const resource = `Nat64Gateway/${a.name}`;
const svc = await service.startNat64Gateway(
  a,
  {
    resource,
    log,
    stateDir: arg.stateDir,
    metrics: status.metrics,
    publish: (topic, provider) => status.publish(resource, topic, provider),
  },
  arg.options,
);
process.on("SIGTERM", () => {
  void svc.stop().then(() => status.close().then(() => process.exit(0)));
});
