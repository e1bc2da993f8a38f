// Kea (kea-dhcp4-server, memfile lease backend) as the peer DHCPv4 server of the tests and the
// bench: its configuration for one subnet on one interface, written under `dir`, and the command
// that runs it in the foreground with its PID and lock files under `dir` too.
import * as fs from "node:fs";
import * as path from "node:path";

export interface KeaScope {
  interface: string;
  subnet: string;
  /** "first - last" */
  pool: string;
  router: string;
  dnsServers: string[];
  validLifetime: number;
  /** log severity to standard output; INFO prints DHCP4_STARTED once Kea serves */
  severity?: "INFO" | "WARN";
}

/** Writes `dir`/kea-dhcp4.conf; returns the command (an argument array) that runs Kea on it. */
export function keaCommand(dir: string, s: KeaScope): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const cfg = path.join(dir, "kea-dhcp4.conf");
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      Dhcp4: {
        "interfaces-config": { interfaces: [s.interface], "dhcp-socket-type": "raw" },
        "lease-database": {
          type: "memfile",
          persist: true,
          name: path.join(dir, "leases4.csv"),
          "lfc-interval": 0,
        },
        "valid-lifetime": s.validLifetime,
        "renew-timer": Math.floor(s.validLifetime * 0.5),
        "rebind-timer": Math.floor(s.validLifetime * 0.875),
        subnet4: [
          {
            id: 1,
            subnet: s.subnet,
            pools: [{ pool: s.pool }],
            "option-data": [
              { name: "routers", data: s.router },
              { name: "domain-name-servers", data: s.dnsServers.join(", ") },
            ],
          },
        ],
        loggers: [
          { name: "kea-dhcp4", severity: s.severity ?? "WARN", output_options: [{ output: "stdout" }] },
        ],
      },
    }),
  );
  return ["env", `KEA_PIDFILE_DIR=${dir}`, `KEA_LOCKFILE_DIR=${dir}`, "kea-dhcp4", "-c", cfg];
}
