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
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    return [{ source: { file, doc: 1 }, error: `not valid YAML: ${(e as Error).message}` }];
  }
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const line = lineOf(text, doc.range?.[0] ?? 0);
    const source: Source = { file, doc: i + 1, line };
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      const pos = first.linePos?.[0];
      const where = pos ? ` (line ${pos.line}, column ${pos.col})` : "";
      const badLine = pos ? (text.split("\n")[pos.line - 1] ?? "") : "";
      // `prefix: 64:ff9b::` reads as a nested key: the commonest YAML trap with IPv6.
      const hint = /::\s*$|::[,\]}\s]/.test(badLine)
        ? '; an IPv6 address ending in "::" must be quoted, e.g. "64:ff9b::"'
        : "";
      const message = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      out.push({ source, error: `not valid YAML${where}: ${message}${hint}` });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      out.push({ source, error: `not valid YAML: ${(e as Error).message}` });
      return;
    }
    if (value === null || value === undefined) return; // an empty document (a trailing ---)
    if (isList(value)) {
      for (const item of value.items) out.push({ source, value: item });
    } else out.push({ source, value });
  });
  return out;
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
    out.push(...parseDocuments(name, text));
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

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** A file system error in words (no raw errno codes in front of users). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file or folder";
  if (code === "EACCES") return "permission denied";
  return (e as Error).message;
}
