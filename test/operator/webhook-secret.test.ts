// The certificate Secret shared by replicas, on the in-process fake API: one replica creates it,
// racing replicas settle on one bundle through the API's conflicts, a rotation by one reaches the
// others through the watch, a deleted or broken Secret is made again, and no key is ever logged.
// The same against a real kube-apiserver: test/operator/webhook-cluster.test.ts.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { CORE, type KubeObject } from "../../src/operator/runtime/client.ts";
import { type CertificateBundle, splitPem } from "../../src/operator/webhook/certificates.ts";
import { WEBHOOK_SECRET } from "../../src/operator/webhook/configuration.ts";
import { CertificateSecret, fromSecret, toSecret } from "../../src/operator/webhook/secret.ts";
import { createLogger } from "../../src/util/log.ts";
import { FakeApi } from "./support/fakeapi.ts";
import { sleep, until } from "./support/wait.ts";

const NS = "v6mostly";
const DAY = 86_400_000;
const HOSTS = ["v6mostly-webhook.v6mostly.svc", "v6mostly-webhook.v6mostly.svc.cluster.local"];

describe("the webhook's certificate Secret, shared by replicas", () => {
  let api: FakeApi;
  const logged = new PassThrough();
  let logText = "";
  logged.on("data", (d) => {
    logText += d;
  });
  const log = createLogger("test", { level: "debug", destination: logged });
  const clock = { a: Date.now(), b: Date.now() };
  const changes: Record<"a" | "b", CertificateBundle[]> = { a: [], b: [] };
  let a: CertificateSecret;
  let b: CertificateSecret;
  const seen: CertificateBundle[] = [];
  const secret = () => {
    const s = api.objects("/secrets").find((o) => o.metadata.name === WEBHOOK_SECRET);
    if (s) seen.push(fromSecret(s as KubeObject & { data?: Record<string, string> }));
    return s;
  };
  const replica = (name: "a" | "b") =>
    new CertificateSecret({
      client: api.client(),
      namespace: NS,
      hosts: HOSTS,
      log: log.child({ replica: name }),
      now: () => new Date(clock[name]),
      onChange: (bundle) => {
        changes[name].push(bundle);
      },
    });

  before(async () => {
    api = await new FakeApi().start();
    a = replica("a");
    b = replica("b");
  });
  after(async () => {
    a.stop();
    b.stop();
    await api.stop();
  });

  it("two replicas starting together: one Secret, created once, served by both", async () => {
    const [first, second] = await Promise.all([a.start(), b.start()]);
    assert.equal(first.cert, second.cert);
    const s = secret()!;
    assert.equal((s as { type?: string }).type, "kubernetes.io/tls");
    assert.deepEqual(fromSecret(s as never), first);
    assert.equal(a.counts.created + b.counts.created, 1, "created once");
    // the loser of the race met AlreadyExists, or read the Secret after it existed
    assert.equal(
      api.requests.filter((r) => r.method === "POST" && r.path.endsWith("/secrets")).length,
      1 + a.counts.conflicts + b.counts.conflicts,
    );
    assert.deepEqual(changes.a.at(-1), first);
    assert.deepEqual(changes.b.at(-1), first);
  });

  it("a rotation by one replica reaches the other through the watch", async () => {
    const before = a.current!;
    clock.a += 61 * DAY; // a's serving certificate is due; b's clock says it is not
    a.trigger();
    await until("b serving a's new certificate", () => b.current!.cert !== before.cert && b.current);
    assert.equal(a.counts.rotated, 1);
    assert.equal(b.counts.rotated, 0, "b judged a's certificate good and took it");
    assert.equal(b.current!.cert, a.current!.cert);
    assert.equal(b.current!.caCert, before.caCert, "same CA");
    assert.deepEqual(changes.b.at(-1), a.current);
    clock.b = clock.a;
  });

  it("both due at once: one writes, the other meets the conflict, reads, and keeps what was written", async () => {
    const before = a.current!;
    const conflicts = a.counts.conflicts + b.counts.conflicts;
    const rotated = a.counts.rotated + b.counts.rotated;
    clock.a += 61 * DAY;
    clock.b = clock.a;
    a.trigger();
    b.trigger();
    await until(
      "both on one new certificate",
      () => a.current!.cert !== before.cert && a.current!.cert === b.current!.cert,
    );
    await sleep(100);
    assert.equal(a.counts.rotated + b.counts.rotated - rotated, 1, "written once");
    assert.equal(a.counts.conflicts + b.counts.conflicts - conflicts, 1, "the other lost the race");
    assert.deepEqual(fromSecret(secret() as never), a.current);
  });

  it("a deleted Secret is made again (a new CA), and both replicas serve it", async () => {
    const before = a.current!;
    await api.client().delete(CORE.secrets, NS, WEBHOOK_SECRET);
    await until("a new Secret served by both", () => {
      const s = secret();
      return s && a.current!.caCert !== before.caCert && a.current!.cert === b.current!.cert;
    });
    assert.notEqual(
      splitPem(a.current!.caCert)[0]!.fingerprint256,
      splitPem(before.caCert)[0]!.fingerprint256,
    );
  });

  it("a Secret overwritten with garbage is replaced; the replicas never serve the garbage", async () => {
    const s = secret()!;
    const before = a.current!;
    await api.client().replace(CORE.secrets, {
      ...s,
      data: {
        "tls.crt": Buffer.from("garbage").toString("base64"),
        "tls.key": "",
        "ca.crt": "",
        "ca.key": "",
      },
    } as KubeObject);
    await until("a usable Secret again", () => {
      const now = secret();
      const data = (now as { data?: Record<string, string> } | undefined)?.data?.["tls.crt"];
      return (
        data &&
        Buffer.from(data, "base64").toString().includes("BEGIN CERTIFICATE") &&
        a.current!.cert !== before.cert
      );
    });
    for (const r of [a, b]) assert.match(r.current!.cert, /BEGIN CERTIFICATE/);
    await until("b on the new one", () => b.current!.cert === a.current!.cert);
  });

  it("an API that fails is retried; the Secret is served meanwhile", async () => {
    const failures = a.counts.failures;
    api.failNext(2);
    a.trigger();
    await until("a retried", () => a.counts.failures > failures && api.requests.length > 0);
    assert.ok(a.current, "still serving");
  });

  it("no key material in the log: serial numbers, fingerprints and dates only", () => {
    assert.match(logText, /webhook certificate created/);
    assert.match(logText, /webhook certificate rotated/);
    assert.match(logText, /webhook certificate loaded/);
    assert.doesNotMatch(logText, /PRIVATE KEY/);
    secret();
    for (const bundle of seen) {
      for (const key of [bundle.key, bundle.caKey]) {
        if (!key.includes("PRIVATE KEY")) continue;
        const body = key.replace(/-----[^-]+-----/g, "").replace(/\s/g, "");
        assert.ok(!logText.includes(body.slice(10, 50)), "a key's base64 is in the log");
        assert.ok(
          !logText.includes(Buffer.from(key).toString("base64").slice(10, 50)),
          "a Secret's data is in the log",
        );
      }
    }
  });
});

describe("the certificate Secret's owner", () => {
  it("is the operator's Deployment when one is named, so that an uninstall removes the Secret", () => {
    const bundle = { caCert: "a", caKey: "b", cert: "c", key: "d" };
    const owner = { apiVersion: "apps/v1", kind: "Deployment", name: "v6mostly-operator", uid: "u-1" };
    const s = toSecret("v6mostly", WEBHOOK_SECRET, bundle, owner);
    assert.deepEqual(s.metadata.ownerReferences, [{ ...owner, blockOwnerDeletion: false }]);
    assert.equal(toSecret("v6mostly", WEBHOOK_SECRET, bundle).metadata.ownerReferences, undefined);
  });
});
