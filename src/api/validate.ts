// From parsed documents to validated resources and a list of problems, each naming the file, the
// document, kind/name and the field, in words a network engineer reads without a schema at hand.

import type { z } from "zod";
import { type Claim, claims, clashesOf } from "./claims.ts";
import type { RawDocument } from "./load.ts";
import { eachDocument } from "./load.ts";
import {
  type AnyResource,
  API_VERSION,
  DEFAULT_NAMESPACE,
  GROUP,
  isKind,
  KIND_NAMES,
  type Kind,
  resourceSchema,
  type Source,
} from "./resources.ts";
import { formatPath } from "./rules.ts";
import { warningsOf } from "./warnings.ts";

export interface Problem {
  source: Source;
  severity: "error" | "warning";
  /** Kind/name when known */
  object?: string;
  /** field path such as spec.pool4[1]; empty for the whole document */
  path: string;
  message: string;
}

export interface Validated {
  resources: AnyResource[];
  problems: Problem[];
}

/** `home.yaml#2 Nat64Gateway/home spec.prefix: /72 is not a NAT64 prefix length (...)` */
export function formatProblem(p: Problem): string {
  const where = p.source.doc > 0 ? `${p.source.file}#${p.source.doc}` : p.source.file;
  const head = [where, p.object].filter(Boolean).join(" ");
  const tag = p.severity === "warning" ? "warning: " : "";
  return `${head} ${p.path ? `${p.path}: ` : ""}${tag}${p.message}`;
}

/** Characters of a quoted value kept in a message. */
const QUOTED_MAX = 80;

/**
 * A value quoted in a message is cut to its first 80 characters: a 50 MB scalar is not echoed.
 * A scan, not a regular expression: a backtracking match over a 50 MB quote overflows the stack.
 */
export function shortQuotes(message: string): string {
  let out = "";
  let from = 0;
  for (let open = message.indexOf('"'); open !== -1; open = message.indexOf('"', from)) {
    let close = open + 1;
    while (close < message.length && message[close] !== '"') close += message[close] === "\\" ? 2 : 1;
    if (close >= message.length) break; // no closing quote: left as it is
    const inner = close - open - 1;
    out +=
      inner > QUOTED_MAX
        ? `${message.slice(from, open + 1 + QUOTED_MAX)}…" (${inner} characters)`
        : message.slice(from, close + 1);
    from = close + 1;
  }
  return out + message.slice(from);
}

export function validatePaths(paths: readonly string[], cwd?: string): Validated {
  return validateDocuments(eachDocument(paths, cwd));
}

/** Every problem of the files; each valid resource goes to `each` (see `checkDocuments`). */
export function checkPaths(
  paths: readonly string[],
  each?: (r: AnyResource) => void,
  cwd?: string,
): Problem[] {
  return checkDocuments(eachDocument(paths, cwd), each);
}

/** Never throws: anything unexpected becomes a problem on its document. */
export function validateDocuments(docs: Iterable<RawDocument>): Validated {
  const resources: AnyResource[] = [];
  const problems = checkDocuments(docs, (r) => resources.push(r));
  return { resources, problems };
}

/**
 * Every problem of the documents, checked as they come: each valid resource is handed to `each`
 * and then dropped, and memory keeps only what the checks between resources need of it (an
 * `Entry`), so that 200k documents need no more. Never throws.
 */
export function checkDocuments(docs: Iterable<RawDocument>, each?: (r: AnyResource) => void): Problem[] {
  const entries: Entry[] = [];
  const problems: Problem[] = [];
  for (const doc of docs) {
    const one = validateDocument(doc);
    for (const r of one.resources) {
      entries.push(entryOf(r));
      each?.(r);
    }
    for (const p of one.problems) problems.push(p);
  }
  crossCheck(entries, problems);
  return problems;
}

/** What the checks between resources need of one: who it is, where it is written, what it names and claims. */
interface Entry {
  kind: Kind;
  name: string;
  namespace: string;
  source: Source;
  refs: { path: string; kind: Kind; name: string }[];
  claims: Claim[];
}

function entryOf(r: AnyResource): Entry {
  const spec = r.spec as {
    deviceRef?: { name: string };
    nat64GatewayRef?: { name: string };
    pref64?: { nat64GatewayRef?: { name: string } };
  };
  const refs: Entry["refs"] = [];
  if (spec.deviceRef)
    refs.push({ path: "spec.deviceRef.name", kind: "ExternalDevice", name: spec.deviceRef.name });
  if (spec.nat64GatewayRef)
    refs.push({ path: "spec.nat64GatewayRef.name", kind: "Nat64Gateway", name: spec.nat64GatewayRef.name });
  if (spec.pref64?.nat64GatewayRef)
    refs.push({
      path: "spec.pref64.nat64GatewayRef.name",
      kind: "Nat64Gateway",
      name: spec.pref64.nat64GatewayRef.name,
    });
  return { kind: r.kind, name: r.name, namespace: r.namespace, source: r.source, refs, claims: claims(r) };
}

/**
 * One document on its own: every check but those between resources (references, a name used
 * twice). The admission webhook judges one object at a time with it. Never throws.
 */
export function validateDocument(doc: RawDocument): Validated {
  const resources: AnyResource[] = [];
  const problems: Problem[] = [];
  try {
    validateOne(doc, resources, problems);
  } catch (e) {
    problems.push({
      source: doc.source,
      severity: "error",
      path: "",
      message: `internal error: ${(e as Error).message}`,
    });
  }
  return { resources, problems };
}

function validateOne(doc: RawDocument, resources: AnyResource[], problems: Problem[]) {
  const err = (message: string, path = "", object?: string) =>
    problems.push({ source: doc.source, severity: "error", path, message: shortQuotes(message), object });
  if (doc.error !== undefined) return err(doc.error);
  const v = doc.value;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return err("expected a resource (a mapping with apiVersion, kind, metadata and spec)");
  }
  const o = v as Record<string, unknown>;
  const name =
    typeof (o.metadata as { name?: unknown } | undefined)?.name === "string"
      ? (o.metadata as { name: string }).name
      : "?";
  if (typeof o.apiVersion !== "string")
    return err(`apiVersion is missing; v6mostly resources use ${API_VERSION}`, "apiVersion");
  if (!o.apiVersion.startsWith(`${GROUP}/`)) {
    // Kubernetes objects of other kinds may share the folder (a Secret, a Namespace): not ours.
    problems.push({
      source: doc.source,
      severity: "warning",
      object: `${String(o.kind)}/${name}`,
      path: "",
      message: `skipped: ${o.apiVersion} is not a v6mostly resource`,
    });
    return;
  }
  if (o.apiVersion !== API_VERSION) {
    return err(`${o.apiVersion} is not a version this v6mostly knows; use ${API_VERSION}`, "apiVersion");
  }
  if (!isKind(o.kind)) {
    const hint = typeof o.kind === "string" ? suggest(o.kind, KIND_NAMES) : undefined;
    return err(
      `${JSON.stringify(o.kind ?? null)} is not a v6mostly kind (${KIND_NAMES.join(", ")})${hint ? `; did you mean ${hint}?` : ""}`,
      "kind",
    );
  }
  const kind: Kind = o.kind;
  const object = `${kind}/${name}`;
  const parsed = resourceSchema(kind).safeParse(o);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      problems.push({
        source: doc.source,
        severity: "error",
        object,
        path: formatPath(i.path),
        message: shortQuotes(describeIssue(i, o)),
      });
    }
    return;
  }
  const r = parsed.data;
  for (const w of warningsOf(kind, r.spec))
    problems.push({
      source: doc.source,
      severity: "warning",
      object,
      path: formatPath(w.path),
      message: w.message,
    });
  resources.push({
    kind,
    name: r.metadata.name,
    namespace: r.metadata.namespace ?? DEFAULT_NAMESPACE,
    uid: r.metadata.uid,
    generation: r.metadata.generation,
    spec: r.spec,
    labels: r.metadata.labels ?? {},
    creationTimestamp: r.metadata.creationTimestamp,
    source: doc.source,
  } as AnyResource);
}

/** At most this many names are listed in a "no X named" problem. */
const LISTED_NAMES = 10;

/** References between resources, names used twice, and addresses claimed twice. */
function crossCheck(entries: readonly Entry[], problems: Problem[]) {
  const byKey = new Map<string, Entry>();
  /** the names of each kind in each namespace, for "there is ..." */
  const namesOf = new Map<string, string[]>();
  const err = (r: Entry, path: string, message: string) =>
    problems.push({
      source: r.source,
      severity: "error",
      object: `${r.kind}/${r.name}`,
      path,
      message: shortQuotes(message),
    });
  for (const r of entries) {
    const key = `${r.kind}/${r.namespace}/${r.name}`;
    const first = byKey.get(key);
    if (first)
      err(
        r,
        "metadata.name",
        `${r.kind}/${r.name} is defined twice (first in ${first.source.file}#${first.source.doc})`,
      );
    else {
      byKey.set(key, r);
      const names = namesOf.get(`${r.kind}/${r.namespace}`);
      if (names) names.push(r.name);
      else namesOf.set(`${r.kind}/${r.namespace}`, [r.name]);
    }
  }
  // overlapping pool4, DHCP and edge ranges: `plan` leaves the later resource out; say it here too
  for (const c of clashesOf(entries.map((r) => ({ r, claims: r.claims }))))
    err(c.resource, c.path, c.message);
  // one message per missing name: many resources may name the same one
  const said = new Map<string, string>();
  const missing = (kind: Kind, namespace: string, name: string) => {
    const key = `${kind}/${namespace}/${name}`;
    let message = said.get(key);
    if (message === undefined) {
      const known = namesOf.get(`${kind}/${namespace}`) ?? [];
      const hint = suggest(name, known);
      const where = namespace === DEFAULT_NAMESPACE ? "in these files" : `in namespace ${namespace}`;
      const listed =
        known.length > LISTED_NAMES
          ? `${known.slice(0, LISTED_NAMES).join(", ")} and ${known.length - LISTED_NAMES} more`
          : known.join(", ");
      message = `no ${kind} named "${name}" ${where}${known.length ? ` (there is ${listed})` : ""}${hint ? `; did you mean ${hint}?` : ""}`;
      said.set(key, message);
    }
    return message;
  };
  for (const r of entries)
    for (const ref of r.refs)
      if (!byKey.has(`${ref.kind}/${r.namespace}/${ref.name}`))
        err(r, ref.path, missing(ref.kind, r.namespace, ref.name));
}

const TYPE_WORDS: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping (key: value)",
  null: "null",
  undefined: "nothing",
};

function typeWord(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return TYPE_WORDS[typeof value] ?? typeof value;
}

function at(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** zod's issues, reworded. */
export function describeIssue(i: z.core.$ZodIssue, root: unknown): string {
  const value = at(root, i.path);
  switch (i.code) {
    case "custom":
      return i.message;
    case "invalid_type":
      if (value === undefined) return "is required";
      return `expected ${TYPE_WORDS[i.expected] ?? i.expected}, got ${typeWord(value)}${typeof value === "string" || typeof value === "number" ? ` (${JSON.stringify(value)})` : ""}`;
    case "invalid_value":
      if (i.values.length === 1) return `must be ${JSON.stringify(i.values[0])}`;
      return `must be one of ${i.values.map((v) => JSON.stringify(v)).join(", ")}, got ${JSON.stringify(value)}`;
    case "unrecognized_keys": {
      return i.keys
        .map((k) => {
          const known = knownKeys(i.path, root);
          const hint = suggest(k, known);
          return `unknown field "${k}"${hint ? `; did you mean "${hint}"?` : known.length ? ` (known: ${known.join(", ")})` : ""}`;
        })
        .join("; ");
    }
    case "too_small":
      if (i.origin === "array")
        return i.minimum === 1 ? "needs at least one entry" : `needs at least ${i.minimum} entries`;
      if (i.origin === "string")
        return i.minimum === 1 ? "must not be empty" : `must be at least ${i.minimum} characters`;
      return `${JSON.stringify(value)} is below the minimum, ${i.minimum}`;
    case "too_big":
      if (i.origin === "array") return `has more than ${i.maximum} entries`;
      if (i.origin === "string") return `is longer than ${i.maximum} characters`;
      return `${JSON.stringify(value)} is above the maximum, ${i.maximum}`;
    case "invalid_union":
      return `${JSON.stringify(value)} is not ${i.message.includes("duration") ? "a duration" : "valid here"}`;
    case "invalid_format":
      return i.message;
    default:
      return i.message;
  }
}

/** The field names a strict object at `path` accepts, read from the kind's schema. */
function knownKeys(path: readonly PropertyKey[], root: unknown): string[] {
  const kind = (root as { kind?: unknown }).kind;
  if (!isKind(kind)) return [];
  let schema: unknown = resourceSchema(kind);
  for (const key of path) {
    schema = unwrap(schema);
    const def = (
      schema as { _zod?: { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } } }
    )._zod?.def;
    if (def?.type === "object" && def.shape && typeof key === "string") schema = def.shape[key];
    else if (def?.type === "array" && typeof key === "number") schema = def.element;
    else return [];
  }
  const def = (unwrap(schema) as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } })._zod
    ?.def;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(schema: unknown): unknown {
  let s = schema as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } };
  for (let n = 0; n < 10; n++) {
    const def = s?._zod?.def;
    if (!def) return s;
    if (
      def.type === "optional" ||
      def.type === "default" ||
      def.type === "nullable" ||
      def.type === "prefault"
    ) {
      s = def.innerType as typeof s;
    } else if (def.type === "pipe") s = def.in as typeof s;
    else return s;
  }
  return s;
}

/** The closest candidate within two edits, for "did you mean". */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
