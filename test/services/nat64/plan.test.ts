// The gateway's plan is pure: what the host and the workers will get, decided without root.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Nat64Translator } from "../../../src/datapath/nat64/translator.ts";
import { compileSiitConfig, Verdict } from "../../../src/datapath/siit/index.ts";
import { plan } from "../../../src/planner/plan.ts";
import { embed4, planGateway, proxyArp, rangeToCidrs } from "../../../src/services/nat64/plan.ts";
import { format6 } from "../../../src/util/addrtext.ts";
import { prefixOf } from "../../../src/util/net.ts";
import { bytes, ipv6Packet } from "../../datapath/siit/build.ts";
import { doc, validateText } from "../../support/validate.ts";

const num = (t: string) => t.split(".").reduce((a, b) => a * 256 + Number(b), 0) >>> 0;

function gateway(spec: string) {
  const v = validateText(doc("Nat64Gateway", "gw", spec));
  assert.deepEqual(v.errors, []);
  const a = plan(v.resources).nodes[0]!.assignments[0]!;
  assert.equal(a.kind, "Nat64Gateway");
  return a;
}

describe("Nat64Gateway plan", () => {
  it("embeds IPv4 as RFC 6052 §2.4's examples say, for every prefix length", () => {
    const v4 = num("192.0.2.33");
    const cases: [string, string][] = [
      ["2001:db8::/32", "2001:db8:c000:221::"],
      ["2001:db8:100::/40", "2001:db8:1c0:2:21::"],
      ["2001:db8:122::/48", "2001:db8:122:c000:2:2100::"],
      ["2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"],
      ["2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"],
      ["2001:db8:122:344::/96", "2001:db8:122:344::c000:221"],
    ];
    for (const [prefix, image] of cases) assert.equal(embed4(prefixOf(prefix), v4).text, image, prefix);
  });

  it("routes pool4 as CIDR blocks, the prefix into the device, and answers ARP only on the uplink's subnet", () => {
    const a = gateway(
      `prefix: "2001:db8:64::/96"\npool4: ["198.51.100.5-198.51.100.9"]\nallowedSources: ["2001:db8:1::/64"]\nuplinkInterface: eth0`,
    );
    const p = planGateway(a);
    assert.deepEqual(p.host.routes6, ["2001:db8:64::/96"]);
    assert.deepEqual(p.host.routes4, ["198.51.100.5/32", "198.51.100.6/31", "198.51.100.8/31"]);
    assert.deepEqual(p.answered, [{ first: num("198.51.100.5"), last: num("198.51.100.9") }]);
    // the uplink holds 198.51.100.0/29 only: .5 to .7 are on-link, .8 and .9 are routed to us
    const subnet = { first: num("198.51.100.0"), last: num("198.51.100.7") };
    assert.deepEqual(proxyArp(p.answered, [subnet]), ["198.51.100.5", "198.51.100.6", "198.51.100.7"]);
    assert.deepEqual(proxyArp(p.answered, [subnet], 2), ["198.51.100.5", "198.51.100.6"]);
    // the errors it originates leave from the host's address on the route back, as the kernel picks it
    assert.deepEqual(
      [p.nat64?.siit?.ownIpv4, p.nat64?.siit?.ownIpv6, p.nat64?.siit?.hostErrorSource],
      [null, null, true],
    );
    assert.equal(p.wake.text, "2001:db8:64::1");
    assert.deepEqual([p.queues, p.loop, p.offload], [1, "poll", true]);
  });

  it("takes queues and offload from the resource, the options over them; several stateful queues poll", () => {
    const a = gateway(
      `pool4: ["198.51.100.5"]\nallowedSources: ["2001:db8:1::/64"]\nqueues: 2\noffload: false`,
    );
    assert.deepEqual([planGateway(a).queues, planGateway(a).offload], [2, false]);
    const p = planGateway(a, { queues: 3, offload: true, loop: "blocking" });
    assert.deepEqual([p.queues, p.offload, p.loop], [3, true, "poll"]);
    assert.deepEqual(p.notes, ["stateful NAT64 on several queues runs the poll loop"]);
  });

  it("stateless: the EAMT's IPv4 side is routed and answered, no pool4", () => {
    const a = gateway(
      `mode: stateless\nprefix: "2001:db8:64::/96"\neamt: [{ ipv6: "2001:db8:1::10/127", ipv4: "203.0.113.140/31" }]`,
    );
    const p = planGateway(a);
    assert.deepEqual(p.pool4, []);
    assert.deepEqual(p.host.routes4, ["203.0.113.140/31"]);
    assert.deepEqual(p.answered, [{ first: num("203.0.113.140"), last: num("203.0.113.141") }]);
    assert.equal(p.nat64, undefined);
    assert.deepEqual(p.siit?.pool6, prefixOf("2001:db8:64::/96"));
  });

  it("hands the translators values that survive the copy into a worker thread (structured clone)", () => {
    // workerData is a structured clone: the values arrive as plain objects, their fields intact.
    const stateful = planGateway(
      gateway(`prefix: "2001:db8:64::/96"\npool4: ["198.51.100.5"]\nallowedSources: ["2001:db8:1::/64"]`),
    );
    const nat64 = structuredClone(stateful.nat64!);
    assert.equal(Object.getPrototypeOf(nat64.pool6), Object.prototype);
    const nat = new Nat64Translator(nat64);
    const udp = { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(20) };
    assert.equal(
      nat.translate(ipv6Packet("2001:db8:1::7", "2001:db8:64::c000:201", udp)),
      Verdict.Translated,
    );
    // a source outside allowedSources gets ICMPv6 1/1, its source left for the host to pick
    assert.equal(nat.translate(ipv6Packet("2001:db8:2::7", "2001:db8:64::c000:201", udp)), Verdict.IcmpReply);
    assert.equal(format6(nat.outBuf, nat.outOffset[0]! + 8), "::");

    const stateless = planGateway(
      gateway(
        `mode: stateless\nprefix: "2001:db8:64::/96"\neamt: [{ ipv6: "2001:db8:1::10/127", ipv4: "203.0.113.140/31" }]\nrfc6791Pool: { ipv4: ["203.0.113.8-203.0.113.9"] }`,
      ),
    );
    const siit = compileSiitConfig(structuredClone(stateless.siit!));
    assert.deepEqual(siit, compileSiitConfig(stateless.siit!));
    assert.deepEqual([siit.errorSource4, siit.errorSource6], [new Uint8Array(4), new Uint8Array(16)]);
    assert.deepEqual([...siit.rfc6791v4], [203, 0, 113, 8, 203, 0, 113, 9]);
    assert.equal(siit.eamt.size, 1);
    assert.equal(siit.pool6?.len, 96);
  });

  it("cuts ranges into the fewest CIDR blocks", () => {
    assert.deepEqual(rangeToCidrs(num("192.0.2.0"), num("192.0.2.255")), ["192.0.2.0/24"]);
    assert.deepEqual(rangeToCidrs(num("192.0.2.1"), num("192.0.2.4")), [
      "192.0.2.1/32",
      "192.0.2.2/31",
      "192.0.2.4/32",
    ]);
  });
});
