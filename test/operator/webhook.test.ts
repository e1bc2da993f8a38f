// The Webhook of `v6mostly operator` on the in-process fake API: the configuration written from
// the Secret by every replica without writing twice, mended when deleted, never undone by a
// replica that has not read a rotation yet; with a chart's configuration, only its caBundle.
// Against a real kube-apiserver (server-side apply's field ownership): webhook-cluster.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import { CORE, type KubeObject } from "../../src/operator/runtime/client.ts";
import { issue } from "../../src/operator/webhook/certificates.ts";
import { WEBHOOK_CONFIGURATION, WEBHOOK_NAME } from "../../src/operator/webhook/configuration.ts";
import { Webhook, type WebhookOptions } from "../../src/operator/webhook/index.ts";
import { createLogger } from "../../src/util/log.ts";
import { FakeApi } from "./support/fakeapi.ts";
import { sleep, until } from "./support/wait.ts";

const log = createLogger("test", { level: process.env.TEST_LOG ?? "silent" });
const NS = "v6mostly";
type Hook = { name: string; failurePolicy?: string; clientConfig: { caBundle?: string; url?: string } };
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("webhook: the configuration follows the Secret", () => {
  let api: FakeApi;
  const replicas: Webhook[] = [];
  const config = () =>
    api
      .objects("admissionregistration.k8s.io/validatingwebhookconfigurations")
      .find((o) => o.metadata.name === WEBHOOK_CONFIGURATION) as
      | (KubeObject & { webhooks: Hook[] })
      | undefined;
  const writes = () =>
    api.requests.filter((r) => r.method === "PATCH" && r.path.includes("validatingwebhookconfigurations"))
      .length;
  const start = async (extra: Partial<WebhookOptions> = {}) => {
    const w = new Webhook({
      client: api.client(),
      namespace: NS,
      log,
      address: "127.0.0.1:0",
      url: "https://192.0.2.10:9443/validate",
      manageConfig: true,
      failurePolicy: "Fail",
      ...extra,
    });
    replicas.push(w);
    await w.start();
    return w;
  };

  before(async () => {
    api = await new FakeApi().start();
  });
  after(async () => {
    for (const w of replicas) await w.stop();
    await api.stop();
  });

  it("the first replica writes the configuration with the Secret's CA; a second agrees and writes nothing", async () => {
    const metrics = new Registry();
    const a = await start({ metrics });
    assert.ok(a.serving);
    const c = await until("the configuration", () =>
      config()?.webhooks[0]?.clientConfig.caBundle ? config() : undefined,
    );
    const hook = c.webhooks[0]!;
    assert.equal(hook.name, WEBHOOK_NAME);
    assert.equal(hook.failurePolicy, "Fail");
    assert.equal(hook.clientConfig.url, "https://192.0.2.10:9443/validate");
    assert.equal(hook.clientConfig.caBundle, b64(a.secret.current!.caCert));
    assert.match(await metrics.metrics(), /v6mostly_webhook_certificate_expiry_timestamp_seconds \d{10}/);
    // the URL's host is in the certificate
    assert.match(a.secret.current!.cert, /BEGIN CERTIFICATE/);
    const before = writes();
    const b = await start();
    assert.equal(b.secret.current!.cert, a.secret.current!.cert);
    await sleep(300);
    assert.equal(writes(), before, "nothing differed, nothing written");
    assert.equal(b.counts.configApplied, 0);
  });

  it("a deleted configuration is written again", async () => {
    await api.client().delete(CORE.validatingwebhookconfigurations, undefined, WEBHOOK_CONFIGURATION);
    const c = await until("the configuration back", () => config());
    assert.equal(c.webhooks[0]!.clientConfig.caBundle, b64(replicas[0]!.secret.current!.caCert));
  });

  it("a caBundle that trusts more than a replica knows (a newer CA) is left alone; one that lacks its CA is mended", async () => {
    const c = config()!;
    const ours = replicas[0]!.secret.current!.caCert;
    // another CA, as a replica with a newer Secret would have added (any valid CA will do)
    const other = await issue(
      undefined,
      { action: "issue", newCa: true, newServing: true, hosts: ["x.example"], reasons: [] },
      new Date(),
    );
    const newer = other.caCert + ours;
    await api.client().replace(CORE.validatingwebhookconfigurations, {
      ...c,
      webhooks: [
        { ...c.webhooks[0]!, clientConfig: { ...c.webhooks[0]!.clientConfig, caBundle: b64(newer) } },
      ],
    } as KubeObject);
    await sleep(500);
    assert.equal(config()!.webhooks[0]!.clientConfig.caBundle, b64(newer), "not undone");
    // without ours: trust is missing, written back
    const now = config()!;
    await api.client().replace(CORE.validatingwebhookconfigurations, {
      ...now,
      webhooks: [
        {
          ...now.webhooks[0]!,
          clientConfig: { ...now.webhooks[0]!.clientConfig, caBundle: b64(other.caCert) },
        },
      ],
    } as KubeObject);
    // a repair with the caBundle last written waits 10 s after that write
    await until(
      "our CA back in the caBundle",
      () => config()!.webhooks[0]!.clientConfig.caBundle === b64(ours),
      15_000,
    );
  });

  it("another field changed by hand (failurePolicy) is put back, no more often than every 10 s", async () => {
    const now = config()!;
    await api.client().replace(CORE.validatingwebhookconfigurations, {
      ...now,
      webhooks: [{ ...now.webhooks[0]!, failurePolicy: "Ignore" }],
    } as KubeObject);
    await until("Fail again", () => config()!.webhooks[0]!.failurePolicy === "Fail", 15_000);
  });
});

describe("webhook: a configuration the chart owns", () => {
  let api: FakeApi;
  let w: Webhook;
  before(async () => {
    api = await new FakeApi().start();
  });
  after(async () => {
    await w?.stop();
    await api.stop();
  });

  it("waits for it, then keeps only its caBundle current", async () => {
    w = new Webhook({ client: api.client(), namespace: NS, log, address: "127.0.0.1:0" });
    await w.start();
    await sleep(300);
    const vwcs = () => api.objects("admissionregistration.k8s.io/validatingwebhookconfigurations");
    assert.equal(vwcs().length, 0, "nothing created without --webhook-manage-config");
    await api.client().create(CORE.validatingwebhookconfigurations, {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: WEBHOOK_CONFIGURATION },
      webhooks: [
        { name: WEBHOOK_NAME, clientConfig: { service: { namespace: NS, name: "v6mostly-webhook" } } },
      ],
    });
    await until(
      "the caBundle put in",
      () =>
        (vwcs()[0]?.webhooks as Hook[] | undefined)?.[0]?.clientConfig.caBundle ===
        b64(w.secret.current!.caCert),
    );
  });
});
