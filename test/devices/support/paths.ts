// Where the third-party test data lives: ../shared/devices from the repository root (read at test
// time, never copied into the repository).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const sharedDevices = resolve(repoRoot, "..", "shared", "devices");
export const validateSh = join(sharedDevices, "iosxe-yang", "validate.sh");
export const fortiSchemaFile = join(sharedDevices, "fortios-schema.json");
export const seedWriteup = resolve(repoRoot, "..", "shared", "seed", "000_04b877fe54b3f811.txt");

export const haveShared = () => existsSync(fortiSchemaFile) && existsSync(validateSh);

export function fortiSchema(): FortiSchema {
  return JSON.parse(readFileSync(fortiSchemaFile, "utf8")) as FortiSchema;
}

export interface FieldSchema {
  type: "string" | "integer" | "enum" | "option-list" | "table" | "object";
  enum?: string[];
  enum_versions?: Record<string, VersionSpan>;
  children?: Record<string, FieldSchema>;
  key?: string;
  since?: string;
  until?: string;
  ranges?: [string, string][];
}
export interface VersionSpan {
  since?: string;
  until?: string;
  ranges?: [string, string][];
}
export interface EndpointSchema extends VersionSpan {
  path: string;
  mkey: string | null;
  singleton?: boolean;
  fields: Record<string, FieldSchema>;
}
export interface FortiSchema {
  endpoints: Record<string, EndpointSchema>;
}
