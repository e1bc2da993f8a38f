#!/usr/bin/env node
// Entry point: the compiled CLI when built (npm run build), otherwise the TypeScript source through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "cli", "main.js");
// A checkout (src/ present) runs its sources, so that a stale build never runs by surprise;
// an installed package (no src/) runs the build.
if (!existsSync(join(root, "src")) && existsSync(built)) {
  await (await import(pathToFileURL(built).href)).main(process.argv);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await (await import(pathToFileURL(join(root, "src", "cli", "main.ts")).href)).main(process.argv);
}
