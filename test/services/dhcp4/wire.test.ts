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
        // the header and cookie are intact: a refusal can only be about the options
        if (d.ok) assert.ok(d.msg.options instanceof Map);
        else assert.match(d.reason, /^malformed options/);
      },
    ),
    { numRuns: 3000 },
  );
});

/** The octets `options` take on the wire: code and length per 255-octet piece (RFC 3396), then the value. */
const wireSize = (options: OptionOut[]) =>
  options.reduce((n, [, v]) => n + 2 * Math.max(1, Math.ceil(v.length / 255)) + v.length, 0);

/** Up to `n` distinct option codes (not 52 or 53) with values of up to `maxLength` octets, drawn evenly. */
const someOptions = (n: number, maxLength: number) =>
  fc
    .tuple(
      fc.noBias(
        fc.uniqueArray(
          fc.integer({ min: 1, max: 254 }).filter((c) => c !== OPT.overload && c !== OPT.messageType),
          { maxLength: n },
        ),
      ),
      // fast-check's default leans to short arrays, which always fit: lengths drawn evenly
      fc.noBias(
        fc.array(
          fc.nat({ max: maxLength }).chain((k) => fc.uint8Array({ minLength: k, maxLength: k })),
          { minLength: n, maxLength: n },
        ),
      ),
    )
    .map(([codes, values]) => codes.map((c, i): OptionOut => [c, values[i]!]));

/** Decodes `b` and checks that it holds exactly the message type and `options`, values intact. */
function assertOptionsBack(b: Uint8Array, options: OptionOut[]) {
  const d = decode(b);
  assert.ok(d.ok, JSON.stringify(d));
  assert.deepEqual(
    [...d.msg.options.keys()].sort((x, y) => x - y),
    [OPT.messageType, ...options.map(([c]) => c)].sort((x, y) => x - y),
  );
  for (const [c, v] of options) assert.deepEqual([...d.msg.options.get(c)!], [...v], `option ${c}`);
}

test("fuzz: what fits is encoded and decodes to the same options; encode refuses only what cannot fit", () => {
  // Three outcomes, each of which must occur: everything in the options field, an overflow into
  // file/sname (option 52), and a refusal. A property that returned early on every refusal would
  // pass whatever encode did with the rest (and the old generator never overflowed at all).
  const seen = { fits: 0, overflow: 0, refused: 0 };
  const runs = 1000;
  const maxSize = 576;
  // RFC 2131 §4.1: the options field is what the message leaves after the fixed header, the magic
  // cookie and the end option.
  const room = maxSize - FIXED_LENGTH - 4 - 1;
  fc.assert(
    fc.property(someOptions(12, 100), (more) => {
      const opts: OptionOut[] = [[OPT.messageType, Uint8Array.of(2)], ...more];
      const b = encode(fields, opts, maxSize);
      if (!b) {
        seen.refused++;
        assert.ok(wireSize(opts) > room, `refused ${wireSize(opts)} octets that fit in ${room}`);
        return;
      }
      assert.ok(b.length <= maxSize, `${b.length} octets for a limit of ${maxSize}`);
      assertOptionsBack(b, more);
      const overloaded = b[FIXED_LENGTH + 4 + 3] === OPT.overload;
      if (wireSize(opts) <= room) {
        seen.fits++;
        assert.equal(overloaded, false, "what fits in the options field stays there");
      } else {
        seen.overflow++;
        assert.equal(overloaded, true, "an overflow is announced with option 52 after the message type");
      }
    }),
    { numRuns: runs },
  );
  for (const [outcome, n] of Object.entries(seen))
    assert.ok(n >= runs / 20, `${outcome}: ${n} of ${runs} runs (${JSON.stringify(seen)})`);
});

test("fuzz: options longer than 255 octets are split and joined again (RFC 3396), never refused", () => {
  fc.assert(
    fc.property(someOptions(3, 400), (more) => {
      // at most 3 × (4 + 400) octets: always within a 1500-octet message's options field
      const b = encode(fields, [[OPT.messageType, Uint8Array.of(2)], ...more], 1500);
      assert.ok(b, "refused options that fit");
      assertOptionsBack(b, more);
    }),
    { numRuns: 300 },
  );
});
