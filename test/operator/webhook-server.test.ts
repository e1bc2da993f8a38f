// The webhook's HTTPS server on loopback: reviews answered over real TLS, /healthz, wrong paths
// and methods, bodies over the limit (declared and streamed), malformed reviews, all counted in
// Prometheus; the certificate swapped in place.
import assert from "node:assert/strict";
import { request } from "node:https";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import {
  type CertificateBundle,
  issue,
  planRotation,
  splitPem,
} from "../../src/operator/webhook/certificates.ts";
import {
  parseListenAddress,
  startWebhookServer,
  type WebhookServer,
} from "../../src/operator/webhook/server.ts";
import { createLogger } from "../../src/util/log.ts";

const log = createLogger("test", { level: process.env.TEST_LOG ?? "silent" });
const NAME = "v6mostly-webhook.v6mostly.svc";

async function bundle(): Promise<CertificateBundle> {
  const now = new Date();
  return issue(undefined, planRotation(undefined, now, [NAME, "127.0.0.1"]) as never, now);
}

interface Reply {
  status: number;
  body: string;
  sha256: string;
}
function call(
  server: WebhookServer,
  ca: string,
  opts: {
    method?: string;
    path?: string;
    body?: string | Buffer;
    chunked?: boolean;
    headers?: Record<string, string>;
  },
): Promise<Reply> {
  const port = Number(server.address().split(":").pop());
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "POST",
        path: opts.path ?? "/validate",
        ca,
        servername: NAME,
        agent: false,
        headers: {
          "content-type": "application/json",
          ...(opts.body !== undefined && !opts.chunked
            ? { "content-length": String(Buffer.byteLength(opts.body)) }
            : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            body: Buffer.concat(chunks).toString(),
            sha256:
              (res.socket as import("node:tls").TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? "",
          }),
        );
      },
    );
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error("no answer in 5 s")));
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

const review = (object: unknown, operation = "CREATE") =>
  JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "u-1",
      kind: { group: "v6mostly.dev", version: "v1alpha1", kind: "Nat64Gateway" },
      name: "home",
      namespace: "default",
      operation,
      object,
    },
  });
const gateway = (prefix: string) => ({
  apiVersion: "v6mostly.dev/v1alpha1",
  kind: "Nat64Gateway",
  metadata: { name: "home", namespace: "default" },
  spec: { prefix, pool4: ["198.51.100.1-198.51.100.9"], allowedSources: ["fd00:64:1::/64"] },
});

describe("webhook HTTPS server", () => {
  let b: CertificateBundle;
  let server: WebhookServer;
  const metrics = new Registry();

  before(async () => {
    b = await bundle();
    server = await startWebhookServer({
      address: "127.0.0.1:0",
      cert: b.cert,
      key: b.key,
      log,
      metrics,
      maxBodyBytes: 64 * 1024,
    });
  });
  after(() => server.close());

  it("answers a review over TLS with the bundle's certificate: refused /72, allowed /96", async () => {
    const no = await call(server, b.caCert, { body: review(gateway("fd00:ff9b::/72")) });
    assert.equal(no.status, 200);
    assert.equal(no.sha256, splitPem(b.cert)[0]!.fingerprint256);
    const answer = JSON.parse(no.body);
    assert.equal(answer.response.uid, "u-1");
    assert.equal(answer.response.allowed, false);
    assert.match(
      answer.response.status.message,
      /^Nat64Gateway\/home spec\.prefix: \/72 is not a NAT64 prefix length/,
    );
    const yes = await call(server, b.caCert, { body: review(gateway("fd00:ff9b::/96")) });
    assert.equal(JSON.parse(yes.body).response.allowed, true);
    const del = await call(server, b.caCert, { body: review(null, "DELETE") });
    assert.equal(JSON.parse(del.body).response.allowed, true);
  });

  it("/healthz; other paths and methods get 404 and 405", async () => {
    assert.equal((await call(server, b.caCert, { method: "GET", path: "/healthz" })).status, 200);
    assert.equal((await call(server, b.caCert, { method: "GET", path: "/nothing" })).status, 404);
    const get = await call(server, b.caCert, { method: "GET" });
    assert.equal(get.status, 405);
    assert.match(get.body, /POST an AdmissionReview/);
  });

  it("malformed bodies are answered with why, and counted; the server keeps serving", async () => {
    const before = server.counts.malformed;
    const r = await call(server, b.caCert, { body: "{not json" });
    assert.equal(r.status, 400);
    assert.match(
      JSON.parse(r.body).response.status.message,
      /malformed AdmissionReview: the body is not JSON/,
    );
    const noUid = await call(server, b.caCert, {
      body: JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {} }),
    });
    assert.equal(noUid.status, 400);
    assert.equal(server.counts.malformed, before + 2);
    assert.equal(
      JSON.parse((await call(server, b.caCert, { body: review(gateway("64:ff9b::/96")) })).body).response
        .allowed,
      true,
    );
  });

  it("a body over the limit is refused with 413, declared or streamed, and counted", async () => {
    const big = review({ ...gateway("64:ff9b::/96"), padding: "x".repeat(70 * 1024) });
    const declared = await call(server, b.caCert, { body: big });
    assert.equal(declared.status, 413);
    assert.match(declared.body, /larger than 65536 bytes/);
    const streamed = await call(server, b.caCert, {
      body: big,
      chunked: true,
      headers: { "transfer-encoding": "chunked" },
    });
    assert.equal(streamed.status, 413);
    assert.equal(server.counts.too_large, 2);
    assert.equal(
      JSON.parse((await call(server, b.caCert, { body: review(gateway("64:ff9b::/96")) })).body).response
        .allowed,
      true,
    );
  });

  it("counts every answer in Prometheus by kind, operation and outcome", async () => {
    const text = await metrics.metrics();
    assert.match(
      text,
      /v6mostly_webhook_reviews_total\{kind="Nat64Gateway",operation="CREATE",outcome="denied"\} 1/,
    );
    assert.match(
      text,
      /v6mostly_webhook_reviews_total\{kind="Nat64Gateway",operation="CREATE",outcome="allowed"\} [3-9]/,
    );
    assert.match(
      text,
      /v6mostly_webhook_reviews_total\{kind="Nat64Gateway",operation="DELETE",outcome="allowed"\} 1/,
    );
    assert.match(text, /v6mostly_webhook_reviews_total\{kind="",operation="",outcome="malformed"\} 2/);
    assert.match(text, /v6mostly_webhook_reviews_total\{kind="",operation="",outcome="too_large"\} 2/);
  });

  it("a new certificate is served to new connections once set", async () => {
    const next = await bundle();
    server.setCertificate(next.cert, next.key);
    const r = await call(server, next.caCert, { method: "GET", path: "/healthz" });
    assert.equal(r.sha256, splitPem(next.cert)[0]!.fingerprint256);
    await assert.rejects(
      call(server, b.caCert, { method: "GET", path: "/healthz" }),
      /self[- ]signed|unable to verify/i,
    );
  });
});

describe("--webhook-address", () => {
  it("':PORT' is every address; host:port and [v6]:port as given; port 0 for tests", () => {
    assert.deepEqual(parseListenAddress(":9443"), { port: 9443 });
    assert.deepEqual(parseListenAddress("0.0.0.0:9443"), { host: "0.0.0.0", port: 9443 });
    assert.deepEqual(parseListenAddress("[::]:9443"), { host: "::", port: 9443 });
    assert.deepEqual(parseListenAddress("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
    assert.throws(() => parseListenAddress(":99999"), /port/);
    assert.throws(() => parseListenAddress("webhook.local:9443"), /host names are not resolved/);
  });
});
