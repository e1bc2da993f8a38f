// The test control plane against itself: a real etcd and kube-apiserver 1.20.2 in network
// namespaces, driven with @kubernetes/client-node as the operator will drive it. Proves what the
// operator's contract tests rely on: the project's CRDs install, custom objects, the status
// subresource, server-side apply, watch, Leases, RBAC for a least-privilege identity, a process
// in a node namespace reaching the API, webhooks the API server calls in either namespace,
// kill -9 of the API server, garbage collection by kube-controller-manager, and a clean stop().
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import {
  BRIDGE_ADDRESS,
  binDir,
  type ControlPlane,
  controlPlaneAvailable,
  type NodeNamespace,
  serviceAccount,
  startControlPlane,
} from "./controlplane.ts";
import { listNamespaces } from "./netns.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const NS = "v6mostly-test";
const NAT64 = { group: "v6mostly.dev", version: "v1alpha1", namespace: NS, plural: "nat64gateways" };
const skip = controlPlaneAvailable();

/** The HTTP status of a failed call (ApiException.code), or a rethrow if it did not fail that way. */
async function failure(p: Promise<unknown>): Promise<{ code: number; body: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException) return { code: e.code, body: String(e.body) };
    throw e;
  }
  assert.fail("the call succeeded");
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// A validating webhook (admission.k8s.io/v1) that refuses every object it is sent, naming where it
// runs: proof that the API server reached it.
const WEBHOOK = `
const https = require("node:https");
const fs = require("node:fs");
const [cert, key, host, where] = process.argv.slice(1);
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    const review = JSON.parse(body);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: {
      uid: review.request.uid, allowed: false, status: { code: 403, message: "refused by the webhook in " + where } } }));
  });
}).listen(8443, host);
`;

describe("test control plane: etcd + kube-apiserver 1.20.2 in network namespaces", { skip }, () => {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let node: NodeNamespace;

  before(async () => {
    cp = await startControlPlane({ name: "cptest" });
    console.log(`# control plane ${cp.netns} ready in ${cp.timings.startMs} ms (${cp.server})`);
    kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  });

  after(async () => {
    await cp?.stop();
  });

  it("installs every CRD from crds/ and each becomes Established", async () => {
    const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const refused: string[] = [];
    const names: string[] = [];
    for (const file of readdirSync(join(ROOT, "crds")).sort()) {
      // loadYaml, not a plain parse: the typed API serialises from the model's property names
      // (xKubernetesIntOrString) and silently drops the wire names (x-kubernetes-int-or-string)
      // of a plain object, and 1.20 then refuses the schema ("type: Required value").
      const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(
        readFileSync(join(ROOT, "crds", file), "utf8"),
      );
      try {
        await api.createCustomResourceDefinition({ body: crd });
        names.push(crd.metadata!.name!);
      } catch (e) {
        refused.push(`${file}: ${e instanceof k8s.ApiException ? `${e.code} ${e.body}` : e}`);
      }
    }
    assert.deepEqual(refused, []);
    assert.ok(names.length >= 5, `${names.length} CRDs in crds/`);
    for (const name of names) {
      await until(`${name} Established`, async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.find((c) => c.type === "Established" && c.status === "True");
      });
    }
  });

  it("creates the seed's Nat64Gateway, reads it back, and refuses one the schema forbids", async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const seed = parse(readFileSync(join(ROOT, "examples", "seed", "nat64.yaml"), "utf8"));
    await api.createNamespacedCustomObject({ ...NAT64, body: seed });
    const read = await api.getNamespacedCustomObject({ ...NAT64, name: "home" });
    assert.deepEqual(read.spec, seed.spec);
    assert.equal(read.metadata.generation, 1);

    const bad = { ...seed, metadata: { name: "bad" }, spec: { ...seed.spec, mode: "bogus" } };
    const refused = await failure(api.createNamespacedCustomObject({ ...NAT64, body: bad }));
    assert.equal(refused.code, 422);
    assert.match(refused.body, /spec\.mode/);
  });

  it("writes status only through the /status subresource; a spec change bumps the generation", async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const obj = await api.getNamespacedCustomObject({ ...NAT64, name: "home" });
    const condition = {
      type: "Ready",
      status: "True",
      reason: "Programmed",
      message: "1/1 nodes",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      observedGeneration: 1,
    };
    await api.replaceNamespacedCustomObjectStatus({
      ...NAT64,
      name: "home",
      body: { ...obj, status: { observedGeneration: 1, conditions: [condition] } },
    });
    const withStatus = await api.getNamespacedCustomObject({ ...NAT64, name: "home" });
    assert.deepEqual(withStatus.status.conditions, [condition]);
    assert.equal(withStatus.metadata.generation, 1, "a status write leaves the generation alone");

    // Through the main resource, status is ignored and the spec change counts.
    await api.replaceNamespacedCustomObject({
      ...NAT64,
      name: "home",
      body: { ...withStatus, spec: { ...withStatus.spec, mtu: 1400 }, status: { observedGeneration: 7 } },
    });
    const after = await api.getNamespacedCustomObject({ ...NAT64, name: "home" });
    assert.equal(after.spec.mtu, 1400);
    assert.equal(after.metadata.generation, 2);
    assert.deepEqual(after.status, withStatus.status);
  });

  it("server-side apply: a field manager owns its fields, another is refused with a conflict", async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const apply = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply);
    const body = {
      apiVersion: "v6mostly.dev/v1alpha1",
      kind: "Nat64Gateway",
      metadata: { name: "applied", namespace: NS, labels: { "app.kubernetes.io/part-of": "v6mostly" } },
      spec: {
        prefix: "fd00:ff9b::/96",
        mode: "stateful",
        pool4: ["192.0.2.0/28"],
        allowedSources: ["fd00:64:1::/64"],
      },
    };
    const applied = await api.patchNamespacedCustomObject(
      { ...NAT64, name: "applied", body, fieldManager: "v6mostly-operator", force: true },
      apply,
    );
    assert.deepEqual(applied.spec.pool4, ["192.0.2.0/28"]);
    const managers = (applied.metadata.managedFields as { manager: string; operation: string }[]).map(
      (m) => `${m.manager}/${m.operation}`,
    );
    assert.deepEqual(managers, ["v6mostly-operator/Apply"]);

    const other = { ...body, spec: { ...body.spec, pool4: ["192.0.2.16/28"] } };
    const conflict = await failure(
      api.patchNamespacedCustomObject(
        { ...NAT64, name: "applied", body: other, fieldManager: "someone-else" },
        apply,
      ),
    );
    assert.equal(conflict.code, 409);
    assert.match(conflict.body, /conflict/i);
  });

  it("a watch sees an update", async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const seen: { phase: string; mtu?: number }[] = [];
    const abort = await new k8s.Watch(kc).watch(
      `/apis/v6mostly.dev/v1alpha1/namespaces/${NS}/nat64gateways`,
      { fieldSelector: "metadata.name=home" },
      (phase, obj) => seen.push({ phase, mtu: obj.spec?.mtu }),
      () => {},
    );
    try {
      await until("the ADDED event", async () => seen.find((e) => e.phase === "ADDED"));
      const obj = await api.getNamespacedCustomObject({ ...NAT64, name: "home" });
      await api.replaceNamespacedCustomObject({
        ...NAT64,
        name: "home",
        body: { ...obj, spec: { ...obj.spec, mtu: 1300 } },
      });
      await until("the MODIFIED event", async () =>
        seen.find((e) => e.phase === "MODIFIED" && e.mtu === 1300),
      );
    } finally {
      abort.abort();
    }
  });

  it("coordination.k8s.io/v1 Lease: create, renew, and a stale update is refused", async () => {
    const api = kc.makeApiClient(k8s.CoordinationV1Api);
    const now = new k8s.V1MicroTime();
    const lease = await api.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: "v6mostly-operator" },
        spec: { holderIdentity: "op-a", leaseDurationSeconds: 15, acquireTime: now, renewTime: now },
      },
    });
    const renewed = await api.replaceNamespacedLease({
      name: "v6mostly-operator",
      namespace: NS,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "op-b", renewTime: new k8s.V1MicroTime() } },
    });
    assert.equal(renewed.spec?.holderIdentity, "op-b");
    assert.notEqual(renewed.metadata?.resourceVersion, lease.metadata?.resourceVersion);
    // What leader election rests on: an update from a stale read loses.
    const stale = await failure(
      api.replaceNamespacedLease({
        name: "v6mostly-operator",
        namespace: NS,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "op-c" } },
      }),
    );
    assert.equal(stale.code, 409);
  });

  it("a process in a node namespace reaches the API with kubeconfigFor", async () => {
    node = await cp.addNodeNamespace("node-a");
    const uid = (await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: NS })).metadata?.uid;
    const script = `
      const k8s = await import(${JSON.stringify(import.meta.resolve("@kubernetes/client-node"))});
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(process.argv[1]);
      const ns = await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: ${JSON.stringify(NS)} });
      console.log(kc.getCurrentCluster().server, ns.metadata.uid);`;
    const out = cp.exec(node.netns, [
      process.execPath,
      "--input-type=module",
      "-e",
      script,
      cp.kubeconfigFor(node.netns),
    ]);
    assert.equal(out.trim(), `https://[${BRIDGE_ADDRESS}]:443 ${uid}`);
    // No route but the bridge's: nothing the node namespace sends leaves the harness.
    assert.throws(() => cp.exec(node.netns, ["ip", "route", "get", "192.0.2.1"]), /unreachable/);
    assert.throws(() => cp.exec(node.netns, ["ip", "-6", "route", "get", "2001:db8::1"]), /unreachable/);
    // And the machine's own namespace has none of the harness's links or addresses.
    const machine = execFileSync("ip", ["-o", "addr"], { encoding: "utf8" });
    assert.doesNotMatch(machine, /fd00:6b8:|10\.96\.0\.1\/| k8s0 /);
  });

  it("a ServiceAccount identity gets exactly what RBAC grants it", async () => {
    const local = new k8s.KubeConfig();
    local.loadFromFile(cp.kubeconfigAs(serviceAccount(NS, "agent")));
    const api = local.makeApiClient(k8s.CustomObjectsApi);
    assert.equal((await failure(api.listNamespacedCustomObject(NAT64))).code, 403);

    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: NS,
      body: {
        metadata: { name: "agent" },
        rules: [
          { apiGroups: ["v6mostly.dev"], resources: ["nat64gateways"], verbs: ["get", "list", "watch"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: "agent" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "agent" },
        subjects: [{ kind: "ServiceAccount", name: "agent", namespace: NS }],
      },
    });
    const list = await until("the RoleBinding in force", async () => {
      try {
        return await api.listNamespacedCustomObject(NAT64);
      } catch {
        return undefined;
      }
    });
    assert.ok(list.items.length >= 1);
    const write = await failure(api.deleteNamespacedCustomObject({ ...NAT64, name: "home" }));
    assert.equal(write.code, 403, "delete is not granted");
    assert.match(write.body, /system:serviceaccount:v6mostly-test:agent/);
  });

  for (const where of ["node", "control-plane"] as const) {
    it(`the API server calls a validating webhook served in the ${where} namespace`, async () => {
      const inNode = where === "node";
      const ns = inNode ? node.netns : cp.netns;
      const host = inNode ? node.address : "127.0.0.1";
      const pair = cp.pki.server(`webhook-${where}`, { ip: [host] });
      const server = cp.spawn(
        `webhook-${where}`,
        [process.execPath, "-e", WEBHOOK, pair.cert, pair.key, host, ns],
        { ns },
      );
      const url = `https://${inNode ? `[${host}]` : host}:8443/validate`;
      const label = `refuse-${where}`;
      await kc.makeApiClient(k8s.AdmissionregistrationV1Api).createValidatingWebhookConfiguration({
        body: {
          metadata: { name: label },
          webhooks: [
            {
              name: `${label}.v6mostly.dev`,
              clientConfig: { url, caBundle: Buffer.from(cp.pki.pem(cp.pki.caCert)).toString("base64") },
              rules: [
                { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] },
              ],
              objectSelector: { matchLabels: { "v6mostly.dev/test": label } },
              failurePolicy: "Fail",
              sideEffects: "None",
              admissionReviewVersions: ["v1"],
              timeoutSeconds: 5,
            },
          ],
        },
      });
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const refused = await until("the webhook's answer", async () => {
        const r = await failure(
          core.createNamespacedConfigMap({
            namespace: NS,
            body: { metadata: { generateName: "w-", labels: { "v6mostly.dev/test": label } } },
          }),
        );
        return /refused by the webhook/.test(r.body) ? r : undefined; // not yet listening: failurePolicy
      });
      assert.match(refused.body, new RegExp(`refused by the webhook in ${ns}`));
      await server.stop();
      assert.ok(!server.running);
    });
  }

  it("kubectl works from this process through the relay (a synchronous call) and shows printer columns", () => {
    const out = execFileSync(
      join(binDir(), "kubectl"),
      [`--kubeconfig=${cp.kubeconfig}`, "-n", NS, "get", "nat64"],
      {
        encoding: "utf8",
      },
    );
    const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(
      readFileSync(join(ROOT, "crds", "nat64gateways.v6mostly.dev.yaml"), "utf8"),
    );
    const columns = crd.spec.versions[0]!.additionalPrinterColumns!.map((c) => c.name.toUpperCase());
    assert.deepEqual(out.split("\n")[0]!.split(/\s+/), ["NAME", ...columns]);
    assert.match(out, /^home\s+fd00:ff9b::\/96\s+stateful\s+.*True/m);
  });

  it("kube-apiserver killed with SIGKILL restarts on the same etcd data", async () => {
    const before = cp.apiServerPid!;
    await cp.restartApiServer({ kill: "SIGKILL" });
    assert.notEqual(cp.apiServerPid, before);
    assert.throws(() => process.kill(before, 0), /ESRCH/, "the first kube-apiserver is gone");
    console.log(`# kube-apiserver SIGKILL + restart to ready: ${cp.timings.restartMs} ms`);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const home = await api.getNamespacedCustomObject({ ...NAT64, name: "home" });
    assert.equal(home.spec.mtu, 1300);
    assert.equal(home.status.conditions[0].reason, "Programmed");
    const lease = await kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: "v6mostly-operator", namespace: NS });
    assert.equal(lease.spec?.holderIdentity, "op-b");
  });

  it("kube-controller-manager garbage-collects an object whose owner is deleted", async () => {
    await cp.startControllerManager();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const owner = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "owner" } },
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: "dependent",
          ownerReferences: [
            { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: "owner", namespace: NS });
    await until("the dependent collected", async () => {
      const gone = await failure(core.readNamespacedConfigMap({ name: "dependent", namespace: NS })).catch(
        () => undefined,
      );
      return gone?.code === 404 ? true : undefined;
    });
  });

  it("stop() leaves no process, namespace, mount or directory behind", async () => {
    const pids = cp.pids();
    const namespaces = [cp.netns, node.netns];
    assert.ok(pids.length >= 4, `${pids.length} processes`); // etcd, kube-apiserver, two relays, and more
    assert.ok(namespaces.every((n) => listNamespaces().includes(n)));
    const t0 = performance.now();
    await cp.stop();
    console.log(`# stop: ${Math.round(performance.now() - t0)} ms`);
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(alive, []);
    assert.deepEqual(
      listNamespaces().filter((n) => n.startsWith(cp.netns)),
      [],
    );
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    assert.ok(!mounts.includes(cp.netns), "a netns mount is left");
    assert.ok(!existsSync(cp.dir), `${cp.dir} is left`);
  });
});
