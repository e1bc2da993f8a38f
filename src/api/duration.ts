// Durations as users write them: `300`, `300s`, `30m`, `2h4m`, `30d`, `1w`; whole seconds inside.
import { z } from "zod";

const UNIT_SECONDS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Seconds, or an error sentence. */
export function parseDuration(input: unknown): { ok: true; seconds: number } | { ok: false; error: string } {
  if (typeof input === "number") {
    if (input < 0) return { ok: false, error: `${input} is negative: a duration is 0 or more seconds` };
    if (!Number.isInteger(input)) return { ok: false, error: `${input} is not a whole number of seconds` };
    return { ok: true, seconds: input };
  }
  if (typeof input !== "string")
    return { ok: false, error: `expected a duration such as 300, 300s, 30m, 2h4m or 30d` };
  const t = input.trim();
  if (/^\d+$/.test(t)) return { ok: true, seconds: Number(t) };
  if (/^-\s*\d/.test(t))
    return { ok: false, error: `"${input}" is negative: a duration is 0 or more seconds` };
  const m = DURATION.exec(t);
  if (!t || !m || m.slice(1).every((g) => g === undefined)) {
    return { ok: false, error: `"${input}" is not a duration (write 300, 300s, 30m, 2h4m, 30d or 1w)` };
  }
  let seconds = 0;
  ["w", "d", "h", "m", "s"].forEach((unit, i) => {
    const g = m[i + 1];
    if (g !== undefined) seconds += Number(g) * UNIT_SECONDS[unit]!;
  });
  return { ok: true, seconds };
}

/** The shortest readable form: 7200 → "2h", 7440 → "2h4m", 0 → "0s". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  let rest = seconds;
  let out = "";
  for (const unit of ["d", "h", "m", "s"]) {
    const size = UNIT_SECONDS[unit]!;
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/**
 * A zod schema for a duration field. Accepts an integer or a string; the parsed value is whole
 * seconds. In the CRD it becomes `x-kubernetes-int-or-string`.
 */
export function duration(opts: { infinity?: boolean } = {}) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    if (opts.infinity && value === "infinity") return 0xffffffff;
    const d = parseDuration(value);
    if (!d.ok) {
      ctx.addIssue({ code: "custom", message: d.error + (opts.infinity ? ' or "infinity"' : "") });
      return z.NEVER;
    }
    return d.seconds;
  });
}
