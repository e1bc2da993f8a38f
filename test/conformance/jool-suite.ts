/**
 * Runs Jool's graybox packet suites against the SIIT translator. The packets are third-party
 * (GPL-2.0) and are read at run time, never copied here: from $V6MOSTLY_JOOL_SUITE (a Jool
 * checkout's test/graybox/test-suite at commit eddd73af5c42f428529443478c9be436c6414694), else
 * from ../shared/peer/jool beside the repository (the development machines). cases.json, the
 * description of each case (inputs, expected outputs, configuration), is the project's own and
 * lives beside this file.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { SiitConfig } from "../../src/datapath/siit/config.ts";
import { dropReasonName, SiitTranslator, Verdict } from "../../src/datapath/siit/index.ts";
import { addressOf, prefixOf } from "../../src/util/net.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const given = path.resolve(process.env.V6MOSTLY_JOOL_SUITE ?? path.join(repoRoot, "../shared/peer/jool"));
/**
 * Where siit/ and nat64/ are: the directory given, or its client/ (some Jool revisions keep the
 * packets one level down, test/graybox/test-suite/client/siit/...).
 */
export const suiteDir =
  !existsSync(path.join(given, "siit")) && existsSync(path.join(given, "client", "siit"))
    ? path.join(given, "client")
    : given;
export const JOOL_COMMIT = "eddd73af5c42f428529443478c9be436c6414694";
const casesFile = path.join(path.dirname(fileURLToPath(import.meta.url)), "cases.json");

/** What to do when the packets are absent. */
export const SUITE_HELP = `Jool's graybox packets are not at ${suiteDir}. Get them with:
  git clone https://github.com/NICMx/Jool && git -C Jool checkout ${JOOL_COMMIT}
  export V6MOSTLY_JOOL_SUITE=$PWD/Jool/test/graybox/test-suite`;

export interface ExpectedDetail {
  file: string;
  length: number;
  jool_effective_ignore: number[];
  ipv4_header_checksum_must_validate_at: number[];
}

export interface JoolCase {
  name: string;
  suite: "siit" | "nat64";
  group: string;
  input: string[];
  expected: string[];
  ignore_offsets: number[];
  direction: string;
  config: Record<string, unknown>;
  kind: string;
  upstream: boolean;
  notes: string;
  expected_detail: ExpectedDetail[];
}

export function suitePresent(): boolean {
  return existsSync(path.join(suiteDir, "siit", "7915")) && existsSync(path.join(suiteDir, "nat64"));
}

export function loadCases(): JoolCase[] {
  return JSON.parse(readFileSync(casesFile, "utf8")) as JoolCase[];
}

/** MANIFEST §3, SIIT suite table. */
export function baseSiitConfig(): SiitConfig {
  return {
    pool6: prefixOf("2001:db8:100::/40"),
    eamt: [
      { ipv6: prefixOf("2001:db8:3::/120"), ipv4: prefixOf("1.0.0.0/24") },
      { ipv6: prefixOf("2001:db8:2::/120"), ipv4: prefixOf("10.0.0.0/24") },
    ],
    rfc6791Pool: { ipv4: [addressOf("203.0.113.8")], ipv6: [] },
    lowestIpv6Mtu: 1280,
    amendUdpChecksumZero: false,
    ipv4LinkMtu: 1500,
    ipv6LinkMtu: 1500,
    ownIpv4: addressOf("198.51.100.1"),
    ownIpv6: addressOf("2001:db8:1c0:2:1::"),
    hairpinMode: "intrinsic",
  };
}

/** Applies a case's `config` differences (MANIFEST §3 and §8.2). Throws on keys it does not know. */
export function siitConfigFor(c: JoolCase): SiitConfig {
  const cfg = baseSiitConfig();
  for (const [k, v] of Object.entries(c.config)) {
    switch (k) {
      case "lowest_ipv6_mtu":
        cfg.lowestIpv6Mtu = v as number;
        break;
      case "mtu4":
        cfg.ipv4LinkMtu = v as number;
        break;
      case "mtu6":
        cfg.ipv6LinkMtu = v as number;
        break;
      case "amend_udp_checksum_zero":
        cfg.amendUdpChecksumZero = v as boolean;
        break;
      case "pool6":
        cfg.pool6 = v === null ? null : prefixOf(v as string);
        break;
      case "eamt_add":
        for (const [v4, v6] of v as [string, string][])
          cfg.eamt!.push({ ipv4: prefixOf(v4), ipv6: prefixOf(v6) });
        break;
      case "rfc6791v4_prefix":
        cfg.rfc6791Pool = {
          ipv4: v === null ? [] : [addressOf(v as string)],
          ipv6: cfg.rfc6791Pool?.ipv6 ?? [],
        };
        break;
      case "rfc6791v6_prefix":
        cfg.rfc6791Pool = {
          ipv4: cfg.rfc6791Pool?.ipv4 ?? [],
          ipv6: v === null ? [] : [addressOf(v as string)],
        };
        break;
      case "note":
        break;
      default:
        throw new Error(`case ${c.name}: unsupported config key ${k}`);
    }
  }
  return cfg;
}

export function readPkt(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(suiteDir, rel)));
}

function ipv4HeaderSumOk(b: Uint8Array, h: number): boolean {
  if (h + 20 > b.length) return false;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (b[h + i]! << 8) | b[h + i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/** MANIFEST §8.5 comparison. Returns null when equal, else a description. */
export function compare(act: Uint8Array, exp: Uint8Array, d: ExpectedDetail): string | null {
  if (act.length !== exp.length) return `length ${act.length}, expected ${exp.length}`;
  const free = new Set(d.jool_effective_ignore);
  const diffs: string[] = [];
  for (let i = 0; i < exp.length; i++) {
    if (!free.has(i) && act[i] !== exp[i]) {
      diffs.push(
        `@${i}: ${act[i]!.toString(16).padStart(2, "0")} != ${exp[i]!.toString(16).padStart(2, "0")}`,
      );
      if (diffs.length >= 8) break;
    }
  }
  if (diffs.length) return `bytes differ ${diffs.join(", ")}`;
  for (const h of d.ipv4_header_checksum_must_validate_at) {
    if (!ipv4HeaderSumOk(act, h)) return `IPv4 header checksum at ${h} does not verify`;
  }
  return null;
}

export interface CaseResult {
  name: string;
  group: string;
  upstream: boolean;
  pass: boolean;
  detail: string;
}

/** Runs one SIIT case on a fresh translator (MANIFEST §5: stateless). */
export function runSiitCase(c: JoolCase): CaseResult {
  const res = (pass: boolean, detail: string): CaseResult => ({
    name: c.name,
    group: c.group,
    upstream: c.upstream,
    pass,
    detail,
  });
  if (c.kind !== "translate") return res(false, `unsupported kind ${c.kind}`);
  let tr: SiitTranslator;
  try {
    tr = new SiitTranslator(siitConfigFor(c), { nextIpv4Id: () => 0 });
  } catch (e) {
    return res(false, `config: ${(e as Error).message}`);
  }
  let outs: Uint8Array[] = [];
  let verdict: number = Verdict.Drop;
  for (const f of c.input) {
    verdict = tr.translate(readPkt(f));
    outs = tr.outputs();
  }
  const expected = c.expected.map(readPkt);
  if (outs.length !== expected.length) {
    return res(
      false,
      `${outs.length} output(s), expected ${expected.length} (verdict ${verdict}, reason ${dropReasonName[tr.lastReason]})`,
    );
  }
  for (let k = 0; k < expected.length; k++) {
    const why = compare(outs[k]!, expected[k]!, c.expected_detail[k]!);
    if (why) return res(false, `output ${k}: ${why}`);
  }
  return res(true, "ok");
}
