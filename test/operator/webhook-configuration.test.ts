// The ValidatingWebhookConfiguration as a pure function, the caBundle-only object for a chart's
// configuration, the RBAC rules, and the field comparison that decides whether to write.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KIND_NAMES, KINDS } from "../../src/api/resources.ts";
import { webhookPolicyRules } from "../../src/operator/manifests/rbac.ts";
import {
  caBundleOnly,
  serviceHosts,
  validatingWebhookConfiguration,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_NAME,
  WEBHOOK_SECRET,
  webhookUrlProblem,
} from "../../src/operator/webhook/configuration.ts";
import { covers } from "../../src/operator/webhook/index.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
type Hook = {
  name: string;
  clientConfig: { url?: string; service?: Record<string, unknown>; caBundle: string };
  rules: {
    apiGroups: string[];
    apiVersions: string[];
    operations: string[];
    resources: string[];
    scope: string;
  }[];
  failurePolicy: string;
  sideEffects: string;
  admissionReviewVersions: string[];
  timeoutSeconds: number;
  matchPolicy: string;
};
const hookOf = (o: Record<string, unknown>) => (o.webhooks as Hook[])[0]!;

describe("ValidatingWebhookConfiguration", () => {
  it("sends CREATE and UPDATE of every kind (not /status, not DELETE) to the Service, v1 reviews, no side effects", () => {
    const c = validatingWebhookConfiguration({ namespace: "v6mostly", caBundle: CA });
    assert.equal(c.apiVersion, "admissionregistration.k8s.io/v1");
    assert.equal(c.kind, "ValidatingWebhookConfiguration");
    assert.equal(c.metadata.name, WEBHOOK_CONFIGURATION);
    assert.equal((c.webhooks as unknown[]).length, 1);
    const h = hookOf(c);
    assert.equal(h.name, WEBHOOK_NAME);
    assert.equal(h.name, "validate.v6mostly.dev");
    assert.deepEqual(h.rules, [
      {
        apiGroups: ["v6mostly.dev"],
        apiVersions: ["v1alpha1"],
        operations: ["CREATE", "UPDATE"],
        resources: [
          "nat64gateways",
          "dns64resolvers",
          "routeradverts",
          "dhcpscopes",
          "externaldevices",
          "edgetranslations",
        ],
        scope: "Namespaced",
      },
    ]);
    assert.deepEqual(
      h.rules[0]!.resources,
      KIND_NAMES.map((k) => KINDS[k].plural),
    );
    assert.equal(h.sideEffects, "None");
    assert.deepEqual(h.admissionReviewVersions, ["v1"]);
    assert.equal(h.matchPolicy, "Equivalent");
    assert.equal(h.timeoutSeconds, 5);
    assert.deepEqual(h.clientConfig, {
      service: { namespace: "v6mostly", name: "v6mostly-webhook", path: "/validate", port: 443 },
      caBundle: Buffer.from(CA).toString("base64"),
    });
  });

  it("failurePolicy: Ignore unless asked for Fail", () => {
    assert.equal(
      hookOf(validatingWebhookConfiguration({ namespace: "n", caBundle: CA })).failurePolicy,
      "Ignore",
    );
    assert.equal(
      hookOf(validatingWebhookConfiguration({ namespace: "n", caBundle: CA, failurePolicy: "Fail" }))
        .failurePolicy,
      "Fail",
    );
  });

  it("a URL instead of the Service, for API servers that cannot reach Services", () => {
    const url = "https://[fd00:6b8::2]:9443/validate";
    const h = hookOf(validatingWebhookConfiguration({ namespace: "n", caBundle: CA, url }));
    assert.deepEqual(h.clientConfig, { url, caBundle: Buffer.from(CA).toString("base64") });
  });

  it("refuses what the API server would: http, credentials, a query; timeouts outside 1 to 30 s", () => {
    assert.equal(webhookUrlProblem("https://192.0.2.1:9443/validate"), undefined);
    assert.match(webhookUrlProblem("http://192.0.2.1/validate")!, /must be https/);
    assert.match(webhookUrlProblem("https://u:p@192.0.2.1/validate")!, /no user/);
    assert.match(webhookUrlProblem("https://192.0.2.1/validate?x=1")!, /query/);
    assert.match(webhookUrlProblem("not a url")!, /not a URL/);
    assert.throws(
      () => validatingWebhookConfiguration({ namespace: "n", caBundle: CA, url: "http://x/" }),
      /https/,
    );
    for (const t of [0, 31, 2.5])
      assert.throws(
        () => validatingWebhookConfiguration({ namespace: "n", caBundle: CA, timeoutSeconds: t }),
        /1 to 30/,
      );
  });

  it("caBundleOnly names the webhook and carries nothing but the caBundle (server-side apply owns that field only)", () => {
    assert.deepEqual(caBundleOnly(CA), {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: WEBHOOK_CONFIGURATION },
      webhooks: [{ name: WEBHOOK_NAME, clientConfig: { caBundle: Buffer.from(CA).toString("base64") } }],
    });
  });

  it("the Service's names for the certificate", () => {
    assert.deepEqual(serviceHosts("v6mostly"), [
      "v6mostly-webhook.v6mostly.svc",
      "v6mostly-webhook.v6mostly.svc.cluster.local",
    ]);
  });
});

describe("webhook RBAC", () => {
  it("Secrets and the configuration by name; create only where no name exists yet", () => {
    const r = webhookPolicyRules();
    assert.deepEqual(r.namespaced, [
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: [WEBHOOK_SECRET],
        verbs: ["get", "list", "watch", "update"],
      },
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
    ]);
    assert.ok(r.cluster.every((rule) => rule.resourceNames?.includes(WEBHOOK_CONFIGURATION)));
    assert.ok(!r.cluster.some((rule) => rule.verbs.includes("create")), "without --webhook-manage-config");
    const managed = webhookPolicyRules({ manageConfig: true });
    assert.ok(managed.cluster.some((rule) => rule.verbs.includes("create")));
  });
});

describe("covers: what the API server shows against what we want", () => {
  it("fields the server adds are not differences; a changed or missing field is", () => {
    const want = { a: 1, b: { c: ["x", "y"] } };
    assert.ok(covers({ a: 1, b: { c: ["x", "y"], d: 2 }, e: 3 }, want));
    assert.ok(!covers({ a: 2, b: { c: ["x", "y"] } }, want));
    assert.ok(!covers({ a: 1, b: { c: ["x"] } }, want));
    assert.ok(!covers({ a: 1, b: { c: ["x", "y", "z"] } }, want));
    assert.ok(!covers({ a: 1 }, want));
    assert.ok(!covers(undefined, want));
    const c = validatingWebhookConfiguration({ namespace: "n", caBundle: CA });
    const served = structuredClone(hookOf(c)) as Record<string, unknown>;
    Object.assign(served, {
      namespaceSelector: {},
      objectSelector: {},
      reinvocationPolicy: "Never",
    });
    assert.ok(covers(served, hookOf(c)));
    (served.rules as { scope: string }[])[0]!.scope = "*";
    assert.ok(!covers(served, hookOf(c)));
  });
});
