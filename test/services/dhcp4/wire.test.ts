import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  BOOTREPLY,
  DHCPDISCOVER,
  decode,
  encode,
  FIXED_LENGTH,
  MAGIC_COOKIE,
  OPT,
  type OptionOut,
  parseAddr,
} from "../../../src/services/dhcp4/wire.ts";
import { build, mac } from "./helpers.ts";

const fields = {
  op: BOOTREPLY,
  htype: 1,
  hlen: 6,
  xid: 0xdeadbeef,
  flags: 0x8000,
  ciaddr: 0,
  yiaddr: parseAddr("192.0.2.100"),
  siaddr: 0,
  giaddr: 0,
  chaddr: new Uint8Array(16).fill(7),
};

test("a request round-trips: header fields and options", () => {
  const d = decode(
    build({ type: DHCPDISCOVER, mac: mac(5), xid: 99, requested: "192.0.2.7", prl: [1, 3, 108] }),
  );
  assert.ok(d.ok);
  assert.equal(d.msg.op, 1);
  assert.equal(d.msg.xid, 99);
  assert.deepEqual([...d.msg.chaddr.subarray(0, 6)], [...mac(5)]);
  assert.deepEqual([...d.msg.options.get(OPT.requestedAddress)!], [192, 0, 2, 7]);
  assert.deepEqual([...d.msg.options.get(OPT.parameterRequestList)!], [1, 3, 108]);
});

test("encode pads to the BOOTP minimum of 300 octets and ends options with 255", () => {
  const b = encode(fields, [[OPT.messageType, Uint8Array.of(2)]])!;
  assert.equal(b.length, 300);
  assert.equal(new DataView(b.buffer).getUint32(FIXED_LENGTH), MAGIC_COOKIE);
  assert.deepEqual([...b.subarray(240, 244)], [53, 1, 2, 255]);
});

test("RFC 3396: an option longer than 255 octets is split on encode and joined on decode", () => {
  const long = Uint8Array.from({ length: 600 }, (_, i) => i & 255);
  const b = encode(
    fields,
    [
      [OPT.messageType, Uint8Array.of(2)],
      [43, long],
    ],
    1400,
  )!;
  const d = decode(b);
  assert.ok(d.ok);
  assert.deepEqual([...d.msg.options.get(43)!], [...long]);
});

test("RFC 2131 §4.1: options that do not fit overflow into file then sname with option 52", () => {
  const opts: OptionOut[] = [[OPT.messageType, Uint8Array.of(5)]];
  for (let c = 200; c < 210; c++) opts.push([c, new Uint8Array(40).fill(c)]);
  const b = encode(fields, opts, 548)!;
  assert.ok(b.length <= 548);
  const d = decode(b);
  assert.ok(d.ok);
  assert.equal(d.msg.options.get(OPT.messageType)![0], 5);
  for (let c = 200; c < 210; c++)
    assert.deepEqual([...d.msg.options.get(c)!], [...new Uint8Array(40).fill(c)]);
  assert.equal(d.msg.options.has(OPT.overload), false);
  // too much for all three areas: refused, not truncated
  const huge: OptionOut[] = [[OPT.messageType, Uint8Array.of(5)]];
  for (let c = 200; c < 220; c++) huge.push([c, new Uint8Array(60)]);
  assert.equal(encode(fields, huge, 548), undefined);
});

test("malformed input gives a reason, never an exception", () => {
  const good = build({ type: DHCPDISCOVER });
  assert.deepEqual(decode(good.subarray(0, 100)), { ok: false, reason: "truncated" });
  assert.deepEqual(decode(new Uint8Array(5000)), { ok: false, reason: "oversized" });
  const noCookie = Uint8Array.from(good);
  noCookie[236] = 0;
  assert.equal(decode(noCookie).ok, false);
  // an option whose length runs past the end
  const cut = Uint8Array.from(good.subarray(0, 244));
  cut[240] = 53;
  cut[241] = 9;
  const r = decode(cut);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /runs past the end/);
  // option 52 with a bad value
  const ov = Uint8Array.from(good);
  ov.set([52, 1, 9, 255], 243);
  assert.equal(decode(ov).ok, false);
});

test("fuzz: decode never throws on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 1200 }), (bytes) => {
      const d = decode(bytes);
      assert.equal(typeof d.ok, "boolean");
    }),
    { numRuns: 3000 },
  );
});

test("fuzz: decode never throws on mutated valid messages (cookie kept, options garbled)", () => {
  const base = build({ type: DHCPDISCOVER, prl: [1, 3, 6, 108], requested: "192.0.2.9" });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 30 }),
      fc.nat({ max: 400 }),
      (edits, cut) => {
        const b = Uint8Array.from(base);
        for (const [at, v] of edits) b[240 + (at % (b.length - 240))] = v;
        const d = decode(b.subarray(0, Math.max(240, b.length - cut)));
        if (d.ok) assert.ok(d.msg.options instanceof Map);
      },
    ),
    { numRuns: 3000 },
  );
});

test("fuzz: encode then decode gives the options back", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.integer({ min: 1, max: 254 }).filter((c) => c !== 52 && c !== 53),
        { maxLength: 8 },
      ),
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 8, maxLength: 8 }),
      (codes, values) => {
        const opts: OptionOut[] = [
          [OPT.messageType, Uint8Array.of(2)],
          ...codes.map((c, i): OptionOut => [c, values[i]!]),
        ];
        const b = encode(fields, opts, 1500);
        if (!b) return;
        const d = decode(b);
        assert.ok(d.ok);
        codes.forEach((c, i) => {
          if (values[i]!.length > 0) assert.deepEqual([...d.msg.options.get(c)!], [...values[i]!]);
        });
      },
    ),
    { numRuns: 500 },
  );
});
