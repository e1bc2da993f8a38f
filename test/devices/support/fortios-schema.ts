// A checker for FortiOS CMDB bodies against shared/devices/fortios-schema.json, written from the
// schema's own _meta rules, independently of src/devices: every field must exist on the target
// version, enums and option lists must hold allowed values, tables and objects recurse.
// Version rule (_meta.version_semantics): since/until are inclusive versions Fortinet tested; a
// build newer than the last one tested in its train (6.2.16 > 6.2.7) is judged as that last one.
import type { EndpointSchema, FieldSchema, FortiSchema, VersionSpan } from "./paths.ts";

type V = [number, number, number];
const parse = (t: string): V => {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(t);
  if (!m) throw new Error(`bad version ${t}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
};
const cmp = (a: V, b: V) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

function trainEnds(schema: FortiSchema): Map<string, number> {
  const ends = new Map<string, number>();
  const text = JSON.stringify(schema.endpoints);
  for (const m of text.matchAll(/"(\d+)\.(\d+)\.(\d+)"/g)) {
    const train = `${m[1]}.${m[2]}`;
    ends.set(train, Math.max(ends.get(train) ?? 0, Number(m[3])));
  }
  return ends;
}

export class FortiSchemaChecker {
  private readonly ends: Map<string, number>;
  constructor(readonly schema: FortiSchema) {
    this.ends = trainEnds(schema);
  }

  /** The version as Fortinet's tables know it. */
  effective(version: string): V {
    const v = parse(version);
    const end = this.ends.get(`${v[0]}.${v[1]}`);
    return end !== undefined && v[2] > end ? [v[0], v[1], end] : v;
  }

  covers(span: VersionSpan, version: string): boolean {
    const v = this.effective(version);
    if (span.ranges)
      return span.ranges.some(([a, b]) => cmp(v, parse(a)) >= 0 && (b === "latest" || cmp(v, parse(b)) <= 0));
    if (span.since && cmp(v, parse(span.since)) < 0) return false;
    if (span.until && span.until !== "latest" && cmp(v, parse(span.until)) > 0) return false;
    return true;
  }

  endpoint(path: string): EndpointSchema | undefined {
    return this.schema.endpoints[path];
  }

  /** Problems with one body for `path` on `version`; empty = valid. */
  check(path: string, body: Record<string, unknown>, version: string): string[] {
    const ep = this.schema.endpoints[path];
    if (!ep) return [`${path}: no such endpoint in the schema`];
    if (!this.covers(ep, version)) return [`${path}: endpoint absent on ${version}`];
    return this.fields(path, ep.fields, body, version);
  }

  private fields(
    where: string,
    fields: Record<string, FieldSchema>,
    body: Record<string, unknown>,
    version: string,
  ): string[] {
    const out: string[] = [];
    for (const [name, value] of Object.entries(body)) {
      const f = fields[name];
      const at = `${where}.${name}`;
      if (!f) {
        out.push(`${at}: unknown field`);
        continue;
      }
      if (!this.covers(f, version)) {
        out.push(`${at}: not on ${version}`);
        continue;
      }
      out.push(...this.value(at, f, value, version));
    }
    return out;
  }

  private value(at: string, f: FieldSchema, value: unknown, version: string): string[] {
    const enumOk = (x: string) => {
      if (!f.enum) return true;
      if (!f.enum.includes(x)) return false;
      const span = f.enum_versions?.[x];
      return !span || this.covers(span, version);
    };
    switch (f.type) {
      case "string":
        return typeof value === "string" ? [] : [`${at}: string expected, got ${JSON.stringify(value)}`];
      case "integer":
        return Number.isInteger(value) ? [] : [`${at}: integer expected, got ${JSON.stringify(value)}`];
      case "enum":
        return typeof value === "string" && enumOk(value)
          ? []
          : [`${at}: ${JSON.stringify(value)} is not one of ${f.enum?.join("|")} on ${version}`];
      case "option-list": {
        if (typeof value !== "string") return [`${at}: option list is a space-separated string`];
        const bad = value.split(" ").filter((x) => x === "" || !enumOk(x));
        return bad.length ? [`${at}: ${bad.join(",")} not allowed`] : [];
      }
      case "table": {
        if (!Array.isArray(value)) return [`${at}: table (array) expected`];
        return value.flatMap((row, i) =>
          row && typeof row === "object"
            ? this.fields(`${at}[${i}]`, f.children ?? {}, row as Record<string, unknown>, version)
            : [`${at}[${i}]: object expected`],
        );
      }
      case "object":
        return value && typeof value === "object" && !Array.isArray(value)
          ? this.fields(at, f.children ?? {}, value as Record<string, unknown>, version)
          : [`${at}: object expected`];
    }
  }
}
