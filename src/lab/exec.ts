// Running commands for the lab: in the host, inside one of its namespaces, and long-running
// processes whose PIDs are recorded so that `lab down` ends exactly those.
import { spawn, spawnSync } from "node:child_process";
import { openSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export class CommandError extends Error {}

/** Run a command; its stdout, or a CommandError with its stderr. */
export function run(
  cmd: string[],
  opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {},
): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    encoding: "utf8",
    input: opts.input,
    timeout: opts.timeoutMs ?? 60_000,
  });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    const why = r.error ? r.error.message : (r.stderr || r.stdout).trim();
    throw new CommandError(`${cmd.join(" ")}: ${why}`);
  }
  return r.stdout ?? "";
}

/** Run a command inside namespace `ns`. */
export function inNs(
  ns: string,
  cmd: string[],
  opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {},
): string {
  return run(["ip", "netns", "exec", ns, ...cmd], opts);
}

/** Same, without waiting: the child's exit code and output when it ends. */
export function inNsAsync(
  ns: string,
  cmd: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", ns, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + e.message });
    });
  });
}

/**
 * Start a long-running process inside `ns`, detached, its output appended to `logFile`. `ip netns
 * exec` execs the command, so the PID returned is the command's own.
 */
export function startInNs(ns: string, cmd: string[], logFile: string): number {
  const fd = openSync(logFile, "a");
  const child = spawn("ip", ["netns", "exec", ns, ...cmd], { detached: true, stdio: ["ignore", fd, fd] });
  child.unref();
  if (child.pid === undefined) throw new CommandError(`could not start ${cmd.join(" ")} in ${ns}`);
  return child.pid;
}

/** The command line that runs this very v6mostly (source checkout or build). */
export function selfCommand(): string[] {
  const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "v6mostly.js");
  return [process.execPath, bin];
}

export function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `probe` until it returns a value, or fail after `timeoutMs` saying what was awaited. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end)
      throw new CommandError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}
