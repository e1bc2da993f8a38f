// The machine-wide kernel settings kubelet 1.20 changes when it starts (setupKernelTunables; not
// configurable unless protectKernelDefaults refuses to start instead), saved before the first test
// node starts and written back when the last one has stopped (pitfall 5 of the shared README).
//
// Several nodes, in one test process or in several (other engineers run tests on the same
// machine), share one record under /run: the values first seen, and who holds them. A holder whose
// process has died no longer counts, so a crashed run leaves the original values on record and the
// next release restores them.
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** What kubelet 1.20 writes (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables). */
export const KUBELET_KERNEL_SETTINGS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
] as const;

const DIR = "/run/v6mostly";
const RECORD = join(DIR, "kubelet-kernel.json");
const LOCK = join(DIR, "kubelet-kernel.lock");

interface Record {
  saved: { [setting: string]: string };
  holders: string[];
}

export function readKernelSettings(): { [setting: string]: string } {
  return Object.fromEntries(
    KUBELET_KERNEL_SETTINGS.map((s) => [s, readFileSync(join("/proc/sys", s), "utf8").trim()]),
  );
}

function alive(holder: string): boolean {
  const pid = Number(holder.split(":")[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Run `f` holding the record's lock (a directory: mkdir is atomic); a lock older than 10 s is stale. */
function locked<T>(f: () => T): T {
  mkdirSync(DIR, { recursive: true });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > 10_000) rmdirSync(LOCK);
      } catch {}
      if (Date.now() > deadline) throw new Error(`${LOCK}: held for more than 10 s`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return f();
  } finally {
    rmdirSync(LOCK);
    try {
      rmdirSync(DIR); // only when no record is left: nothing of ours stays under /run
    } catch {}
  }
}

function load(): Record | undefined {
  return existsSync(RECORD) ? (JSON.parse(readFileSync(RECORD, "utf8")) as Record) : undefined;
}

/**
 * The values kubelet's settings had before any test node on this machine started: the record's
 * while a node (of any run) holds them, the current ones otherwise. What the machine must show
 * again once every node has stopped.
 */
export function kernelBaseline(): { held: boolean; settings: { [setting: string]: string } } {
  const record = load();
  return record ? { held: true, settings: record.saved } : { held: false, settings: readKernelSettings() };
}

/** Before a kubelet starts: record the current values unless a live (or crashed) run already did. */
export function holdKernelSettings(holder: string): void {
  locked(() => {
    const record = load() ?? { saved: readKernelSettings(), holders: [] };
    record.holders = [...record.holders.filter(alive), holder];
    writeFileSync(RECORD, JSON.stringify(record));
  });
}

/**
 * After a kubelet has ended: when no live holder is left, write the recorded values back and drop
 * the record. Returns the values written, or undefined when another node still runs.
 */
export function releaseKernelSettings(holder: string): { [setting: string]: string } | undefined {
  return locked(() => {
    const record = load();
    if (record === undefined) return undefined;
    record.holders = record.holders.filter((h) => h !== holder && alive(h));
    if (record.holders.length > 0) {
      writeFileSync(RECORD, JSON.stringify(record));
      return undefined;
    }
    for (const [setting, value] of Object.entries(record.saved)) {
      writeFileSync(join("/proc/sys", setting), `${value}\n`);
    }
    rmSync(RECORD);
    return record.saved;
  });
}
