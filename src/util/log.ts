// One logger for every part: pino, JSON lines, secrets redacted wherever they appear.
import { type Logger, pino } from "pino";

/** Field paths that may carry a secret; their values are never written. */
export const REDACT_PATHS = [
  "token",
  "password",
  "secret",
  "authorization",
  "credentials",
  "*.token",
  "*.password",
  "*.secret",
  "*.authorization",
  "*.Authorization",
  "*.credentials",
  "headers.authorization",
  "headers.Authorization",
  "req.headers.authorization",
  "*.headers.authorization",
  "*.headers.Authorization",
];

export interface LogOptions {
  level?: string;
  /** where lines go; default standard error, so that standard output stays for command results */
  destination?: NodeJS.WritableStream;
}

export function createLogger(name: string, opts: LogOptions = {}): Logger {
  return pino(
    {
      name,
      level: opts.level ?? process.env.V6MOSTLY_LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
    },
    (opts.destination ?? process.stderr) as pino.DestinationStream,
  );
}

export type { Logger };
