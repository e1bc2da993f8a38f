// Where leases live across restarts. `LeaseStore` is the seam: standalone mode keeps a journal
// file under the state directory; cluster mode can keep the same records in the Kubernetes API.
//
// The file store is an append-only journal of JSON lines (one lease record each, the latest record
// of an address wins) with group commit: records of all decisions made while the previous fsync
// ran are written with one write() and one fdatasync(), and only then are their replies sent.
// A reply therefore never promises an address the disk does not hold, after `kill -9` (the write
// returned) or a power loss (the fdatasync returned). When the journal grows past a few times the
// live records it is compacted: written to a temporary file, fsynced, renamed over the journal and
// the directory fsynced, so a crash leaves either the old or the new file whole.
import * as fs from "node:fs";
import * as path from "node:path";
import type { Lease } from "./leases.ts";

export interface LeaseStore {
  /** Every lease record kept (the latest per address). */
  load(): Promise<Lease[]>;
  /** Resolves once the records are durable. */
  save(records: Lease[]): Promise<void>;
  close(): Promise<void>;
  stats(): Record<string, number>;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface FileStoreOptions {
  /** compact when the journal holds more than this many lines and more than 2x the live records */
  compactAfter?: number;
  /** fdatasync before acknowledging (true); false leaves it to the page cache (kill -9 safe only) */
  sync?: boolean;
}

export class FileLeaseStore implements LeaseStore {
  readonly file: string;
  private fd = -1;
  private live = new Map<number, Lease>();
  private lines = 0;
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private closed = false;
  private counters = { writes: 0, fsyncs: 0, records: 0, compactions: 0, corruptLines: 0 };
  private readonly compactAfter: number;
  private readonly sync: boolean;

  constructor(
    readonly dir: string,
    scopeName: string,
    opts: FileStoreOptions = {},
  ) {
    this.file = path.join(dir, `dhcp4-${scopeName.replace(/[^A-Za-z0-9._-]/g, "_")}.leases`);
    this.compactAfter = opts.compactAfter ?? 10000;
    this.sync = opts.sync ?? true;
  }

  async load(): Promise<Lease[]> {
    fs.mkdirSync(this.dir, { recursive: true });
    let text = "";
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      this.lines++;
      const l = parseRecord(line);
      // A line torn by a crash mid-write can only be the last; its reply was never sent.
      if (!l) {
        this.counters.corruptLines++;
        continue;
      }
      this.live.set(l.address, l);
    }
    this.fd = fs.openSync(this.file, "a");
    if (text.length > 0 && !text.endsWith("\n")) fs.writeSync(this.fd, "\n");
    if (this.lines > this.compactAfter && this.lines > 2 * this.live.size) this.compact();
    return [...this.live.values()];
  }

  save(records: Lease[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("lease store closed"));
    for (const r of records) {
      this.pending.push(`${JSON.stringify(r)}\n`);
      this.live.set(r.address, r);
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.flushing) this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0 || this.fd < 0) {
      this.flushing = false;
      return;
    }
    this.flushing = true;
    const text = this.pending.join("");
    const n = this.pending.length;
    this.pending = [];
    const waiters = this.waiters;
    this.waiters = [];
    const fail = (e: Error) => {
      for (const w of waiters) w.reject(e);
      this.flush();
    };
    try {
      fs.writeSync(this.fd, text);
    } catch (e) {
      fail(e as Error);
      return;
    }
    this.counters.writes++;
    this.counters.records += n;
    this.lines += n;
    const done = () => {
      for (const w of waiters) w.resolve();
      if (this.lines > this.compactAfter && this.lines > 2 * this.live.size) {
        try {
          this.compact();
        } catch {
          // the journal is intact; compaction is tried again after the next write
        }
      }
      this.flush();
    };
    if (!this.sync) {
      setImmediate(done);
      return;
    }
    fs.fdatasync(this.fd, (err) => {
      this.counters.fsyncs++;
      if (err) fail(err);
      else done();
    });
  }

  /** Rewrites the journal as its live records: temp file, fsync, rename, fsync the directory. */
  private compact(): void {
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      const all: string[] = [];
      for (const l of this.live.values()) all.push(JSON.stringify(l));
      fs.writeSync(fd, all.length ? `${all.join("\n")}\n` : "");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    const dfd = fs.openSync(this.dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, "a");
    this.lines = this.live.size;
    this.counters.compactions++;
  }

  async close(): Promise<void> {
    while (this.flushing || this.pending.length) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  stats(): Record<string, number> {
    return { ...this.counters, journalLines: this.lines, liveRecords: this.live.size };
  }
}

/** One lease record as stored (a JSON line), checked field by field; undefined when it is not one. */
export function parseRecord(line: string): Lease | undefined {
  try {
    const o = JSON.parse(line) as Partial<Lease>;
    if (
      typeof o.address !== "number" ||
      typeof o.client !== "string" ||
      typeof o.expires !== "number" ||
      (o.state !== "bound" && o.state !== "released" && o.state !== "declined")
    ) {
      return undefined;
    }
    return {
      address: o.address >>> 0,
      client: o.client,
      hwaddr: typeof o.hwaddr === "string" ? o.hwaddr : "",
      state: o.state,
      expires: o.expires,
      ...(typeof o.hostname === "string" ? { hostname: o.hostname } : {}),
    };
  } catch {
    return undefined;
  }
}

/** A store in memory only (tests, and a place-holder shape for other back ends). */
export class MemoryLeaseStore implements LeaseStore {
  readonly records = new Map<number, Lease>();
  async load(): Promise<Lease[]> {
    return [...this.records.values()];
  }
  async save(records: Lease[]): Promise<void> {
    for (const r of records) this.records.set(r.address, r);
  }
  async close(): Promise<void> {}
  stats(): Record<string, number> {
    return { liveRecords: this.records.size };
  }
}
