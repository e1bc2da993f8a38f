/**
 * Issue 19: "At 10 kpps the TUN dropped 1,507 of 65,535 packets while the session table grew".
 * `v6mostly run` in the namespace lab takes 65,535 new UDP sessions at 10,000 a second (one
 * socket to 65,535 destination ports of the server); every hop is counted. The translator must
 * lose nothing itself: every packet the kernel queued for the TUN is read, every packet read is
 * translated (or is the kernel's own traffic on the device, counted as notOurs), and every
 * translated packet reaches the server. Whatever the kernel dropped from the device's queue
 * (txqueuelen) is printed with the loop's longest pause; no timing is asserted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { canRun, Lab, SERVER6, sh, type Translations, waitFor } from "./lab.ts";
import { linkCounters, memoryOf, offerSessions, serverCounter, softnetDrops } from "./load.ts";

const skip = canRun() ?? missing("nft", "the server counts what it receives with nftables");

function missing(tool: string, why: string): string | null {
  try {
    sh(["sh", "-c", `command -v ${tool}`]);
    return null;
  } catch {
    return `${tool} missing (${why})`;
  }
}

const FLOWS = 65_535;
const RATE = 10_000;

test("65,535 new sessions at 10 kpps: nothing the kernel queued for the TUN is lost by the translator", {
  timeout: 180_000,
}, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = new Lab("gr");
  t.after(() => lab.cleanup());
  lab.setup();
  const received = serverCounter(lab);
  const status = "127.0.0.1:9469";
  // One client opens all of them, beyond the default 65,536 sessions a client (the warm-up's pings
  // take a few): this test is about the table growing, limits.test.ts about the limits.
  const run = lab.startRun(lab.writeResource("  limits: { sessionsPerClient: 131072 }\n"), status);
  const gateway = (): Translations => lab.translations(status)["Nat64Gateway/lab"]!;
  await waitFor("v6mostly run", () => gateway()?.counters, 30_000);
  // Neighbours resolved on both sides before the count starts (the first datagrams would wait on them).
  await waitFor("a first answer through the NAT64", () =>
    /1 received/.test(lab.ns(lab.c, ["ping", "-c", "1", "-W", "1", SERVER6])),
  );

  // The drop counters are published 4 times a second, packetsRead as it counts: let them agree.
  await new Promise((r) => setTimeout(r, 600));
  const tun0 = linkCounters(lab, lab.t, lab.tun);
  const c0 = linkCounters(lab, lab.c, "c0");
  const x0 = gateway();
  const server0 = received();
  const softnet0 = softnetDrops();
  const offered = offerSessions(lab, FLOWS, RATE);
  // The counters settle once the worker has read its queue dry (it publishes 4 times a second).
  let x = gateway();
  await waitFor("the translator to read its queue", async () => {
    await new Promise((r) => setTimeout(r, 500));
    const y = gateway();
    const still = y.counters.packetsRead === x.counters.packetsRead;
    x = y;
    return still;
  });
  const tun = linkCounters(lab, lab.t, lab.tun);
  const c1 = linkCounters(lab, lab.c, "c0");
  const d = (k: string) => (x.counters[k] ?? 0) - (x0.counters[k] ?? 0);
  const drop = (k: string) => (x.drops[k] ?? 0) - (x0.drops[k] ?? 0);
  const queued = tun.tx - tun0.tx;
  const read = d("packetsRead");
  const translated = d("packets6to4");
  const notOurs = drop("notOurs");
  const atServer = received() - server0;
  const mem = memoryOf(run.pid!);
  console.log(
    `offered ${offered.sent} new sessions in ${offered.seconds} s (${(offered.sent / offered.seconds / 1000).toFixed(1)} kpps): client sent ${c1.tx - c0.tx}, kernel queued for the TUN ${queued}, kernel dropped from the TUN queue ${tun.txDropped - tun0.txDropped}, softnet drops ${softnetDrops() - softnet0}; translator read ${read}, translated ${translated}, notOurs ${notOurs}, drops ${JSON.stringify(x.drops)}; server received ${atServer}; UDP sessions ${x.counters.sessionsUdp}; loop's longest pause ${(x.counters.loopLongestPause! * 1000).toFixed(1)} ms; worker heap ${(x.counters.workerHeapCommittedBytes! / 2 ** 20).toFixed(1)} MiB; RSS ${mem.rss.toFixed(0)} MiB (peak ${mem.peak.toFixed(0)})`,
  );
  assert.equal(offered.sent, FLOWS);
  assert.equal(read, queued, "every packet the kernel queued for the TUN was read");
  assert.equal(translated + notOurs, read, "every packet read was translated (or is the kernel's own)");
  assert.equal(x.counters.writeErrors, 0);
  assert.equal(atServer, translated, "every translated packet reached the server");
  assert.equal(d("sessionsUdp"), translated, "one new session per datagram");
  await lab.stop(run);
});
