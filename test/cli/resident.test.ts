// src/cli/resident.ts: which mappings may be given back (pure), and a real process giving back its
// start-up pages and working on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { droppableMappings } from "../../src/cli/resident.ts";

/** One smaps entry: header, then the fields the code reads (and one it does not). */
function entry(range: string, perms: string, file: string, rss: number, anonymous = 0, locked = 0): string {
  return [
    `${range} ${perms} 00000000 fe:01 4242${file ? `                      ${file}` : ""}`,
    `Size:               1024 kB`,
    `Rss:                ${rss} kB`,
    `Anonymous:          ${anonymous} kB`,
    `Locked:             ${locked} kB`,
    `THPeligible:    0`,
    `VmFlags: rd mr mw me`,
  ].join("\n");
}

describe("droppableMappings", () => {
  it("takes a file's read-only private mappings without a page of their own, and nothing else", () => {
    const smaps = [
      entry("00400000-00b6f000", "r--p", "/usr/bin/node", 5948),
      entry("00b72000-025fe000", "r-xp", "/usr/bin/node", 16952),
      // relocated then made read-only (RELRO): its pages are the process's own
      entry("0563a000-0563e000", "r--p", "/usr/bin/node", 16, 8),
      entry("0563e000-0565d000", "rw-p", "/usr/bin/node", 124, 92),
      // writable: no page of its own yet, but any write makes one
      entry("0565d000-0566d000", "rw-p", "/usr/bin/node", 12),
      entry("7f0000000000-7f0000100000", "r--s", "/usr/lib/shared.db", 64),
      entry("7f0000100000-7f0000200000", "rw-p", "", 900, 900),
      entry("7f0000200000-7f0000300000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 700),
      entry("7f0000300000-7f0000400000", "r--p", "/usr/lib/old.so (deleted)", 10),
      entry("7f0000400000-7f0000500000", "r--p", "/dev/zero", 4),
      entry("7f0000500000-7f0000600000", "r-xp", "/usr/lib/locked.so", 40, 0, 40),
      entry("7ffd0000000-7ffd0001000", "r-xp", "[vdso]", 4),
    ].join("\n");
    const got = droppableMappings(smaps);
    assert.deepEqual(
      got.map((m) => [m.start.toString(16), m.length, m.rss]),
      [
        ["400000", 0xb6f000 - 0x400000, 5948],
        ["b72000", 0x25fe000 - 0xb72000, 16952],
        ["7f0000200000", 0x100000, 700],
      ],
    );
    assert.match(got[0]!.key, /^00400000-00b6f000 r--p .*\/usr\/bin\/node$/);
  });
});

/**
 * `body` in a fresh node (under tsx) with `settle`, `droppableMappings`, `fileKiB()` (its RssFile)
 * and `smaps()` in scope; what it prints last, parsed.
 */
function inFreshNode(body: string): Record<string, unknown> {
  const script = `
    import { readFileSync } from "node:fs";
    import { droppableMappings, settle } from ${JSON.stringify(new URL("../../src/cli/resident.ts", import.meta.url).href)};
    const fileKiB = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]);
    const smaps = () => readFileSync("/proc/self/smaps", "utf8");
    ${body}`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

describe("settle", () => {
  it("gives back a real process's start-up pages of node's binary, which works on", () => {
    // what it gives back, and then code that faults some of it back in (a regular expression,
    // JSON, Intl with ICU's data)
    const m = inFreshNode(`
      const before = fileKiB();
      const s = settle(new Set(droppableMappings(smaps()).map((m) => m.key)));
      const right = fileKiB();
      const work = JSON.stringify({ a: /(x+)+y/.test("xxxxxxxxxxy"), n: new Intl.NumberFormat("de-DE").format(1234.5) });
      console.log(JSON.stringify({ before, right, given: s.fileKiB, work }));`);
    assert.equal(m.work, JSON.stringify({ a: true, n: "1.234,5" }));
    // node's binary alone is about 30 MiB resident at start; most of it was start-up's
    assert.ok((m.given as number) > 10 * 1024, JSON.stringify(m));
    assert.ok((m.right as number) < (m.before as number) - 10 * 1024, JSON.stringify(m));
  });

  it("leaves alone a mapping it did not see before", () => {
    const m = inFreshNode(`
      const before = fileKiB();
      const s = settle(new Set());
      console.log(JSON.stringify({ before, right: fileKiB(), given: s.fileKiB }));`);
    assert.equal(m.given, 0);
    assert.ok((m.right as number) > (m.before as number) - 1024, JSON.stringify(m));
  });
});
