// The device driver as a long-running service (the shape `v6mostly run` and the agent host):
// apply now, then re-read every interval and correct drift; the last run is the status.
import type { Logger } from "../util/log.ts";
import { applyDevice, type DeviceRun, planDevice } from "./apply.ts";
import type { Device } from "./targets.ts";

export { applyDevice, planDevice } from "./apply.ts";
export { devicesOf, renderDevice } from "./targets.ts";

export interface DeviceSyncOptions {
  /** seconds between runs; drift is corrected at the next run (default 300) */
  intervalSeconds?: number;
  /** "plan": only read and report (no writes); default "apply" */
  mode?: "apply" | "plan";
}

export interface DeviceSync {
  stop(): Promise<void>;
  update(device: Device): Promise<void>;
  stats(): Record<string, number>;
  /** the last run: condition, changes, diagnostics */
  last(): DeviceRun | undefined;
}

export async function startDeviceSync(
  device: Device,
  ctx: { log: Logger; stateDir: string },
  opts: DeviceSyncOptions = {},
): Promise<DeviceSync> {
  const interval = (opts.intervalSeconds ?? 300) * 1000;
  const counters = { runs: 0, failures: 0, changesApplied: 0, driftDetected: 0, inSync: 0 };
  let current = device;
  let last: DeviceRun | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const once = async () => {
    const run = opts.mode === "plan" ? await planDevice(current, ctx) : await applyDevice(current, ctx);
    last = run;
    counters.runs++;
    counters.changesApplied += run.applied;
    counters.driftDetected += run.drift.length;
    const ok = run.condition.status === "True" || run.condition.reason === "InSync";
    if (!ok && run.condition.reason !== "Pending" && run.condition.reason !== "Drifted") counters.failures++;
    counters.inSync = run.condition.reason === "InSync" || run.condition.reason === "Applied" ? 1 : 0;
    ctx.log.info(
      { device: current.name, reason: run.condition.reason, applied: run.applied },
      run.condition.message,
    );
  };
  const schedule = () => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      running = once().finally(schedule);
    }, interval);
  };
  running = once().finally(schedule);
  await running;

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
    async update(d) {
      current = d;
      if (timer) clearTimeout(timer);
      await running;
      running = once().finally(schedule);
      await running;
    },
    stats: () => ({ ...counters }),
    last: () => last,
  };
}
