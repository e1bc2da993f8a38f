/**
 * The ICMP errors the TUN datapath originates, through a running `v6mostly run` in namespaces
 * (issue 17): they leave from the host's own address on the route back to their destination, as
 * the kernel picks it (SiitConfig.hostErrorSource, util/sys/originate.ts), and an error with no
 * route back is counted. The lab is the live conformance one (test/conformance/live-lab.ts);
 * the expected errors are built with the test builders, never by the code under test.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { canRun, J6, N4, type Port, SiitLab, waitFor } from "../../conformance/live-lab.ts";
import { bytes, ipv4Packet, ipv6Packet } from "../siit/build.ts";
import { fragNeeded, hex, ipv4HeaderOk } from "./packets.ts";

const skip = canRun();

/** The packets of `port` from `src` to `dst` (IPv4 text), once `n` of them arrived. */
async function arrivals4(port: Port, src: string, dst: string, n = 1): Promise<Uint8Array[]> {
  const is = (p: Uint8Array) =>
    p[0]! >>> 4 === 4 && p.subarray(12, 16).join(".") === src && p.subarray(16, 20).join(".") === dst;
  return waitFor(`${n} packet(s) ${src} > ${dst}`, () => {
    const got = port.got.filter(is);
    return got.length >= n ? got : undefined;
  });
}

/** The IPv4 Identification and header checksum are the kernel's (raw(7): filled in when zero). */
function maskIdAndChecksum(p: Uint8Array): string {
  const c = p.slice();
  c.fill(0, 4, 6);
  c.fill(0, 10, 12);
  return hex(c);
}

describe("ICMP errors the datapath originates, from the host's address on the route back", {
  skip: skip ?? false,
}, () => {
  const lab = new SiitLab("o");
  let ports: { n6: Port; n4: Port };
  before(async () => {
    // j has no IPv4 default route: 203.0.113.0/25 is reached through n4 from a second address
    // of j's, the rest of 203.0.113.0/24 not at all
    lab.setup(false);
    lab.ip(lab.j, "addr", "add", "198.51.100.3/32", "dev", "j4");
    lab.ip(lab.j, "route", "add", "203.0.113.0/25", "via", N4, "dev", "j4", "src", "198.51.100.3");
    ports = await lab.ports();
  });
  after(() => lab.cleanup());

  it("stateless: Fragmentation Needed from the source the route back names; none and counted without a route", async () => {
    await lab.start(`mode: stateless\nprefix: "2001:db8:100::/40"\nmtu: 1500`, ["192.0.2.0/24"]);
    // DF and 1490 bytes: 1510 as IPv6, over the 1500-byte IPv6 side (RFC 7915 §4: FN, MTU 1480)
    const udp = { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(1462) };
    const sent = ipv4Packet("203.0.113.7", "192.0.2.33", udp, 64);
    ports.n4.send(sent);
    const [err] = await arrivals4(ports.n4, "198.51.100.3", "203.0.113.7");
    // quoting the packet as it was sent (the datapath undid the kernel's decrement)
    const want = fragNeeded("198.51.100.3", "203.0.113.7", 1480, sent);
    assert.equal(maskIdAndChecksum(err!), maskIdAndChecksum(want));
    assert.ok(ipv4HeaderOk(err!), "the kernel's header checksum verifies");

    // 203.0.113.200 has no route back: the error is counted, not sent
    ports.n4.send(ipv4Packet("203.0.113.200", "192.0.2.33", udp, 64));
    await waitFor("icmpErrorsNoRoute", () =>
      lab.counters().counters.icmpErrorsNoRoute === 1 ? true : undefined,
    );
    assert.equal(ports.n4.got.filter((p) => p.subarray(16, 20).join(".") === "203.0.113.200").length, 0);
  });

  it("stateful: a source outside allowedSources gets ICMPv6 1/1 from the host's address on that link", async () => {
    await lab.start(
      `prefix: "2001:db8:64::/96"\npool4: ["198.51.100.8"]\nallowedSources: ["2001:db8:1c0:2::/64"]`,
    );
    const udp = { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(64) };
    const stranger = "2001:db8:1c0:5::7";
    ports.n6.send(ipv6Packet(stranger, "2001:db8:64::cb00:7107", udp, 64));
    const isErr = (p: Uint8Array) => p[0]! >>> 4 === 6 && p[6] === 58 && p[40] === 1;
    const err = await waitFor("the ICMPv6 error", () => ports.n6.got.find(isErr));
    // RFC 4443 §3.1 code 1 (administratively prohibited), hop limit 64, traffic class and flow
    // label 0, quoting the packet as the NAT64 read it (the kernel had decremented it once)
    const want = ipv6Packet(J6, stranger, {
      proto: 58,
      icmpType: 1,
      icmpCode: 1,
      icmpRest: 0,
      payload: ipv6Packet(stranger, "2001:db8:64::cb00:7107", udp, 63),
    });
    assert.equal(hex(err), hex(want));
  });
});
