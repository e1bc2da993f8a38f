// The Neighbor Discovery wire format: hand-computed byte vectors, every PREF64 length code, the
// RFC 4861 §4.6 discard rules, and fast-check fuzzing (the decoder never throws; encode → decode
// gives back what was encoded).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeOptions,
  decodeRouterAdvertisement,
  decodeRouterSolicitation,
  encodeOption,
  encodeRouterAdvertisement,
  encodeRouterSolicitation,
  fromHex,
  ipv6Bytes,
  type NdOption,
  PREF64_PLC_LENGTHS,
  type RouterAdvertisement,
  toHex,
} from "../../../src/services/ra/wire.ts";
import { format, maskOf } from "../../../src/util/net.ts";

const hex = (o: NdOption) => toHex(encodeOption(o));

test("PREF64 (RFC 8781 §4): scaled lifetime and PLC in one 16-bit word, then 96 bits of prefix", () => {
  // 1800 s / 8 = 225 = 0b11100001; (225 << 3) | PLC 0 = 0x0708
  assert.equal(
    hex({ type: "pref64", prefix: "2001:db8:64::", prefixLength: 96, lifetime: 1800 }),
    "2602070820010db80064000000000000",
  );
  // 600 s → 75 → (75 << 3) | 1 = 0x0259, /64 → PLC 1
  assert.equal(
    hex({ type: "pref64", prefix: "2001:db8:1:2::", prefixLength: 64, lifetime: 600 }),
    "260202592001:0db8:0001:0002:0000:0000".replaceAll(":", ""),
  );
  // lifetime rounds up to the next multiple of 8: 601 → 76
  assert.equal(
    hex({ type: "pref64", prefix: "64:ff9b::", prefixLength: 96, lifetime: 601 }).slice(4, 8),
    (76 << 3).toString(16).padStart(4, "0"),
  );
  // maximum: 8191 × 8
  assert.equal(
    hex({ type: "pref64", prefix: "64:ff9b::", prefixLength: 96, lifetime: 65528 }).slice(4, 8),
    "fff8",
  );
});

test("PREF64: all six prefix length codes encode and decode", () => {
  const expectedPlc: Record<number, number> = { 96: 0, 64: 1, 56: 2, 48: 3, 40: 4, 32: 5 };
  for (const len of PREF64_PLC_LENGTHS) {
    const prefix = format(
      6,
      ((0x20010db8n << 96n) | (0xaabbccddeeff1122334455n << 8n)) & maskOf(6, len) & ~(0xffn << 56n),
    );
    const bytes = encodeOption({ type: "pref64", prefix, prefixLength: len, lifetime: 1800 });
    assert.equal(bytes[3]! & 7, expectedPlc[len], `PLC for /${len}`);
    const back = decodeOptions(bytes);
    assert.deepEqual(back, {
      ok: true,
      value: [{ type: "pref64", prefix, prefixLength: len, lifetime: 1800 }],
    });
  }
  // PLC 6 and 7 are invalid: the option is reported, not used
  for (const plc of [6, 7]) {
    const b = fromHex(`26020708${"20010db8".padEnd(24, "0")}`);
    b[3] = (b[3]! & ~7) | plc;
    const d = decodeOptions(b);
    assert.ok(d.ok);
    assert.equal(d.value[0]!.type, "invalid");
  }
});

test("Route Information (RFC 4191 §2.3), RDNSS and DNSSL (RFC 8106), MTU, PIO, SLLA bytes", () => {
  assert.equal(
    hex({
      type: "routeInformation",
      prefix: "2001:db8:64::",
      prefixLength: 96,
      preference: "high",
      lifetime: 1800,
    }),
    "1803600800000708" + "20010db8006400000000000000000000",
  );
  assert.equal(
    hex({ type: "rdnss", lifetime: 1800, servers: ["2001:db8:1::53", "2001:db8:1::54"] }),
    "1905000000000708" + "20010db8000100000000000000000053" + "20010db8000100000000000000000054",
  );
  // 4home4arpa0 7example3net0 = 11 + 13 = 24 bytes, padded to 24: length (8 + 24) / 8 = 4
  assert.equal(
    hex({ type: "dnssl", lifetime: 1800, domains: ["home.arpa", "example.net"] }),
    "1f04000000000708" + "04686f6d65046172706100" + "076578616d706c65036e657400",
  );
  assert.equal(hex({ type: "mtu", mtu: 1400 }), "0501000000000578");
  assert.equal(
    hex({
      type: "prefixInformation",
      prefix: "2001:db8:1::",
      prefixLength: 64,
      onLink: true,
      autonomous: true,
      routerAddress: false,
      validLifetime: 86400,
      preferredLifetime: 14400,
    }),
    "0304" + "40c0" + "00015180" + "00003840" + "00000000" + "20010db8000100000000000000000000",
  );
  assert.equal(hex({ type: "sourceLinkAddress", address: "02:00:5e:10:00:01" }), "010102005e100001");
});

test("RA header: flags, preference bits, lifetimes", () => {
  const ra: RouterAdvertisement = {
    curHopLimit: 64,
    managed: true,
    otherConfig: false,
    homeAgent: false,
    preference: "low",
    proxy: false,
    routerLifetime: 1800,
    reachableTime: 30000,
    retransTimer: 1000,
    options: [{ type: "mtu", mtu: 1500 }],
  };
  const b = encodeRouterAdvertisement(ra);
  // type 134, code 0, checksum 0 (the kernel fills it), hop 64, M + Prf 11 = 0x80 | 0x18
  assert.equal(toHex(b.subarray(0, 16)), "86000000" + "4098" + "0708" + "00007530" + "000003e8");
  assert.deepEqual(decodeRouterAdvertisement(b), { ok: true, value: ra });
});

test("RFC 4861 §4.6: an option of length 0 or running past the end discards the message", () => {
  const base = encodeRouterAdvertisement({
    curHopLimit: 0,
    managed: false,
    otherConfig: false,
    homeAgent: false,
    preference: "medium",
    proxy: false,
    routerLifetime: 0,
    reachableTime: 0,
    retransTimer: 0,
    options: [{ type: "mtu", mtu: 1500 }],
  });
  const zero = base.slice();
  zero[17] = 0;
  const r1 = decodeRouterAdvertisement(zero);
  assert.equal(r1.ok, false);
  assert.match(!r1.ok ? r1.error : "", /length 0/);
  const long = base.slice();
  long[17] = 2;
  assert.equal(decodeRouterAdvertisement(long).ok, false);
  assert.equal(decodeRouterAdvertisement(base.subarray(0, 15)).ok, false);
  assert.equal(decodeRouterSolicitation(fromHex("8500000000000000")).ok, true);
  assert.equal(decodeRouterSolicitation(fromHex("85000000000000")).ok, false);
});

test("malformed option contents decode to 'invalid' with the rest of the message kept", () => {
  // RDNSS with an even length, then a good MTU option
  const opts = fromHex("19020000000007080000000000000000" + "0501000000000578");
  const d = decodeOptions(opts);
  assert.ok(d.ok);
  assert.equal(d.value[0]!.type, "invalid");
  assert.deepEqual(d.value[1], { type: "mtu", mtu: 1400 });
  // DNSSL with a compression pointer
  const c = decodeOptions(fromHex("1f02000000000708c00c000000000000"));
  assert.ok(c.ok && c.value[0]!.type === "invalid");
  // RIO /96 with Length 2
  const r = decodeOptions(fromHex("1802600800000708" + "20010db800640000"));
  assert.ok(r.ok && r.value[0]!.type === "invalid");
});

// ---- fuzzing

const addr = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const pref = fc.constantFrom("high", "medium", "low", "reserved" as const);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));

const option: fc.Arbitrary<NdOption> = fc.oneof(
  fc.uint8Array({ minLength: 6, maxLength: 6 }).map((m) => ({
    type: "sourceLinkAddress" as const,
    address: Array.from(m, (x) => x.toString(16).padStart(2, "0")).join(":"),
  })),
  u32.map((mtu) => ({ type: "mtu" as const, mtu })),
  fc
    .record({
      a: addr,
      len: fc.integer({ min: 0, max: 128 }),
      l: fc.boolean(),
      au: fc.boolean(),
      r: fc.boolean(),
      v: u32,
      p: u32,
    })
    .map((x) => ({
      type: "prefixInformation" as const,
      prefix: format(6, x.a & maskOf(6, x.len)),
      prefixLength: x.len,
      onLink: x.l,
      autonomous: x.au,
      routerAddress: x.r,
      validLifetime: x.v,
      preferredLifetime: x.p,
    })),
  fc.record({ a: addr, len: fc.integer({ min: 0, max: 128 }), p: pref, l: u32 }).map((x) => ({
    type: "routeInformation" as const,
    prefix: format(6, x.a & maskOf(6, x.len)),
    prefixLength: x.len,
    preference: x.p,
    lifetime: x.l,
  })),
  fc
    .record({ l: u32, s: fc.array(addr, { minLength: 1, maxLength: 5 }) })
    .map((x) => ({ type: "rdnss" as const, lifetime: x.l, servers: x.s.map((a) => format(6, a)) })),
  fc
    .record({ l: u32, d: fc.array(domain, { minLength: 1, maxLength: 4 }) })
    .map((x) => ({ type: "dnssl" as const, lifetime: x.l, domains: x.d })),
  fc
    .record({ a: addr, len: fc.constantFrom(...PREF64_PLC_LENGTHS), l: fc.integer({ min: 0, max: 8191 }) })
    .map((x) => ({
      type: "pref64" as const,
      prefix: format(6, x.a & maskOf(6, x.len)),
      prefixLength: x.len,
      lifetime: x.l * 8,
    })),
  fc.webUrl().map((uri) => ({ type: "captivePortal" as const, uri })),
);

const ra: fc.Arbitrary<RouterAdvertisement> = fc.record({
  curHopLimit: fc.integer({ min: 0, max: 255 }),
  managed: fc.boolean(),
  otherConfig: fc.boolean(),
  homeAgent: fc.boolean(),
  preference: pref,
  proxy: fc.boolean(),
  routerLifetime: fc.integer({ min: 0, max: 65535 }),
  reachableTime: u32,
  retransTimer: u32,
  options: fc.array(option, { maxLength: 8 }),
});

test("fuzz: encode → decode gives back the advertisement", () => {
  fc.assert(
    fc.property(ra, (x) => {
      // fc.record builds null-prototype objects; compare as plain ones
      assert.deepEqual(decodeRouterAdvertisement(encodeRouterAdvertisement(x)), {
        ok: true,
        value: { ...x },
      });
    }),
    { numRuns: 2000 },
  );
});

test("fuzz: the decoders never throw on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      const withType = b.slice();
      if (withType.length > 0) withType[0] = 134;
      decodeRouterAdvertisement(b);
      decodeRouterAdvertisement(withType);
      decodeRouterSolicitation(b);
      decodeOptions(b);
    }),
    { numRuns: 5000 },
  );
});

test("fuzz: mutated valid advertisements never throw, and decoded ones encode again", () => {
  fc.assert(
    fc.property(
      ra,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      (x, flips) => {
        const b = encodeRouterAdvertisement(x);
        for (const [i, v] of flips) if (b.length > 0) b[i % b.length] = v;
        const d = decodeRouterAdvertisement(b);
        // whatever decodes must be representable again (invalid and unknown options carry their bytes)
        if (d.ok) encodeRouterAdvertisement(d.value);
      },
    ),
    { numRuns: 3000 },
  );
});

test("RS round trip with a source link-layer address", () => {
  const rs = { options: [{ type: "sourceLinkAddress" as const, address: "02:00:00:00:00:01" }] };
  assert.deepEqual(decodeRouterSolicitation(encodeRouterSolicitation(rs)), { ok: true, value: rs });
});

// ---- tshark as an independent decoder of our encoder's bytes (no namespace needed)

function checksum16(parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += ((p[i] ?? 0) << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A pcap (Ethernet) of RAs from fe80::1 to ff02::1, ICMPv6 checksum computed as the kernel would. */
function pcapOf(messages: Uint8Array[]): Uint8Array {
  const src = ipv6Bytes("fe80::1");
  const dst = ipv6Bytes("ff02::1");
  const chunks: Uint8Array[] = [];
  const header = new Uint8Array(24);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, 0xa1b2c3d4, true);
  hv.setUint16(4, 2, true);
  hv.setUint16(6, 4, true);
  hv.setUint32(16, 65535, true);
  hv.setUint32(20, 1, true); // LINKTYPE_ETHERNET
  chunks.push(header);
  for (const m of messages) {
    const icmp = m.slice();
    const pseudo = new Uint8Array(40);
    pseudo.set(src, 0);
    pseudo.set(dst, 16);
    new DataView(pseudo.buffer).setUint32(32, icmp.length);
    pseudo[39] = 58;
    new DataView(icmp.buffer).setUint16(2, checksum16([pseudo, icmp]));
    const frame = new Uint8Array(14 + 40 + icmp.length);
    frame.set([0x33, 0x33, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd], 0);
    const ip = new DataView(frame.buffer, 14, 40);
    ip.setUint32(0, 0x60000000);
    ip.setUint16(4, icmp.length);
    ip.setUint8(6, 58);
    ip.setUint8(7, 255);
    frame.set(src, 14 + 8);
    frame.set(dst, 14 + 24);
    frame.set(icmp, 54);
    const rec = new Uint8Array(16);
    const rv = new DataView(rec.buffer);
    rv.setUint32(8, frame.length, true);
    rv.setUint32(12, frame.length, true);
    chunks.push(rec, frame);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

test("tshark decodes our PREF64 option for all six prefix lengths (RFC 8781 §4)", (t) => {
  if (spawnSync("sh", ["-c", "command -v tshark"]).status !== 0) return t.skip("tshark is not installed");
  const cases = PREF64_PLC_LENGTHS.map((len, i) => {
    const prefix = format(
      6,
      ((0x20010db8n << 96n) | (0x1122334455667788n << 24n)) & maskOf(6, len) & ~(0xffn << 56n),
    );
    return { len, prefix, lifetime: 8 * (100 + i), plc: i };
  });
  const messages = cases.map((c) =>
    encodeRouterAdvertisement({
      curHopLimit: 64,
      managed: false,
      otherConfig: false,
      homeAgent: false,
      preference: "medium",
      proxy: false,
      routerLifetime: 0,
      reachableTime: 0,
      retransTimer: 0,
      options: [{ type: "pref64", prefix: c.prefix, prefixLength: c.len, lifetime: c.lifetime }],
    }),
  );
  const dir = mkdtempSync(join(tmpdir(), "v6m-ra-pcap-"));
  try {
    const file = join(dir, "pref64.pcap");
    writeFileSync(file, pcapOf(messages));
    const fields = [
      "icmpv6.checksum.status",
      "icmpv6.opt.pref64.scaled_lifetime",
      "icmpv6.opt.pref64.plc",
      "icmpv6.opt.pref64.prefix",
    ];
    const r = spawnSync("tshark", ["-n", "-r", file, "-T", "fields", ...fields.flatMap((f) => ["-e", f])], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    assert.equal(rows.length, 6);
    cases.forEach((c, i) => {
      assert.deepEqual(
        rows[i],
        ["1", String(c.lifetime / 8), `0x${c.plc.toString(16).padStart(4, "0")}`, c.prefix],
        `/${c.len}`,
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
