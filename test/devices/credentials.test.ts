// Where a device's credential comes from (standalone: a file or the environment; cluster: Secrets),
// what is said when it is not there, and the warning for a credentials file that others can read.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ExternalDeviceSpec } from "../../src/api/externaldevice.ts";
import { CredentialError, readCredential, readSecretCredentials } from "../../src/devices/credentials.ts";
import { capturedLogger } from "./support/logs.ts";
import { device, seedResources } from "./support/seed.ts";

const dir = mkdtempSync(join(tmpdir(), "v6m-cred-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const isr = device(seedResources(), "isr").spec;
const withFile = (file: string): ExternalDeviceSpec => ({
  ...isr,
  credentialsFile: file,
  credentialsEnv: undefined,
});

function fileWith(name: string, text: string, mode: number): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  chmodSync(f, mode); // not through writeFileSync's mode: the umask would narrow it
  return f;
}

test("a credentials file only its owner can read: the secret, trimmed, and no warning", () => {
  const f = fileWith("owner-only", "s3cret-owner\n", 0o600);
  const logs = capturedLogger();
  assert.equal(readCredential("isr", withFile(f), {}, logs.log), "s3cret-owner");
  assert.equal(logs.text(), "");
});

test("a credentials file others can read (0644, 0640): used, with a warning naming the file", () => {
  for (const mode of [0o644, 0o640]) {
    const f = fileWith(`open-${mode.toString(8)}`, "s3cret-open\n", mode);
    const logs = capturedLogger();
    assert.equal(readCredential("isr", withFile(f), {}, logs.log), "s3cret-open");
    const lines = logs
      .text()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string; file: string; mode: string });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 40, "a warning");
    assert.equal(lines[0]!.file, f);
    assert.equal(lines[0]!.mode, `0${mode.toString(8)}`);
    assert.equal(
      lines[0]!.msg,
      `credentialsFile ${f} can be read by users other than its owner (mode 0${mode.toString(8)}): chmod 600 ${f}`,
    );
    assert.ok(!logs.text().includes("s3cret-open"), "the secret is not in the warning");
  }
});

test("a missing or empty credential is an error about the credential, without the device's name", () => {
  const cases: [ExternalDeviceSpec, NodeJS.ProcessEnv, string][] = [
    [withFile(join(dir, "absent")), {}, `credentialsFile ${join(dir, "absent")}: no such file (ENOENT)`],
    [withFile(dir), {}, `credentialsFile ${dir}: is a directory (EISDIR)`],
    [withFile(fileWith("empty", " \n", 0o600)), {}, `credentialsFile ${join(dir, "empty")} is empty`],
    [
      { ...isr, credentialsFile: undefined, credentialsEnv: "V6M_NONE" },
      {},
      "environment variable V6M_NONE is not set",
    ],
  ];
  for (const [spec, env, message] of cases) {
    assert.throws(
      () => readCredential("isr", spec, env),
      (e: unknown) => e instanceof CredentialError && e.message === message,
      message,
    );
  }
  assert.equal(
    readCredential(
      "isr",
      { ...isr, credentialsFile: undefined, credentialsEnv: "V6M_PW" },
      { V6M_PW: " pw\n" },
    ),
    "pw",
  );
});

test("cluster mode: the credential and the CA from Secrets of the device's namespace, by name", async () => {
  const secrets: Record<string, Record<string, string>> = {
    "isr-login": { password: "pw-from-secret\n", blank: " " },
    "isr-ca": { "ca.crt": "-----BEGIN CERTIFICATE-----\n" },
  };
  const read = async (name: string) => {
    if (name === "forbidden") throw new Error("403 Forbidden");
    return secrets[name];
  };
  const spec = (login: string, key = "password", ca?: { name: string; key: string }): ExternalDeviceSpec => ({
    ...isr,
    credentialsFile: undefined,
    credentialsSecretRef: { name: login, key },
    tls: { insecureSkipVerify: false, caSecretRef: ca },
  });
  assert.deepEqual(
    await readSecretCredentials(
      spec("isr-login", "password", { name: "isr-ca", key: "ca.crt" }),
      "lan",
      read,
    ),
    {
      secret: "pw-from-secret",
      ca: "-----BEGIN CERTIFICATE-----\n",
    },
  );
  const cases: [ExternalDeviceSpec, string][] = [
    [spec("absent"), "credentialsSecretRef: Secret lan/absent does not exist"],
    [spec("isr-login", "token"), "credentialsSecretRef: Secret lan/isr-login has no key token"],
    [spec("isr-login", "blank"), "credentialsSecretRef: key blank of Secret lan/isr-login is empty"],
    [spec("forbidden"), "credentialsSecretRef: Secret lan/forbidden cannot be read: 403 Forbidden"],
    [
      spec("isr-login", "password", { name: "isr-ca", key: "ca.pem" }),
      "tls.caSecretRef: Secret lan/isr-ca has no key ca.pem",
    ],
    [
      isr,
      "credentialsFile is read by standalone `device` commands; in a cluster name a Secret with credentialsSecretRef",
    ],
    [
      { ...spec("isr-login"), tls: { insecureSkipVerify: false, caFile: "/etc/ca.pem" } },
      "tls.caFile is read by standalone `device` commands; in a cluster name a Secret with tls.caSecretRef",
    ],
  ];
  for (const [s, message] of cases) {
    await assert.rejects(
      readSecretCredentials(s, "lan", read),
      (e: unknown) => e instanceof CredentialError && e.message === message,
      message,
    );
  }
});
