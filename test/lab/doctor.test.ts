// The doctor's judgement (pure) and its prefix arithmetic: plain-words findings for the seed's
// problems, fuzzed parsers.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { diagnose, exitCode, type Facts, render } from "../../src/doctor/diagnose.ts";
import { parseClatd, parseTayga } from "../../src/doctor/facts.ts";
import { embed, extract, prefixesFromIpv4onlyArpa, within } from "../../src/doctor/pref64.ts";

const P = "fd00:ff9b::/96";

/** a healthy IPv6-mostly client: RA with PREF64, DNS64, option 108, NAT64 reachable */
function healthy(): Facts {
  return {
    interface: "eth0",
    ra: {
      adverts: [
        {
          router: "fe80::1",
          routerLifetime: 1800,
          pref64: [{ prefix: P, lifetime: 32 }],
          rdnss: ["fd00:64:1::1"],
          prefixes: ["fd00:64:1::/64"],
        },
      ],
      waitedMs: 700,
    },
    dns: { server: "fd00:64:1::1", source: "--dns" },
    ipv4onlyArpa: { aaaa: ["fd00:ff9b::c000:aa", "fd00:ff9b::c000:ab"], rcode: "NOERROR" },
    v4name: { name: "v4only.lab.example", a: ["203.0.113.10"], aaaa: ["fd00:ff9b::cb00:710a"] },
    dhcp: { offered: true, option108: 1800, server: "192.0.2.1", offer: "192.0.2.100" },
    reach: [{ what: "IPv4 literal", target: "[fd00:ff9b::cb00:710a]:80", ok: true }],
    ownIpv6: ["fd00:64:1:0:64:ff:fe00:3"],
  };
}

test("a healthy network: no problem, exit 0", () => {
  const f = diagnose(healthy());
  assert.deepEqual(
    f.filter((x) => x.severity !== "ok"),
    [],
  );
  assert.equal(exitCode(f), 0);
  assert.match(render(healthy(), f), /No problem found/);
});

test("the seed author's clatd problem: TAYGA without ipv6-addr sources from fd00:ff9b::c000:2, inside the NAT64 prefix", () => {
  const clat = parseTayga(
    "tun-device clat\nipv4-addr 192.0.0.2\nprefix fd00:ff9b::/96\nmap 192.0.0.1 fd00:64:1::c1a7\n",
    "TAYGA /etc/tayga.conf",
  );
  assert.equal(clat.ownIpv6, "fd00:ff9b::c000:2");
  const f = diagnose({ ...healthy(), clat });
  const bad = f.find((x) => x.check === "CLAT source address")!;
  assert.equal(bad.severity, "fail");
  assert.match(bad.detail, /your CLAT's source fd00:ff9b::c000:2 is inside the NAT64 prefix fd00:ff9b::\/96/);
  assert.match(bad.advice ?? "", /translators drop such sources/);
  assert.match(bad.advice ?? "", /clatd problem/);
  assert.match(bad.advice ?? "", /ipv6-addr is not set/);
  assert.equal(exitCode(f), 1);
  // with ipv6-addr set in the LAN, the same CLAT is fine
  const fixed = parseTayga(
    "ipv4-addr 192.0.0.2\nipv6-addr fd00:64:1::c1a8\nprefix fd00:ff9b::/96\nmap 192.0.0.1 fd00:64:1::c1a7\n",
    "t",
  );
  assert.equal(
    diagnose({ ...healthy(), clat: fixed }).find((x) => x.check === "CLAT source address")!.severity,
    "ok",
  );
});

test("clatd with clat-v6-addr inside the prefix; a CLAT translating to another prefix", () => {
  const c = parseClatd("clat-v6-addr=fd00:ff9b::1:2\nplat-prefix=fd00:ff9b::/96\n", "clatd /etc/clatd.conf");
  const f = diagnose({ ...healthy(), clat: c }).find((x) => x.check === "CLAT source address")!;
  assert.equal(f.severity, "fail");
  assert.match(f.advice ?? "", /clat-v6-addr/);
  const other = parseTayga(
    "ipv4-addr 192.0.0.2\nipv6-addr fd00:64:1::c1a8\nprefix 64:ff9b::/96\nmap 192.0.0.1 fd00:64:1::c1a7\n",
    "t",
  );
  const g = diagnose({ ...healthy(), clat: other }).find((x) => x.check === "CLAT prefix")!;
  assert.equal(g.severity, "fail");
  assert.match(g.detail, /translates to 64:ff9b::\/96 but the network's NAT64 prefix is fd00:ff9b::\/96/);
});

test("no DNS64: ipv4only.arpa without AAAA and an A-only name without AAAA are named with the server", () => {
  const f = diagnose({
    ...healthy(),
    dns: { server: "2001:db8:53::53", source: "--dns" },
    ipv4onlyArpa: { aaaa: [], rcode: "REFUSED" },
    v4name: { name: "v4only.lab.example", a: ["203.0.113.10"], aaaa: [] },
  });
  const arpa = f.find((x) => x.check === "DNS64 (ipv4only.arpa)")!;
  assert.equal(arpa.severity, "fail");
  assert.match(arpa.advice ?? "", /2001:db8:53::53 .* does not do DNS64/);
  assert.equal(f.find((x) => x.check.startsWith("DNS64 synthesis"))!.severity, "fail");
});

test("the RA and DNS64 disagree on the prefix; an RA without PREF64; no option 108", () => {
  const f = diagnose({ ...healthy(), ipv4onlyArpa: { aaaa: ["64:ff9b::c000:aa"], rcode: "NOERROR" } });
  assert.equal(f.find((x) => x.check === "PREF64 agreement")!.severity, "fail");
  const h = healthy();
  h.ra!.adverts[0]!.pref64 = [];
  const g = diagnose(h);
  assert.equal(g.find((x) => x.check === "RA PREF64")!.severity, "warn");
  // the doctor still goes on with the RFC 7050 prefix
  assert.equal(g.find((x) => x.check.startsWith("DNS64 synthesis"))!.severity, "ok");
  const d = diagnose({ ...healthy(), dhcp: { offered: true, server: "192.0.2.1", offer: "192.0.2.100" } });
  assert.match(
    d.find((x) => x.check === "DHCPv4 option 108")!.advice ?? "",
    /does not send IPv6-Only Preferred/,
  );
  const r = diagnose({ ...healthy(), dhcp: { offered: false, needsRoot: true, error: "needs root" } });
  assert.equal(r.find((x) => x.check === "DHCPv4 option 108")!.severity, "info");
});

test("unreachable through the NAT64: the advice names the prefix and the source", () => {
  const f = diagnose({
    ...healthy(),
    reach: [{ what: "IPv4 literal", target: "[fd00:ff9b::cb00:710a]:80", ok: false, error: "ETIMEDOUT" }],
  });
  const r = f.find((x) => x.check === "reach IPv4 literal")!;
  assert.equal(r.severity, "fail");
  assert.match(r.advice ?? "", /fd00:ff9b::\/96/);
  assert.match(r.advice ?? "", /fd00:64:1:0:64:ff:fe00:3/);
});

test("RFC 6052 embed/extract round trip at every prefix length; RFC 7050 finds the prefix back", () => {
  const lengths = [32, 40, 48, 56, 64, 96];
  fc.assert(
    fc.property(fc.constantFrom(...lengths), fc.integer({ min: 0, max: 0xffffffff }), (len, n) => {
      const prefix = `2001:db8:100::/${len}`;
      const v4 = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
      const v6 = embed(prefix, v4)!;
      assert.equal(extract(prefix, v6), v4);
      assert.ok(within(prefix, v6));
      const wka = embed(prefix, "192.0.0.170")!;
      assert.deepEqual(prefixesFromIpv4onlyArpa([wka]), [
        prefix.replace("2001:db8:100::", len === 32 ? "2001:db8::" : "2001:db8:100::"),
      ]);
    }),
  );
  // RFC 6052 §2.4 example
  assert.equal(embed("2001:db8:100::/40", "192.0.2.33"), "2001:db8:1c0:2:21::");
});

test("the parsers never throw on arbitrary text", () => {
  fc.assert(
    fc.property(fc.array(fc.string()), fc.string(), (aaaa, text) => {
      prefixesFromIpv4onlyArpa(aaaa);
      parseTayga(text, "t");
      parseClatd(text, "c");
      extract("fd00:ff9b::/96", text);
      embed(text, text);
    }),
  );
});

test("no interface found: said in words (not 'doctor on ?'); a DNS error names the server once", async () => {
  const f: Facts = {
    ...healthy(),
    interface: undefined,
    ipv4onlyArpa: { aaaa: [], rcode: "ERROR", error: "network unreachable (ENETUNREACH)" },
  };
  const text = render(f, diagnose(f));
  assert.match(text, /^v6mostly doctor: no interface to check \(no IPv6 default route/);
  assert.doesNotMatch(text, /\?/);
  const line = text.split("\n").find((l) => l.includes("ENETUNREACH"))!;
  assert.equal(line.split("fd00:64:1::1").length - 1, 1, line);
  // the query itself never puts the server into its error (the caller names it once)
  const { query } = await import("../../src/doctor/dns.ts");
  const r = await query("127.0.0.1", "ipv4only.arpa", "AAAA", 300);
  assert.ok(r.error === undefined || !r.error.includes("127.0.0.1"), r.error);
});
