// The machine's own state that a node could change: its interfaces, addresses, routes, rules,
// forwarding, kubelet's machine-wide kernel settings and the paths kubelet and containerd write by
// default. A test takes it before its node starts and compares after stop(): equal, or something
// leaked out of the node's namespaces.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ip } from "./netns.ts";
import { kernelBaseline, readKernelSettings } from "./node-kernel.ts";

const MACHINE_PATHS = [
  "/run/containerd",
  "/run/runc",
  "/var/lib/kubelet",
  "/var/lib/containerd",
  "/var/lib/v6mostly",
  "/var/log/pods",
  "/var/log/containers",
  "/opt/containerd",
];

/** The machine's own network state, the sysctls the node could touch, and paths it could write. */
export function machineState() {
  const json = (args: string[]) =>
    JSON.parse(ip(undefined, ["-j", ...args]) || "[]") as Record<string, unknown>[];
  const drop = (o: Record<string, unknown>, keys: string[]) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
  const sysctl = (p: string) => readFileSync(join("/proc/sys", p), "utf8").trim();
  return {
    links: json(["link", "show"]).map((l) => drop(l, ["stats", "stats64", "operstate", "linkmode"])),
    addresses: json(["addr", "show"]).map((a) => ({ ifname: a.ifname, addr_info: a.addr_info })),
    routes4: json(["-4", "route", "show", "table", "all"]).map((r) => drop(r, ["expires"])),
    routes6: json(["-6", "route", "show", "table", "all"]).map((r) => drop(r, ["expires"])),
    rules4: json(["-4", "rule", "show"]),
    rules6: json(["-6", "rule", "show"]),
    forwarding: {
      ipv4: sysctl("net/ipv4/ip_forward"),
      ipv6: sysctl("net/ipv6/conf/all/forwarding"),
    },
    kernel: readKernelSettings(),
    // where kubelet and containerd write by default: the node keeps them in its mount namespace
    paths: Object.fromEntries(MACHINE_PATHS.map((p) => [p, existsSync(p)])),
    cniNetns: existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith("cni-")) : [],
  };
}

export type MachineState = ReturnType<typeof machineState>;

/**
 * The machine's state before a test's first node starts, with kubelet's kernel settings as they were
 * before any node of the machine (another engineer's test may run one already).
 */
export function machineBefore(): MachineState {
  return { ...machineState(), kernel: kernelBaseline().settings };
}

/**
 * After the test's nodes have stopped: the machine as `before`. kubelet's kernel settings are
 * written back by the last node of the machine to stop, so they are compared only when no other
 * node holds them.
 */
export function assertMachineAsBefore(before: MachineState): void {
  const kernel = kernelBaseline();
  if (kernel.held) console.log("# kubelet's kernel settings: another node on this machine still holds them");
  const now = machineState();
  assert.deepEqual(
    { ...now, kernel: kernel.held ? undefined : now.kernel },
    { ...before, kernel: kernel.held ? undefined : before.kernel },
  );
}
