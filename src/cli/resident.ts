// What a long-running command (`run`, `agent`) gives back once it has started, through two libc calls
// (koffi):
// - the pages of the node binary and its libraries that start-up read and nothing reads again. Node
//   maps its 94 MiB executable (V8's snapshot, the built-in JavaScript sources, full ICU data, the
//   code), and start-up touches 34 to 41 MiB of it, counted in the process's resident set although
//   they are the page cache's, shared with every node process on the host. madvise(MADV_DONTNEED)
//   takes them out of this process's page tables; what is still used faults back in from the page
//   cache (a minor fault, no disk read while the file is cached), so what stays resident is the
//   working set. A mapping qualifies when it is a file's, read-only, private and holds no page of its
//   own (no copy-on-write page: `Anonymous: 0` in smaps), so no content can be lost; and when it was
//   already there, the same, one settle delay before: a library that another thread is loading at
//   that moment (its segments are mapped over a first read-only mapping of the whole file) is never
//   touched, and loaded libraries stay where they are (nothing here unloads one).
// - malloc's free memory: malloc_trim(0) returns the free pages of every arena (glibc), what
//   start-up allocated and freed (module compilation, the first plan, the workers' set-up).
// Measured by `npm run bench:nat64-memory` (docs/nat64.md, Memory).
import { readFileSync } from "node:fs";
import koffi from "koffi";

const MADV_DONTNEED = 4;

/** One mapping of /proc/self/smaps that may be given back. */
export interface Droppable {
  /** its smaps header line: the same key is the same mapping (range, permissions, offset, file) */
  key: string;
  start: number;
  length: number;
  /** resident KiB before */
  rss: number;
}

/**
 * The file mappings in `smaps` (the text of /proc/PID/smaps) whose resident pages are all the
 * file's: read-only (no w), private, and no anonymous (copy-on-write) page.
 */
export function droppableMappings(smaps: string): Droppable[] {
  const out: Droppable[] = [];
  let cur: (Droppable & { ok: boolean }) | undefined;
  const close = () => {
    if (cur?.ok) out.push({ key: cur.key, start: cur.start, length: cur.length, rss: cur.rss });
  };
  for (const line of smaps.split("\n")) {
    // 00400000-00b6f000 r--p 00000000 fe:01 1234   /usr/bin/node
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      close();
      const start = Number.parseInt(head[1]!, 16);
      const perms = head[3]!;
      const file = head[4]!;
      cur = {
        key: line,
        start,
        length: Number.parseInt(head[2]!, 16) - start,
        rss: 0,
        ok:
          file.startsWith("/") &&
          !file.startsWith("/dev/") &&
          !file.endsWith(" (deleted)") &&
          perms[0] === "r" &&
          perms[1] === "-" &&
          perms[3] === "p",
      };
      continue;
    }
    if (!cur) continue;
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (!field) continue;
    if (field[1] === "Rss") cur.rss = Number(field[2]);
    // a page of its own (relocated, written before a mprotect): dropping it would lose the write;
    // locked pages (mlock) are not to be given back
    else if ((field[1] === "Anonymous" || field[1] === "Locked") && field[2] !== "0") cur.ok = false;
  }
  close();
  return out;
}

interface Libc {
  madvise(addr: number, length: number, advice: number): number;
  mallocTrim(pad: number): number;
}

let libc: Libc | null | undefined;

/** madvise and malloc_trim, or null where libc has no malloc_trim (musl). */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = koffi.load("libc.so.6");
    libc = {
      madvise: lib.func("int madvise(uintptr_t addr, size_t length, int advice)") as Libc["madvise"],
      mallocTrim: lib.func("int malloc_trim(size_t pad)") as Libc["mallocTrim"],
    };
  } catch {
    libc = null;
  }
  return libc;
}

export interface Settled {
  /** resident KiB of file mappings given back (some fault back in at once) */
  fileKiB: number;
  /** malloc_trim released memory */
  trimmed: boolean;
}

/** The keys of the mappings that qualify now, for the next settle. */
function qualifying(): Set<string> {
  return new Set(droppableMappings(readFileSync("/proc/self/smaps", "utf8")).map((m) => m.key));
}

/**
 * Gives back the start-up pages of the file mappings that qualify now and were in `before` (see
 * the top of the file), and malloc's free memory.
 */
export function settle(before: ReadonlySet<string>): Settled {
  const c = loadLibc();
  if (!c) return { fileKiB: 0, trimmed: false };
  const trimmed = c.mallocTrim(0) === 1;
  let fileKiB = 0;
  for (const m of droppableMappings(readFileSync("/proc/self/smaps", "utf8"))) {
    if (before.has(m.key) && c.madvise(m.start, m.length, MADV_DONTNEED) === 0) fileKiB += m.rss;
  }
  return { fileKiB, trimmed };
}

/** Seconds after start-up (and after each later call of `again`) when `settle` runs. */
export const SETTLE_AFTER_S = 10;

/**
 * Runs `settle` SETTLE_AFTER_S seconds from now and again that long after each `again()` (a reload,
 * a service started late); `report` gets what it gave back. The timer keeps no process alive.
 */
export function settleLater(report: (s: Settled) => void): { again(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const again = () => {
    clearTimeout(timer);
    const before = qualifying();
    timer = setTimeout(() => report(settle(before)), SETTLE_AFTER_S * 1000);
    timer.unref();
  };
  again();
  return { again, stop: () => clearTimeout(timer) };
}
