/**
 * Jool's SIIT graybox cases through a running service: `v6mostly run` (stateless) in the lab of
 * live-lab.ts, each case's input written onto the link of its sending side, what comes out of
 * the receiving side captured and compared as the pure runner compares (jool-suite.ts `compare`,
 * the same ignored offsets). Cases are grouped by the service configuration they need (one start
 * per configuration); a case that cannot reach the TUN device, or whose configuration a
 * Nat64Gateway cannot express, is not run and says why (`notLive`).
 *
 * The live run puts documentation addresses only on the wire: every input and expected packet goes
 * through rewrite.ts's LIVE_MAP first (livePkt), and so do the service's EAMT and RFC 6791 pool
 * (specOf). Each foreign prefix of the suite becomes a documentation one of the same length with
 * the host bits kept: 1.0.0.0/24 → 198.18.1.0/24, 10.0.0.0/24 → 198.18.10.0/24, their images
 * under pool6 with them, 4000::1 → 2001:db8:4000::1 (LIVE_MAP lists them all). Addresses are
 * rewritten in the IP header and in the packet quoted by an ICMP error, and every checksum over a
 * rewritten word is updated incrementally (RFC 1624 eqn. 3), so a deliberately wrong one stays as
 * wrong. The translator answers the rewritten suite as it answers Jool's (rewrite.test.ts). The
 * pure runner (jool-suite.ts) keeps Jool's bytes.
 */
import { format4, format6 } from "../../src/util/addrtext.ts";
import { compare, type JoolCase, loadCases, readPkt } from "./jool-suite.ts";
import { type Port, SiitLab } from "./live-lab.ts";
import { LIVE_MAP, rewritePacket } from "./rewrite.ts";

/** A packet of the suite as the live run sends or expects it: its addresses through LIVE_MAP. */
export function livePkt(rel: string): Uint8Array {
  return rewritePacket(readPkt(rel), LIVE_MAP);
}

/** A Nat64Gateway spec for Jool's SIIT suite (MANIFEST §3) with a case's MTUs and options. */
interface LiveConfig {
  mtu: number;
  lowestIpv6Mtu: number;
  amendUdpChecksumZero: boolean;
}

/** The resource's spec, with the suite's addresses through LIVE_MAP as its packets' (rewrite.ts). */
export function specOf(k: LiveConfig): string {
  const eam = (v6: string, v4: string) =>
    `{ ipv6: "${LIVE_MAP.prefix(v6)}", ipv4: "${LIVE_MAP.prefix(v4)}" }`;
  return `mode: stateless
prefix: "${LIVE_MAP.prefix("2001:db8:100::/40")}"
eamt:
  - ${eam("2001:db8:3::/120", "1.0.0.0/24")}
  - ${eam("2001:db8:2::/120", "10.0.0.0/24")}
rfc6791Pool: { ipv4: ["${LIVE_MAP.address("203.0.113.8")}"] }
mtu: ${k.mtu}
lowestIpv6Mtu: ${k.lowestIpv6Mtu}
amendUdpChecksumZero: ${k.amendUdpChecksumZero}`;
}

/** The IPv4 images of the IPv6 side that the suite's IPv4 packets are sent to (SIIT routes only the EAMT). */
const ROUTES4 = ["192.0.2.0/24"];

/**
 * The service configuration a case needs, or why it cannot run live. The TUN device has one MTU
 * (the resource's `mtu`), which is also the translator's link MTU on both sides: a case gets the
 * MTU of the side its translation leaves by (IPv6 for 4→x, IPv4 for 6→x), else the one it gives
 * for the other side, and its input must fit through the device.
 */
export function liveConfig(c: JoolCase): LiveConfig | { why: string } {
  const cfg = c.config as Record<string, unknown>;
  if ("pool6" in cfg && cfg.pool6 === null) return { why: "no pool6: a Nat64Gateway always has a prefix" };
  if ("rfc6791v4_prefix" in cfg && cfg.rfc6791v4_prefix === null)
    return {
      why: "empty RFC 6791 pool: the service has no own IPv4 address to fall back on (its errors take the host's)",
    };
  const from6 = c.direction.startsWith("6");
  const out = (from6 ? cfg.mtu4 : cfg.mtu6) as number | undefined;
  // the suite raises the entry side's MTU alone only so that a large input arrives (idg, idi, idy)
  const mtu = out ?? ((from6 ? cfg.mtu6 : cfg.mtu4) as number | undefined) ?? 1500;
  for (const f of c.input) {
    const p = livePkt(f);
    if (p.length > mtu)
      return {
        why: `the ${p.length}-byte input exceeds the TUN device's MTU (${mtu}): the kernel ${from6 ? "answers Packet Too Big" : "fragments it or answers Fragmentation Needed"} before the device`,
      };
    if (p[0]! >>> 4 !== 4) continue;
    if (p[12] === 0 || p[12] === 127)
      return {
        why: `source ${text4(p, 12)}: the kernel drops it as a martian (RFC 1812 §5.3.7) before the device`,
      };
    if (hasSourceRoute(p))
      return {
        why: "IPv4 source route options (LSRR, SSRR): the kernel answers Parameter Problem itself (it takes one source route per header, and none unless accept_source_route) before the device",
      };
  }
  return {
    mtu,
    lowestIpv6Mtu: (cfg.lowest_ipv6_mtu as number | undefined) ?? 1280,
    amendUdpChecksumZero: (cfg.amend_udp_checksum_zero as boolean | undefined) ?? false,
  };
}

export interface LiveResult {
  name: string;
  group: string;
  /** null: not run live (see `why`) */
  pass: boolean | null;
  detail: string;
}

/** Whether an IPv4 header carries a Loose or Strict Source and Record Route option (RFC 791 §3.1). */
function hasSourceRoute(p: Uint8Array): boolean {
  const end = (p[0]! & 0x0f) << 2;
  for (let o = 20; o < end; ) {
    const t = p[o]!;
    if (t === 0) break;
    if (t === 1) {
      o++;
      continue;
    }
    if (t === 0x83 || t === 0x89) return true;
    o += Math.max(2, p[o + 1]!);
  }
  return false;
}

function text4(p: Uint8Array, o: number): string {
  return format4(((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0);
}

/** (source, destination) of an IP packet, as text. */
function pair(p: Uint8Array): string {
  return p[0]! >>> 4 === 4 ? `${text4(p, 12)} > ${text4(p, 16)}` : `${format6(p, 8)} > ${format6(p, 24)}`;
}

const WAIT_MS = 1000;

/** Sends a case's inputs and waits for as many packets as it expects, between the expected pairs. */
async function runCase(c: JoolCase, ports: { n6: Port; n4: Port }): Promise<LiveResult> {
  const res = (pass: boolean, detail: string): LiveResult => ({ name: c.name, group: c.group, pass, detail });
  const from = c.direction.startsWith("6") ? ports.n6 : ports.n4;
  const to = /->\s*6|->6/.test(c.direction) ? ports.n6 : ports.n4;
  const expected = c.expected.map(livePkt);
  const pairs = new Set(expected.map(pair));
  const wanted = () => to.got.filter((p) => pairs.has(pair(p)));
  ports.n6.clear();
  ports.n4.clear();
  for (const f of c.input) from.send(livePkt(f));
  const end = Date.now() + WAIT_MS;
  while (wanted().length < expected.length && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  // packets of another pair (the link's own traffic) pass unnoticed, as upstream (MANIFEST §2)
  const outs = wanted();
  if (outs.length !== expected.length)
    return res(false, `${outs.length} packet(s) arrived, expected ${expected.length}`);
  for (let k = 0; k < expected.length; k++) {
    const why = compare(outs[k]!, expected[k]!, c.expected_detail[k]!);
    if (why) return res(false, `output ${k}: ${why}`);
  }
  return res(true, "ok");
}

/** Runs every SIIT case of the suite through the service: one start per configuration. */
export async function runLiveSiit(): Promise<LiveResult[]> {
  const cases = loadCases().filter((c) => c.suite === "siit");
  const results = new Map<string, LiveResult>();
  const byConfig = new Map<string, JoolCase[]>();
  for (const c of cases) {
    const k = liveConfig(c);
    if ("why" in k) results.set(c.name, { name: c.name, group: c.group, pass: null, detail: k.why });
    else byConfig.set(specOf(k), [...(byConfig.get(specOf(k)) ?? []), c]);
  }
  const lab = new SiitLab("s");
  try {
    lab.setup();
    const ports = await lab.ports();
    for (const [spec, group] of byConfig) {
      await lab.start(spec, ROUTES4);
      for (const c of group) results.set(c.name, await runCase(c, ports));
    }
  } finally {
    await lab.cleanup();
  }
  return cases.map((c) => results.get(c.name)!);
}

/** Per-group counts as `npm run test:conformance` prints them, the cases not run and why, the failures. */
export function report(results: readonly LiveResult[]): string[] {
  const groups = new Map<string, { pass: number; fail: number; notLive: number }>();
  for (const r of results) {
    const g = groups.get(r.group) ?? { pass: 0, fail: 0, notLive: 0 };
    if (r.pass === null) g.notLive++;
    else if (r.pass) g.pass++;
    else g.fail++;
    groups.set(r.group, g);
  }
  const lines = ["SIIT groups, live (passed/run, not run live):"];
  for (const [name, g] of groups)
    lines.push(
      `  ${name.padEnd(16)} ${g.pass}/${g.pass + g.fail}${g.notLive ? `, ${g.notLive} not run live` : ""}`,
    );
  for (const r of results) if (r.pass === null) lines.push(`NOT LIVE ${r.name}: ${r.detail}`);
  for (const r of results) if (r.pass === false) lines.push(`FAIL ${r.name}: ${r.detail}`);
  const passed = results.filter((r) => r.pass === true).length;
  const failed = results.filter((r) => r.pass === false).length;
  const notLive = results.filter((r) => r.pass === null).length;
  lines.push(`${passed} passed, ${failed} failed, ${notLive} not run live`);
  return lines;
}
