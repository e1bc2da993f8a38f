// The seed's real shape (issue 16): a home gateway that knows only its /64 and its /24 and routes
// nothing behind them, the translation box (`v6mostly run` with an EdgeTranslation) on its link,
// a LAN behind the box (ULA, 198.18.0.0/24) and a host beyond the gateway. The LAN reaches the
// outside over SNAT44 and SNAT66; the outside reaches a LAN server over DNAT44 and DNAT66, which
// works only when something answers the gateway's ARP / Neighbor Solicitations for the external
// addresses: first nothing does (the seed's failure), then static neighbour entries on the
// gateway (the seed author's workaround), then the neighbour responder started for proxyNeighbors
// (what the seed could not do), whose answers the gateway's neighbour table shows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ADDR, canRun, EdgeLab, SEED, seedResource } from "./lab.ts";

const skip = canRun(["python3"]);
const { dnat44: DNAT44, dnat66: DNAT66, pool4: POOL4 } = SEED;

test("the seed's shape: SNAT44/66 out, DNAT44/66 in, behind a gateway that routes nothing", {
  skip: skip ?? undefined,
  timeout: 180_000,
}, async (t) => {
  const lab = new EdgeLab("S");
  t.after(() => lab.cleanup());
  lab.setup();
  await lab.startPeers();
  const ask = (from: string, host: string, timeout?: string) => lab.ask(from, host, timeout);
  const run = await lab.runWithTable(lab.write("edge.yaml", seedResource()));
  const neighbour = (addr: string) => lab.ip(lab.gw, "neigh", "show", addr, "dev", "g0").trim();

  // Nobody answers for the external addresses: what needs the gateway to find one fails.
  assert.equal(ask(lab.lan, ADDR.out6), ADDR.box6, "SNAT66 to the box's own address needs no neighbour help");
  assert.equal(
    ask(lab.lan, ADDR.out4, "1"),
    undefined,
    "the reply to a SNAT44 pool address finds no neighbour",
  );
  assert.equal(ask(lab.out, DNAT44, "1"), undefined);
  assert.equal(ask(lab.out, `${DNAT66}`, "2"), undefined, "DNAT66 without a neighbour answer");
  assert.match(neighbour(DNAT66), /FAILED|INCOMPLETE/, "the gateway's solicitation went unanswered");

  // The seed author's workaround: static neighbour entries on the gateway for every external address.
  const mac = (JSON.parse(lab.ip(lab.box, "-j", "link", "show", "w0")) as { address: string }[])[0]!.address;
  lab.ip(lab.gw, "neigh", "flush", "dev", "g0");
  for (const a of [DNAT44, DNAT66, ...POOL4])
    lab.ip(lab.gw, "neigh", "replace", a, "lladdr", mac, "dev", "g0", "nud", "permanent");
  const everyPath = () => {
    const out4 = ask(lab.lan, ADDR.out4);
    assert.ok(out4 && POOL4.includes(out4), `SNAT44 leaves from a pool address, saw ${out4}`);
    assert.equal(ask(lab.lan, ADDR.out4), out4, "one-to-one: the same inside host keeps its pool address");
    assert.equal(ask(lab.lan, ADDR.out6), ADDR.box6);
    assert.equal(
      ask(lab.out, DNAT44),
      ADDR.out4,
      "DNAT44 reaches the LAN server, which sees the outside host",
    );
    assert.equal(ask(lab.out, DNAT66), ADDR.out6, "DNAT66 reaches the LAN server");
  };
  everyPath();
  // the inbound policy: an inside address the outside has no translation for stays closed
  lab.ip(lab.gw, "route", "add", "198.18.0.0/24", "via", ADDR.box4);
  assert.equal(ask(lab.out, ADDR.lan4, "1"), undefined, "untranslated inbound traffic is dropped");
  lab.ip(lab.gw, "route", "del", "198.18.0.0/24", "via", ADDR.box4);

  // The responder answers for the external addresses: no static entries; the IPv6 ones with a MAC
  // written in the resource (here the box's own, so that the traffic still reaches the box).
  for (const a of [DNAT44, DNAT66, ...POOL4]) lab.ip(lab.gw, "neigh", "del", a, "dev", "g0");
  lab.write(
    "edge.yaml",
    seedResource(`  proxyNeighbors:
    - { addresses: "192.0.2.101-192.0.2.110" }
    - { addresses: "192.0.2.151-192.0.2.154" }
    - { addresses: "2001:db8:1:0:ffff:ffff::/96", linkLayerAddress: "${mac.toUpperCase()}" }
`),
  );
  run.kill("SIGHUP");
  await lab.until(
    run,
    "the responders",
    () => (run.output().match(/neighbour responder started/g) ?? []).length === 2,
  );
  everyPath();
  for (const a of [DNAT44, DNAT66]) {
    const entry = neighbour(a);
    assert.match(entry, new RegExp(`lladdr ${mac} `), `the gateway learnt ${a} from the responder: ${entry}`);
    assert.doesNotMatch(entry, /PERMANENT/);
  }
  await lab.stop(run);
});
