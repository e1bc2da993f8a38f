// The neighbour responder against the Linux kernel as a real neighbour: a "home gateway" namespace
// resolves addresses (ping makes it send ARP requests and Neighbor Solicitations), and its
// neighbour table must show the configured MAC, another box's, not the responder interface's own.
// Also: addresses outside the range and solicitations on another interface get no answer, the
// kernel's own DAD is answered by a multicast advertisement (the address ends "dadfailed"),
// malformed packets are counted by reason, a flood is held to the rate limit, a /96 range falls
// back to all-multicast reception, and stop() leaves the solicited-node groups.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  BOX_MAC,
  type Link,
  learnt,
  missing,
  NeighbourLab,
  neighbour,
  type Responder,
  resolve,
  sh,
  waitFor,
} from "./lab.ts";

const V4 = "198.51.100.100-198.51.100.150";
const V6 = "2001:db8:5::100-2001:db8:5::1ff";
/** the rate limit of the main responder: 100/s in all, 50/s (burst 50) per solicitor */
const RATE = 100;
const why = missing(["ping", "arping"]);

describe("neighbour responder in namespaces", { skip: why }, () => {
  const lab = new NeighbourLab("a");
  let l1: Link;
  let responder: Responder;
  let ownMac: string;

  before(async () => {
    lab.setup();
    l1 = lab.link();
    sh(lab.g, ["ip", "addr", "add", "198.51.100.1/24", "dev", l1.g]);
    sh(lab.g, ["ip", "addr", "add", "2001:db8:5::1/64", "dev", l1.g, "nodad"]);
    ownMac = sh(lab.r, ["cat", `/sys/class/net/${l1.r}/address`]).trim();
    responder = await lab.responder(l1.r, V4, V6, BOX_MAC, RATE);
  });
  after(() => lab.cleanup());

  test("in the range: the gateway's neighbour table holds the configured MAC, for IPv4 and IPv6", async () => {
    resolve(lab.g, "198.51.100.120");
    resolve(lab.g, "2001:db8:5::120");
    for (const a of ["198.51.100.120", "2001:db8:5::120"]) {
      const got = await learnt(lab.g, l1.g, a);
      assert.equal(got, BOX_MAC, a);
      assert.notEqual(got, ownMac);
    }
    const arping = sh(lab.g, ["arping", "-c1", "-w2", "-I", l1.g, "198.51.100.121"]);
    assert.match(arping, new RegExp(`reply from 198\\.51\\.100\\.121 \\[${BOX_MAC}\\]`, "i"));
    const s = await responder.stats();
    assert.ok((s["arp.answered"] ?? 0) >= 2, JSON.stringify(s));
    assert.ok((s["ns.answered"] ?? 0) >= 1, JSON.stringify(s));
  });

  test("outside the range: no answer, counted when it reaches the responder", async () => {
    // 2001:db8:6::120 has the low 24 bits of 2001:db8:5::120: its solicitations go to a group the
    // responder has joined, so they reach it and must be refused.
    sh(lab.g, ["ip", "-6", "route", "add", "2001:db8:6::/64", "dev", l1.g]);
    const before = await responder.stats();
    resolve(lab.g, "198.51.100.200");
    resolve(lab.g, "2001:db8:6::120");
    for (const a of ["198.51.100.200", "2001:db8:6::120"]) {
      const n = neighbour(lab.g, l1.g, a);
      assert.equal(n?.lladdr, undefined, `${a}: ${JSON.stringify(n)}`);
    }
    const r = sh(lab.g, ["arping", "-c1", "-w1", "-I", l1.g, "198.51.100.201"], { allowFail: true });
    assert.match(r, /Received 0 response/);
    const s = await waitFor(
      async () => {
        const s = await responder.stats();
        return (s["ns.drop.outOfRange"] ?? 0) > (before["ns.drop.outOfRange"] ?? 0) && s;
      },
      10_000,
      "the out-of-range solicitation counted",
    );
    assert.ok((s["arp.drop.outOfRange"] ?? 0) >= (before["arp.drop.outOfRange"] ?? 0) + 2, JSON.stringify(s));
  });

  test("only on the configured interface; a /96 range is served by all-multicast reception", async () => {
    const first = await responder.stats();
    const l2 = lab.link();
    const second = await lab.responder(l2.r, "-", "2001:db8:8::/96", "00:00:5e:00:53:fc", RATE);
    sh(lab.g, ["ip", "addr", "add", "2001:db8:8::1/64", "dev", l2.g, "nodad"]);
    // in the first responder's range, but solicited on the second link, where it does not listen
    sh(lab.g, ["ip", "-6", "route", "add", "2001:db8:5::140/128", "dev", l2.g]);
    sh(lab.g, ["ip", "route", "add", "198.51.100.140/32", "dev", l2.g]);
    resolve(lab.g, "2001:db8:5::140");
    resolve(lab.g, "198.51.100.140");
    resolve(lab.g, "2001:db8:8::ab:cdef");
    assert.equal(neighbour(lab.g, l2.g, "2001:db8:5::140")?.lladdr, undefined);
    assert.equal(neighbour(lab.g, l2.g, "198.51.100.140")?.lladdr, undefined);
    assert.equal(await learnt(lab.g, l2.g, "2001:db8:8::ab:cdef"), "00:00:5e:00:53:fc");
    // nothing heard on the second link reached the first responder, nor was answered by it
    const now = await responder.stats();
    for (const k of ["arp.answered", "ns.answered"]) assert.equal(now[k], first[k], k);
    const s = await second.stats();
    assert.equal(s["ipv6.allMulticast"], 1);
    assert.equal(s["ipv6.groups"], 0);
    // 2001:db8:5::140 (the kernel solicits up to three times), heard through all-multicast
    assert.ok((s["ns.drop.outOfRange"] ?? 0) >= 1, JSON.stringify(s));
  });

  test("default link-layer address (ours): the gateway's unicast NUD probe comes to us and is answered", async () => {
    const l3 = lab.link();
    const mine = sh(lab.r, ["cat", `/sys/class/net/${l3.r}/address`]).trim();
    const third = await lab.responder(l3.r, "-", "2001:db8:9::10", "-", RATE);
    sh(lab.g, ["ip", "addr", "add", "2001:db8:9::1/64", "dev", l3.g, "nodad"]);
    sh(lab.g, ["sysctl", "-qw", `net.ipv6.neigh.${l3.g}.delay_first_probe_time=1`]);
    resolve(lab.g, "2001:db8:9::10");
    assert.equal(await learnt(lab.g, l3.g, "2001:db8:9::10"), mine);
    // STALE, then traffic: DELAY, then PROBE, a Neighbor Solicitation unicast to our MAC
    sh(lab.g, ["ip", "neigh", "change", "2001:db8:9::10", "dev", l3.g, "lladdr", mine, "nud", "stale"]);
    resolve(lab.g, "2001:db8:9::10");
    const s = await waitFor(
      async () => {
        const s = await third.stats();
        return (s["ns.unicast"] ?? 0) >= 1 && (s["ns.answered"] ?? 0) >= 2 && s;
      },
      10_000,
      "the unicast probe answered",
    );
    await waitFor(
      () => neighbour(lab.g, l3.g, "2001:db8:9::10")?.state.includes("REACHABLE"),
      10_000,
      "the entry REACHABLE again",
    );
    // nothing dropped but out of range: the probe, unicast to our MAC, was answered like the first
    // solicitation (the gateway also checks our link-local address, which is not in the range)
    assert.deepEqual(
      Object.keys(s).filter((k) => k.startsWith("ns.drop.") && k !== "ns.drop.outOfRange"),
      [],
      JSON.stringify(s),
    );
  });

  test("DAD: the gateway's tentative address in the range meets a multicast advertisement and fails", async () => {
    const before = await responder.stats();
    sh(lab.g, ["ip", "addr", "add", "2001:db8:5::130/64", "dev", l1.g]);
    await waitFor(
      () =>
        sh(lab.g, ["ip", "-6", "addr", "show", "dev", l1.g]).match(
          /2001:db8:5::130\/64 scope global dadfailed/,
        ),
      10_000,
      "the address to fail DAD",
    );
    const s = await responder.stats();
    assert.equal((s["ns.answeredDad"] ?? 0) - (before["ns.answeredDad"] ?? 0), 1, JSON.stringify(s));
  });

  test("malformed solicitations and ARP packets: dropped, each counted by its reason", async () => {
    const before = await responder.stats();
    const { sent } = await lab.send<{ sent: Record<string, number> }>([
      l1.g,
      "malformed",
      "2001:db8:5::122",
      "198.51.100.122",
    ]);
    const received = Object.values(sent).reduce((a, b) => a + b, 0);
    const delta = (s: Record<string, number>, k: string) => (s[k] ?? 0) - (before[k] ?? 0);
    const s = await waitFor(
      async () => {
        const s = await responder.stats();
        return delta(s, "ns.received") + delta(s, "arp.received") >= received && s;
      },
      10_000,
      "every packet counted",
    );
    for (const [name, n] of Object.entries(sent))
      assert.equal(delta(s, name), n, `${name}: ${JSON.stringify(s)}`);
    assert.equal(delta(s, "ns.answered") + delta(s, "arp.answered"), 0);
  });

  test("a flood from one solicitor is held to its rate; another solicitor is still answered", async () => {
    // the flooder: a macvlan on the gateway's link, its own MAC, so its own bucket
    const flooder = `fl${process.pid}`.slice(0, 15);
    sh(lab.g, ["ip", "link", "add", "link", l1.g, "name", flooder, "type", "macvlan", "mode", "bridge"]);
    sh(lab.g, ["ip", "link", "set", flooder, "up"]);
    const before = await responder.stats();
    const started = Date.now();
    const flood = lab.send<{ sent: number; failed: number; ms: number }>([
      flooder,
      "flood",
      "2001:db8:5::123",
      "20000",
    ]);
    resolve(lab.g, "2001:db8:5::124");
    const { sent } = await flood;
    assert.ok(sent > 1000, `the sender sent ${sent}`);
    // wait until the responder has drained its socket: the counters stop moving
    let last = -1;
    const s = await waitFor(
      async () => {
        const s = await responder.stats();
        const n = s["ns.received"] ?? 0;
        const settled = n === last;
        last = n;
        return settled && s;
      },
      20_000,
      "the counters to settle",
    );
    const seconds = (Date.now() - started) / 1000;
    const delta = (k: string) => (s[k] ?? 0) - (before[k] ?? 0);
    // per solicitor: a burst of 50, then 50/s; +1 for the gateway's own solicitation
    const bound = 50 + 50 * seconds + 1;
    assert.ok(
      delta("ns.answered") <= bound,
      `answered ${delta("ns.answered")} in ${seconds} s, bound ${bound}`,
    );
    assert.ok(delta("ns.drop.rateLimited") > 0);
    // at least the burst went out: the limiter holds, it does not refuse everything
    assert.ok(delta("ns.answered") >= 50, JSON.stringify(s));
    assert.equal(await learnt(lab.g, l1.g, "2001:db8:5::124"), BOX_MAC);
  });

  test("stop(): the solicited-node groups are left and nothing is answered any more", async () => {
    const groups = () =>
      sh(lab.r, ["ip", "-6", "maddr", "show", "dev", l1.r])
        .split("\n")
        .filter((l) => /ff02::1:ff00:1[0-9a-f]{2}\b/.test(l)).length;
    // /proc/net/packet: sk RefCnt Type Proto Iface R Rmem User Inode; the sockets on this interface
    const ifindex = sh(lab.r, ["cat", `/sys/class/net/${l1.r}/ifindex`]).trim();
    const packetSockets = () =>
      sh(lab.r, ["cat", "/proc/net/packet"])
        .split("\n")
        .slice(1)
        .filter((l) => l.trim().split(/\s+/)[4] === ifindex).length;
    assert.equal(groups(), 256);
    assert.equal(packetSockets(), 2);
    const s = await responder.stop();
    assert.equal(s["ipv6.groups"], 0);
    assert.equal(groups(), 0);
    resolve(lab.g, "2001:db8:5::150");
    resolve(lab.g, "198.51.100.150");
    assert.equal(neighbour(lab.g, l1.g, "2001:db8:5::150")?.lladdr, undefined);
    assert.equal(neighbour(lab.g, l1.g, "198.51.100.150")?.lladdr, undefined);
    // the sockets are closed: no packet socket is left in the namespace (the process still runs)
    assert.equal(packetSockets(), 0);
  });
});
