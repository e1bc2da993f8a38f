// Where a device's token or password comes from in standalone mode: the file or environment
// variable the ExternalDevice names. Never the command line, never a log line.
import { readFileSync } from "node:fs";
import type { ExternalDeviceSpec } from "../api/externaldevice.ts";

/** The credential named by the resource is not there. */
export class CredentialError extends Error {}

export function readCredential(
  name: string,
  spec: ExternalDeviceSpec,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (spec.credentialsFile) {
    let text: string;
    try {
      text = readFileSync(spec.credentialsFile, "utf8");
    } catch (e) {
      throw new CredentialError(
        `ExternalDevice/${name}: credentialsFile ${spec.credentialsFile}: ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`,
      );
    }
    const secret = text.trim();
    if (!secret)
      throw new CredentialError(`ExternalDevice/${name}: credentialsFile ${spec.credentialsFile} is empty`);
    return secret;
  }
  if (spec.credentialsEnv) {
    const secret = env[spec.credentialsEnv]?.trim();
    if (!secret)
      throw new CredentialError(
        `ExternalDevice/${name}: environment variable ${spec.credentialsEnv} is not set`,
      );
    return secret;
  }
  throw new CredentialError(
    `ExternalDevice/${name}: credentialsSecretRef is read by the operator in a cluster; standalone \`device\` commands need credentialsFile or credentialsEnv`,
  );
}
