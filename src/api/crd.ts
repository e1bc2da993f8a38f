// CustomResourceDefinitions from the zod schemas. zod's JSON Schema is not a Kubernetes structural
// schema as it is (it has `const`, `additionalProperties: false` beside `properties`, `anyOf`
// with typed branches, `$schema`, huge integer bounds), so `toStructural` rewrites it, and fails
// loudly on anything it does not know how to express rather than emit a schema the API server
// would refuse.
import { z } from "zod";
import { API_VERSION, GROUP, KINDS, type Kind, VERSION } from "./resources.ts";
import { status } from "./status.ts";

export type JsonSchema = { [key: string]: unknown };

/** Keywords a structural schema may carry (apiextensions.k8s.io/v1 JSONSchemaProps, the ones we use). */
const KEEP = new Set([
  "type",
  "description",
  "properties",
  "required",
  "items",
  "enum",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "additionalProperties",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
]);

/** Dropped on purpose: defaults are applied by v6mostly (the stored object stays what the user wrote);
 * patterns are checked by the zod rules with better messages (and zod's regex flags do not survive). */
const DROP = new Set(["$schema", "default", "pattern", "propertyNames", "format", "title", "examples"]);

export class CrdConversionError extends Error {}

export function toStructural(node: JsonSchema, path = "$"): JsonSchema {
  if (node.$ref !== undefined || node.$defs !== undefined || node.definitions !== undefined) {
    throw new CrdConversionError(
      `${path}: $ref/$defs cannot appear in a structural schema; inline the schema`,
    );
  }
  // A duration: an integer or a string such as "30m". zod writes it as anyOf or as a type list.
  const types = Array.isArray(node.anyOf)
    ? (node.anyOf as JsonSchema[]).map((b) => b.type).sort()
    : Array.isArray(node.type)
      ? [...(node.type as string[])].sort()
      : undefined;
  if (types) {
    if (types.length === 2 && (types[0] === "integer" || types[0] === "number") && types[1] === "string") {
      return withDescription({ "x-kubernetes-int-or-string": true }, node);
    }
    throw new CrdConversionError(`${path}: a value of types ${JSON.stringify(types)} has no structural form`);
  }
  if (node.oneOf !== undefined || node.allOf !== undefined || node.not !== undefined) {
    throw new CrdConversionError(`${path}: oneOf/allOf/not are not supported here`);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROP.has(key)) continue;
    if (key === "const") {
      out.enum = [value];
      continue;
    }
    if (!KEEP.has(key)) throw new CrdConversionError(`${path}: keyword "${key}" has no structural form`);
    out[key] = value;
  }
  if (out.type === undefined && out.enum === undefined) {
    throw new CrdConversionError(`${path}: every node of a structural schema needs a type`);
  }
  if (out.type === "number" || out.type === "integer") {
    // zod writes ±2^53-1 as the bounds of every integer; they say nothing to a reader.
    if (out.minimum === -Number.MAX_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
    // JSON Schema 2020-12 writes exclusive bounds as numbers; OpenAPI v3.0 as booleans.
    if (typeof out.exclusiveMinimum === "number") {
      out.minimum = out.exclusiveMinimum;
      out.exclusiveMinimum = true;
    }
    if (typeof out.exclusiveMaximum === "number") {
      out.maximum = out.exclusiveMaximum;
      out.exclusiveMaximum = true;
    }
  }
  if (out.properties) {
    const props: JsonSchema = {};
    for (const [k, v] of Object.entries(out.properties as Record<string, JsonSchema>)) {
      props[k] = toStructural(v, `${path}.${k}`);
    }
    out.properties = props;
    // Unknown fields are pruned by the API server; `additionalProperties` beside `properties` is refused.
    delete out.additionalProperties;
    if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  } else if (out.additionalProperties !== undefined) {
    const ap = out.additionalProperties;
    if (
      ap === false ||
      ap === true ||
      (typeof ap === "object" && ap !== null && Object.keys(ap).length === 0)
    ) {
      // an open map of anything: keep it as such
      delete out.additionalProperties;
      out["x-kubernetes-preserve-unknown-fields"] = true;
    } else out.additionalProperties = toStructural(ap as JsonSchema, `${path}.*`);
  }
  if (out.items) out.items = toStructural(out.items as JsonSchema, `${path}[]`);
  return out;
}

function withDescription(out: JsonSchema, node: JsonSchema): JsonSchema {
  return typeof node.description === "string" ? { ...out, description: node.description } : out;
}

/** The JSON Schema of what users write (defaults not yet applied, durations as written). */
function inputSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "throw", reused: "inline" }) as JsonSchema;
}

export function openApiSchema(kind: Kind): JsonSchema {
  return {
    type: "object",
    description: `${kind} of ${API_VERSION}`,
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      // The API server owns metadata's schema.
      metadata: { type: "object" },
      spec: toStructural(inputSchema(KINDS[kind].spec), `${kind}.spec`),
      status: toStructural(inputSchema(status), `${kind}.status`),
    },
    required: ["spec"],
  };
}

export function crd(kind: Kind): JsonSchema {
  const k = KINDS[kind];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${k.plural}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "v6mostly" } },
    spec: {
      group: GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: k.shortNames,
        categories: ["v6mostly"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns.map((c) => ({
            name: c.name,
            type: c.type,
            jsonPath: c.jsonPath,
            ...(c.description ? { description: c.description } : {}),
          })),
          schema: { openAPIV3Schema: openApiSchema(kind) },
        },
      ],
    },
  };
}
