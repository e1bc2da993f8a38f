// Worker threads for modules that may run from TypeScript sources (tests, benchmarks,
// `npm run v6mostly`) or from the build. Under tsx a worker thread does not inherit the
// TypeScript loader: a small bootstrap registers tsx in the thread, then imports the module.
import { Worker, type WorkerOptions } from "node:worker_threads";

/** `./name.ts` beside `importMetaUrl` under tsx, `./name.js` once built. */
export function siblingModule(importMetaUrl: string, relative: string): URL {
  const ts = importMetaUrl.endsWith(".ts");
  return new URL(ts ? `${relative}.ts` : `${relative}.js`, importMetaUrl);
}

/** `options` (resourceLimits, execArgv...) besides workerData, as `new Worker` takes them. */
export function startWorker(module: URL, workerData: unknown, options: WorkerOptions = {}): Worker {
  if (!module.pathname.endsWith(".ts")) return new Worker(module, { ...options, workerData });
  const tsx = import.meta.resolve("tsx/esm/api");
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(module.href)}); });`;
  return new Worker(code, { ...options, eval: true, workerData });
}
