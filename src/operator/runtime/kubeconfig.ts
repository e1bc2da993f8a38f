// How to reach the Kubernetes API: a kubeconfig file (KUBECONFIG, ~/.kube/config, or a path) or
// the pod's service account (in-cluster). Read here for the common cases (certificates and keys
// inline or in files, a bearer token or token file, the service account's rotating token); a
// kubeconfig that authenticates through an exec plugin or an auth provider is handed to
// @kubernetes/client-node's KubeConfig, loaded only then. Importing that library costs about
// 70 MiB of resident memory (its generated API), which every agent on every node would pay for
// two dozen lines of YAML reading.
import { existsSync, readFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

export interface Connection {
  server: string;
  /** TLS options and headers for one request (the token may rotate between requests) */
  apply(opts: RequestOptions & { headers: Record<string, string> }): Promise<void>;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface NamedCluster {
  name: string;
  cluster: {
    server: string;
    "certificate-authority"?: string;
    "certificate-authority-data"?: string;
    "insecure-skip-tls-verify"?: boolean;
    "tls-server-name"?: string;
  };
}

interface NamedUser {
  name: string;
  user: {
    "client-certificate"?: string;
    "client-certificate-data"?: string;
    "client-key"?: string;
    "client-key-data"?: string;
    token?: string;
    tokenFile?: string;
    username?: string;
    password?: string;
    exec?: unknown;
    "auth-provider"?: unknown;
  };
}

interface KubeconfigFile {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: NamedCluster[];
  users?: NamedUser[];
}

/** KUBECONFIG's first file, or ~/.kube/config; undefined when neither exists. */
export function defaultKubeconfigPath(): string | undefined {
  const env = process.env.KUBECONFIG?.split(":").find((p) => p && existsSync(p));
  if (env) return env;
  const home = join(homedir(), ".kube", "config");
  return existsSync(home) ? home : undefined;
}

/** The API connection: the given kubeconfig, else the default one, else in-cluster. */
export async function loadConnection(kubeconfig?: string): Promise<Connection> {
  const path = kubeconfig ?? defaultKubeconfigPath();
  if (path) return fromKubeconfig(path);
  if (process.env.KUBERNETES_SERVICE_HOST) return inCluster();
  throw new Error("no Kubernetes API configured: set KUBECONFIG, pass --kubeconfig, or run in a pod");
}

export function inCluster(dir = SA_DIR): Connection {
  const host = process.env.KUBERNETES_SERVICE_HOST!;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const ca = readFileSync(join(dir, "ca.crt"));
  // bound service account tokens rotate (about hourly): read the file again every minute
  let token = "";
  let readAt = 0;
  return {
    server,
    async apply(opts) {
      if (Date.now() - readAt > 60_000) {
        token = readFileSync(join(dir, "token"), "utf8").trim();
        readAt = Date.now();
      }
      opts.ca = ca;
      opts.headers.authorization = `Bearer ${token}`;
    },
  };
}

export async function fromKubeconfig(path: string): Promise<Connection> {
  let doc: KubeconfigFile;
  try {
    doc = parse(readFileSync(path, "utf8")) as KubeconfigFile;
  } catch (e) {
    throw new Error(`kubeconfig ${path}: ${(e as Error).message}`);
  }
  const ctxName = doc["current-context"];
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: no current context${ctxName ? ` named ${ctxName}` : ""}`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster?.server) throw new Error(`kubeconfig ${path}: cluster ${ctx.cluster} has no server`);
  if (user.exec || user["auth-provider"]) return viaClientNode(path);
  const base = dirname(path);
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : join(base, p));
  const b64 = (s: string) => Buffer.from(s, "base64");
  const ca = cluster["certificate-authority-data"]
    ? b64(cluster["certificate-authority-data"])
    : cluster["certificate-authority"]
      ? file(cluster["certificate-authority"])
      : undefined;
  const cert = user["client-certificate-data"]
    ? b64(user["client-certificate-data"])
    : user["client-certificate"]
      ? file(user["client-certificate"])
      : undefined;
  const key = user["client-key-data"]
    ? b64(user["client-key-data"])
    : user["client-key"]
      ? file(user["client-key"])
      : undefined;
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  const servername = cluster["tls-server-name"];
  return {
    server: cluster.server,
    async apply(opts) {
      if (ca) opts.ca = ca;
      if (cert) opts.cert = cert;
      if (key) opts.key = key;
      if (insecure) opts.rejectUnauthorized = false;
      if (servername) opts.servername = servername;
      const token = user.token ?? (user.tokenFile ? file(user.tokenFile).toString("utf8").trim() : undefined);
      if (token) opts.headers.authorization = `Bearer ${token}`;
      else if (user.username !== undefined) {
        opts.headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
      }
    },
  };
}

/** Exec plugins and auth providers: @kubernetes/client-node's KubeConfig does the work. */
async function viaClientNode(path: string): Promise<Connection> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return {
    server: kc.getCurrentCluster()!.server,
    async apply(opts) {
      await kc.applyToHTTPSOptions(opts);
    },
  };
}
