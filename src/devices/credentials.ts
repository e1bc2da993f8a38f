// Where a device's token or password comes from in standalone mode: the file or environment
// variable the ExternalDevice names. Never the command line, never a log line. The messages are
// about the device's credential and go into its condition, which already names the device.
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import type { ExternalDeviceSpec } from "../api/externaldevice.ts";
import type { Logger } from "../util/log.ts";

/** The credential named by the resource is not there. */
export class CredentialError extends Error {}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
};

function readSecretFile(file: string): { text: string; mode: number } {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    return { text: readFileSync(fd, "utf8"), mode: fstatSync(fd).mode };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
    const why = ERRNO_TEXT[code] ? `${ERRNO_TEXT[code]} (${code})` : code;
    throw new CredentialError(`credentialsFile ${file}: ${why}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The secret for ExternalDevice `name`. A credentials file that users other than its owner may
 * read is used, with a warning naming the file.
 */
export function readCredential(
  name: string,
  spec: ExternalDeviceSpec,
  env: NodeJS.ProcessEnv = process.env,
  log?: Logger,
): string {
  if (spec.credentialsFile) {
    const file = spec.credentialsFile;
    const { text, mode } = readSecretFile(file);
    if (mode & 0o044) {
      const octal = (mode & 0o777).toString(8).padStart(4, "0");
      log?.warn(
        { device: name, file, mode: octal },
        `credentialsFile ${file} can be read by users other than its owner (mode ${octal}): chmod 600 ${file}`,
      );
    }
    const secret = text.trim();
    if (!secret) throw new CredentialError(`credentialsFile ${file} is empty`);
    return secret;
  }
  if (spec.credentialsEnv) {
    const secret = env[spec.credentialsEnv]?.trim();
    if (!secret) throw new CredentialError(`environment variable ${spec.credentialsEnv} is not set`);
    return secret;
  }
  throw new CredentialError(
    "credentialsSecretRef is read by the operator in a cluster; standalone `device` commands need credentialsFile or credentialsEnv",
  );
}
