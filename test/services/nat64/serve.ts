/**
 * Runs the Nat64Gateway service alone with test-only options (short timers, a
 * tiny port range) that the resource schema rightly refuses. Used by the
 * namespace tests: `node --import tsx test/services/nat64/serve.ts '<json>'` where json
 * is { spec, pool4, options, status, stateDir }. SIGTERM stops it.
 */

import { startStatusServer } from "../../../src/agent/status.ts";
import { nat64GatewaySpec } from "../../../src/api/nat64gateway.ts";
import type { Nat64Assignment } from "../../../src/planner/plan.ts";
import { startNat64Gateway } from "../../../src/services/nat64/index.ts";
import { createLogger } from "../../../src/util/log.ts";
import { rangeFrom } from "../../../src/util/net.ts";

const arg = JSON.parse(process.argv[2]!) as {
  spec: Record<string, unknown>;
  pool4: string[];
  options: Record<string, unknown>;
  status: string;
  stateDir: string;
};
const spec = nat64GatewaySpec.parse(arg.spec);
const assignment: Nat64Assignment = {
  kind: "Nat64Gateway",
  namespace: "default",
  name: "lab",
  spec,
  pool4: arg.pool4.map((t) => rangeFrom(t, 4)),
  pool4Count: 0,
  pool4Total: 0,
};
const log = createLogger("nat64-serve").child({ resource: "Nat64Gateway/lab" });
const status = await startStatusServer(arg.status);
const svc = await startNat64Gateway(
  assignment,
  {
    log,
    stateDir: arg.stateDir,
    metrics: status.metrics,
    publish: (topic, provider) => status.publish("Nat64Gateway/lab", topic, provider),
  },
  arg.options,
);
log.info("serving");
process.on("SIGTERM", () => {
  void svc.stop().then(() => status.close().then(() => process.exit(0)));
});
