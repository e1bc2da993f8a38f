// A kubeconfig file: one cluster (server URL and CA), one user (a client certificate), one context.
// Certificates are embedded (the *-data fields), so the file works wherever it is copied.
import { readFileSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";

const b64 = (path: string) => readFileSync(path).toString("base64");

export function writeKubeconfig(
  path: string,
  opts: { server: string; caCert: string; cert: string; key: string; user: string },
): string {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "v6mostly-test",
        cluster: { server: opts.server, "certificate-authority-data": b64(opts.caCert) },
      },
    ],
    users: [
      {
        name: opts.user,
        user: { "client-certificate-data": b64(opts.cert), "client-key-data": b64(opts.key) },
      },
    ],
    contexts: [{ name: "v6mostly-test", context: { cluster: "v6mostly-test", user: opts.user } }],
    "current-context": "v6mostly-test",
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}
