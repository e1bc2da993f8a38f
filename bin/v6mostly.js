#!/usr/bin/env node
// Entry point. Runs the compiled build (dist/, `npm run build`) when it is at least as new as every
// source file, otherwise the TypeScript sources through tsx: a checkout never runs a stale build,
// and an installed package (no src/) always runs its build. The build is about twice as fast on
// the packet path.
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "cli", "main.js");
const src = join(root, "src");

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * `run` and `agent` run for months, on routers that may have 1 GiB: before anything else, such a
 * process replaces itself (execve, same PID and open files) with the same command under
 * MALLOC_ARENA_MAX=1 (one malloc arena instead of one per thread; glibc reads it only at start),
 * which costs neither the packet path nor the DNS64 anything measurable (docs/nat64.md, Memory).
 * MALLOC_ARENA_MAX already set (yours, or this re-execution's) keeps the process as it is; so does a
 * failed execve. (One V8 helper thread, `--v8-pool-size=1`, saved no memory measurably and cost
 * uncached DNS64 a quarter of its queries per second: not used.)
 */
async function reexecLean(argv) {
  const command = argv.slice(2).find((a) => !a.startsWith("-"));
  if (command !== "run" && command !== "agent") return;
  if (process.env.MALLOC_ARENA_MAX !== undefined) return;
  try {
    const { default: koffi } = await import("koffi");
    const libc = koffi.load("libc.so.6");
    const fcntl = libc.func("int fcntl(int fd, int cmd, int arg)");
    const execve = libc.func("int execve(const char *path, const char **argv, const char **envp)");
    // node marks its standard input, output and error close-on-exec: the same ones for the new image
    for (const fd of [0, 1, 2]) fcntl(fd, 2 /* F_SETFD */, 0);
    const env = { MALLOC_ARENA_MAX: "1", ...process.env };
    execve(
      process.execPath,
      [process.execPath, ...process.execArgv, ...argv.slice(1), null],
      [...Object.entries(env).map(([k, v]) => `${k}=${v}`), null],
    );
  } catch {
    // no koffi or no execve: run as started
  }
}

await reexecLean(process.argv);

const useBuild =
  process.env.V6MOSTLY_FROM_SOURCE !== "1" &&
  existsSync(built) &&
  (!existsSync(src) || newestMtime(src) <= statSync(built).mtimeMs);

if (useBuild) {
  await (await import(pathToFileURL(built).href)).main(process.argv);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await (await import(pathToFileURL(join(src, "cli", "main.ts")).href)).main(process.argv);
}
