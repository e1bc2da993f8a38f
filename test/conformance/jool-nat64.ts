/**
 * Runs Jool's graybox NAT64 cases (../shared/peer/jool, MANIFEST.md §3, §5,
 * §8) against ONE stateful NAT64 instance, in file order: sessions made by
 * earlier cases are used by later ones, as upstream does.
 */
import { type Nat64Config, Nat64Translator, Verdict } from "../../src/datapath/nat64/translator.ts";
import { addressOf, prefixOf, toBytes } from "../../src/util/net.ts";
import { type CaseResult, compare, type JoolCase, readPkt } from "./jool-suite.ts";

function v6(s: string): Uint8Array {
  return toBytes(6, addressOf(s, 6).value);
}
function v4(s: string): number {
  return Number(addressOf(s, 4).value);
}

/** MANIFEST §3, NAT64 suite table. */
export const baseNat64Siit = {
  lowestIpv6Mtu: 1280,
  ipv4LinkMtu: 1500,
  ipv6LinkMtu: 1500,
  ownIpv4: addressOf("192.0.2.2"),
  ownIpv6: addressOf("2001:db8::1"),
  resetTrafficClass: false,
};

export function joolNat64Config(): Nat64Config {
  const j = v4("192.0.2.2");
  return {
    pool6: prefixOf("64:ff9b::/96"),
    pool4: [{ first: j, last: j, portMin: 1, portMax: 3000 }],
    staticBib: [
      { proto: "tcp", ipv4: j, port4: 2000, ipv6: v6("2001:db8::5"), port6: 2000 },
      { proto: "udp", ipv4: j, port4: 2000, ipv6: v6("2001:db8::5"), port6: 2000 },
      { proto: "icmp", ipv4: j, port4: 1, ipv6: v6("2001:db8::5"), port6: 1 },
      { proto: "udp", ipv4: j, port4: 1000, ipv6: v6("2001:db8:1::5"), port6: 1001 },
      { proto: "udp", ipv4: j, port4: 1002, ipv6: v6("2001:db8::5"), port6: 1003 },
    ],
    filtering: "endpointIndependent",
    timeouts: { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 },
    sourceIcmpv6ErrorsBetter: true,
    hopLimitMode: "translator",
    siit: { ...baseNat64Siit },
    nextIpv4Id: () => 0,
  };
}

/** MANIFEST §3 synthesize_icmpv4: what host n4 sends back (ICMPv4 3/0 from 192.0.2.5). */
export function synthesizeNetUnreachable(emitted: Uint8Array): Uint8Array {
  const total = 20 + 8 + emitted.length;
  const b = new Uint8Array(total);
  b[0] = 0x45;
  b[1] = 0xc0;
  b[2] = total >>> 8;
  b[3] = total & 0xff;
  b[8] = 64;
  b[9] = 1;
  b.set([192, 0, 2, 5], 12);
  b.set([192, 0, 2, 2], 16);
  b[20] = 3;
  b[21] = 0;
  b.set(emitted, 28);
  const sum = (o: number, n: number) => {
    let s = 0;
    for (let i = 0; i < n; i += 2) s += (b[o + i]! << 8) | (i + 1 < n ? b[o + i + 1]! : 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  const hc = sum(0, 20);
  b[10] = hc >>> 8;
  b[11] = hc & 0xff;
  const ic = sum(20, total - 20);
  b[22] = ic >>> 8;
  b[23] = ic & 0xff;
  return b;
}

/** One instance for the whole suite (MANIFEST §5). */
export class Nat64SuiteRunner {
  readonly nat = new Nat64Translator(joolNat64Config());
  now = 1_000_000;

  private applyConfig(c: JoolCase): void {
    const s = { ...baseNat64Siit };
    let better = true;
    for (const [k, v] of Object.entries(c.config)) {
      if (k === "mtu4") s.ipv4LinkMtu = v as number;
      else if (k === "mtu6") s.ipv6LinkMtu = v as number;
      else if (k === "zeroize_traffic_class") s.resetTrafficClass = v as boolean;
      else if (k === "source_icmpv6_errors_better") better = v as boolean;
      else if (k === "lowest_ipv6_mtu") s.lowestIpv6Mtu = v as number;
      else if (k !== "note") throw new Error(`case ${c.name}: unsupported config key ${k}`);
    }
    // Only the listed settings change; BIB, sessions and pool4 stay (MANIFEST §8.2).
    this.nat.reconfigureSiit(s);
    this.nat.setSourceIcmpv6ErrorsBetter(better);
  }

  private feed(p: Uint8Array): Uint8Array[] {
    this.now += 10;
    const v = this.nat.translate(p, p.length, this.now);
    return v === Verdict.Drop ? [] : this.nat.outputs();
  }

  private why(): string {
    const d = this.nat.lastDrop;
    return d < 0 ? "translated" : `drop ${d}${d === 9 ? ` (${this.nat.siitReason()})` : ""}`;
  }

  run(c: JoolCase): CaseResult {
    const res = (pass: boolean, detail: string): CaseResult => ({
      name: c.name,
      group: c.group,
      upstream: c.upstream,
      pass,
      detail,
    });
    try {
      this.applyConfig(c);
    } catch (e) {
      return res(false, (e as Error).message);
    }
    let outs: Uint8Array[] = [];
    const inputs = c.input.map(readPkt);
    if (c.kind === "translate") {
      outs = this.feed(inputs[0]!);
    } else if (c.kind === "multi-input") {
      for (let k = 0; k < inputs.length - 1; k++) {
        const o = this.feed(inputs[k]!);
        if (o.length) return res(false, `input ${k} gave ${o.length} output(s), expected none`);
      }
      outs = this.feed(inputs[inputs.length - 1]!);
    } else if (c.kind === "timer") {
      const o = this.feed(inputs[0]!);
      if (o.length) return res(false, `gave ${o.length} output(s) before the timer, expected none`);
      const adv = (c as unknown as { advance_clock_s: number }).advance_clock_s;
      // Just before the hold time: nothing yet.
      const early = this.nat.tick(this.now + adv * 1000 - 500);
      if (early.length) return res(false, "ICMP error sent before TCP_INCOMING_SYN expired");
      this.now += adv * 1000 + 10;
      outs = this.nat.tick(this.now).map((x) => x.pkt);
    } else if (c.kind.startsWith("two-stage")) {
      const first = this.feed(inputs[0]!);
      if (first.length !== 1) return res(false, `first stage gave ${first.length} output(s) (${this.why()})`);
      outs = this.feed(synthesizeNetUnreachable(first[0]!));
    } else return res(false, `unsupported kind ${c.kind}`);
    const expected = c.expected.map(readPkt);
    if (outs.length !== expected.length)
      return res(false, `${outs.length} output(s), expected ${expected.length} (${this.why()})`);
    for (let k = 0; k < expected.length; k++) {
      const why = compare(outs[k]!, expected[k]!, c.expected_detail[k]!);
      if (why) return res(false, `output ${k}: ${why}`);
    }
    return res(true, "ok");
  }
}
