/**
 * The session handover file of a stateful Nat64Gateway, in the state directory (on a node the
 * agent's hostPath, which outlives the pod): written by a graceful stop, read once and deleted by
 * the next start. The format, the filtering and the restore are datapath/nat64/handover.ts; this
 * module is the file's I/O and what it logs and counts.
 *
 * A file that cannot be read, is truncated, corrupt or of another version is logged, counted
 * (handoverFileSkipped) and removed: the gateway starts with empty tables, as without a file.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  decodeHandover,
  encodeHandover,
  fitHandover,
  type HandoverTarget,
  RECORD_BYTES,
} from "../../datapath/nat64/handover.ts";
import type { Logger } from "../../util/log.ts";
import type { PrefixData } from "../../util/net.ts";

export class SessionHandover {
  readonly path: string;
  /** sessions the file held that fit this gateway, and those left behind (expired, outside pool4, ...) */
  readonly counts = { handoverCarried: 0, handoverLeftBehind: 0, handoverFileSkipped: 0 };

  constructor(
    stateDir: string,
    name: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, `nat64-${name}.sessions`);
  }

  /**
   * The sessions the previous translator handed over that fit `target`, one array of records per
   * worker, their timers aged by the wall-clock time since the file was written; undefined
   * without a usable file. The file is deleted: it is read once.
   */
  take(target: HandoverTarget, now = Date.now()): Uint8Array[] | undefined {
    let buf: Buffer;
    try {
      buf = readFileSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        this.skip(`cannot read it: ${(e as Error).message}`);
      return undefined;
    }
    rmSync(this.path, { force: true });
    const h = decodeHandover(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
    if ("problem" in h) {
      this.skip(h.problem);
      return undefined;
    }
    const ageMs = now - h.writtenAt;
    const fit = fitHandover(h, target, ageMs);
    this.counts.handoverCarried += fit.kept;
    this.counts.handoverLeftBehind += h.count - fit.kept;
    this.log.info(
      {
        file: this.path,
        sessions: h.count,
        carried: fit.kept,
        leftBehind: fit.dropped,
        ageMs: Math.round(ageMs),
      },
      "sessions handed over from the previous translator",
    );
    return fit.perWorker;
  }

  private skip(problem: string): void {
    this.counts.handoverFileSkipped++;
    this.log.warn({ file: this.path, problem }, "session handover file skipped: starting with empty tables");
  }

  /** Writes the workers' sessions (a temporary name, then renamed: a reader never sees half a file). */
  save(pool6: PrefixData, parts: readonly Uint8Array[], now = Date.now()): void {
    const bytes = encodeHandover(now, pool6, parts);
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o600 });
    renameSync(tmp, this.path);
    this.log.info(
      {
        file: this.path,
        sessions: parts.reduce((n, r) => n + r.length / RECORD_BYTES, 0),
        bytes: bytes.length,
      },
      "sessions written for the next translator",
    );
  }
}
