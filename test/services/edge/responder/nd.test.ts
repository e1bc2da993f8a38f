import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  ALL_NODES,
  answerSolicitation,
  isSolicitedNode,
  multicastMac,
  neighborSolicitation,
  readNeighborAdvertisement,
  readNeighborSolicitation,
  solicitedNode,
} from "../../../../src/services/edge/responder/nd.ts";
import { ipv6Bytes, ipv6Text } from "../../../../src/services/ra/wire.ts";

const gw = ipv6Bytes("fe80::1");
const ours = ipv6Bytes("fe80::2");
const target = ipv6Bytes("2001:db8:5::1:2345");
const gwMac = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01]);
const box = Uint8Array.from([0, 0, 0x5e, 0, 0x53, 0xfb]);
const mcast = () => solicitedNode(target);

test("solicited-node address and its MAC (RFC 4291 §2.7.1, RFC 2464 §7)", () => {
  assert.equal(ipv6Text(solicitedNode(target)), "ff02::1:ff01:2345");
  assert.ok(isSolicitedNode(solicitedNode(target)));
  assert.ok(!isSolicitedNode(ALL_NODES));
  assert.deepEqual([...multicastMac(solicitedNode(target))], [0x33, 0x33, 0xff, 0x01, 0x23, 0x45]);
});

test("the checksum matches a Neighbor Solicitation captured from Linux (tshark: 0x7df1 correct)", () => {
  // fe80::3840:2cff:fe71:166 -> ff02::1:ff00:120, target 2001:db8:5::120, SLLA 3a:40:2c:71:01:66
  const ns = neighborSolicitation({
    source: ipv6Bytes("fe80::3840:2cff:fe71:166"),
    destination: ipv6Bytes("ff02::1:ff00:120"),
    target: ipv6Bytes("2001:db8:5::120"),
    sourceLinkLayer: Uint8Array.from([0x3a, 0x40, 0x2c, 0x71, 0x01, 0x66]),
  });
  assert.equal((ns[42]! << 8) | ns[43]!, 0x7df1);
  assert.ok(readNeighborSolicitation(ns).ok);
});

test("a valid solicitation is answered: S=1, O=0, R=0, TLLA = the configured MAC, unicast to the solicitor", () => {
  const r = readNeighborSolicitation(
    neighborSolicitation({ source: gw, destination: mcast(), target, sourceLinkLayer: gwMac }),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.ns.sourceLinkLayer, gwMac);
  const a = answerSolicitation(r.ns, ours, box);
  assert.equal(a.dad, false);
  assert.deepEqual(a.destination, gw);
  const na = readNeighborAdvertisement(a.packet);
  assert.deepEqual(na, {
    destination: gw,
    hopLimit: 255,
    target,
    flags: { router: false, solicited: true, override: false },
    targetLinkLayer: box,
    checksumOk: true,
  });
});

test("DAD (source ::): S=0, multicast to all-nodes (RFC 4861 §7.2.4)", () => {
  const r = readNeighborSolicitation(
    neighborSolicitation({ source: new Uint8Array(16), destination: mcast(), target }),
  );
  assert.ok(r.ok);
  const a = answerSolicitation(r.ns, ours, box);
  assert.equal(a.dad, true);
  const na = readNeighborAdvertisement(a.packet);
  assert.deepEqual(na?.destination, ALL_NODES);
  assert.equal(na?.flags.solicited, false);
  assert.equal(na?.checksumOk, true);
});

test("§7.1.1: each rule drops with its own reason", () => {
  const base = { source: gw, destination: mcast(), target, sourceLinkLayer: gwMac };
  const cases: [Parameters<typeof neighborSolicitation>[0], string][] = [
    [{ ...base, hopLimit: 254 }, "hopLimit"],
    [{ ...base, code: 1 }, "code"],
    [{ ...base, sourceLinkLayer: undefined, truncateTo: 23 }, "length"],
    [{ ...base, target: ALL_NODES }, "multicastTarget"],
    [{ ...base, rawOptions: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]) }, "optionLength"],
    [{ ...base, rawOptions: new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0]) }, "optionLength"], // runs past the end
    [{ ...base, source: new Uint8Array(16) }, "unspecifiedWithSourceLla"],
    [
      { ...base, source: new Uint8Array(16), destination: target, sourceLinkLayer: undefined },
      "unspecifiedToUnicast",
    ],
    [{ ...base, corruptChecksum: true }, "checksum"],
  ];
  for (const [o, drop] of cases)
    assert.deepEqual(readNeighborSolicitation(neighborSolicitation(o)), { ok: false, drop }, drop);
  const good = neighborSolicitation(base);
  assert.deepEqual(readNeighborSolicitation(good.subarray(0, 50)), { ok: false, drop: "malformed" });
  const notIcmp = good.slice();
  notIcmp[6] = 17;
  assert.deepEqual(readNeighborSolicitation(notIcmp), { ok: false, drop: "malformed" });
  // Ethernet padding after the Payload Length is ignored
  const padded = new Uint8Array(good.length + 6);
  padded.set(good);
  assert.ok(readNeighborSolicitation(padded).ok);
});

test("fuzz: any bytes give a solicitation or a drop, never a throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      const r = readNeighborSolicitation(bytes);
      return r.ok ? r.ns.target.length === 16 : typeof r.drop === "string";
    }),
    { numRuns: 5000 },
  );
});

test("fuzz: a valid solicitation with one byte changed is dropped or still answers for a unicast target", () => {
  const good = neighborSolicitation({ source: gw, destination: mcast(), target, sourceLinkLayer: gwMac });
  fc.assert(
    fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const p = good.slice();
      p[i]! ^= x;
      const r = readNeighborSolicitation(p);
      // the checksum covers every ICMPv6 byte and both addresses, so a change there is caught;
      // header bytes outside the pseudo-header (version, class, flow) may change harmlessly
      if (i >= 8) return !r.ok;
      if (!r.ok) return true;
      const na = readNeighborAdvertisement(answerSolicitation(r.ns, ours, box).packet);
      return na?.checksumOk === true;
    }),
    { numRuns: 3000 },
  );
});
