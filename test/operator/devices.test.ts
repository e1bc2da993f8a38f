// The device controller against the in-process fake API and fake FortiGates over HTTPS: credentials
// and CA from Secrets, apply, statuses from the device's outcome, a steady state that writes
// nothing, drift corrected, a bad or missing Secret (never quoted anywhere) and its repair, a
// resource deleted without a finalizer of its own, and the ExternalDevice's finalizer: config
// removed, then released; an unreachable box released after the cleanup timeout. An IOS-XE box
// (user from the spec, password from the Secret), run on demand by an annotation.
// The same flow against a real kube-apiserver: test/operator/devices-cluster.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { kindResource } from "../../src/api/resources.ts";
import { stateName } from "../../src/operator/devices/state.ts";
import { Operator } from "../../src/operator/index.ts";
import { DEVICE_FINALIZER } from "../../src/operator/reconcile/devices.ts";
import { CORE, type KubeClient, type KubeObject } from "../../src/operator/runtime/client.ts";
import type { Logger } from "../../src/util/log.ts";
import { FakeFortiGate } from "../devices/support/fake-fortios.ts";
import { FakeIosxe, ISR_INTERFACES } from "../devices/support/fake-iosxe.ts";
import { FortiSchemaChecker } from "../devices/support/fortios-schema.ts";
import { boxHarness } from "../devices/support/harness.ts";
import { capturedLogger } from "../devices/support/logs.ts";
import { fortiSchema } from "../devices/support/paths.ts";
import { FGT_INTERFACES } from "../devices/support/seed.ts";
import { FakeApi } from "./support/fakeapi.ts";
import { sleep, until as waitUntil } from "./support/wait.ts";

const NS = "v6mostly";
const TOKEN = "fgt-operator-token-9c41e7a2b5d8";
const WRONG = "fgt-wrong-token-3f06b9d1c7e2";
const h = boxHarness({ needsShared: true });
/** A device run takes longer than the fake API's round trips: 15 s. */
const until = <T>(what: string, f: () => T | undefined | false) => waitUntil(what, f, 15_000);

type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
type Obj = KubeObject & {
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Cond[];
    version?: string;
    programmed?: string;
    observedGeneration?: number;
    devices?: { name: string; ready: boolean; message: string; detail: Record<string, string> }[];
  };
};

const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const b64 = (t: string) => Buffer.from(t).toString("base64");
const secret = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace: "lan" },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});
const resource = (kind: string, name: string, spec: unknown): KubeObject => ({
  apiVersion: "v6mostly.dev/v1alpha1",
  kind,
  metadata: { name, namespace: "lan" },
  spec,
});
const fgtSpec = (endpoint: string) => ({
  vendor: "fortios",
  endpoint,
  version: "7.2.4",
  vdom: "root",
  credentialsSecretRef: { name: "fgt-token", key: "token" },
  tls: { caSecretRef: { name: "fgt-ca", key: "ca.crt" } },
});
const GATEWAY = {
  prefix: "64:ff9b::/96",
  pool4: ["198.51.100.10-198.51.100.20"],
  allowedSources: ["2001:db8:1::/64"],
  uplinkInterface: "wan1",
  deviceRef: { name: "fgt" },
};

/** One operator, no leader election, quick driver retries. */
async function startOperator(
  client: KubeClient,
  log: Logger,
  devices: { resyncMs: number; retryMs: number; cleanupTimeoutMs?: number },
): Promise<Operator> {
  const operator = new Operator({
    client,
    namespace: NS,
    log,
    agent: { image: "localhost/v6mostly:test" },
    leaderElection: false,
    devices: { ...devices, run: { retries: 1, backoffMs: 5, timeoutMs: 2000 } },
  });
  await operator.start();
  return operator;
}

describe("the device controller on a fake API with fake FortiGates", { skip: h.skip }, () => {
  let api: FakeApi;
  let client: KubeClient;
  let operator: Operator;
  let box: FakeFortiGate;
  const logs = capturedLogger();

  const get = (kind: string, name: string) =>
    api
      .objects(`v6mostly.dev/${kindResource(kind as "Nat64Gateway").plural}`)
      .find((o) => o.metadata.name === name && o.metadata.namespace === "lan") as Obj | undefined;
  const events = (reason: string, name = "fgt") =>
    api
      .objects("/events")
      .filter(
        (e) => e.reason === reason && (e.involvedObject as { name: string }).name === name,
      ) as unknown as (KubeObject & { message: string; type: string })[];
  const state = (name = "fgt") =>
    api.objects("/configmaps").find((c) => c.metadata.name === stateName("lan", name)) as
      | (KubeObject & { data: { ledger: string; outcome?: string } })
      | undefined;
  const newBox = async () =>
    h.track(
      new FakeFortiGate({
        version: "7.2.4",
        token: TOKEN,
        checker: new FortiSchemaChecker(fortiSchema()),
        key: h.pki.key,
        cert: h.pki.cert,
        interfaces: FGT_INTERFACES,
      }),
    );

  before(async () => {
    api = await new FakeApi().start();
    client = api.client();
    box = await newBox();
    const endpoint = await box.start();
    // an ippool of the box's own, without our mark: never touched
    box.table("firewall/ippool").set("SNAT44", {
      name: "SNAT44",
      type: "one-to-one",
      startip: "198.51.100.151",
      endip: "198.51.100.200",
    });
    await client.create(CORE.secrets, secret("fgt-token", { token: TOKEN }));
    await client.create(CORE.secrets, secret("fgt-ca", { "ca.crt": h.pki.ca }));
    await client.create(kindResource("ExternalDevice"), resource("ExternalDevice", "fgt", fgtSpec(endpoint)));
    await client.create(kindResource("Nat64Gateway"), resource("Nat64Gateway", "home", GATEWAY));
    await client.create(
      kindResource("Dns64Resolver"),
      resource("Dns64Resolver", "lan", {
        listen: ["[2001:db8:1::1]:53"],
        nat64GatewayRef: { name: "home" },
        upstreams: ["198.51.100.53"],
        allowClients: ["2001:db8:1::/64"],
        deviceRef: { name: "fgt" },
      }),
    );
    await client.create(
      kindResource("RouterAdvert"),
      resource("RouterAdvert", "lan", {
        interface: "lan1",
        prefixes: [{ prefix: "2001:db8:1::/64" }],
        rdnss: [{ address: "2001:db8:1::1" }],
        interval: { max: "200s" },
        deviceRef: { name: "fgt" },
      }),
    );
    operator = await startOperator(client, logs.log, { resyncMs: 300, retryMs: 100, cleanupTimeoutMs: 2000 });
  });

  after(async () => {
    await operator?.stop();
    await api?.stop();
  });

  it("applies what the resources need with the Secrets' token and CA; status, finalizer, Events", async () => {
    const synced = await until("fgt DeviceSynced=True", () => {
      const c = cond(get("ExternalDevice", "fgt"), "DeviceSynced");
      return c?.status === "True" && c;
    });
    assert.equal(synced.reason, "InSync");
    assert.match(synced.message, /^\d+ object\(s\) in sync, version 7\.2\.4$/);
    const fgt = get("ExternalDevice", "fgt")!;
    assert.equal(fgt.status!.version, "7.2.4");
    assert.equal(cond(fgt, "Ready")?.status, "True");
    assert.equal(fgt.status!.observedGeneration, 1);
    assert.deepEqual(fgt.metadata.finalizers, [DEVICE_FINALIZER]);
    // the box holds it: the pool, the NAT64 policy, DNS64, RA on lan1
    assert.equal(box.table("firewall/ippool").get("v6m-home")?.endip, "198.51.100.20");
    assert.equal(box.table("firewall/policy").size, 1);
    assert.equal(box.singletons.get("system/dns64")?.status, "enable");
    const ra = () =>
      (box.table("system/interface").get("lan1")!.ipv6 as Record<string, unknown>)["ip6-send-adv"];
    assert.equal(ra(), "enable");
    assert.ok(box.seen.every((s) => s.auth === `Bearer ${TOKEN}`));
    assert.deepEqual(box.schemaProblems, []);
    // every resource on it: Ready and DeviceSynced from the device's outcome
    for (const [kind, name] of [
      ["Nat64Gateway", "home"],
      ["Dns64Resolver", "lan"],
      ["RouterAdvert", "lan"],
    ] as const) {
      const o = await until(`${kind}/${name} Ready`, () => {
        const x = get(kind, name);
        return cond(x, "Ready")?.status === "True" && x;
      });
      assert.deepEqual(
        [cond(o, "Ready")!.reason, cond(o, "DeviceSynced")!.status, o.status!.programmed],
        ["InSync", "True", "device fgt"],
      );
      assert.deepEqual(o.status!.devices, [
        { name: "fgt", ready: true, message: "in sync", detail: { version: "7.2.4" } },
      ]);
      assert.equal(o.metadata.finalizers, undefined, "no finalizer on a resource");
    }
    const applied = events("Applied");
    assert.equal(applied.length, 1);
    assert.match(
      applied[0]!.message,
      /^applied \d+ change\(s\) and verified: create firewall\/ippool\/v6m-home, /,
    );
    // the ledger is kept in the API, in the operator's namespace
    const ledger = JSON.parse(state()!.data.ledger) as { entries: Record<string, unknown> };
    assert.ok(ledger.entries["system/dns64"], Object.keys(ledger.entries).join(", "));
  });

  it("steady state: the device is re-read every resync and nothing is written, by either controller", async () => {
    // what the first test saw written may still have its Events on the way: one run to settle
    const settled = operator.devices.counts.runs + 1;
    await until("one more device run", () => operator.devices.counts.runs >= settled);
    const from = api.requests.length;
    const runs = operator.devices.counts.runs;
    await until("three more device runs", () => operator.devices.counts.runs >= runs + 3);
    const writes = api.requests.slice(from).filter((r) => r.method !== "GET");
    assert.deepEqual(writes, []);
    assert.ok(box.writes().length > 0);
    const boxWrites = box.writes().length;
    await until("two more device runs", () => operator.devices.counts.runs >= runs + 5);
    assert.equal(box.writes().length, boxWrites, "nothing is sent to a box in sync");
  });

  it("drift: the box changed behind our back is put back at the next check, with a Warning Event", async () => {
    box.table("firewall/ippool").get("v6m-home")!.endip = "198.51.100.99";
    box.singletons.get("system/dns64")!["always-synthesize-aaaa-record"] = "enable";
    await until(
      "the pool put back",
      () => box.table("firewall/ippool").get("v6m-home")?.endip === "198.51.100.20",
    );
    // a run that was already reading the box when the two changed may see only one of them: the
    // next run puts the other back, so the Events together name both
    const drifts = await waitUntil(
      "DriftCorrected Events naming both objects",
      () => {
        const d = events("DriftCorrected");
        const text = d.map((e) => e.message).join("\n");
        return /update firewall\/ippool\/v6m-home/.test(text) && /update system\/dns64/.test(text) && d;
      },
      30_000,
    ); // one or two device runs; the whole suite on 2 cores once took more than 15 s
    for (const drift of drifts) {
      assert.equal(drift.type, "Warning");
      assert.match(drift.message, /^[12] object\(s\) changed on the box since v6mostly set them, put back: /);
    }
    assert.equal(box.singletons.get("system/dns64")!["always-synthesize-aaaa-record"], "disable");
  });

  it("an edit of a resource is applied; its status follows the generation", async () => {
    await client.mergePatch(kindResource("Nat64Gateway"), "lan", "home", {
      spec: { pool4: ["198.51.100.10-198.51.100.30"] },
    });
    await until(
      "the box has the new pool",
      () => box.table("firewall/ippool").get("v6m-home")?.endip === "198.51.100.30",
    );
    const o = await until("home Ready at generation 2", () => {
      const x = get("Nat64Gateway", "home");
      return cond(x, "Ready")?.status === "True" && cond(x, "Ready")?.observedGeneration === 2 && x;
    });
    assert.equal(cond(o, "DeviceSynced")?.observedGeneration, 2);
  });

  it("a wrong token, then no Secret: DeviceSynced=False with the reason, no secret anywhere; repaired, it syncs", async () => {
    await client.mergePatch(CORE.secrets, "lan", "fgt-token", { data: { token: b64(WRONG) } });
    try {
      const denied = await until("Unauthorized", () => {
        const c = cond(get("ExternalDevice", "fgt"), "DeviceSynced");
        return c?.reason === "Unauthorized" && c;
      });
      assert.equal(denied.status, "False");
      const home = await until("home follows the device", () => {
        const c = cond(get("Nat64Gateway", "home"), "Ready");
        return c?.reason === "Unauthorized" && c;
      });
      assert.equal(home.status, "False");
      assert.match(home.message, /^fgt: Unauthorized: /);
      assert.equal(get("Nat64Gateway", "home")!.status!.devices![0]!.ready, false);
      assert.equal((await until("a Warning Event", () => events("Unauthorized")[0])).type, "Warning");
      await client.delete(CORE.secrets, "lan", "fgt-token");
      const missing = await until("CredentialsUnavailable", () => {
        const c = cond(get("ExternalDevice", "fgt"), "DeviceSynced");
        return c?.reason === "CredentialsUnavailable" && c;
      });
      assert.equal(missing.message, "credentialsSecretRef: Secret lan/fgt-token does not exist");
      // neither token, nor its base64, in any object the operator wrote, nor in a log line
      const written = ["v6mostly.dev/externaldevices", "v6mostly.dev/nat64gateways", "/events", "/configmaps"]
        .map((c) => JSON.stringify(api.objects(c)))
        .join("\n");
      for (const t of [TOKEN, WRONG, b64(TOKEN), b64(WRONG)]) {
        assert.ok(!written.includes(t), `a secret in what the operator wrote: ${t}`);
        assert.ok(!logs.text().includes(t), `a secret in the log: ${t}`);
      }
    } finally {
      // the Secret repaired (also when a check above failed: the next tests need it)
      await client.delete(CORE.secrets, "lan", "fgt-token");
      await client.create(CORE.secrets, secret("fgt-token", { token: TOKEN }));
    }
    await until("in sync again", () => cond(get("ExternalDevice", "fgt"), "DeviceSynced")?.status === "True");
    assert.equal((await until("an InSync Event", () => events("InSync")[0])).type, "Normal");
    await until("home Ready again", () => cond(get("Nat64Gateway", "home"), "Ready")?.status === "True");
  });

  it("deleting a resource removes its stanza from the box at the next run (no finalizer on the resource)", async () => {
    const ra = () =>
      (box.table("system/interface").get("lan1")!.ipv6 as Record<string, unknown>)["ip6-send-adv"];
    assert.equal(ra(), "enable");
    await client.delete(kindResource("RouterAdvert"), "lan", "lan");
    assert.equal(get("RouterAdvert", "lan"), undefined, "gone at once");
    await until("RA off on lan1", () => ra() === "disable");
    assert.equal(box.table("firewall/ippool").get("v6m-home")?.endip, "198.51.100.30", "the rest stays");
  });

  it("an invalid ExternalDevice: Ready=False Invalid with the field, no finalizer, no box contacted", async () => {
    await client.create(
      kindResource("ExternalDevice"),
      resource("ExternalDevice", "plain", { ...fgtSpec("http://192.0.2.99"), version: undefined }),
    );
    const ready = await until("Invalid", () => cond(get("ExternalDevice", "plain"), "Ready"));
    assert.deepEqual([ready.status, ready.reason], ["False", "Invalid"]);
    assert.match(ready.message, /^spec\.endpoint: http:\/\/ would send the credentials in clear text/);
    assert.equal(get("ExternalDevice", "plain")!.metadata.finalizers, undefined);
    await client.delete(kindResource("ExternalDevice"), "lan", "plain");
    await until("plain gone", () => !get("ExternalDevice", "plain"));
  });

  it("deleting the ExternalDevice removes what v6mostly configured, then the finalizer lets it go", async () => {
    await client.delete(kindResource("ExternalDevice"), "lan", "fgt");
    await until("fgt gone", () => !get("ExternalDevice", "fgt"));
    assert.equal(box.table("firewall/policy").size, 0);
    assert.deepEqual([...box.table("firewall/ippool").keys()], ["SNAT44"], "the box's own pool stays");
    assert.equal(box.singletons.get("system/dns64")?.status, "disable");
    assert.equal(box.table("system/dns-server").size, 0);
    const removed = events("ConfigRemoved");
    assert.equal(removed.length, 1);
    assert.match(removed[0]!.message, /delete firewall\/policy\/.*delete firewall\/ippool\/v6m-home/);
    await until("its state removed", () => !state());
    // the resources that named it now name nothing
    const home = await until("home Invalid", () => {
      const c = cond(get("Nat64Gateway", "home"), "Ready");
      return c?.reason === "Invalid" && c;
    });
    assert.equal(home.message, 'spec.deviceRef.name: no ExternalDevice named "fgt" in namespace lan');
  });

  it("a device that never got a change is let go after one attempt, without waiting for the timeout", async () => {
    const spec = {
      ...fgtSpec(`https://127.0.0.1:${box.port}`),
      credentialsSecretRef: { name: "nope", key: "token" },
    };
    await client.create(kindResource("ExternalDevice"), resource("ExternalDevice", "never", spec));
    await until("never: CredentialsUnavailable", () => {
      const o = get("ExternalDevice", "never");
      return cond(o, "DeviceSynced")?.reason === "CredentialsUnavailable" && o?.metadata.finalizers?.length;
    });
    await client.delete(kindResource("ExternalDevice"), "lan", "never");
    await until("never gone", () => !get("ExternalDevice", "never"));
    const released = events("Released", "never");
    assert.equal(released.length, 1);
    assert.equal(
      released[0]!.message,
      "nothing was recorded as configured by v6mostly; not waiting for the box (CredentialsUnavailable: credentialsSecretRef: Secret lan/nope does not exist)",
    );
    assert.deepEqual(events("CleanupAbandoned", "never"), []);
  });

  it("an unreachable box holds its ExternalDevice's deletion only for the cleanup timeout", async () => {
    const dead = await newBox();
    const endpoint = await dead.start();
    await client.create(
      kindResource("ExternalDevice"),
      resource("ExternalDevice", "gone", fgtSpec(endpoint)),
    );
    await client.mergePatch(kindResource("Nat64Gateway"), "lan", "home", {
      spec: { deviceRef: { name: "gone" } },
    });
    await until("home in sync on gone", () => cond(get("Nat64Gateway", "home"), "Ready")?.status === "True");
    assert.equal(dead.table("firewall/ippool").size, 1);
    await dead.stop();
    await client.delete(kindResource("ExternalDevice"), "lan", "gone");
    const held = await until("held while unreachable", () => {
      const c = cond(get("ExternalDevice", "gone"), "Ready");
      return c?.reason === "Deleting" && c;
    });
    assert.match(held.message, /^removing what v6mostly configured on the box: Unreachable: /);
    await until("released", () => !get("ExternalDevice", "gone"));
    const abandoned = events("CleanupAbandoned", "gone");
    assert.equal(abandoned.length, 1);
    assert.equal(abandoned[0]!.type, "Warning");
    assert.match(abandoned[0]!.message, /left on the box: .*firewall\/ippool\/v6m-home/);
    assert.match(abandoned[0]!.message, /Unreachable: /);
    await until("its state removed", () => !state("gone"));
  });
});

describe("an IOS-XE box through the device controller, run on demand", { skip: h.skip }, () => {
  const PASSWORD = "isr-operator-pw-81c4d2e0f9a7";
  let api: FakeApi;
  let client: KubeClient;
  let operator: Operator;
  let isr: FakeIosxe;
  const logs = capturedLogger();
  const device = () =>
    api.objects("v6mostly.dev/externaldevices").find((o) => o.metadata.name === "isr") as Obj | undefined;
  const pools = () =>
    ((isr.native().ip as Record<string, Record<string, unknown>> | undefined)?.dhcp?.pool ?? []) as Record<
      string,
      unknown
    >[];

  before(async () => {
    api = await new FakeApi().start();
    client = api.client();
    isr = h.track(
      new FakeIosxe({
        user: "admin",
        password: PASSWORD,
        version: "17.12.1",
        key: h.pki.key,
        cert: h.pki.cert,
        interfaces: ISR_INTERFACES,
      }),
    );
    const endpoint = await isr.start();
    await client.create(CORE.secrets, secret("isr-login", { password: PASSWORD }));
    await client.create(CORE.secrets, secret("isr-ca", { "ca.crt": h.pki.ca }));
    await client.create(
      kindResource("ExternalDevice"),
      resource("ExternalDevice", "isr", {
        vendor: "iosxe",
        endpoint,
        username: "admin",
        credentialsSecretRef: { name: "isr-login", key: "password" },
        tls: { caSecretRef: { name: "isr-ca", key: "ca.crt" } },
      }),
    );
    await client.create(
      kindResource("DhcpScope"),
      resource("DhcpScope", "lan", {
        interface: "BDI10",
        subnet: "192.0.2.0/24",
        ranges: ["192.0.2.101-192.0.2.249"],
        router: "192.0.2.254",
        dnsServers: ["192.0.2.254"],
        ipv6OnlyPreferred: "30m",
        deviceRef: { name: "isr" },
      }),
    );
    // drift checks far apart: a run within this test is one that something asked for
    operator = await startOperator(client, logs.log, { resyncMs: 600_000, retryMs: 600_000 });
  });

  after(async () => {
    await operator?.stop();
    await api?.stop();
  });

  it("logs in with the user of the spec and the password of the Secret; the version probed from the box", async () => {
    await until("isr in sync", () => cond(device(), "DeviceSynced")?.status === "True");
    assert.equal(device()!.status!.version, "17.12.1");
    assert.deepEqual(
      pools().map((p) => p.id),
      ["v6m-lan"],
    );
    const basic = `Basic ${b64(`admin:${PASSWORD}`)}`;
    assert.ok(isr.seen.every((s) => s.auth === basic));
    assert.ok(isr.saves > 0, "saved to startup-config");
    assert.ok(!logs.text().includes(PASSWORD) && !logs.text().includes(b64(`admin:${PASSWORD}`)));
  });

  it("an annotation on the ExternalDevice runs it now, long before the next drift check", async () => {
    const runs = operator.devices.counts.runs;
    (isr.native().ip as Record<string, Record<string, unknown>>).dhcp!.pool = [];
    await client.mergePatch(kindResource("ExternalDevice"), "lan", "isr", {
      metadata: { annotations: { "v6mostly.dev/resync": "now" } },
    });
    await until("the pool back", () => pools().some((p) => p.id === "v6m-lan"));
    assert.equal(operator.devices.counts.runs, runs + 1);
    // the controller's own writes (status, finalizer) run nothing
    await sleep(300);
    assert.equal(operator.devices.counts.runs, runs + 1);
  });
});
