/**
 * What the NAT64 benches (bench/nat64.ts, bench/nat64-memory.ts) share around the namespace lab
 * (test/services/nat64/lab.ts): TAYGA (Debian's) as the peer translator, set up with its own TUN
 * device with the same queue length as ours (host.ts) and a dynamic 1:1 pool the server routes
 * back through the translator; and the lab's removal on Ctrl-C or a timeout's SIGTERM.
 */
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Lab, PREFIX, SERVER6, waitFor } from "../test/services/nat64/lab.ts";

export const TAYGA_TUN = "tayga0";

/** Starts TAYGA in the translator namespace; resolves once a ping crosses it. */
export async function startTayga(lab: Lab): Promise<ChildProcess> {
  const conf = join(lab.dir, "tayga.conf");
  writeFileSync(
    conf,
    `tun-device ${TAYGA_TUN}\nipv4-addr 198.51.100.254\nprefix ${PREFIX}\ndynamic-pool 198.51.100.0/25\ndata-dir ${lab.dir}\n`,
  );
  lab.ns(lab.t, ["tayga", "-c", conf, "--mktun"]);
  // Same queue length as ours (host.ts), so the comparison is of the translators.
  lab.ns(lab.t, ["ip", "link", "set", TAYGA_TUN, "txqueuelen", "4096", "up"]);
  lab.ns(lab.t, ["ip", "route", "add", "198.51.100.0/24", "dev", TAYGA_TUN]);
  lab.ns(lab.t, ["ip", "-6", "route", "add", PREFIX, "dev", TAYGA_TUN]);
  lab.ns(lab.t, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
  lab.ns(lab.s, ["ip", "route", "replace", "198.51.100.0/24", "via", "203.0.113.1"]);
  const p = lab.spawnIn(lab.t, ["tayga", "-c", conf, "--nodetach"], "tayga.log");
  await waitFor("TAYGA", () => /1 received/.test(lab.ns(lab.c, ["ping", "-c", "1", "-W", "1", SERVER6])));
  return p;
}

/** Stops TAYGA and removes its device. */
export async function stopTayga(lab: Lab, p: ChildProcess): Promise<void> {
  await lab.stop(p);
  lab.ns(lab.t, ["ip", "link", "del", TAYGA_TUN]);
}

/** Ctrl-C or a timeout's SIGTERM still removes the namespaces and ends what the bench started. */
export function cleanupOnSignals(lab: Lab): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.log(`${signal}: cleaning up`);
      lab.cleanup().finally(() => process.exit(130));
    });
  }
}
