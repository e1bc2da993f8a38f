// What a box answers is checked before a driver uses it: a body that is not the JSON object its API
// documents, or a field of the wrong type, is refused with the request and the field named
// (condition reason UnexpectedAnswer), never met later as a TypeError deep inside a driver.

/** An answer that is not what the box's API documents. */
export class DeviceAnswerError extends Error {}

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A short view of a value for a message. */
function shown(v: unknown): string {
  const t = JSON.stringify(v) ?? String(v);
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
}

function wrong(where: string, v: unknown, expected: string): never {
  throw new DeviceAnswerError(
    v === undefined
      ? `${where} is absent, expected ${expected}`
      : `${where} is ${shown(v)}, expected ${expected}`,
  );
}

/** `where` names the request and the field: "GET /api/v2/monitor/system/status: version". */
export function objectAt(v: unknown, where: string): JsonObject {
  return isObject(v) ? v : wrong(where, v, "a JSON object");
}

export function optionalObjectAt(v: unknown, where: string): JsonObject | undefined {
  return v === undefined ? undefined : objectAt(v, where);
}

/** A list of objects (absent: none). */
export function objectsAt(v: unknown, where: string): JsonObject[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return wrong(where, v, "a list");
  return v.map((x, i) => objectAt(x, `${where}[${i}]`));
}

export function optionalStringAt(v: unknown, where: string): string | undefined {
  return v === undefined || typeof v === "string" ? v : wrong(where, v, "a string");
}

export function stringAt(v: unknown, where: string): string {
  return typeof v === "string" ? v : wrong(where, v, "a string");
}

export function numberAt(v: unknown, where: string): number {
  return typeof v === "number" && Number.isFinite(v) ? v : wrong(where, v, "a number");
}

/** A list key or mkey: a string, or a number (YANG integer keys such as a BDI's, FortiOS policyids). */
export function keyAt(v: unknown, where: string): string {
  return typeof v === "string" || (typeof v === "number" && Number.isFinite(v))
    ? String(v)
    : wrong(where, v, "a name or a number");
}
