// Reading resource files: YAML (several documents per file) or JSON, given as files or folders.
// I/O lives here; everything after `readDocuments` is pure.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Source } from "./resources.ts";

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
  const out: RawDocument[] = [];
  // (a caller that is not typed may hand anything: never throw)
  if (typeof text !== "string") return [{ source: { file, doc: 1 }, error: "not text" }];
  if (/\.json$/i.test(file)) {
    try {
      const value: unknown = JSON.parse(text);
      // A JSON file may hold one object, an array of them, or a Kubernetes List.
      const items = Array.isArray(value) ? value : isList(value) ? value.items : [value];
      items.forEach((v, i) => {
        out.push({ source: { file, doc: i + 1 }, value: v });
      });
    } catch (e) {
      out.push({ source: { file, doc: 1 }, error: `not valid JSON: ${(e as Error).message}` });
    }
    return out;
  }
  // Parsed one document at a time (cut at the `---` lines), so that the parser's tree of a large
  // file never exists whole: time and memory stay linear in the number of documents.
  const lines = lineStarts(text);
  let index = 0;
  for (const chunk of documentChunks(text, lines)) {
    let docs: ReturnType<typeof parseAllDocuments>;
    try {
      docs = parseAllDocuments(chunk.text, { prettyErrors: true, uniqueKeys: true });
    } catch (e) {
      out.push({ source: { file, doc: index + 1 }, error: `not valid YAML: ${(e as Error).message}` });
      index++;
      continue;
    }
    const chunkLines = lineStarts(chunk.text);
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      index++;
      const line = chunk.line + lineAt(chunkLines, doc.range?.[0] ?? 0) - 1;
      const source: Source = { file, doc: index, line };
      if (doc.errors.length > 0) {
        const first = doc.errors[0]!;
        const pos = first.linePos?.[0];
        const at = pos ? chunk.line + pos.line - 1 : 0;
        const where = pos ? ` (line ${at}, column ${pos.col})` : "";
        const badLine = pos ? text.slice(lines[at - 1] ?? 0, (lines[at] ?? text.length + 1) - 1) : "";
        // `prefix: 64:ff9b::` reads as a nested key: the commonest YAML trap with IPv6.
        const hint = /::\s*$|::[,\]}\s]/.test(badLine)
          ? '; an IPv6 address ending in "::" must be quoted, e.g. "64:ff9b::"'
          : "";
        const message = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
        out.push({ source, error: `not valid YAML${where}: ${message}${hint}` });
        continue;
      }
      let value: unknown;
      try {
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        out.push({ source, error: `not valid YAML: ${(e as Error).message}` });
        continue;
      }
      if (value === null || value === undefined) continue; // an empty document (a trailing ---)
      if (isList(value)) {
        for (const item of value.items) out.push({ source, value: item });
      } else out.push({ source, value });
    }
  }
  return out;
}

/**
 * The text cut before each line that starts a document (`---` at column 0, alone or followed by
 * a space). YAML forbids such a line inside a document's content, so every cut falls between
 * documents; `line` is where each piece starts in the file (1-based).
 */
function* documentChunks(text: string, starts: readonly number[]): Generator<{ text: string; line: number }> {
  let from = 0;
  let fromLine = 1;
  for (let l = 1; l < starts.length; l++) {
    const at = starts[l]!;
    if (text.startsWith("---", at) && (at + 3 >= text.length || /[ \t\r\n]/.test(text[at + 3]!))) {
      const piece = text.slice(from, at);
      // comments or directives alone before a `---` belong to the document it starts
      if (/^(?:[ \t]*(?:[#%].*)?\r?\n)*$/.test(piece)) continue;
      yield { text: piece, line: fromLine };
      from = at;
      fromLine = l + 1;
    }
  }
  if (from < text.length || from === 0) yield { text: text.slice(from), line: fromLine };
}

/** Read and parse every document under the paths. File names in sources are relative to `cwd`. */
export function readDocuments(paths: readonly string[], cwd = process.cwd()): RawDocument[] {
  const { files, errors } = listFiles(paths);
  const out: RawDocument[] = [...errors];
  for (const file of files) {
    const name = relative(cwd, file) || file;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      out.push({ source: { file: name, doc: 0 }, error: describeFsError(e) });
      continue;
    }
    const docs = parseDocuments(name, text);
    // an empty file is a mistake (a wrong path, a truncated copy), not "valid: no resources"
    if (docs.length === 0)
      out.push({
        source: { file: name, doc: 0 },
        error: "no resources in this file (it is empty, or holds only comments and ---)",
      });
    for (const d of docs) out.push(d);
  }
  return out;
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

/** Where each line of `text` starts (offsets), once per file: lines are then found by bisection. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The 1-based line holding `offset`. */
function lineAt(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** A file system error in words (no raw errno codes in front of users). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file or folder";
  if (code === "EACCES") return "permission denied";
  return (e as Error).message;
}
