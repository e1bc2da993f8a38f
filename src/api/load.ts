// Reading resource files: YAML (several documents per file) or JSON, given as files or folders.
// I/O lives here; everything after `readDocuments` is pure.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Source } from "./resources.ts";
import { fastLoad } from "./yaml.ts";

export interface RawDocument {
  source: Source;
  /** the parsed document, or undefined when it could not be parsed (see `error`) */
  value?: unknown;
  error?: string;
}

const RESOURCE_FILE = /\.(ya?ml|json)$/i;

/** Every resource file under the paths: files as given, folders walked in name order. */
export function listFiles(paths: readonly string[]): { files: string[]; errors: RawDocument[] } {
  const files: string[] = [];
  const errors: RawDocument[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (entry.name.startsWith(".")) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (RESOURCE_FILE.test(entry.name)) files.push(full);
    }
  };
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (e) {
      errors.push({ source: { file: path, doc: 0 }, error: describeFsError(e) });
      continue;
    }
    if (isDir) {
      const before = files.length;
      walk(path);
      if (files.length === before) {
        errors.push({
          source: { file: path, doc: 0 },
          error: "no .yaml, .yml or .json files in this folder",
        });
      }
    } else files.push(path);
  }
  return { files, errors };
}

/** Parse one file's text into its documents. Never throws. */
export function parseDocuments(file: string, text: string): RawDocument[] {
  return [...documentsOf(file, text)];
}

/**
 * One file's documents, one at a time: a caller that validates each as it comes keeps none of
 * the parsed text. Never throws.
 */
export function* documentsOf(file: string, text: string): Generator<RawDocument> {
  // (a caller that is not typed may hand anything: never throw)
  if (typeof text !== "string") {
    yield { source: { file, doc: 1 }, error: "not text" };
    return;
  }
  if (/\.json$/i.test(file)) {
    let items: unknown[];
    try {
      const value: unknown = JSON.parse(text);
      // A JSON file may hold one object, an array of them, or a Kubernetes List.
      items = Array.isArray(value) ? value : isList(value) ? value.items : [value];
    } catch (e) {
      yield { source: { file, doc: 1 }, error: `not valid JSON: ${(e as Error).message}` };
      return;
    }
    for (const [i, value] of items.entries()) yield { source: { file, doc: i + 1 }, value };
    return;
  }
  // Parsed one document at a time (cut at the `---` lines), so that no parser's tree of a large
  // file ever exists whole: time and memory stay linear in the number of documents.
  let index = 0;
  for (const chunk of documentChunks(text)) {
    const fast = fastLoad(chunk.text);
    if (fast) {
      index++;
      yield* itemsOf({ file, doc: index, line: chunk.line + firstContentLine(chunk.text) - 1 }, fast.value);
      continue;
    }
    let docs: ReturnType<typeof parseAllDocuments>;
    try {
      docs = parseAllDocuments(chunk.text, { prettyErrors: true, uniqueKeys: true });
    } catch (e) {
      index++;
      yield { source: { file, doc: index }, error: `not valid YAML: ${(e as Error).message}` };
      continue;
    }
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      index++;
      const line = chunk.line + lineOf(chunk.text, doc.range?.[0] ?? 0) - 1;
      const source: Source = { file, doc: index, line };
      if (doc.errors.length > 0) {
        const first = doc.errors[0]!;
        const pos = first.linePos?.[0];
        const where = pos ? ` (line ${chunk.line + pos.line - 1}, column ${pos.col})` : "";
        const badLine = pos ? lineText(chunk.text, pos.line) : "";
        // `prefix: 64:ff9b::` reads as a nested key: the commonest YAML trap with IPv6.
        const hint = /::\s*$|::[,\]}\s]/.test(badLine)
          ? '; an IPv6 address ending in "::" must be quoted, e.g. "64:ff9b::"'
          : "";
        const message = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
        yield { source, error: `not valid YAML${where}: ${message}${hint}` };
        continue;
      }
      let value: unknown;
      try {
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        yield { source, error: `not valid YAML: ${(e as Error).message}` };
        continue;
      }
      if (value === null || value === undefined) continue; // an empty document (a trailing ---)
      yield* itemsOf(source, value);
    }
  }
}

/** A document, or each item of a kubectl List. */
function* itemsOf(source: Source, value: unknown): Generator<RawDocument> {
  if (isList(value)) for (const item of value.items) yield { source, value: item };
  else yield { source, value };
}

/**
 * The text cut before each line that starts a document (`---` at column 0, alone or followed by
 * white space). YAML forbids such a line inside a document's content, so every cut falls between
 * documents; `line` is where each piece starts in the file (1-based). One pass over the text.
 */
function* documentChunks(text: string): Generator<{ text: string; line: number }> {
  let from = 0;
  let fromLine = 1;
  let line = 1; // the line `at` is on
  let counted = 0; // newlines before this offset are in `line`
  for (
    let at = text.startsWith("---") ? 0 : text.indexOf("\n---");
    at !== -1;
    at = text.indexOf("\n---", at + 1)
  ) {
    const start = text[at] === "\n" ? at + 1 : at;
    const after = text[start + 3];
    if (after !== undefined && !/[ \t\r\n]/.test(after)) continue;
    line += newlines(text, counted, start);
    counted = start;
    if (start === 0) continue;
    const piece = text.slice(from, start);
    // comments or directives alone before a `---` belong to the document it starts
    if (/^(?:[ \t]*(?:[#%].*)?\r?\n)*$/.test(piece)) continue;
    yield { text: piece, line: fromLine };
    from = start;
    fromLine = line;
  }
  if (from < text.length || from === 0) yield { text: text.slice(from), line: fromLine };
}

function newlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i !== -1 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** The 1-based line of `text` holding `offset`. */
function lineOf(text: string, offset: number): number {
  return newlines(text, 0, offset) + 1;
}

/** Line `n` (1-based) of `text`, without its end. */
function lineText(text: string, n: number): string {
  let start = 0;
  for (let l = 1; l < n && start !== -1; l++) start = text.indexOf("\n", start) + 1 || -1;
  if (start === -1) return "";
  const end = text.indexOf("\n", start);
  return text.slice(start, end === -1 ? text.length : end);
}

/** The 1-based line where a document's content starts: its `---`, or else past blank and comment lines. */
function firstContentLine(text: string): number {
  const lead = /^(?:[ \t]*(?:#.*)?\r?\n)*/.exec(text)![0];
  return newlines(lead, 0, lead.length) + 1;
}

/** Read and parse every document under the paths. File names in sources are relative to `cwd`. */
export function readDocuments(paths: readonly string[], cwd = process.cwd()): RawDocument[] {
  return [...eachDocument(paths, cwd)];
}

/**
 * Every document under the paths, one at a time: each file is read once, and a document's value
 * can be dropped as soon as it has been checked.
 */
export function* eachDocument(paths: readonly string[], cwd = process.cwd()): Generator<RawDocument> {
  const { files, errors } = listFiles(paths);
  yield* errors;
  for (const file of files) {
    const name = relative(cwd, file) || file;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      yield { source: { file: name, doc: 0 }, error: describeFsError(e) };
      continue;
    }
    let count = 0;
    for (const d of documentsOf(name, text)) {
      count++;
      yield d;
    }
    // an empty file is a mistake (a wrong path, a truncated copy), not "valid: no resources"
    if (count === 0)
      yield {
        source: { file: name, doc: 0 },
        error: "no resources in this file (it is empty, or holds only comments and ---)",
      };
  }
}

function isList(v: unknown): v is { items: unknown[] } {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { kind?: unknown }).kind === "string" &&
    /List$/.test((v as { kind: string }).kind) &&
    Array.isArray((v as { items?: unknown }).items)
  );
}

/** A file system error in words (no raw errno codes in front of users). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file or folder";
  if (code === "EACCES") return "permission denied";
  return (e as Error).message;
}
