// A model of what kube-apiserver does with a CRD's structural schema, for fast tests: the
// structural rules it checks when the CRD is created, and pruning plus validation of an object.
// (The operator issue runs a real kube-apiserver; this model keeps the unit tests fast.)
import type { JsonSchema } from "../../src/api/crd.ts";

/** Violations of the structural-schema rules (apiextensions.k8s.io/v1), with their paths. */
export function structuralViolations(s: JsonSchema, path = "$"): string[] {
  const out: string[] = [];
  const intOrString = s["x-kubernetes-int-or-string"] === true;
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  if (s.type === undefined && !intOrString && !preserve) out.push(`${path}: no type`);
  if (Array.isArray(s.type)) out.push(`${path}: a list of types`);
  for (const k of [
    "$ref",
    "$schema",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "propertyNames",
    "default",
    "$defs",
  ]) {
    if (k in s) out.push(`${path}: has ${k}`);
  }
  if (s.properties && s.additionalProperties !== undefined)
    out.push(`${path}: properties with additionalProperties`);
  if (typeof s.exclusiveMinimum === "number" || typeof s.exclusiveMaximum === "number") {
    out.push(`${path}: numeric exclusive bound (OpenAPI v3.0 wants a boolean)`);
  }
  if (s.type === "array" && !s.items) out.push(`${path}: array without items`);
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, JsonSchema>)) {
    out.push(...structuralViolations(v, `${path}.${k}`));
  }
  if (s.items) out.push(...structuralViolations(s.items as JsonSchema, `${path}[]`));
  if (s.additionalProperties && typeof s.additionalProperties === "object") {
    out.push(...structuralViolations(s.additionalProperties as JsonSchema, `${path}.*`));
  }
  return out;
}

/** The object as the API server would store it: unknown fields pruned. Errors for values it refuses. */
export function pruneAndValidate(
  s: JsonSchema,
  value: unknown,
  path = "",
): { value: unknown; errors: string[] } {
  const errors: string[] = [];
  const here = path || "<root>";
  if (s["x-kubernetes-int-or-string"] === true) {
    if (!(typeof value === "string" || (typeof value === "number" && Number.isInteger(value)))) {
      errors.push(`${here}: must be an integer or a string`);
    }
    return { value, errors };
  }
  if (s["x-kubernetes-preserve-unknown-fields"] === true && s.type === undefined) return { value, errors };
  switch (s.type) {
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return { value, errors: [`${here}: must be an object`] };
      }
      const props = s.properties as Record<string, JsonSchema> | undefined;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (props?.[k]) {
          const r = pruneAndValidate(props[k], v, path ? `${path}.${k}` : k);
          out[k] = r.value;
          errors.push(...r.errors);
        } else if (!props && s.additionalProperties && typeof s.additionalProperties === "object") {
          const r = pruneAndValidate(s.additionalProperties as JsonSchema, v, `${path}.${k}`);
          out[k] = r.value;
          errors.push(...r.errors);
        } else if (
          s["x-kubernetes-preserve-unknown-fields"] === true ||
          (!props && s.additionalProperties === undefined && path === "metadata")
        ) {
          out[k] = v;
        }
        // anything else is pruned
      }
      for (const r of (s.required as string[] | undefined) ?? [])
        if (!(r in out)) errors.push(`${path}.${r}: required`);
      return { value: out, errors };
    }
    case "array": {
      if (!Array.isArray(value)) return { value, errors: [`${here}: must be an array`] };
      const items = value.map((v, i) => pruneAndValidate(s.items as JsonSchema, v, `${path}[${i}]`));
      for (const r of items) errors.push(...r.errors);
      if (typeof s.minItems === "number" && value.length < s.minItems)
        errors.push(`${here}: fewer than ${s.minItems} items`);
      if (typeof s.maxItems === "number" && value.length > s.maxItems)
        errors.push(`${here}: more than ${s.maxItems} items`);
      return { value: items.map((r) => r.value), errors };
    }
    case "string":
      if (typeof value !== "string") errors.push(`${here}: must be a string`);
      else {
        if (typeof s.minLength === "number" && value.length < s.minLength)
          errors.push(`${here}: shorter than ${s.minLength}`);
        if (typeof s.maxLength === "number" && value.length > s.maxLength)
          errors.push(`${here}: longer than ${s.maxLength}`);
      }
      break;
    case "integer":
    case "number":
      if (typeof value !== "number" || (s.type === "integer" && !Number.isInteger(value)))
        errors.push(`${here}: must be ${s.type}`);
      else {
        if (typeof s.minimum === "number" && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum))
          errors.push(`${here}: below minimum`);
        if (typeof s.maximum === "number" && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum))
          errors.push(`${here}: above maximum`);
      }
      break;
    case "boolean":
      if (typeof value !== "boolean") errors.push(`${here}: must be a boolean`);
      break;
    default:
      errors.push(`${here}: schema has unknown type ${String(s.type)}`);
  }
  if (Array.isArray(s.enum) && !s.enum.includes(value))
    errors.push(`${here}: not one of ${JSON.stringify(s.enum)}`);
  return { value, errors };
}
