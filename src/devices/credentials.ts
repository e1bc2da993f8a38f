// Where a device's token or password comes from: in standalone mode the file or environment
// variable the ExternalDevice names; in a cluster the Secrets it names (credentialsSecretRef,
// tls.caSecretRef), in its own namespace. Never the command line, never a log line. The messages
// are about the device's credential and go into its condition, which already names the device;
// they name where the secret was looked for, never what it holds.
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import type { ExternalDeviceSpec } from "../api/externaldevice.ts";
import type { Logger } from "../util/log.ts";

/** The credential named by the resource is not there. */
export class CredentialError extends Error {}

/** What a run needs to log in to the box: the token or password, and the CA of its certificate. */
export interface Credentials {
  secret: string;
  /** PEM text (tls.caSecretRef or tls.caFile); absent: the system's CAs */
  ca?: string;
}

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

/**
 * Reads one Secret of the device's namespace: its data decoded, or undefined when there is no such
 * Secret. Throws for anything else (the API refused, unreachable); the message must not quote the
 * Secret's contents.
 */
export type SecretReader = (name: string) => Promise<Record<string, string> | undefined>;

async function secretValue(
  field: string,
  ref: { name: string; key: string },
  namespace: string,
  read: SecretReader,
): Promise<string> {
  let data: Record<string, string> | undefined;
  try {
    data = await read(ref.name);
  } catch (e) {
    throw new CredentialError(
      `${field}: Secret ${namespace}/${ref.name} cannot be read: ${(e as Error).message}`,
    );
  }
  if (!data) throw new CredentialError(`${field}: Secret ${namespace}/${ref.name} does not exist`);
  const value = data[ref.key];
  if (value === undefined)
    throw new CredentialError(`${field}: Secret ${namespace}/${ref.name} has no key ${ref.key}`);
  if (!value.trim())
    throw new CredentialError(`${field}: key ${ref.key} of Secret ${namespace}/${ref.name} is empty`);
  return value;
}

/**
 * Cluster mode: the credential from `credentialsSecretRef` and the CA from `tls.caSecretRef`, read
 * from the device's namespace. A file or an environment variable would be the operator pod's own,
 * not the user's: they are refused by name.
 */
export async function readSecretCredentials(
  spec: ExternalDeviceSpec,
  namespace: string,
  read: SecretReader,
): Promise<Credentials> {
  const ref = spec.credentialsSecretRef;
  if (!ref) {
    const named = spec.credentialsFile ? "credentialsFile" : "credentialsEnv";
    throw new CredentialError(
      `${named} is read by standalone \`device\` commands; in a cluster name a Secret with credentialsSecretRef`,
    );
  }
  if (spec.tls.caFile)
    throw new CredentialError(
      "tls.caFile is read by standalone `device` commands; in a cluster name a Secret with tls.caSecretRef",
    );
  const secret = (await secretValue("credentialsSecretRef", ref, namespace, read)).trim();
  const caRef = spec.tls.caSecretRef;
  const ca = caRef ? await secretValue("tls.caSecretRef", caRef, namespace, read) : undefined;
  return { secret, ca };
}
