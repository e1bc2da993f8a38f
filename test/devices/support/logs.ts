// A pino logger whose lines are kept in memory, to assert on what was (and was not) logged.
import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../../src/util/log.ts";

export function capturedLogger(): { log: Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString("utf8"));
      cb();
    },
  });
  return {
    log: createLogger("devices-test", { level: "debug", destination: sink }),
    text: () => chunks.join(""),
  };
}
