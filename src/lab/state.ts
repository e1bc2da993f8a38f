// The lab's state file: written before the first namespace exists, so that `lab down` can clean
// up whatever a crashed `lab up` left (it finds the namespaces by the recorded name prefix).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const DEFAULT_LAB_DIR = "/run/v6mostly-lab";

export interface LabState {
  version: 1;
  /** every namespace of this lab starts with it: v6m-lab-<pid>- */
  prefix: string;
  /** the lab's working folder (configs, logs, the router's state) */
  dir: string;
  createdAt: string;
  /** set once `up` finished every step */
  complete: boolean;
  /** the router's `v6mostly run` */
  routerPid?: number;
  /** the router's namespace when the caller runs the router (`up`'s `router`), not the lab */
  routerNs?: string;
  /** what the clients learned during `up`, read by `check` */
  learned: {
    rdnss?: string;
    pref64?: string;
    pref64Source?: string;
    lease4?: Record<string, { address: string; dns: string[]; router?: string }>;
    v6only?: Record<string, { seconds?: number; reason: string }>;
    ipv6?: Record<string, string[]>;
    /** what did not work during `up` without stopping it; `check` fails on each */
    problems?: string[];
  };
}

export function statePath(dir: string): string {
  return join(dir, "lab.json");
}

export function readState(dir: string): LabState | undefined {
  const p = statePath(dir);
  if (!existsSync(p)) return undefined;
  try {
    const s = JSON.parse(readFileSync(p, "utf8")) as LabState;
    if (s.version !== 1 || typeof s.prefix !== "string" || !/^v6m-lab-\d+-$/.test(s.prefix)) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export function writeState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true });
  const p = statePath(s.dir);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

export function removeState(dir: string): void {
  rmSync(statePath(dir), { force: true });
}
