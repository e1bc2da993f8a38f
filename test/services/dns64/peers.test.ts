// v6mostly's DNS64 diffed against BIND 9.18 (`dns64`) and Unbound 1.17 (`module-config: "dns64
// validator iterator"`), all three forwarding to one authoritative BIND serving the zones in ./lab.ts,
// for every RFC 6052 prefix length, over UDP, TCP and IPv6.
//
// Where BIND and Unbound disagree, the case says which one we match and why (the RFC decides).
// Issue 17's edge cases (compareEdge) print what each of the three answers and whether it keeps the
// RFC's rule; v6mostly must, the peers' deviations are printed (and listed in the module README).
// Compared: RCODE, TC and the answer section (names, types, data); TTLs where stated. Not compared:
// authority/additional sections (BIND adds NS records, minimal-responses differ) and the AD bit
// (the peers validate with a trust anchor; v6mostly forwards to a validating upstream in production,
// here straight to the authoritative server, which never sets AD).

import assert from "node:assert/strict";
import { test } from "node:test";
import type dnsPacket from "dns-packet";
import type { Dns64Assignment } from "../../../src/planner/plan.ts";
import { type Dns64Service, startDns64 } from "../../../src/services/dns64/index.ts";
import { createLogger } from "../../../src/util/log.ts";
import { dns64Assignment } from "../../support/assignments.ts";
import { type AskOptions, askServer, essence } from "./client.ts";
import { type Decoded, expand6, soa as soaRecord } from "./helpers.ts";
import { BIG, EXCLUDED, FITS, type Lab, MANY, missingTools, names, portBase, startLab } from "./lab.ts";
import { scriptedUpstream } from "./upstream.ts";

const PREFIXES = [
  "2001:db8::/32",
  "2001:db8:100::/40",
  "2001:db8:122::/48",
  "2001:db8:122:300::/56",
  "2001:db8:122:344::/64",
  "64:ff9b::/96",
];

type Match = "both" | "bind" | "unbound";
interface Case {
  name: string;
  type: dnsPacket.RecordType;
  opts?: AskOptions;
  match: Match;
  /** why we side with one peer */
  why?: string;
}

const CASES: Case[] = [
  { name: names.aOnly, type: "AAAA", match: "both" },
  { name: names.aOnly, type: "A", match: "both" },
  { name: names.dual, type: "AAAA", match: "both" },
  {
    name: names.mapped,
    type: "AAAA",
    match: "bind",
    why: "RFC 6147 §5.1.4: ::ffff:0:0/96 is excluded by default; Unbound has no default exclusion",
  },
  {
    name: names.mixed,
    type: "AAAA",
    match: "bind",
    why: "§5.1.4: the excluded AAAA is removed, the usable one kept; Unbound returns both",
  },
  { name: names.cname, type: "AAAA", match: "both" },
  { name: names.cname2, type: "AAAA", match: "both" },
  { name: names.cnameDual, type: "AAAA", match: "both" },
  { name: names.cnameNx, type: "AAAA", match: "both" },
  { name: names.nodata, type: "AAAA", match: "both" },
  { name: names.nodata, type: "TXT", match: "both" },
  { name: names.nx, type: "AAAA", match: "both" },
  { name: names.many, type: "AAAA", match: "both" },
  { name: names.big, type: "AAAA", match: "both" },
  { name: names.big, type: "AAAA", opts: { tcp: true }, match: "both" },
  { name: names.cname2, type: "AAAA", opts: { tcp: true }, match: "both" },
  { name: names.broken, type: "AAAA", match: "both" },
  { name: names.signedA, type: "AAAA", match: "both" },
  { name: names.signedDual, type: "AAAA", opts: { do: true }, match: "both" },
  {
    name: names.signedA,
    type: "AAAA",
    opts: { do: true },
    match: "unbound",
    why: "RFC 6147 §5.5 (2): DO without CD: validate, then synthesize; BIND's default break-dnssec no skips synthesis",
  },
  { name: names.signedA, type: "AAAA", opts: { do: true, cd: true }, match: "both" },
  {
    name: names.signedA,
    type: "AAAA",
    opts: { cd: true },
    match: "bind",
    why: "§5.5: only DO+CD turns synthesis off; a client without DO cannot validate and needs the AAAA. Unbound skips synthesis on CD",
  },
];

function hexOf(addr: string): string {
  return expand6(addr)
    .split(":")
    .map((g) => g.padStart(4, "0"))
    .join("");
}

/** RFC 6052 §2.2 table, written out independently of src/: where the IPv4 bytes sit per length. */
const V4_BYTES: Record<number, number[]> = {
  32: [4, 5, 6, 7],
  40: [5, 6, 7, 9],
  48: [6, 7, 9, 10],
  56: [7, 9, 10, 11],
  64: [9, 10, 11, 12],
  96: [12, 13, 14, 15],
};

function extractV4(addr: string, len: number): string {
  const hex = hexOf(addr);
  return V4_BYTES[len]!.map((i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)).join(".");
}

/** ip6.arpa name of an IPv6 address given as text. */
function ip6arpa(addr: string): string {
  const hex = expand6(addr)
    .split(":")
    .map((g) => g.padStart(4, "0"))
    .join("");
  return `${hex.split("").reverse().join(".")}.ip6.arpa`;
}

/** The ip6.arpa zone of a PREF64 given as text ("64:ff9b::/96"), apex first label first. */
function reverseZoneText(prefix: string): string {
  const [addr, len] = prefix.split("/");
  const nibbles = hexOf(addr!).slice(0, Number(len) / 4);
  return `${nibbles.split("").reverse().join(".")}.ip6.arpa`;
}

/** One case of issue 17's DNS64 edge cases: the RFC's rule and a check of an answer against it. */
interface Edge {
  label: string;
  rule: string;
  keeps: (p: Decoded) => boolean;
}

/** An answer in one line: RCODE, TC, the answer records (or their count), the authority types. */
function oneLine(p: Decoded | undefined): string {
  if (!p) return "no answer";
  const an = p.answers.filter((r) => r.type !== "RRSIG");
  const records =
    an.length > 3
      ? `${an.length} ${an[0]!.type}`
      : an.map((r) => `${r.type} ${typeof r.data === "string" ? r.data : ""}`.trim()).join(", ");
  const ns = [...new Set(p.authorities.map((r) => r.type))].join("+");
  return `${p.rcode}${p.flag_tc ? " TC" : ""} ${records || "(no answer)"}${ns ? ` [authority ${ns}]` : ""}`;
}

/**
 * Asks v6mostly, BIND and Unbound the same question, prints what each answered and whether that
 * keeps the RFC's rule (a peer that does not is named as deviating), and asserts that v6mostly does.
 */
async function compareEdge(
  lab: Lab,
  ours: number,
  e: Edge,
  ask: (host: string, port: number) => Promise<Decoded>,
): Promise<void> {
  const orNone = (p: Promise<Decoded>) => p.catch(() => undefined);
  const [o, b, u] = await Promise.all([
    orNone(ask("127.0.0.1", ours)),
    orNone(ask(lab.bind64!.host, lab.bind64!.port)),
    orNone(ask(lab.unbound64!.host, lab.unbound64!.port)),
  ]);
  const verdict = (p: Decoded | undefined) => (p && e.keeps(p) ? "keeps the rule" : "DEVIATES from the RFC");
  console.log(
    `issue 17 edge: ${e.label} — RFC: ${e.rule}\n  BIND 9.18: ${oneLine(b)} (${verdict(b)})\n  Unbound:   ${oneLine(u)} (${verdict(u)})\n  v6mostly:  ${oneLine(o)} (${verdict(o)})`,
  );
  assert.ok(o && e.keeps(o), `${e.label}: v6mostly answered ${oneLine(o)}; RFC: ${e.rule}`);
}

/** NOERROR, no AAAA, and an SOA so that the client can cache it (RFC 2308 §3) */
const nodata = (p: Decoded) =>
  p.rcode === "NOERROR" &&
  !p.flag_tc &&
  !p.answers.some((r) => r.type === "AAAA") &&
  p.authorities.some((r) => r.type === "SOA");

function assignment(prefix: string, port: number, upstreams: string[]): Dns64Assignment {
  return dns64Assignment(
    {
      listen: [`127.0.0.1:${port}`, `[::1]:${port}`],
      prefix,
      upstreams,
      alwaysSynthesize: false,
      exclude: ["::ffff:0:0/96", EXCLUDED],
      allowClients: ["127.0.0.0/8", "::1/128"],
      nodeSelector: {},
    },
    "test",
  );
}

const log = createLogger("dns64-test", { level: "warn" });

async function withLab(
  prefix: string,
  fn: (lab: Lab, ours: number, svc: Dns64Service) => Promise<void>,
): Promise<void> {
  const lab = await startLab({ prefix });
  const port = portBase() + 5;
  let svc: Dns64Service | undefined;
  try {
    svc = await startDns64(
      assignment(prefix, port, [`127.0.0.1:${lab.auth.port}`]),
      { log, stateDir: lab.dir },
      { rateLimit: 0 },
    );
    await fn(lab, port, svc);
  } finally {
    await svc?.stop();
    await lab.stop();
  }
}

for (const prefix of PREFIXES) {
  test(`diff against BIND and Unbound, PREF64 ${prefix}`, async (t) => {
    const missing = missingTools();
    if (missing) {
      t.skip(missing);
      return;
    }
    await withLab(prefix, async (lab, ours, svc) => {
      const bind = lab.bind64!;
      const unbound = lab.unbound64!;
      for (const c of CASES) {
        const label = `${c.name} ${c.type}${c.opts?.tcp ? " tcp" : ""}${c.opts?.do ? " +do" : ""}${c.opts?.cd ? " +cd" : ""}`;
        const [o, b, u] = await Promise.all([
          askServer("127.0.0.1", ours, c.name, c.type, c.opts),
          askServer(bind.host, bind.port, c.name, c.type, c.opts),
          askServer(unbound.host, unbound.port, c.name, c.type, c.opts),
        ]);
        const [eo, eb, eu] = [essence(o), essence(b), essence(u)];
        if (c.match !== "unbound")
          assert.deepEqual(eo, eb, `${label}: v6mostly vs BIND${c.why ? ` (${c.why})` : ""}`);
        if (c.match !== "bind")
          assert.deepEqual(eo, eu, `${label}: v6mostly vs Unbound${c.why ? ` (${c.why})` : ""}`);
        if (c.match !== "both")
          assert.notDeepEqual(eb, eu, `${label}: the peers were expected to disagree here`);
      }

      // issue 17, DNS64 (RFC 6147) edge cases: what each server answers, against the RFC
      const edges: [Edge, string, dnsPacket.RecordType, AskOptions?][] = [
        [
          {
            label: `${names.mappedOnly} AAAA (only ::ffff:192.0.2.5, no A)`,
            rule: "§5.1.4: an AAAA in ::ffff:0:0/96 is never returned; with no A either, NODATA (with the SOA, RFC 2308 §3)",
            keeps: nodata,
          },
          names.mappedOnly,
          "AAAA",
        ],
        [
          {
            label: `${names.excludedOnly} AAAA (only an AAAA in the configured ${EXCLUDED}, no A)`,
            rule: "§5.1.4: an AAAA in a configured excluded range is never returned; with no A either, NODATA (with the SOA, RFC 2308 §3)",
            keeps: nodata,
          },
          names.excludedOnly,
          "AAAA",
        ],
        [
          {
            label: `${names.fits} AAAA over UDP, EDNS 1232 (${FITS} synthesized records)`,
            rule: "RFC 6891 §6.2.5: an answer that fits the requestor's payload size is sent whole",
            keeps: (p) => !p.flag_tc && p.answers.filter((r) => r.type === "AAAA").length === FITS,
          },
          names.fits,
          "AAAA",
        ],
        [
          {
            label: `${names.big} AAAA over UDP, EDNS 1232 (${BIG} synthesized records)`,
            rule: "RFC 6891 §7, RFC 2181 §9: an answer that does not fit sets TC (the client retries over TCP)",
            keeps: (p) => p.flag_tc,
          },
          names.big,
          "AAAA",
        ],
      ];
      for (const [e, name, type, opts] of edges)
        await compareEdge(lab, ours, e, (h, p) => askServer(h, p, name, type, opts));

      // the answers really are synthesized with this prefix, every A record of the zone
      const many = await askServer("127.0.0.1", ours, names.many, "AAAA");
      assert.equal(many.answers.length, MANY);
      const big = await askServer("127.0.0.1", ours, names.big, "AAAA", { tcp: true });
      assert.equal(big.answers.length, BIG);
      const udpBig = await askServer("127.0.0.1", ours, names.big, "AAAA");
      assert.ok(udpBig.flag_tc, "too big for UDP: TC set so the client retries over TCP");

      // §5.1.7 TTL: min(A TTL 300, negative TTL of the AAAA answer 120), as BIND; Unbound keeps 300
      const fresh = `a-only.v6m.example`;
      const [ttlOurs, ttlBind] = await Promise.all([
        askServer("127.0.0.1", ours, fresh, "AAAA", { tcp: true }),
        askServer(bind.host, bind.port, fresh, "AAAA", { tcp: true }),
      ]);
      assert.ok(
        Math.abs(ttlOurs.answers[0]!.ttl - ttlBind.answers[0]!.ttl) <= 2,
        `TTL ${ttlOurs.answers[0]!.ttl} vs BIND ${ttlBind.answers[0]!.ttl}`,
      );
      assert.ok(ttlOurs.answers[0]!.ttl <= 120);

      // IPv6 listener
      const v6 = await askServer("::1", ours, names.aOnly, "AAAA");
      assert.deepEqual(essence(v6), essence(await askServer("127.0.0.1", ours, names.aOnly, "AAAA")));

      // §5.3.1 PTR for the synthesized address of a-only (taken from BIND's answer, not from our code).
      // BIND answers with a CNAME to the in-addr.arpa name plus its PTR; Unbound re-owns the PTR
      // record under the ip6.arpa name. Both are allowed; we answer as Unbound does (a stub gets
      // the PTR it asked for without following a CNAME).
      const synthesized = (await askServer(bind.host, bind.port, names.aOnly, "AAAA")).answers[0]!
        .data as string;
      const ptrName = ip6arpa(synthesized);
      const [po, pb, pu] = await Promise.all([
        askServer("127.0.0.1", ours, ptrName, "PTR"),
        askServer(bind.host, bind.port, ptrName, "PTR"),
        askServer(unbound.host, unbound.port, ptrName, "PTR"),
      ]);
      assert.deepEqual(essence(po), essence(pu), "PTR: v6mostly vs Unbound");
      assert.deepEqual(
        po.answers.map((r) => r.data),
        pb.answers.filter((r) => r.type === "PTR").map((r) => r.data),
        "PTR target as BIND's",
      );
      assert.equal(po.answers[0]!.data, names.aOnly);
      // §5.3.1 a name of the zone with fewer nibbles: the synthesized address's name without the
      // 8 nibbles of its last 32 bits (for /96 that is the zone's apex)
      const zone = reverseZoneText(prefix);
      const partial = ptrName.split(".").slice(8).join(".");
      await compareEdge(
        lab,
        ours,
        {
          label: `${partial} PTR (${32 - 8} of 32 nibbles, zone ${zone})`,
          rule: "§5.3.1: a name of the PREF64's reverse zone that is not a whole address: NOERROR/NODATA with the zone's SOA in the authority section",
          keeps: (p) =>
            p.rcode === "NOERROR" &&
            p.answers.length === 0 &&
            p.authorities.some((r) => r.type === "SOA" && r.name.toLowerCase() === zone),
        },
        (h, p) => askServer(h, p, partial, "PTR"),
      );

      // RFC 8880 + RFC 7050 §3: a node finds the prefix from the ipv4only.arpa AAAA answer
      const wka = await askServer("127.0.0.1", ours, "ipv4only.arpa", "AAAA");
      assert.equal(wka.answers.length, 2);
      const len = Number(prefix.split("/")[1]);
      const found = wka.answers.map((r) => extractV4(r.data as string, len)).sort();
      assert.deepEqual(found, ["192.0.0.170", "192.0.0.171"], `RFC 7050 discovery at /${len}`);
      for (const r of wka.answers)
        assert.equal(hexOf(r.data).slice(0, len / 4), hexOf(prefix.split("/")[0]!).slice(0, len / 4));
      const s = svc.stats();
      assert.ok(
        s.synthesized! > 0 && s.ptrSynthesized! > 0 && s.ipv4only! > 0 && s.upstreamTcp! > 0,
        JSON.stringify(s),
      );
    });
  });
}

test("upstream failures: a dead first upstream fails over; all dead → SERVFAIL", async (t) => {
  const missing = missingTools();
  if (missing) {
    t.skip(missing);
    return;
  }
  const lab = await startLab({ prefix: "64:ff9b::/96", peers: false });
  const dead = `127.0.0.1:${portBase() + 9}`; // nothing listens there
  const port = portBase() + 6;
  const fast = { upstream: { timeoutMs: 300, tcpTimeoutMs: 600, rounds: 2 }, rateLimit: 0 };
  let svc: Dns64Service | undefined;
  let svcDead: Dns64Service | undefined;
  try {
    svc = await startDns64(
      assignment("64:ff9b::/96", port, [dead, `127.0.0.1:${lab.auth.port}`]),
      { log, stateDir: lab.dir },
      fast,
    );
    const r = await askServer("127.0.0.1", port, names.aOnly, "AAAA");
    assert.equal(r.rcode, "NOERROR");
    assert.deepEqual(
      r.answers.map((x) => expand6(x.data)),
      [expand6("64:ff9b::192.0.2.1")],
    );
    assert.ok(svc.stats().upstreamFailovers! >= 1, "the dead upstream was skipped");
    svcDead = await startDns64(
      assignment("64:ff9b::/96", port + 1, [dead]),
      { log, stateDir: lab.dir },
      fast,
    );
    const f = await askServer("127.0.0.1", port + 1, names.dual, "AAAA");
    assert.equal(f.rcode, "SERVFAIL");
    assert.ok(svcDead.stats().upstreamFailures! >= 1);
  } finally {
    await svc?.stop();
    await svcDead?.stop();
    await lab.stop();
  }
});

test("alwaysSynthesize against BIND (exclude { ::/0; }) and Unbound (dns64-synthall: yes)", async (t) => {
  const missing = missingTools();
  if (missing) {
    t.skip(missing);
    return;
  }
  const prefix = "64:ff9b::/96";
  const lab = await startLab({ prefix, synthAll: true });
  const port = portBase() + 5;
  const a = assignment(prefix, port, [`127.0.0.1:${lab.auth.port}`]);
  a.spec.alwaysSynthesize = true;
  let svc: Dns64Service | undefined;
  try {
    svc = await startDns64(a, { log, stateDir: lab.dir }, { rateLimit: 0 });
    for (const name of [names.dual, names.mixed, names.aOnly, names.cnameDual, names.nodata]) {
      const [o, b, u] = await Promise.all([
        askServer("127.0.0.1", port, name, "AAAA"),
        askServer(lab.bind64!.host, lab.bind64!.port, name, "AAAA"),
        askServer(lab.unbound64!.host, lab.unbound64!.port, name, "AAAA"),
      ]);
      assert.deepEqual(essence(o), essence(b), `${name}: v6mostly vs BIND`);
      assert.deepEqual(essence(o), essence(u), `${name}: v6mostly vs Unbound`);
    }
    const dual = await askServer("127.0.0.1", port, names.dual, "AAAA");
    assert.deepEqual(
      dual.answers.map((r) => expand6(r.data)),
      [expand6("64:ff9b::192.0.2.2")],
      "the real AAAA is replaced",
    );
  } finally {
    await svc?.stop();
    await lab.stop();
  }
});

test("AAAA NODATA then a failing A query, against BIND and Unbound (issue 17)", async (t) => {
  const missing = missingTools();
  if (missing) {
    t.skip(missing);
    return;
  }
  // no zone answers NODATA to AAAA and fails the A query of the same name: a scripted upstream does,
  // for all three resolvers
  const zone = "edge.example";
  const soa = soaRecord(zone, 300, 60);
  const upPort = portBase() + 7;
  const up = await scriptedUpstream(upPort, {
    [`a-servfail.${zone} AAAA`]: { authorities: [soa] },
    [`a-servfail.${zone} A`]: { rcode: "SERVFAIL" },
    [`a-nxdomain.${zone} AAAA`]: { authorities: [soa] },
    [`a-nxdomain.${zone} A`]: { rcode: "NXDOMAIN", authorities: [soa] },
  });
  const prefix = "64:ff9b::/96";
  let lab: Lab | undefined;
  let svc: Dns64Service | undefined;
  try {
    lab = await startLab({ prefix, forwardPort: upPort });
    const port = portBase() + 5;
    svc = await startDns64(
      assignment(prefix, port, [`127.0.0.1:${upPort}`]),
      { log, stateDir: lab.dir },
      { rateLimit: 0, upstream: { timeoutMs: 500, tcpTimeoutMs: 1000, rounds: 1 } },
    );
    for (const rcode of ["SERVFAIL", "NXDOMAIN"]) {
      const name = `a-${rcode.toLowerCase()}.${zone}`;
      await compareEdge(
        lab,
        port,
        {
          label: `${name} AAAA (AAAA NODATA, A ${rcode})`,
          rule: `the A query's failure is the answer: ${rcode}, not an empty NOERROR`,
          keeps: (p) => p.rcode === rcode && p.answers.length === 0,
        },
        (h, p) => askServer(h, p, name, "AAAA", { timeoutMs: 8000 }),
      );
    }
    assert.ok(up.asked.includes(`a-servfail.${zone} A`), "the A query reached the scripted upstream");
  } finally {
    await svc?.stop();
    await lab?.stop();
    await up.close();
  }
});
