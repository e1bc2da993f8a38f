/**
 * Hostile neighbours against the NAT64 (issue 19 item 3), in namespaces: one
 * client (the attacker, CLIENT6's /64) floods new UDP flows, from thousands of
 * source ports and to thousands of remote ports, while a second client (another
 * /64) keeps working. Without limits per client the attacker takes every pool4
 * port or the whole session table and the second client is cut off (checked
 * first, so the test shows the attack works); with them it keeps working.
 * Then the translator's smaller holes: the Well-Known Prefix with non-global
 * IPv4 addresses (RFC 6052 §3.1) and the rate of its ICMP errors (RFC 4443 §2.4 f).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { CLIENT6, canRun, Lab, REPO, SERVER4, SERVER6, type Translations, waitFor } from "./lab.ts";

const skip = canRun();
const VICTIM6 = "2001:db8:1:2::2";
const FLOWS = 5000;
/** One pool4 address, 1,000 ports, a table of 3,000 sessions (test-only options). */
const OPTIONS = { portMin: 2000, portMax: 2999, maxSessions: 3000 };
const NO_LIMITS = { clientPrefixLength: 64, portsPerClient: 100_000, sessionsPerClient: 100_000 };
const LIMITS = { clientPrefixLength: 64, portsPerClient: 200, sessionsPerClient: 500 };

function hostile(lab: Lab, ...args: string[]): { sent?: number; answered?: number } {
  return JSON.parse(lab.ns(lab.c, ["python3", join(REPO, "test/services/nat64/hostile.py"), ...args]));
}
const floodPorts = (lab: Lab) => hostile(lab, "flood-ports", CLIENT6, SERVER6, "9000", String(FLOWS));
const floodSessions = (lab: Lab) => hostile(lab, "flood-sessions", CLIENT6, SERVER6, String(FLOWS));
/** The second client's success rate: 20 UDP flows to the echo server, 4 s. */
function victimRate(lab: Lab): number {
  const r = hostile(lab, "probe", VICTIM6, SERVER6, "9000", "20", "4");
  return r.answered! / 20;
}

async function gateway(lab: Lab, limits: object, status: string, tag: string): Promise<() => Promise<void>> {
  const p = lab.startServe({ limits }, OPTIONS, status, `serve-${tag}.log`);
  await waitFor("service", () => lab.translations(status)["Nat64Gateway/lab"]);
  return () => lab.stop(p);
}

/** The counters once the workers published the flood (they publish every 250 ms). */
async function settled(lab: Lab, status: string, done: (x: Translations) => boolean): Promise<Translations> {
  return waitFor("counters", () => {
    const x = lab.translations(status)["Nat64Gateway/lab"]!;
    return done(x) ? x : undefined;
  });
}

async function twoClients(t: TestContext): Promise<Lab> {
  const lab = new Lab("l");
  t.after(() => lab.cleanup());
  lab.setup();
  // The second client: another /64 on the same link, routed by the translator onto it.
  lab.ns(lab.c, ["ip", "addr", "add", `${VICTIM6}/64`, "dev", "c0", "nodad"]);
  lab.ns(lab.t, ["ip", "-6", "route", "add", "2001:db8:1:2::/64", "dev", "t0"]);
  lab.startPeer();
  await waitFor("peer HTTP server", () =>
    lab.ns(lab.s, ["curl", "-s", "--max-time", "1", `http://${SERVER4}:8080/`]).startsWith("ok"),
  );
  return lab;
}

test("one client floods ports and sessions; a second client keeps working", {
  timeout: 180_000,
}, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = await twoClients(t);
  const status = "127.0.0.1:9466";

  await t.test("without limits per client, the port flood cuts the second client off", async () => {
    const stop = await gateway(lab, NO_LIMITS, status, "a");
    assert.equal(victimRate(lab), 1, "the second client works before the flood");
    const f = floodPorts(lab);
    const x = await settled(lab, status, (x) => (x.drops.poolExhausted ?? 0) > 0);
    const rate = victimRate(lab);
    console.log(
      `no limits, ${f.sent} flows from ${FLOWS} ports: second client ${rate * 100}%, pool4 UDP ports used ${x.counters.poolUsedUdp}/1000, drops ${JSON.stringify(x.drops)}`,
    );
    assert.ok(rate <= 0.2, `the attack takes the pool (${rate})`);
    await stop();
  });

  await t.test("without limits per client, the session flood cuts the second client off", async () => {
    const stop = await gateway(lab, NO_LIMITS, status, "b");
    const f = floodSessions(lab);
    const x = await settled(lab, status, (x) => (x.drops.sessionLimit ?? 0) > 0);
    const rate = victimRate(lab);
    console.log(
      `no limits, ${f.sent} flows from one port: second client ${rate * 100}%, sessions ${x.counters.sessionsUdp}/3000, drops ${JSON.stringify(x.drops)}`,
    );
    assert.ok(rate <= 0.2, `the attack takes the session table (${rate})`);
    await stop();
  });

  await t.test(
    "with limits per client, both floods are capped and counted; the second client keeps working",
    async () => {
      const stop = await gateway(lab, LIMITS, status, "c");
      const fp = floodPorts(lab);
      const fs = floodSessions(lab);
      const x = await settled(
        lab,
        status,
        (x) => (x.drops.clientPortLimit ?? 0) > 0 && (x.drops.clientSessionLimit ?? 0) > 0,
      );
      const rate = victimRate(lab);
      const y = lab.translations(status)["Nat64Gateway/lab"]!;
      console.log(
        `limits ${JSON.stringify(LIMITS)}, ${fp.sent} + ${fs.sent} flows: second client ${rate * 100}%, pool4 UDP ports used ${y.counters.poolUsedUdp}/1000, sessions ${y.counters.sessionsUdp}/3000, drops ${JSON.stringify(y.drops)}`,
      );
      assert.equal(rate, 1, "every flow of the second client answered");
      assert.ok(
        x.counters.bibUdp! <= LIMITS.portsPerClient + 20,
        `the attacker holds at most its ports (${x.counters.bibUdp})`,
      );
      assert.ok(
        y.counters.sessionsUdp! <= LIMITS.sessionsPerClient + 20,
        `and its sessions (${y.counters.sessionsUdp})`,
      );
      // Counted in /metrics, by reason.
      const m = lab.ns(lab.t, ["curl", "-s", `http://${status}/metrics`]);
      assert.match(m, /v6mostly_nat64_drops_total\{[^}]*reason="clientPortLimit"[^}]*\} [1-9]/);
      assert.match(m, /v6mostly_nat64_drops_total\{[^}]*reason="clientSessionLimit"[^}]*\} [1-9]/);
      await stop();
    },
  );
});

test("64:ff9b::/96 never reaches non-global IPv4; ICMP errors to a flood are rate-limited", {
  timeout: 120_000,
}, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = await twoClients(t);
  // A source outside allowedSources (2001:db8:1::/48), on the client's link.
  const OUTSIDER = "2001:db8:99::2";
  lab.ns(lab.c, ["ip", "addr", "add", `${OUTSIDER}/64`, "dev", "c0", "nodad"]);
  lab.ns(lab.t, ["ip", "-6", "route", "add", "2001:db8:99::/64", "dev", "t0"]);
  const status = "127.0.0.1:9467";
  const rate = { perSecond: 10, burst: 10 };
  const p = lab.startServe({ prefix: "64:ff9b::/96" }, { icmpRate: rate }, status, "serve-wkp.log");
  t.after(() => lab.stop(p));
  await waitFor("service", () => lab.translations(status)["Nat64Gateway/lab"]);
  const ping = (dst: string) => {
    try {
      return lab.ns(lab.c, ["ping", "-c", "1", "-W", "1", "-I", CLIENT6, dst]);
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? "");
    }
  };

  await t.test(
    "RFC 6052 §3.1: loopback, private and link-local IPv4 behind 64:ff9b::/96 are dropped and counted",
    async () => {
      assert.match(
        ping("64:ff9b::cb00:710a"),
        /1 received/,
        "the server's address (203.0.113.10) is reached",
      );
      for (const dst of ["64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::c0a8:101", "64:ff9b::a9fe:a9fe"])
        assert.match(ping(dst), /0 received/, dst);
      const x = await settled(lab, status, (x) => (x.drops.nonGlobalIpv4 ?? 0) >= 4);
      console.log(`non-global destinations: drops ${JSON.stringify(x.drops)}`);
      assert.equal(x.counters.packets6to4, 1, "only the ping to the server was translated");
    },
  );

  await t.test(
    "RFC 4443 §2.4 (f): 2,000 packets from outside allowedSources get errors at 10/s at most",
    async () => {
      const before = lab.translations(status)["Nat64Gateway/lab"]!;
      const f = hostile(lab, "flood-ports", OUTSIDER, "64:ff9b::cb00:710a", "9000", "2000");
      const x = await settled(
        lab,
        status,
        (x) => (x.drops.sourceNotAllowed ?? 0) - (before.drops.sourceNotAllowed ?? 0) >= f.sent! * 0.5,
      );
      await new Promise((r) => setTimeout(r, 500));
      const y = lab.translations(status)["Nat64Gateway/lab"]!;
      const refused = (y.drops.sourceNotAllowed ?? 0) - (before.drops.sourceNotAllowed ?? 0);
      const sent = y.counters.icmpErrorsSent! - before.counters.icmpErrorsSent!;
      const suppressed = y.counters.icmpErrorsSuppressed! - before.counters.icmpErrorsSuppressed!;
      console.log(
        `${f.sent} packets from ${OUTSIDER}: ${refused} refused, ${sent} ICMPv6 errors sent, ${suppressed} suppressed (rate ${rate.perSecond}/s, burst ${rate.burst})`,
      );
      assert.ok(x);
      assert.equal(
        sent + suppressed,
        refused,
        "every refusal either got its error or was counted suppressed",
      );
      assert.ok(suppressed > refused / 2, "most errors suppressed");
      const m = lab.ns(lab.t, ["curl", "-s", `http://${status}/metrics`]);
      assert.match(m, /v6mostly_nat64_icmp_errors_suppressed_total\{[^}]*\} [1-9]/);
    },
  );
});
