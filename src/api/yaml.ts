// A fast path for one YAML document. The `yaml` package is the reference (its messages, its limit
// on aliases, YAML 1.2 throughout) but parses about 5 MB/s; js-yaml parses the same plain documents
// about ten times faster. A document goes through js-yaml only when it keeps to the part of YAML
// where the two agree, with js-yaml resolving plain scalars by the same YAML 1.2 core schema
// rules; anything else, and every document js-yaml refuses, is left to `yaml` (load.ts).
import jsyaml from "js-yaml";

/** YAML 1.2 core schema (YAML 1.2.2 §10.3.2), with the patterns `yaml` resolves plain scalars by. */
const CORE = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new jsyaml.Type("tag:yaml.org,2002:null", {
      kind: "scalar",
      resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
      construct: () => null,
    }),
    new jsyaml.Type("tag:yaml.org,2002:bool", {
      kind: "scalar",
      resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
      construct: (s: string) => s[0] === "t" || s[0] === "T",
    }),
    new jsyaml.Type("tag:yaml.org,2002:int", {
      kind: "scalar",
      resolve: (s: string) => /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(s),
      construct: (s: string) =>
        s.startsWith("0o")
          ? parseInt(s.slice(2), 8)
          : s.startsWith("0x")
            ? parseInt(s.slice(2), 16)
            : parseInt(s, 10),
    }),
    new jsyaml.Type("tag:yaml.org,2002:float", {
      kind: "scalar",
      resolve: (s: string) =>
        /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/.test(
          s,
        ),
      construct: (s: string) => {
        if (/nan$/i.test(s)) return Number.NaN;
        if (/inf$/i.test(s)) return s[0] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
        return parseFloat(s);
      },
    }),
  ],
});

// The fast path's subset, checked line by line: every line is blank, a comment, a `---` line, or
//   [indent] [- ] key: [value] [# comment]      or      [indent] - value [# comment]
// with a value on one line: a plain scalar of safe characters, a quoted string without escapes,
// or a flow collection ([...] or {...}, one level of nesting) of such scalars. Everything else
// (anchors, aliases, tags, directives, block scalars, multi-line scalars, escapes, `? ` keys,
// compact nested sequences, tabs) is left to `yaml`: there the two parsers were seen to differ.
const DQ = String.raw`"[^"\\\r\n]*"`;
const SQ = String.raw`'(?:[^'\r\n]|'')*'`;
/** a plain scalar in block context: no `: `, no ` #`, not ending in `:` */
const PLAIN = String.raw`(?:-(?=[^\s-])|[A-Za-z0-9_./~+(])(?:[A-Za-z0-9_./~+()=@-]|:(?=[^\s:])|::(?=[^\s:])| (?=[^\s#]))*`;
/** a plain scalar inside a flow collection: no `:` `,` or brackets */
const FPLAIN = String.raw`(?:-(?=[^\s-])|[A-Za-z0-9_./~+(])(?:[A-Za-z0-9_./~+()=@-]| (?=[^\s#,\]}]))*`;
const KEY = `(?:[A-Za-z0-9_./][A-Za-z0-9_./-]*|${DQ}|${SQ})`;
const FSCALAR = `(?:${FPLAIN}|${DQ}|${SQ})`;
const FPAIR = `${KEY}: *${FSCALAR}`;
const list = (item: string, open: string, close: string) =>
  `${open} *(?:${item} *(?:, *${item} *)*,? *)?${close}`;
const FMAP = list(FPAIR, "\\{", "\\}");
const FSEQ = list(`(?:${FSCALAR}|${FMAP})`, "\\[", "\\]");
const FMAP2 = list(`${KEY}: *(?:${FSCALAR}|${FMAP}|${FSEQ})`, "\\{", "\\}");
const VALUE = `(?:${PLAIN}|${DQ}|${SQ}|${FSEQ}|${FMAP2})`;
const COMMENT = `(?: +#.*)?`;
const SIMPLE_LINE = new RegExp(
  String.raw`^(?: *(?:#.*)?|---${COMMENT}| *(?:- )?${KEY}:(?: +${VALUE})?${COMMENT}| *- ${VALUE}${COMMENT}) *\r?$`,
);

/** Longer lines go to `yaml`: a backtracking match over a 50 MB line would overflow the stack. */
const MAX_LINE = 4096;

function inSubset(text: string): boolean {
  for (let from = 0; from <= text.length; ) {
    let to = text.indexOf("\n", from);
    if (to === -1) to = text.length;
    if (to - from > MAX_LINE || !SIMPLE_LINE.test(text.slice(from, to))) return false;
    from = to + 1;
  }
  return true;
}

/**
 * The document in `text` (one document, as load.ts cuts them) as js-yaml reads it, or undefined
 * when `yaml` must read it: outside the fast path's subset, refused by js-yaml, several documents,
 * a key that was null (js-yaml names it "null", `yaml` ""), or no value (an empty document and
 * none at all look alike to js-yaml).
 */
export function fastLoad(text: string): { value: unknown } | undefined {
  let value: unknown;
  try {
    if (!inSubset(text)) return undefined;
    value = jsyaml.load(text, { schema: CORE });
  } catch {
    return undefined;
  }
  return value === null || value === undefined || hasNullKey(value) ? undefined : { value };
}

function hasNullKey(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) return v.some(hasNullKey);
  for (const k in v) if (k === "null" || hasNullKey((v as Record<string, unknown>)[k])) return true;
  return false;
}
