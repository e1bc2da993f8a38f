// The device controller against a real kube-apiserver and etcd (test/cluster): the operator runs
// as a process in a node namespace with its own ServiceAccount's RBAC (Secrets only by name), a
// fake FortiGate runs as a process in another node namespace, with a certificate of the cluster's
// CA that the ExternalDevice trusts through tls.caSecretRef. Apply, status and printer columns,
// drift corrected at the periodic check, and deletion through the finalizer.
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../src/api/gen.ts";
import { kindResource } from "../../src/api/resources.ts";
import { OPERATOR_ACCOUNT, rbacObjects } from "../../src/operator/manifests/rbac.ts";
import { DEVICE_FINALIZER } from "../../src/operator/reconcile/devices.ts";
import { CORE, KubeClient, type KubeObject } from "../../src/operator/runtime/client.ts";
import {
  type ControlPlane,
  controlPlaneAvailable,
  serviceAccount,
  startControlPlane,
} from "../cluster/controlplane.ts";
import type { Daemon } from "../cluster/netns.ts";
import { haveShared } from "../devices/support/paths.ts";
import { applyAll, installCrds } from "./support/apply.ts";

const skip = controlPlaneAvailable() ?? (haveShared() ? undefined : "../shared/devices is absent");
const NS = "v6mostly-system";
const TOKEN = "fgt-cluster-token-6a2f0c9e4b71";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Cond = { type: string; status: string; reason: string; message: string };
type Obj = KubeObject & {
  status?: { conditions?: Cond[]; version?: string; programmed?: string; observedGeneration?: number };
};
type BoxState = {
  tables: Record<string, Record<string, unknown>[]>;
  singletons: Record<string, Record<string, unknown>>;
};

describe("the device controller on a real API server, a fake FortiGate in a node namespace", { skip }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let box: Daemon;
  let operator: Daemon;
  let socket: string;

  /** The fake FortiGate's control socket. */
  function control<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: socket, method, path }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as T);
        });
      });
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }
  const boxState = () => control<BoxState>("GET", "/state");
  const pool = async () => (await boxState()).tables["firewall/ippool"]?.find((p) => p.name === "v6m-home");

  async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
    const end = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        const v = await f();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > end) {
        const logs = [operator, box]
          .filter(Boolean)
          .map((d) => `--- ${d.name}\n${d.tail(20)}`)
          .join("\n");
        throw new Error(`timed out: ${what}${last ? ` (${(last as Error).message})` : ""}\n${logs}`);
      }
      await sleep(250);
    }
  }
  const get = (kind: string, name: string) =>
    admin.find<Obj>(kindResource(kind as "Nat64Gateway"), "lan", name);
  const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
  const events = async (reason: string) =>
    (await admin.list<KubeObject & { reason: string; message: string }>(CORE.events, "lan")).items.filter(
      (e) => e.reason === reason,
    );

  before(async () => {
    cp = await startControlPlane({ name: "dev" });
    admin = await KubeClient.load(cp.kubeconfig);
    await applyAll(admin, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "lan" } },
    ]);
    await applyAll(admin, rbacObjects(NS));
    await installCrds(admin);
    const fgt = await cp.addNodeNamespace("fgt");
    const op = await cp.addNodeNamespace("operator");
    const serving = cp.pki.server("fgt", { ip: [fgt.address] });
    const tokenFile = join(cp.dir, "fgt.token");
    writeFileSync(tokenFile, TOKEN);
    chmodSync(tokenFile, 0o600);
    socket = join(cp.dir, "fgt.sock");
    box = cp.spawn(
      "fgt",
      [process.execPath, "--import", "tsx", "test/operator/fixtures/fortigate.ts"].concat(
        ["--listen", fgt.address, "--port", "8443", "--cert", serving.cert, "--key", serving.key],
        ["--token-file", tokenFile, "--control", socket, "--version", "7.2.4"],
      ),
      { ns: fgt.netns, cwd: repoRoot },
    );
    await until("the fake FortiGate", boxState);
    const b64 = (t: string) => Buffer.from(t).toString("base64");
    await applyAll(
      admin,
      [
        { apiVersion: "v1", kind: "Secret", metadata: { name: "fgt-token" }, data: { token: b64(TOKEN) } },
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "fgt-ca" },
          data: { "ca.crt": b64(cp.pki.pem(cp.pki.caCert)) },
        },
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "ExternalDevice",
          metadata: { name: "fgt" },
          spec: {
            vendor: "fortios",
            endpoint: `https://[${fgt.address}]:8443`,
            vdom: "root",
            credentialsSecretRef: { name: "fgt-token", key: "token" },
            tls: { caSecretRef: { name: "fgt-ca", key: "ca.crt" } },
          },
        },
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Nat64Gateway",
          metadata: { name: "home" },
          spec: {
            prefix: "64:ff9b::/96",
            pool4: ["198.51.100.10-198.51.100.20"],
            allowedSources: ["2001:db8:1::/64"],
            uplinkInterface: "wan1",
            deviceRef: { name: "fgt" },
          },
        },
        {
          apiVersion: "v6mostly.dev/v1alpha1",
          kind: "Dns64Resolver",
          metadata: { name: "lan" },
          spec: {
            listen: ["[2001:db8:1::1]:53"],
            nat64GatewayRef: { name: "home" },
            upstreams: ["198.51.100.53"],
            allowClients: ["2001:db8:1::/64"],
            deviceRef: { name: "fgt" },
          },
        },
      ],
      "lan",
    );
    operator = cp.spawn(
      "operator",
      [process.execPath, "--import", "tsx", "src/cli/main.ts", "operator", "--namespace", NS].concat(
        ["--agent-image", "localhost/v6mostly:test", "--status-address", "off", "--lease-duration", "4"],
        ["--device-resync", "3s"],
      ),
      {
        ns: op.netns,
        cwd: repoRoot,
        env: {
          KUBECONFIG: cp.kubeconfigAs(serviceAccount(NS, OPERATOR_ACCOUNT), op.netns),
          V6MOSTLY_LOG_LEVEL: "info",
        },
      },
    );
  });

  after(async () => {
    await cp?.stop();
  });

  it("configures the box with the Secret's token, writes DeviceSynced with the version, and the printer columns show it", async () => {
    const fgt = await until("fgt DeviceSynced=True", async () => {
      const o = await get("ExternalDevice", "fgt");
      return cond(o, "DeviceSynced")?.status === "True" && o;
    });
    assert.match(cond(fgt, "DeviceSynced")!.message, /^\d+ object\(s\) in sync, version 7\.2\.4$/);
    assert.equal(fgt.status!.version, "7.2.4", "probed from the box (spec.version is absent)");
    assert.deepEqual(fgt.metadata.finalizers, [DEVICE_FINALIZER]);
    assert.equal((await pool())?.endip, "198.51.100.20");
    const home = await until("home Ready", async () => {
      const o = await get("Nat64Gateway", "home");
      return cond(o, "Ready")?.status === "True" && o;
    });
    assert.equal(home.status!.programmed, "device fgt");
    assert.equal(cond(home, "DeviceSynced")?.status, "True");
    const table = cp.kubectl(["get", "externaldevices", "-n", "lan"]);
    assert.match(table, /^NAME\s+VENDOR\s+ENDPOINT\s+VERSION\s+READY\s+PROGRAMMED\s+AGE/m);
    assert.match(table, /^fgt\s+fortios\s+https:\/\/\S+\s+7\.2\.4\s+True\s+\d+ object\(s\) in sync/m);
    assert.equal((await events("Applied")).length, 1);
    // the state is in the operator's namespace; no Secret of the user's was copied there
    const states = await admin.list(CORE.configmaps, NS, { labelSelector: "v6mostly.dev/device-state=true" });
    assert.deepEqual(
      states.items.map((c) => c.metadata.name),
      ["device.lan.fgt"],
    );
    assert.ok(!JSON.stringify(states.items).includes(TOKEN));
  });

  it("steady state: two drift checks later, no object the operator writes has changed (no write loop)", async () => {
    const versions = async () =>
      [
        await get("ExternalDevice", "fgt"),
        await get("Nat64Gateway", "home"),
        await get("Dns64Resolver", "lan"),
        await admin.find(CORE.configmaps, NS, "device.lan.fgt"),
      ].map((o) => `${o?.metadata.name} ${o?.metadata.resourceVersion}`);
    // the first test's writes settle (the plan reconciler follows the device's outcome)
    let before = await versions();
    await until("the writes settle", async () => {
      await sleep(3500);
      const now = await versions();
      const same = JSON.stringify(now) === JSON.stringify(before);
      before = now;
      return same;
    });
    const box = (await boxState()).tables["firewall/ippool"];
    await sleep(7000); // two --device-resync periods
    assert.deepEqual(await versions(), before);
    assert.deepEqual((await boxState()).tables["firewall/ippool"], box);
  });

  it("corrects drift at the periodic check and says so in an Event", async () => {
    await control("POST", "/set", {
      path: "firewall/ippool",
      key: "v6m-home",
      field: "endip",
      value: "198.51.100.99",
    });
    assert.equal((await pool())?.endip, "198.51.100.99");
    await until("the pool put back", async () => (await pool())?.endip === "198.51.100.20");
    const drift = await until("a DriftCorrected Event", async () => (await events("DriftCorrected"))[0]);
    assert.match(drift.message, /update firewall\/ippool\/v6m-home/);
  });

  it("deleting the ExternalDevice removes the configuration from the box before the object goes", async () => {
    await admin.delete(kindResource("ExternalDevice"), "lan", "fgt");
    await until("fgt gone", async () => !(await get("ExternalDevice", "fgt")));
    const s = await boxState();
    assert.deepEqual(s.tables["firewall/ippool"] ?? [], []);
    assert.deepEqual(s.tables["firewall/policy"] ?? [], []);
    assert.equal(s.singletons["system/dns64"]?.status, "disable");
    assert.equal((await events("ConfigRemoved")).length, 1);
    await until("its state removed", async () => !(await admin.find(CORE.configmaps, NS, "device.lan.fgt")));
  });
});
