// Moving addresses with the Linux kernel as the neighbour: a client namespace caches the old
// owner's MAC for an IPv4 and an IPv6 address; the new owner adds them and announces them (ARP
// Announcement, unsolicited NA with Override); the client's neighbour table holds the new MAC at
// once, the client having sent nothing since. Also: a crash's leftovers removed at the next start,
// and the kernel expiring the addresses of an owner killed with SIGKILL.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { placeAddresses } from "../../src/agent/ownership/addresses.ts";
import { addressOf } from "../../src/util/net.ts";
import { addressBytes, unsolicitedAdvert } from "../../src/util/sys/announce.ts";
import { arpAnnouncement, parseArp } from "../../src/util/sys/arp.ts";
import { Lan, sh } from "./support/lan.ts";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const fixture = join(root, "test/agent/fixtures/claim.ts");
const why =
  process.getuid?.() !== 0
    ? "needs root (network namespaces)"
    : spawnSync("ip", ["netns", "list"]).status !== 0
      ? "no `ip netns`"
      : undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("announcement messages (pure)", () => {
  it("an ARP Announcement: request, sender = target = the address, target MAC zero (RFC 5227 §3)", () => {
    const mac = Uint8Array.from([2, 0, 0x5e, 0x10, 0, 0x0b]);
    const p = parseArp(arpAnnouncement(mac, addressBytes("192.0.2.2")));
    assert.deepEqual(p, {
      op: 1,
      senderMac: "02:00:5e:10:00:0b",
      senderIp: "192.0.2.2",
      targetMac: "00:00:00:00:00:00",
      targetIp: "192.0.2.2",
    });
  });

  it("an unsolicited NA: Override only, the target, its link-layer address (RFC 4861 §4.4, §7.2.6)", () => {
    const m = unsolicitedAdvert(addressBytes("2001:db8::53"), Uint8Array.from([2, 0, 0x5e, 0x10, 0, 0x0b]));
    assert.equal(m[0], 136);
    assert.equal(m[4], 0x20, "R and S clear, O set");
    assert.deepEqual([...m.subarray(8, 24)], [...addressBytes("2001:db8::53")]);
    assert.deepEqual([...m.subarray(24, 32)], [2, 1, 2, 0, 0x5e, 0x10, 0, 0x0b]);
  });

  it("places an address on the interface whose own subnet holds it, never on a host route or lo", () => {
    const links = [
      { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
      {
        ifname: "eth0",
        addr_info: [
          { family: "inet", local: "198.51.100.7", prefixlen: 24 },
          { family: "inet", local: "192.0.2.2", prefixlen: 32 },
        ],
      },
      {
        ifname: "lan0",
        addr_info: [
          { family: "inet", local: "192.0.2.11", prefixlen: 24 },
          { family: "inet6", local: "2001:db8:0:1::11", prefixlen: 64 },
        ],
      },
    ];
    const r = placeAddresses([addressOf("192.0.2.53"), addressOf("2001:db8:0:1:0::53")], links);
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      { address: "192.0.2.53", family: 4, dev: "lan0" },
      { address: "2001:db8:0:1::53", family: 6, dev: "lan0" },
    ]);
    const none = placeAddresses([addressOf("203.0.113.53")], links);
    assert.ok(!none.ok);
    assert.match(none.error, /no interface on this node has an address in a subnet that holds 203.0.113.53/);
  });
});

describe("addresses move, with the kernel as the neighbour", { skip: why }, () => {
  let lan: Lan;
  let dir: string;
  let oldNs: string;
  let newNs: string;
  let client: string;
  const OLD_MAC = "02:00:5e:10:00:0a";
  const NEW_MAC = "02:00:5e:10:00:0b";
  const children: ChildProcess[] = [];

  function claim(ns: string, name: string, lifetime: number, ...addresses: string[]) {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        process.execPath,
        "--import",
        "tsx",
        fixture,
        join(dir, name),
        "test",
        String(lifetime),
        ...addresses,
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(child);
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    const line = new Promise<{ added: unknown[]; counts: { arp: number; na: number; errors: number } }>(
      (ok, fail) => {
        child.stdout!.on("data", (d) => {
          out += d;
          if (out.includes("\n")) ok(JSON.parse(out.split("\n")[0]!));
        });
        child.on("exit", (code) => fail(new Error(`claim exited ${code}: ${err}`)));
      },
    );
    return { child, line };
  }

  const ended = (c: ChildProcess) =>
    new Promise<void>((r) =>
      c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r()),
    );

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "v6m-own-"));
    lan = new Lan("ann");
    oldNs = lan.host("old");
    newNs = lan.host("new");
    client = lan.host("client");
    lan.plug(oldNs, "lan0", OLD_MAC, ["192.0.2.11/24", "fd00:64:1::11/64"]);
    lan.plug(newNs, "lan0", NEW_MAC, ["192.0.2.12/24", "fd00:64:1::12/64"]);
    lan.plug(client, "eth0", "02:00:5e:10:00:c1", ["192.0.2.50/24", "fd00:64:1::50/64"]);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.all(children.map(ended));
    lan?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the client's neighbour table follows the move at once (ARP Announcement, unsolicited NA)", async () => {
    const first = claim(oldNs, "old", 60, "192.0.2.2", "fd00:64:1::53");
    await first.line;
    // the client talks to both addresses: its entries hold the old owner's MAC
    sh(client, ["ping", "-c", "1", "-W", "2", "192.0.2.2"]);
    sh(client, ["ping", "-6", "-c", "1", "-W", "2", "fd00:64:1::53"]);
    assert.equal(lan.neighbour(client, "192.0.2.2")?.lladdr, OLD_MAC);
    assert.equal(lan.neighbour(client, "fd00:64:1::53")?.lladdr, OLD_MAC);
    // the old owner dies with its node (its link goes down), the new one takes the addresses
    first.child.kill("SIGKILL");
    await ended(first.child);
    sh(oldNs, ["ip", "link", "set", "lan0", "down"]);
    await sleep(1100); // past the neighbour entries' locktime (1 s): an update is accepted
    const moved = Date.now();
    const second = claim(newNs, "new", 60, "192.0.2.2", "fd00:64:1::53");
    const seen = { v4: 0, v6: 0 };
    while (Date.now() - moved < 5000 && (!seen.v4 || !seen.v6)) {
      if (!seen.v4 && lan.neighbour(client, "192.0.2.2")?.lladdr === NEW_MAC) seen.v4 = Date.now() - moved;
      if (!seen.v6 && lan.neighbour(client, "fd00:64:1::53")?.lladdr === NEW_MAC)
        seen.v6 = Date.now() - moved;
      await sleep(20);
    }
    const { counts } = await second.line;
    process.stdout.write(
      `# neighbour entry on the new MAC after: IPv4 ${seen.v4} ms, IPv6 ${seen.v6} ms (from the new owner's start, node process start included); sent ${counts.arp} ARP, ${counts.na} NA\n`,
    );
    assert.ok(seen.v4 > 0, "the client's ARP entry moved to the new owner's MAC");
    assert.ok(seen.v6 > 0, "the client's neighbour entry moved to the new owner's MAC");
    assert.deepEqual(counts, { arp: 2, na: 3, errors: 0 });
    // and traffic goes there
    sh(client, ["ping", "-c", "1", "-W", "2", "192.0.2.2"]);
    second.child.kill("SIGTERM");
    await ended(second.child);
    const left = lan.addresses(newNs, "lan0").map((a) => a.local);
    assert.ok(
      !left.includes("192.0.2.2") && !left.includes("fd00:64:1::53"),
      `SIGTERM removed them: ${left}`,
    );
  });

  it("a crash's leftovers go at the next start (ledger), and the kernel expires them meanwhile", async () => {
    const a = claim(newNs, "crash", 3, "192.0.2.3");
    await a.line;
    assert.ok(lan.addresses(newNs, "lan0").some((x) => x.local === "192.0.2.3" && x.valid <= 3));
    a.child.kill("SIGKILL");
    await ended(a.child);
    // nobody renews: the kernel removes the address when its lifetime ends
    const t0 = Date.now();
    while (lan.addresses(newNs, "lan0").some((x) => x.local === "192.0.2.3") && Date.now() - t0 < 6000)
      await sleep(100);
    assert.ok(!lan.addresses(newNs, "lan0").some((x) => x.local === "192.0.2.3"), "expired by the kernel");
    // a long lifetime, killed: the next start removes it from the ledger before anything else
    const b = claim(newNs, "crash", 600, "192.0.2.4");
    await b.line;
    b.child.kill("SIGKILL");
    await ended(b.child);
    assert.ok(
      lan.addresses(newNs, "lan0").some((x) => x.local === "192.0.2.4"),
      "left by the crash",
    );
    const c = claim(newNs, "crash", 600, "192.0.2.5");
    await c.line;
    const now = lan.addresses(newNs, "lan0").map((x) => x.local);
    assert.ok(!now.includes("192.0.2.4"), "the previous run's address is gone");
    assert.ok(now.includes("192.0.2.5"));
    c.child.kill("SIGTERM");
    await ended(c.child);
  });

  it("an address configured by the administrator is never taken over nor removed", async () => {
    sh(newNs, ["ip", "addr", "add", "192.0.2.6/32", "dev", "lan0"]);
    const a = claim(newNs, "admin", 60, "192.0.2.6");
    const { added } = await a.line;
    assert.deepEqual(added, []);
    a.child.kill("SIGTERM");
    await ended(a.child);
    const kept = lan.addresses(newNs, "lan0").find((x) => x.local === "192.0.2.6");
    assert.ok(kept && kept.valid > 1_000_000, "still there, permanent");
  });
});
