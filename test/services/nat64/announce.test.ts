/**
 * A Nat64Gateway that starts announces its pool4 on the uplink (RFC 5227 §3): a server that still
 * caches a pool4 address with another box's MAC (the node that had that share and died) replaces
 * it with the uplink's at once, instead of sending to the dead MAC until the entry fails
 * (test/cluster/twonode.test.ts measured 23 to 53 s of that without announcements).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { canRun, Lab, waitFor } from "./lab.ts";

const skip = canRun();
const DEAD_MAC = "02:00:5e:00:de:ad";
const MOVED = "203.0.113.129"; // in POOL4

let lab: Lab;

before(() => {
  if (skip) return;
  lab = new Lab("an");
  lab.setup();
});
after(async () => {
  if (!skip) await lab.cleanup();
});

/** The server's cached link-layer address for `address`, or undefined. */
function serverCaches(address: string): string | undefined {
  const rows = JSON.parse(lab.ns(lab.s, ["ip", "-j", "neigh", "show", address, "dev", "s0"])) as {
    lladdr?: string;
  }[];
  return rows[0]?.lladdr;
}

test("a starting NAT64 announces pool4: the server's stale entry for a pool4 address moves to the uplink's MAC", {
  skip: skip ?? false,
  timeout: 60_000,
}, async () => {
  // what the server learnt from the node that had this share before: stale, not permanent, so
  // that an ARP Announcement may replace it (RFC 826 merge; Linux updates an existing entry)
  lab.ns(lab.s, ["ip", "neigh", "replace", MOVED, "lladdr", DEAD_MAC, "dev", "s0", "nud", "stale"]);
  assert.equal(serverCaches(MOVED), DEAD_MAC);
  const uplinkMac = (
    JSON.parse(lab.ns(lab.t, ["ip", "-j", "link", "show", "u0"])) as { address: string }[]
  )[0]!.address;
  const status = "127.0.0.1:9464";
  const run = lab.startRun(lab.writeResource(), status);
  const t0 = Date.now();
  const moved = await waitFor(
    "the server's entry for the pool4 address to carry the uplink's MAC",
    () => (serverCaches(MOVED) === uplinkMac ? Date.now() - t0 : undefined),
    30_000,
  );
  console.log(`# the server's entry for ${MOVED} moved to the uplink's MAC ${moved} ms after the start`);
  await lab.stop(run);
});
