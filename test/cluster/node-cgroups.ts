// A test node's cgroups: one root per node (`/v6m-k8s-…`) in every hierarchy mounted under
// /sys/fs/cgroup. kubelet makes its kubepods tree below it (its cgroupRoot), so two nodes on one
// machine never see each other's pods (kubelet kills what it finds in pod cgroups it does not
// know). The node's own daemons run in `ROOT/node` of the pids hierarchy, and their children
// (containerd's shims) with them: every process a node started is found in ROOT's pids tree, ended
// by PID, and the tree removed. cgroup v1 (this machine kind), with the hybrid v2 mount beside it.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CGROUP_FS = "/sys/fs/cgroup";

/** The mounted hierarchies (cgroup and cgroup2 mounts under /sys/fs/cgroup). */
export function hierarchies(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[4]?.startsWith(`${CGROUP_FS}/`) && /^cgroup2?$/.test(f[f.indexOf("-") + 1] ?? ""))
    .map((f) => f[4]!);
}

/** Why test nodes cannot run here (kubelet 1.20 needs cgroup v1), or undefined. */
export function cgroupsUnavailable(): string | undefined {
  return existsSync(join(CGROUP_FS, "pids", "cgroup.procs"))
    ? undefined
    : `no cgroup v1 pids hierarchy at ${CGROUP_FS}/pids (kubelet 1.20 needs cgroup v1)`;
}

export class NodeCgroups {
  /** kubelet's cgroupRoot */
  readonly root: string;

  constructor(name: string) {
    this.root = `/${name}`;
  }

  /** ROOT in every hierarchy (cpuset's cpus and mems copied from the top, or nothing can join). */
  create(): void {
    for (const h of hierarchies()) {
      mkdirSync(join(h, this.root), { recursive: true });
      if (h.endsWith("/cpuset")) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          writeFileSync(join(h, this.root, f), readFileSync(join(h, f)));
        }
      }
    }
    mkdirSync(this.daemonCgroup(), { recursive: true });
  }

  /** The pids cgroup the node's daemons are started in (write "$$" to its cgroup.procs, then exec). */
  daemonCgroup(): string {
    return join(CGROUP_FS, "pids", this.root, "node");
  }

  /** Every process below ROOT, in any hierarchy. */
  pids(): number[] {
    const found = new Set<number>();
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const line of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) {
        if (line !== "") found.add(Number(line));
      }
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    };
    for (const h of hierarchies()) walk(join(h, this.root));
    return [...found];
  }

  /** SIGKILL every process below ROOT (by PID, repeated until none is left); their count. */
  async killAll(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const seen = new Set<number>();
    for (;;) {
      const pids = this.pids();
      if (pids.length === 0) return seen.size;
      for (const pid of pids) {
        seen.add(pid);
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      if (Date.now() > deadline) throw new Error(`processes left in cgroup ${this.root}: ${pids.join(" ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Remove ROOT's tree in every hierarchy, deepest first; the cgroups that could not be removed. */
  remove(): string[] {
    const left: string[] = [];
    const rm = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
      try {
        rmdirSync(dir);
      } catch {
        left.push(dir);
      }
    };
    for (const h of hierarchies()) if (existsSync(join(h, this.root))) rm(join(h, this.root));
    return left;
  }

  /** Synchronous last resort (process exit hook): SIGKILL what is there, remove the tree (3 s at most). */
  killNow(): void {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const pids = this.pids();
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      if ((pids.length === 0 && this.remove().length === 0) || Date.now() > deadline) return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}
