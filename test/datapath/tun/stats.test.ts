/**
 * The shared counters of a packet worker (tun/stats.ts) and the drop reasons
 * they include: every slot named once, published by name in `/translations`
 * and in at most one metric family, and the names people read.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DROP_NAMES,
  NAT64_DROP_COUNT,
  Nat64Drop,
  nat64DropNames,
} from "../../../src/datapath/nat64/drops.ts";
import { tcpStateName } from "../../../src/datapath/nat64/tcp.ts";
import { Nat64Translator } from "../../../src/datapath/nat64/translator.ts";
import { DROP_REASON_COUNT, DropReason, dropReasonName } from "../../../src/datapath/siit/result.ts";
import {
  counters,
  dropsByName,
  METRICS,
  NAT64_DROP_BASE,
  S,
  SIIT_DROP_BASE,
  STATS_LEN,
  samples,
} from "../../../src/datapath/tun/stats.ts";
import { nat64Config } from "../nat64/packets.ts";

/** A stats array whose slot i holds 1000 + i: every value tells where it was read from. */
function marked(): Float64Array {
  const s = new Float64Array(STATS_LEN);
  for (let i = 0; i < STATS_LEN; i++) s[i] = 1000 + i;
  return s;
}

describe("worker counters (tun/stats.ts)", () => {
  it("counters() gives every counter slot by its name, and S is where the worker writes it", () => {
    const s = marked();
    const c = counters(s);
    const slots = Object.values(c).map((v) => v - 1000);
    assert.deepEqual(slots, [...Array(NAT64_DROP_BASE).keys()], "each counter slot once, in order");
    for (const [name, slot] of Object.entries(S)) assert.equal(c[name as keyof typeof S], 1000 + slot, name);
    // The counters the CLI and the namespace tests read, and the ones that used to be unpublished.
    for (const n of [
      "packets6to4",
      "icmpErrorsSent",
      "gsoPackets",
      "handoffDrops",
      "internalErrors",
      "packetsRead",
    ])
      assert.ok(n in c, n);
  });

  it("the drop slots follow the counters: NAT64's by Nat64Drop, then SIIT's by DropReason", () => {
    const s = marked();
    const d = dropsByName(s);
    assert.equal(d.noState, 1000 + NAT64_DROP_BASE + Nat64Drop.NoState);
    assert.equal(d.synHeld, 1000 + NAT64_DROP_BASE + Nat64Drop.SynHeld);
    assert.equal(d["siit.Truncated"], 1000 + SIIT_DROP_BASE + DropReason.Truncated);
    assert.equal(d["siit.Offload"], 1000 + SIIT_DROP_BASE + DropReason.Offload);
    assert.equal(d["siit.None"], undefined, "None counts no drop");
    assert.equal(Object.keys(d).length, NAT64_DROP_COUNT + DROP_REASON_COUNT - 1);
    assert.equal(STATS_LEN, SIIT_DROP_BASE + DROP_REASON_COUNT);
    assert.equal(new Set(DROP_NAMES).size, DROP_NAMES.length, "names unique");
  });

  it("every slot is in at most one metric family, and every drop and internalErrors in one", () => {
    const seen = new Map<number, string>();
    const names = new Set<string>();
    for (const f of METRICS) {
      assert.match(f.name, /^v6mostly_nat64_[a-z0-9_]+$/);
      assert.ok(!names.has(f.name), `${f.name} twice`);
      names.add(f.name);
      assert.ok(f.members.length > 0, `${f.name} has no member`);
      if (f.kind === "counter") assert.match(f.name, /_total$/, "Prometheus: counters end in _total");
      const values = f.members.map((m) => m.value);
      if (f.label) assert.equal(new Set(values).size, values.length, `${f.name}: label values unique`);
      else assert.deepEqual(values, [""], `${f.name}: one unlabelled member`);
      for (const m of f.members) {
        assert.ok(m.slot >= 0 && m.slot < STATS_LEN);
        assert.ok(!seen.has(m.slot), `slot ${m.slot} in ${f.name} and ${seen.get(m.slot)}`);
        seen.set(m.slot, f.name);
      }
    }
    assert.equal(seen.get(S.internalErrors), "v6mostly_nat64_internal_errors_total");
    const drops = METRICS.find((f) => f.name === "v6mostly_nat64_drops_total")!;
    const s = marked();
    assert.deepEqual(
      Object.fromEntries(samples(drops, s).map(([l, v]) => [l.reason, v])),
      dropsByName(s),
      "the drops metric and /translations agree",
    );
    const offload = METRICS.find((f) => f.name === "v6mostly_nat64_offload_packets_total")!;
    assert.deepEqual(
      samples(offload, s).map(([l, v]) => [l.path, v - 1000]),
      [
        ["whole", S.gsoKeptWhole],
        ["software-segmented", S.gsoSoftwareSegmented],
        ["dropped", S.offloadDrops],
      ],
    );
  });
});

describe("names derived from the code tables", () => {
  it("the published drop and state names", () => {
    assert.equal(nat64DropNames[Nat64Drop.SourceNotAllowed], "sourceNotAllowed");
    assert.equal(nat64DropNames[Nat64Drop.UnsupportedProtocol], "unsupportedProtocol");
    assert.equal(nat64DropNames.length, Object.keys(Nat64Drop).length);
    assert.equal(dropReasonName[DropReason.BadIpv4HeaderChecksum], "BadIpv4HeaderChecksum");
    assert.equal(DROP_REASON_COUNT, Object.keys(DropReason).length);
    // RFC 6146 §3.5.2.2 spells them so.
    assert.deepEqual(tcpStateName, [
      "CLOSED",
      "V4_INIT",
      "V6_INIT",
      "ESTABLISHED",
      "V4_FIN_RCV",
      "V6_FIN_RCV",
      "V4_FIN_V6_FIN_RCV",
      "TRANS",
    ]);
  });

  it("Nat64Translator.dropCounts names its own and the SIIT core's counters as the worker's stats do", () => {
    const nat = new Nat64Translator(nat64Config());
    nat.drops[Nat64Drop.Filtered] = 3;
    nat.siit.dropCounters[DropReason.HopLimitExceeded] = 2;
    assert.deepEqual(nat.dropCounts(), { filtered: 3, "siit.HopLimitExceeded": 2 });
  });
});
