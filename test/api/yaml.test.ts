// The YAML fast path (js-yaml) against the reference (`yaml`): whatever the fast path reads, `yaml`
// reads as one valid document with the same value; whatever `yaml` refuses, the fast path leaves.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import jsyaml from "js-yaml";
import { parseAllDocuments, stringify } from "yaml";
import { fastLoad } from "../../src/api/yaml.ts";

/** What `yaml` makes of one chunk: its documents' values, or "refused". */
function reference(text: string): unknown[] | "refused" {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.some((d) => d.errors.length > 0)) return "refused";
  return list.map((d) => d.toJS({ maxAliasCount: 100 }));
}

function agrees(text: string): void {
  const fast = fastLoad(text);
  if (!fast) return;
  const ref = reference(text);
  assert.notEqual(ref, "refused", `the fast path read ${JSON.stringify(text)}, which yaml refuses`);
  assert.deepEqual(ref, [fast.value], JSON.stringify(text));
}

const TOKENS = [
  "a",
  "b",
  "key",
  ":",
  ": ",
  " ",
  "  ",
  "\n",
  "\n  ",
  "\n- ",
  "- ",
  "-",
  "[",
  "]",
  "{",
  "}",
  ",",
  ", ",
  "'",
  '"',
  "#",
  " #",
  "1",
  "-1",
  "0x1F",
  "0o7",
  "1.5",
  ".5",
  "1e3",
  "null",
  "~",
  "true",
  "False",
  "...",
  "---",
  "|",
  ">-",
  "\\",
  "\r\n",
  "é",
  "::",
  "64:ff9b::/96",
  '"64:ff9b::"',
  "?",
  "!",
  "&a",
  "*a",
  "<<",
];

const scalar = fc.stringMatching(/^[-+0-9a-fA-FxoeE._~nulrsiNTF:]{0,8}$/);

describe("the YAML fast path", () => {
  it("reads plain scalars as the YAML 1.2 core schema does (null, bool, int, float, string)", () => {
    fc.assert(
      fc.property(scalar, (s) => agrees(`v: ${s}\n`)),
      { numRuns: 5000 },
    );
    for (const s of [
      "0b101",
      "-0x1F",
      "+0x1",
      "-.5e-3",
      "0o17",
      ".inf",
      "-.Inf",
      ".NaN",
      "1_000",
      "Yes",
      "~",
      "",
    ])
      agrees(`v: ${s}\n`);
  });

  it("reads any document `yaml` or js-yaml writes, in block or flow style, as `yaml` does", () => {
    const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("null", "~", "1", "true", "<<", "a b"));
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: "small" },
        fc.oneof(fc.string({ maxLength: 10 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null)),
        fc.array(tie("any"), { maxLength: 4 }),
        fc.dictionary(key, tie("any"), { maxKeys: 4 }),
      ),
    })).any;
    fc.assert(
      fc.property(value, fc.boolean(), fc.boolean(), (v, flow, js) => {
        const text = js
          ? jsyaml.dump(v, { flowLevel: flow ? 1 : -1 })
          : stringify(v, { collectionStyle: flow ? "flow" : "any" });
        agrees(text);
        agrees(`---\n${text}`);
      }),
      { numRuns: 3000 },
    );
  });

  it("never reads what `yaml` refuses (token soup)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 24 }), (tokens) =>
        agrees(tokens.join("")),
      ),
      { numRuns: 30000 },
    );
  });

  it("reads as `yaml` does, or leaves, documents of lines in the subset at any indentation (line soup)", () => {
    const indent = fc.constantFrom("", " ", "  ", "   ", "    ");
    const value = fc.constantFrom(
      "x",
      "1",
      "-1",
      "0x1F",
      "1e3",
      ".5",
      "null",
      "~",
      "true",
      "a b",
      "64:ff9b::/96",
      "x:y",
      '"q"',
      "'s'",
      "''",
      "[]",
      "{}",
      "[a, 1]",
      '["x", y,]',
      "{ a: 1, b: [c] }",
      "[{ a: b }]",
      "-",
      "- x",
      "a:",
      "x # c",
      ":x",
      "(x)",
    );
    const line = fc.oneof(
      fc
        .tuple(
          indent,
          fc.constantFrom("", "- "),
          fc.constantFrom("a", "b", "c", '"k"', "'k'", "1"),
          fc.option(value),
        )
        .map(([i, d, k, v]) => `${i}${d}${k}:${v === null ? "" : ` ${v}`}`),
      fc.tuple(indent, value).map(([i, v]) => `${i}- ${v}`),
      fc.constantFrom("", "# c", "  # c", "---", "--- # c"),
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 10 }), fc.boolean(), (lines, crlf) =>
        agrees(lines.join(crlf ? "\r\n" : "\n")),
      ),
      { numRuns: 30000 },
    );
  });

  it("leaves anchors, aliases, tags and collection keys to yaml", () => {
    for (const text of [
      "a: &x 1\nb: *x\n",
      "a: !!str 5\n",
      "[a]: b\n",
      "? a\n: b\n",
      "%YAML 1.2\n---\na: 1\n",
      "--- a: 1\n",
    ])
      assert.equal(fastLoad(text), undefined, text);
  });
});
