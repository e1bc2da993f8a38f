// Reaching the API: kubeconfig files (inline data, files beside the kubeconfig, tokens) and the
// pod's service account; exec plugins go to @kubernetes/client-node.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fromKubeconfig, inCluster, loadConnection } from "../../src/operator/runtime/kubeconfig.ts";

const dir = mkdtempSync(join(tmpdir(), "v6m-kc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, cluster: object, user: object): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "c",
      contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
      clusters: [{ name: "k", cluster }],
      users: [{ name: "u", user }],
    }),
  );
  return file;
}

async function applied(conn: { apply(o: never): Promise<void> }) {
  const opts = { headers: {} as Record<string, string> } as Record<string, unknown> & {
    headers: Record<string, string>;
  };
  await conn.apply(opts as never);
  return opts;
}

describe("kubeconfig", () => {
  it("reads inline certificates and keys", async () => {
    const c = await fromKubeconfig(
      kubeconfig(
        "inline",
        {
          server: "https://[2001:db8::1]:6443",
          "certificate-authority-data": Buffer.from("CA").toString("base64"),
        },
        {
          "client-certificate-data": Buffer.from("CERT").toString("base64"),
          "client-key-data": Buffer.from("KEY").toString("base64"),
        },
      ),
    );
    assert.equal(c.server, "https://[2001:db8::1]:6443");
    const o = await applied(c);
    assert.deepEqual([String(o.ca), String(o.cert), String(o.key)], ["CA", "CERT", "KEY"]);
    assert.equal(o.headers.authorization, undefined);
  });

  it("reads files relative to the kubeconfig, a token file, and the insecure flag only when set", async () => {
    writeFileSync(join(dir, "ca.pem"), "CAFILE");
    writeFileSync(join(dir, "tok"), "secret-token\n");
    const c = await fromKubeconfig(
      kubeconfig(
        "files",
        { server: "https://192.0.2.1", "certificate-authority": "ca.pem" },
        { tokenFile: "tok" },
      ),
    );
    const o = await applied(c);
    assert.equal(String(o.ca), "CAFILE");
    assert.equal(o.headers.authorization, "Bearer secret-token");
    assert.equal(o.rejectUnauthorized, undefined, "verified unless the user turned it off by name");
    const insecure = await fromKubeconfig(
      kubeconfig(
        "insecure",
        { server: "https://192.0.2.1", "insecure-skip-tls-verify": true },
        { token: "t" },
      ),
    );
    assert.equal((await applied(insecure)).rejectUnauthorized, false);
  });

  it("says what is missing", async () => {
    await assert.rejects(fromKubeconfig(join(dir, "nope")), /kubeconfig .*nope: ENOENT/);
    const noServer = kubeconfig("noserver", {}, {});
    await assert.rejects(fromKubeconfig(noServer), /cluster k has no server/);
  });

  it("hands exec plugins to @kubernetes/client-node", async () => {
    const c = await fromKubeconfig(
      kubeconfig(
        "exec",
        { server: "https://192.0.2.9" },
        { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "true" } },
      ),
    );
    assert.equal(c.server, "https://192.0.2.9");
  });

  it("in a pod: the service account's CA and token, re-read as it rotates", async () => {
    const sa = join(dir, "sa");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(sa);
    writeFileSync(join(sa, "ca.crt"), "SACA");
    writeFileSync(join(sa, "token"), "tok-1");
    process.env.KUBERNETES_SERVICE_HOST = "2001:db8::10";
    process.env.KUBERNETES_SERVICE_PORT = "443";
    try {
      const c = inCluster(sa);
      assert.equal(c.server, "https://[2001:db8::10]:443");
      const o = await applied(c);
      assert.deepEqual([String(o.ca), o.headers.authorization], ["SACA", "Bearer tok-1"]);
      const saved = process.env.KUBECONFIG;
      process.env.KUBECONFIG = join(dir, "does-not-exist");
      const home = process.env.HOME;
      process.env.HOME = dir;
      try {
        // no kubeconfig anywhere and a service host: in-cluster (the default SA path is absent here)
        await assert.rejects(loadConnection(), /ENOENT.*serviceaccount\/ca\.crt/);
      } finally {
        process.env.KUBECONFIG = saved;
        process.env.HOME = home;
      }
    } finally {
      delete process.env.KUBERNETES_SERVICE_HOST;
      delete process.env.KUBERNETES_SERVICE_PORT;
    }
  });
});
