// Run ../shared/devices/iosxe-yang/validate.sh (yanglint) over RESTCONF bodies.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { validateSh } from "./paths.ts";

const run = promisify(execFile);
export const RELEASES = ["17.9.1", "17.12.1", "17.15.1"] as const;

export function hasYanglint(): boolean {
  try {
    execFileSync("yanglint", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface YangResult {
  ok: boolean;
  output: string;
}

/** Validate each document (config trees or rpc inputs) with one yanglint run. */
export async function yangValidate(
  release: string,
  kind: "config" | "rpc",
  docs: Record<string, unknown>[],
): Promise<YangResult> {
  const dir = mkdtempSync(join(tmpdir(), "v6m-yang-"));
  try {
    const files = docs.map((d, i) => {
      const f = join(dir, `${i}.json`);
      writeFileSync(f, JSON.stringify(d, null, 1));
      return f;
    });
    try {
      const r = await run(validateSh, [release, kind, ...files], { maxBuffer: 64 << 20 });
      return { ok: true, output: r.stdout + r.stderr };
    } catch (e) {
      const x = e as { stdout?: string; stderr?: string; code?: number };
      return { ok: false, output: `exit ${x.code}: ${x.stderr ?? ""}${x.stdout ?? ""}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
