import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** True when the module at `url` is the script node was started with. */
export function isMainModule(url: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(url) === resolve(process.argv[1]);
}
