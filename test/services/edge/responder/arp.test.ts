import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  ARP_LENGTH,
  ARPOP_REPLY,
  arpReply,
  readArpRequest,
} from "../../../../src/services/edge/responder/arp.ts";
import { arpAnnouncement, parseArp } from "../../../../src/util/sys/arp.ts";

const mac = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01]);
const box = Uint8Array.from([0, 0, 0x5e, 0, 0x53, 0xfb]);

/** A request from 198.51.100.1 (mac) for `target`, as a Linux host sends it. */
function request(target: number, sender = 0xc6336401): Uint8Array {
  const p = new Uint8Array(ARP_LENGTH);
  const v = new DataView(p.buffer);
  v.setUint16(0, 1);
  v.setUint16(2, 0x0800);
  p[4] = 6;
  p[5] = 4;
  v.setUint16(6, 1);
  p.set(mac, 8);
  v.setUint32(14, sender);
  v.setUint32(24, target);
  return p;
}

test("a request is read; the reply swaps the fields and names the configured hardware address (RFC 826)", () => {
  const r = readArpRequest(request(0xc6336478));
  assert.ok(r.ok);
  const reply = arpReply(r.request, box);
  // read back with the other ARP reader in the project (util/sys/arp.ts)
  assert.deepEqual(parseArp(reply), {
    op: ARPOP_REPLY,
    senderMac: "00:00:5e:00:53:fb",
    senderIp: "198.51.100.120",
    targetMac: "02:00:00:00:00:01",
    targetIp: "198.51.100.1",
  });
});

test("Ethernet padding after the 28 bytes is ignored; an ARP Probe (sender 0) is answered to 0.0.0.0", () => {
  const padded = new Uint8Array(46);
  padded.set(request(0xc6336478, 0));
  const r = readArpRequest(padded);
  assert.ok(r.ok);
  assert.equal(parseArp(arpReply(r.request, box))?.targetIp, "0.0.0.0");
});

test("drops: short, other hardware or protocol, other lengths, replies", () => {
  const cases: [Uint8Array, string][] = [
    [request(1).subarray(0, 27), "malformed"],
    [Object.assign(request(1), { 1: 6 }), "malformed"], // hardware type 6 (IEEE 802)
    [Object.assign(request(1), { 2: 0x86, 3: 0xdd }), "malformed"],
    [Object.assign(request(1), { 4: 8 }), "malformed"],
    [Object.assign(request(1), { 5: 16 }), "malformed"],
    [Object.assign(request(1), { 7: 2 }), "notRequest"],
  ];
  for (const [p, drop] of cases) assert.deepEqual(readArpRequest(p), { ok: false, drop });
  // an announcement is a request: the responder tells it apart by its addresses
  assert.ok(readArpRequest(arpAnnouncement(mac, Uint8Array.from([198, 51, 100, 1]))).ok);
});

test("fuzz: any bytes give a request or a drop, never a throw; a read request replies to its sender", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const r = readArpRequest(bytes);
      if (!r.ok) return ["malformed", "notRequest"].includes(r.drop);
      const reply = parseArp(arpReply(r.request, box));
      return (
        reply?.targetMac === [...bytes.subarray(8, 14)].map((b) => b.toString(16).padStart(2, "0")).join(":")
      );
    }),
    { numRuns: 5000 },
  );
});
