// Test helpers: validate YAML text as if it were a file, and get the printed lines.
import { parseDocuments } from "../../src/api/load.ts";
import { formatProblem, type Validated, validateDocuments } from "../../src/api/validate.ts";

export function validateText(
  text: string,
  file = "home.yaml",
): Validated & { lines: string[]; errors: string[] } {
  const v = validateDocuments(parseDocuments(file, text));
  const lines = v.problems.map(formatProblem);
  return { ...v, lines, errors: v.problems.filter((p) => p.severity === "error").map(formatProblem) };
}

/** A resource document with the given spec, as YAML text. */
export function doc(kind: string, name: string, spec: string): string {
  const body = spec
    .trim()
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
  return `apiVersion: v6mostly.dev/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${body}\n`;
}

export const NAT64_OK = `
prefix: 64:ff9b::/96
pool4: ["198.51.100.1-198.51.100.10"]
allowedSources: ["2001:db8:1::/64"]`;
