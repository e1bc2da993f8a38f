// Reading resource files: YAML (several documents per file) or JSON, given as files or folders.
// I/O lives here; everything after `readDocuments` is pure.
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { StringDecoder } from "node:string_decoder";
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
 * the parsed text. A YAML file may come as blocks of text (`readBlocks`): only the document being
 * read is then in memory. Never throws (but for a read error from `blocks`).
 */
export function* documentsOf(file: string, text: string | Iterable<string>): Generator<RawDocument> {
  // (a caller that is not typed may hand anything: never throw)
  if (typeof text !== "string" && !isBlocks(text)) {
    yield { source: { file, doc: 1 }, error: "not text" };
    return;
  }
  if (/\.json$/i.test(file)) {
    const whole = typeof text === "string" ? text : [...text].join("");
    let items: unknown[];
    try {
      const value: unknown = JSON.parse(whole);
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
  for (const chunk of documentChunks(typeof text === "string" ? [text] : text)) {
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
 * documents; `line` is where each piece starts in the file (1-based). The text comes in blocks;
 * only the document being cut is kept.
 */
function* documentChunks(blocks: Iterable<string>): Generator<{ text: string; line: number }> {
  let text = "";
  let from = 0; // where the document being cut starts in `text`
  let line = 1; // the line `from` is on
  let search = 0; // no cut starts before this offset
  let cut = false;
  function* cuts(final: boolean): Generator<{ text: string; line: number }> {
    for (let at = text.indexOf("\n---", search); at !== -1; at = text.indexOf("\n---", search)) {
      const start = at + 1;
      const after = text[start + 3];
      if (after === undefined && !final) break; // the next block says whether this is a cut
      search = start;
      if (after !== undefined && !/[ \t\r\n]/.test(after)) continue;
      const piece = text.slice(from, start);
      // comments or directives alone before a `---` belong to the document it starts
      if (/^(?:[ \t]*(?:[#%].*)?\r?\n)*$/.test(piece)) continue;
      yield { text: piece, line };
      cut = true;
      line += newlines(piece, 0, piece.length);
      from = start;
    }
    // a "\n---" at the very end (what follows it decides) or a "\n", "\n-", "\n--" there may be a
    // cut the next block completes: the search must start again at or before its "\n"
    search = Math.max(search, text.length - 4, from);
  }
  for (const block of blocks) {
    text = text.slice(from) + block;
    search -= from;
    from = 0;
    yield* cuts(false);
  }
  yield* cuts(true);
  if (from < text.length || !cut) yield { text: text.slice(from), line };
}

/** An open file's text, a block at a time (UTF-8 sequences split between blocks are joined). */
export function* readBlocks(fd: number, size = 1 << 20): Generator<string> {
  const buffer = Buffer.allocUnsafe(size);
  const decoder = new StringDecoder("utf8");
  for (;;) {
    const n = readSync(fd, buffer, 0, size, null);
    if (n === 0) break;
    yield decoder.write(buffer.subarray(0, n));
  }
  yield decoder.end();
}

function isBlocks(v: unknown): v is Iterable<string> {
  return typeof v === "object" && v !== null && Symbol.iterator in v;
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
 * Every document under the paths, one at a time: each file is read once, in blocks, and a
 * document's value can be dropped as soon as it has been checked.
 */
export function* eachDocument(paths: readonly string[], cwd = process.cwd()): Generator<RawDocument> {
  const { files, errors } = listFiles(paths);
  yield* errors;
  for (const file of files) {
    const name = relative(cwd, file) || file;
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (e) {
      yield { source: { file: name, doc: 0 }, error: describeFsError(e) };
      continue;
    }
    let count = 0;
    try {
      for (const d of documentsOf(name, readBlocks(fd))) {
        count++;
        yield d;
      }
    } catch (e) {
      // a read that fails half way (EIO, a file that is a folder after all)
      count++;
      yield { source: { file: name, doc: 0 }, error: describeFsError(e) };
    } finally {
      closeSync(fd);
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
