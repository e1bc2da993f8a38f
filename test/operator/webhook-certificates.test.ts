// The webhook's certificates: what is made (SANs, key usages, a chain that node:crypto and a real
// TLS handshake accept) and when it is replaced (the rotation plan over a certificate's life).
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { checkServerIdentity, connect, createServer } from "node:tls";
import {
  type CertificateBundle,
  DEFAULT_LIFETIMES,
  hostsOf,
  issue,
  planRotation,
  splitPem,
} from "../../src/operator/webhook/certificates.ts";
import { caBundleCurrent, serviceHosts } from "../../src/operator/webhook/configuration.ts";

const DAY = 86_400_000;
const T0 = new Date("2030-01-01T00:00:00Z");
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const HOSTS = [...serviceHosts("v6mostly"), "fd00:6b8:0:0::2", "192.0.2.10"];

async function fresh(hosts = HOSTS, now = T0, lifetimes = DEFAULT_LIFETIMES): Promise<CertificateBundle> {
  const plan = planRotation(undefined, now, hosts, lifetimes);
  assert.equal(plan.action, "issue");
  return issue(undefined, plan as Extract<typeof plan, { action: "issue" }>, now, lifetimes);
}
async function carryOut(b: CertificateBundle, now: Date, hosts = HOSTS) {
  const plan = planRotation(b, now, hosts);
  assert.equal(plan.action, "issue", JSON.stringify(plan));
  return { plan, next: await issue(b, plan as Extract<typeof plan, { action: "issue" }>, now) };
}

/** A TLS handshake against a server with the bundle: the client trusts `ca` and checks `name`. */
async function handshake(
  b: CertificateBundle,
  ca: string,
  name: string,
): Promise<{ ok: boolean; error?: string }> {
  const server = createServer({ cert: b.cert, key: b.key }, (s) => s.end());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    return await new Promise((resolve) => {
      const s = connect({
        host: "127.0.0.1",
        port: (server.address() as AddressInfo).port,
        ca,
        servername: /^[a-z]/.test(name) ? name : undefined,
        checkServerIdentity: (_h, cert) => checkServerIdentity(name, cert),
      });
      s.on("secureConnect", () => {
        resolve({ ok: s.authorized });
        s.destroy();
      });
      s.on("error", (e) => resolve({ ok: false, error: e.message }));
    });
  } finally {
    server.close();
  }
}

describe("webhook certificates: what is made", () => {
  it("a CA and a serving certificate with the Service names and the given addresses", async () => {
    const b = await fresh();
    const [ca] = splitPem(b.caCert);
    const [leaf] = splitPem(b.cert);
    assert.ok(ca!.ca, "the CA is a CA");
    assert.ok(!leaf!.ca, "the serving certificate is not");
    assert.deepEqual(hostsOf(leaf!), [
      "192.0.2.10",
      "fd00:6b8::2",
      "v6mostly-webhook.v6mostly.svc",
      "v6mostly-webhook.v6mostly.svc.cluster.local",
    ]);
    assert.ok(leaf!.checkIssued(ca!) && leaf!.verify(ca!.publicKey));
    assert.ok(ca!.verify(ca!.publicKey), "self-signed");
    assert.equal(leaf!.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.deepEqual(leaf!.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extended key usage: serverAuth");
    // lifetimes: a year and 90 days, from 5 minutes before now
    assert.equal(Date.parse(ca!.validTo) - Date.parse(ca!.validFrom), 365 * DAY);
    assert.equal(Date.parse(leaf!.validTo) - Date.parse(leaf!.validFrom), 90 * DAY);
    assert.equal(T0.getTime() - Date.parse(leaf!.validFrom), 5 * 60_000);
    // the keys belong to the certificates
    assert.match(b.key, /^-----BEGIN PRIVATE KEY-----/);
    assert.notEqual(leaf!.serialNumber, ca!.serialNumber);
  });

  it("a real TLS handshake accepts it for each name, and refuses another name or another CA", async () => {
    // T0 is in the future for this clock: the handshake needs a certificate valid now
    const b = await fresh(HOSTS, new Date());
    for (const name of [...serviceHosts("v6mostly"), "fd00:6b8::2", "192.0.2.10"])
      assert.deepEqual(await handshake(b, b.caCert, name), { ok: true }, name);
    const wrongName = await handshake(b, b.caCert, "v6mostly-webhook.other.svc");
    assert.equal(wrongName.ok, false);
    assert.match(wrongName.error!, /altnames/);
    const other = await fresh(HOSTS, new Date());
    const wrongCa = await handshake(b, other.caCert, serviceHosts("v6mostly")[0]!);
    assert.equal(wrongCa.ok, false);
    assert.match(wrongCa.error!, /self[- ]signed|unable to verify|issuer/i);
  });

  it("serial numbers are positive and differ", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const leaf = splitPem((await fresh()).cert)[0]!;
      assert.ok(Number.parseInt(leaf.serialNumber.slice(0, 2), 16) < 0x80, "RFC 5280: positive");
      serials.add(leaf.serialNumber);
    }
    assert.equal(serials.size, 5);
  });
});

describe("webhook certificates: when they are replaced", () => {
  it("keeps a bundle until 2/3 of the serving certificate's life (60 of 90 days), then renews it with the same CA", async () => {
    const b = await fresh();
    const keep = planRotation(b, at(59), HOSTS);
    assert.equal(keep.action, "keep");
    assert.equal(
      (keep as { nextCheck: Date }).nextCheck.getTime(),
      Date.parse(splitPem(b.cert)[0]!.validFrom) + 60 * DAY,
      "wakes when the certificate is due",
    );
    const { plan, next } = await carryOut(b, at(61));
    assert.deepEqual(plan, {
      action: "issue",
      newCa: false,
      newServing: true,
      hosts: [...HOSTS.map((h) => (h === "fd00:6b8:0:0::2" ? "fd00:6b8::2" : h))].sort(),
      reasons: ["the serving certificate is past 67% of its life"],
    });
    assert.equal(next.caCert, b.caCert, "same CA");
    assert.equal(next.caKey, b.caKey);
    assert.notEqual(next.cert, b.cert);
    assert.equal(planRotation(next, at(61), HOSTS).action, "keep");
  });

  it("rotates the CA at 2/3 of its year; the old CA stays trusted; the serving certificate is left until its own time", async () => {
    let b = await fresh();
    // renew the serving certificate when due until the CA is (day 243.3 of 365)
    for (const day of [61, 122, 184]) b = (await carryOut(b, at(day))).next;
    assert.equal(planRotation(b, at(243.2), HOSTS).action, "keep");
    const oldCa = splitPem(b.caCert)[0]!;
    const { plan, next } = await carryOut(b, at(243.5));
    assert.equal(plan.action === "issue" && plan.newCa, true);
    assert.equal(
      plan.action === "issue" && plan.newServing,
      false,
      "the serving certificate (day 183) is still good",
    );
    const cas = splitPem(next.caCert);
    assert.equal(cas.length, 2);
    assert.equal(cas[1]!.fingerprint256, oldCa.fingerprint256, "old CA second, still trusted");
    assert.notEqual(next.caKey, b.caKey, "the new CA's key");
    assert.equal(next.cert, b.cert);
    // the next renewal is signed by the new CA
    const { next: renewed } = await carryOut(next, at(244 + 30));
    const leaf = splitPem(renewed.cert)[0]!;
    assert.ok(leaf.checkIssued(cas[0]!) && leaf.verify(cas[0]!.publicKey));
    // once the old CA expires (day 365), it leaves the bundle; the certificate renewed on day 334 stays
    const { next: again } = await carryOut(renewed, at(334));
    assert.equal(splitPem(again.caCert).length, 2);
    const afterOld = planRotation(again, at(366), HOSTS);
    assert.equal(afterOld.action, "issue");
    assert.match((afterOld as { reasons: string[] }).reasons.join(), /expired/);
    assert.equal((afterOld as { newServing: boolean }).newServing, false);
    const pruned = await issue(again, afterOld as Extract<typeof afterOld, { action: "issue" }>, at(366));
    assert.equal(splitPem(pruned.caCert).length, 1);
    assert.equal(pruned.cert, again.cert);
    assert.equal(planRotation(pruned, at(366), HOSTS).action, "keep");
  });

  it("never issues a serving certificate that outlives its CA", async () => {
    const b = await fresh(HOSTS, T0, { caMs: 100 * DAY, servingMs: 90 * DAY, renewAt: 0.9 });
    const { next } = await carryOut(b, at(50), [...HOSTS, "extra.example"]);
    assert.equal(splitPem(next.cert)[0]!.validTo, splitPem(next.caCert)[0]!.validTo);
  });

  it("adds missing names and keeps the present ones (replicas with other flags do not take turns)", async () => {
    const b = await fresh([...serviceHosts("v6mostly"), "192.0.2.10"]);
    const { plan, next } = await carryOut(b, at(1), [...serviceHosts("v6mostly"), "192.0.2.11"]);
    assert.match((plan as { reasons: string[] }).reasons[0]!, /lacks 192\.0\.2\.11/);
    assert.ok(["192.0.2.10", "192.0.2.11"].every((h) => hostsOf(splitPem(next.cert)[0]!).includes(h)));
    assert.equal(planRotation(next, at(1), [...serviceHosts("v6mostly"), "192.0.2.10"]).action, "keep");
    assert.equal(planRotation(next, at(1), [...serviceHosts("v6mostly"), "192.0.2.11"]).action, "keep");
  });

  it("replaces a bundle it cannot use: garbage, a key of another certificate, a certificate of another CA", async () => {
    const b = await fresh();
    const other = await fresh();
    const cases: [string, CertificateBundle, RegExp][] = [
      ["garbage", { caCert: "x", caKey: "y", cert: "z", key: "w" }, /lacks a certificate|usable/],
      ["empty", { caCert: "", caKey: "", cert: "", key: "" }, /lacks a certificate/],
      [
        "a broken PEM",
        { ...b, cert: b.cert.replace(/\n[A-Za-z0-9+/]{20}/, `\n${"A".repeat(20)}`) },
        /usable/,
      ],
      ["tls.key of another", { ...b, key: other.key }, /tls\.key does not belong/],
      ["ca.key of another", { ...b, caKey: other.caKey }, /ca\.key does not belong/],
    ];
    for (const [what, broken, reason] of cases) {
      const plan = planRotation(broken, T0, HOSTS);
      assert.equal(plan.action, "issue", what);
      const p = plan as Extract<typeof plan, { action: "issue" }>;
      assert.ok(p.newCa && p.newServing, what);
      assert.match(p.reasons[0]!, reason, what);
    }
    const foreign = planRotation({ ...b, cert: other.cert, key: other.key }, T0, HOSTS);
    assert.equal(foreign.action, "issue");
    assert.match((foreign as { reasons: string[] }).reasons[0]!, /not signed by a trusted CA/);
    // the plan carried out on garbage gives a usable bundle
    const repaired = await issue(
      { caCert: "x", caKey: "y", cert: "z", key: "w" },
      planRotation({ caCert: "x", caKey: "y", cert: "z", key: "w" }, T0, HOSTS) as never,
      T0,
    );
    assert.equal(planRotation(repaired, T0, HOSTS).action, "keep");
  });

  it("an expired bundle (an operator off for a year) is replaced whole", async () => {
    const b = await fresh();
    const plan = planRotation(b, at(400), HOSTS);
    assert.equal(plan.action === "issue" && plan.newCa && plan.newServing, true);
    const next = await issue(b, plan as never, at(400));
    assert.equal(splitPem(next.caCert).length, 1, "the expired CA is not carried");
  });
});

describe("webhook certificates: the caBundle a replica accepts", () => {
  it("ours, or ours and a newer CA; not one without ours; an expired extra is pruned", async () => {
    const b = await fresh();
    const newer = await carryOut(b, at(244));
    const b64 = (pem: string) => Buffer.from(pem).toString("base64");
    assert.ok(caBundleCurrent(b64(b.caCert), b.caCert, at(1)));
    assert.ok(
      caBundleCurrent(b64(newer.next.caCert), b.caCert, at(244)),
      "a replica with the older Secret leaves it",
    );
    assert.ok(!caBundleCurrent(b64(b.caCert), newer.next.caCert, at(244)), "the newer CA is missing");
    assert.ok(!caBundleCurrent(undefined, b.caCert, at(1)));
    assert.ok(!caBundleCurrent("not base64 of a PEM", b.caCert, at(1)));
    const pruned = newer.next.caCert.slice(0, newer.next.caCert.indexOf("-----END CERTIFICATE-----") + 26);
    assert.equal(splitPem(pruned).length, 1);
    assert.ok(!caBundleCurrent(b64(newer.next.caCert), pruned, at(366)), "the old CA has expired: rewrite");
    assert.ok(caBundleCurrent(b64(newer.next.caCert), pruned, at(300)), "not yet expired: leave it");
  });
});
