// A v6mostly DHCPv4 server in its own process, for the namespace tests and the bench:
//   ip netns exec <ns> node --import tsx test/services/dhcp4/fixture-server.ts <config.json>
// config: { "name": "...", "spec": { DhcpScope spec }, "stateDir": "..." }
// Prints "READY" once serving; "STATS {json}" on SIGUSR1; re-reads the config on SIGHUP (update);
// stops on SIGTERM.
import * as fs from "node:fs";
import { dhcpScopeSpec } from "../../../src/api/dhcpscope.ts";
import type { DhcpAssignment } from "../../../src/planner/plan.ts";
import { startDhcpScope } from "../../../src/services/dhcp4/index.ts";
import { createLogger } from "../../../src/util/log.ts";

function read(): { assignment: DhcpAssignment; stateDir: string } {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2]!, "utf8")) as {
    name: string;
    spec: unknown;
    stateDir: string;
  };
  const spec = dhcpScopeSpec.parse(cfg.spec);
  return {
    stateDir: cfg.stateDir,
    assignment: {
      kind: "DhcpScope",
      namespace: "default",
      name: cfg.name,
      spec: spec as DhcpAssignment["spec"],
      renewalTime: Math.floor(spec.leaseTime * 0.5),
      rebindingTime: Math.floor(spec.leaseTime * 0.875),
    },
  };
}
const { assignment, stateDir } = read();
const log = createLogger("dhcp4-fixture", { level: process.env.V6MOSTLY_LOG_LEVEL ?? "warn" });
const service = await startDhcpScope(assignment, { log, stateDir });
// SIGHUP: read the config file again and apply it with update()
process.on("SIGHUP", () => {
  void service.update(read().assignment).then(
    () => process.stdout.write("UPDATED\n"),
    (e: Error) => process.stdout.write(`UPDATE FAILED ${e.message}\n`),
  );
});
process.on("SIGUSR1", () => process.stdout.write(`STATS ${JSON.stringify(service.stats())}\n`));
process.on("SIGTERM", () => {
  process.stdout.write(`STATS ${JSON.stringify(service.stats())}\n`);
  // leave by the event loop running dry (lets --cpu-prof write its profile); exit anyway after 3 s
  void service.stop().then(() => setTimeout(() => process.exit(0), 3000).unref());
});
process.stdout.write("READY\n");
