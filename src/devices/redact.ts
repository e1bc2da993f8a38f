// The device's credential kept out of everything the drivers say. A box may echo what it was sent
// (the token, the Basic credentials) in an error body or a field value; that text reaches error
// messages, conditions, plan output and log lines. The secrets are known, so every form of them
// is replaced wherever it appears.
import type { Logger } from "../util/log.ts";

export type Redact = (text: string) => string;

export const REDACTED = "[redacted]";

/** A secret as sent, and as a JSON string or a URL would carry it. */
function forms(secret: string): string[] {
  return [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];
}

/** Replaces each of `secrets` (in every form) by REDACTED; the longest first. */
export function redactor(secrets: readonly string[]): Redact {
  const all = [...new Set(secrets.filter((s) => s.length > 0).flatMap(forms))].sort(
    (a, b) => b.length - a.length,
  );
  return (text) => all.reduce((t, s) => t.split(s).join(REDACTED), text);
}

/** A copy of `value` with every string in it (keys too) redacted: for what is shown or logged whole. */
export function redactDeep<T>(value: T, redact: Redact): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactDeep(v, redact)])) as T;
  }
  return value;
}

/**
 * A child of `log` whose lines have every value redacted. The message of a line is not: the
 * drivers log constant messages and put what varies (paths, errors, ids) in the fields.
 */
export function redactingLogger(log: Logger, redact: Redact): Logger {
  return log.child({}, { formatters: { log: (fields: object) => redactDeep(fields, redact) } });
}
