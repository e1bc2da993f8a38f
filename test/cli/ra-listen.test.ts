// `v6mostly ra listen` facing a hostile router (issue 19): an RA whose DNSSL names and captive
// portal URI carry terminal escape sequences, sent on a veth link between two namespaces; what
// the command prints, as text and as JSON, holds no character a terminal acts on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HOSTILE } from "../services/ra/fixtures/hostile-ra.ts";
import { Lab, missing } from "../services/ra/lab.ts";

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

test("ra listen prints a hostile RA's DNSSL and captive portal escaped, as text and as JSON", async (t) => {
  const why = missing();
  if (why) return t.skip(why);
  const lab = new Lab("x");
  t.after(() => lab.cleanup());
  lab.setup({ hostAcceptsRa: false });
  const listen = (format: string) =>
    lab.node(lab.h, "src/cli/main.ts", [
      "ra",
      "listen",
      "-i",
      lab.hif,
      "--count",
      "1",
      "--timeout",
      "30",
      "-o",
      format,
    ]);
  const text = listen("text");
  const json = listen("json");
  for (const p of [text, json])
    await p.until(() => p.stderr.includes("listening on"), 20_000, "the listener");
  const sender = lab.node(lab.r, "test/services/ra/fixtures/hostile-ra.ts", [lab.rif]);
  assert.equal(await text.exited(30_000), 0, text.stderr);
  assert.equal(await json.exited(30_000), 0, json.stderr);
  await sender.kill();

  const printed = text.lines.join("\n");
  t.diagnostic(printed);
  for (const l of text.lines) {
    const bad = [...l].find((c) => UNSAFE.test(c));
    assert.equal(bad, undefined, `U+${bad?.codePointAt(0)?.toString(16)} in ${JSON.stringify(l)}`);
  }
  assert.match(
    printed,
    /^ {2}DNSSL evil\\027\\0912J\\027\\0930\\059pwned\\007\.example, lifetime 600s \(10m\)$/m,
  );
  assert.ok(
    printed.includes(
      "  captive portal https://portal.example/\\x1b[31mred\\x1b[0m\\x9b2J\\u{202e}gnp.exe\\\\x41",
    ),
    printed,
  );

  const line = json.lines.join("\n");
  assert.ok(!UNSAFE.test(line), line);
  const record = JSON.parse(line) as { advertisement: { options: { type: string; uri?: string }[] } };
  // escaped on the terminal, the same value for a program
  assert.equal(record.advertisement.options.find((o) => o.type === "captivePortal")?.uri, HOSTILE.portal);
});
