// One packet worker's health as the main thread sees it (workers.ts health(), read by fate-sharing,
// agent/fatesharing.ts): its heartbeats (the "snapshot" message its loop sends once a second with
// the outcome of the translator's probe, tun/loop.ts and siit/probe.ts) and its TUN I/O counters
// between them (stats.ts). Pure: the clock and the counters are arguments.

export interface Pulse {
  /** when the last heartbeat came (Date.now()); the worker's start before the first */
  at: number;
  /** what the last probe found wrong; null when it passed */
  probe: string | null;
  exited: boolean;
  /** the worker's own failure (an uncaught exception ended it) */
  failure: Error | null;
  /** since when every window between heartbeats had its writes (reads) failing; null while not */
  writesFailing: number | null;
  readsFailing: number | null;
  /** the counters at the last heartbeat */
  last: IoCounts;
}

/** A worker's TUN I/O counters (stats.ts), as totals. */
export interface IoCounts {
  writeErrors: number;
  readErrors: number;
  packetsRead: number;
  /** packets translated, both ways */
  translated: number;
}

export function newPulse(started: number): Pulse {
  return {
    at: started,
    probe: null,
    exited: false,
    failure: null,
    writesFailing: null,
    readsFailing: null,
    last: { writeErrors: 0, readErrors: 0, packetsRead: 0, translated: 0 },
  };
}

/**
 * A heartbeat at `now`: the probe's outcome, and whether the TUN I/O failed through the window
 * since the last one: reads failing while none succeeded (the device is gone), writes failing at
 * least as often as packets were translated (each gives one output or more).
 */
export function beat(p: Pulse, now: number, probe: string | null, counts: IoCounts): void {
  const d = (k: keyof IoCounts) => counts[k] - p.last[k];
  const writeErrors = d("writeErrors");
  const readErrors = d("readErrors");
  p.writesFailing = writeErrors > 0 && writeErrors >= d("translated") ? (p.writesFailing ?? p.at) : null;
  p.readsFailing = readErrors > 0 && d("packetsRead") === 0 ? (p.readsFailing ?? p.at) : null;
  p.last = counts;
  p.at = now;
  p.probe = probe;
}

/** What keeps the worker from translating at `now`, or null: dead, stuck for `silentMs`, probe failed, I/O failing for `silentMs`. */
export function trouble(p: Pulse, now: number, silentMs: number): string | null {
  const secs = (since: number) => `${Math.round((now - since) / 1000)} s`;
  if (p.failure) return `failed: ${p.failure.message}`;
  if (p.exited) return "exited";
  if (now - p.at > silentMs) return `sent no heartbeat for ${secs(p.at)}: its loop is stuck`;
  if (p.probe) return `failed its probe: ${p.probe}`;
  if (p.readsFailing !== null && now - p.readsFailing >= silentMs)
    return `cannot read its TUN queue (every read failed for ${secs(p.readsFailing)})`;
  if (p.writesFailing !== null && now - p.writesFailing >= silentMs)
    return `cannot write to its TUN queue (write errors for ${secs(p.writesFailing)})`;
  return null;
}
