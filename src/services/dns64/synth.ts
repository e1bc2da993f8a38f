// RFC 6147 §5: the DNS64 decisions, as pure functions from the query and the upstream replies to
// the reply a client gets. No I/O here: the resolver fetches what these functions ask for.

import type { PrefixData } from "../../util/net.ts";
import {
  addressOfIp6Arpa,
  compilePref64,
  compilePrefix6,
  inAddrArpaName,
  inPrefix6,
  isPartialIp6Arpa,
  type Prefix6,
  type Rfc6052Prefix,
  reverseZone,
  synthesizeAddress,
} from "./addressing.ts";
import { buildReply, copyRecord, errorReply, type OutRecord, parseReply, type Reply } from "./reply.ts";
import {
  CLASS_IN,
  concat,
  FLAG,
  isSubdomain,
  type Message,
  nameEquals,
  negativeTtl,
  RCODE,
  readU16,
  TYPE,
  textToName,
  type Record as WireRecord,
} from "./wire.ts";

export interface Dns64Config {
  prefix: Rfc6052Prefix;
  /** RFC 6147 §5.1.4: AAAA records inside these count as absent */
  exclude: Prefix6[];
  /** synthesize even when usable AAAA records exist */
  alwaysSynthesize: boolean;
  /**
   * a plain forwarder while the NAT64 with this prefix is down (src/agent/fatesharing.ts): no
   * synthesis, no ipv4only.arpa answer, no PTR mapping
   */
  forwardOnly?: boolean;
}

/**
 * What a resolver's answers depend on besides its cache, as plain data (it crosses to the UDP
 * receive thread by structured clone, which keeps a Prefix's fields but not its class).
 */
export interface Dns64Policy {
  prefix: PrefixData;
  exclude: readonly PrefixData[];
  alwaysSynthesize: boolean;
  forwardOnly: boolean;
}

export function compileConfig(p: Dns64Policy): Dns64Config {
  return {
    prefix: compilePref64(p.prefix),
    exclude: p.exclude.map(compilePrefix6),
    alwaysSynthesize: p.alwaysSynthesize,
    forwardOnly: p.forwardOnly,
  };
}

/** RFC 6147 §5.1.7: TTL bound for synthesized records when the AAAA answer carried no SOA. */
export const NO_SOA_TTL = 600;

/** What to do with a query, decided from the question and the DNSSEC bits alone. */
export type Plan =
  | { kind: "forward" } // pass through (A, MX, ..., and DNS64 switched off by DO+CD)
  | { kind: "aaaa" } // RFC 6147 §5.1: AAAA, maybe synthesized
  | { kind: "ptr"; target: Uint8Array } // RFC 6147 §5.3.1: ip6.arpa under the PREF64
  | { kind: "reverseNodata" } // RFC 6147 §5.3.1: a PTR above the addresses of the PREF64's zone
  | { kind: "ipv4only" }; // RFC 8880 §7.2: answered locally

export const IPV4ONLY_ARPA = textToName("ipv4only.arpa");

/**
 * RFC 6147 §5.5 (DNSSEC): a client that sets both DO and CD validates by itself and wants the real
 * data, so the DNS64 "MUST NOT perform synthesis" for it. CD alone (DO clear) still synthesizes: a
 * client that cannot receive signatures cannot validate either. BIND 9.18 does the same; Unbound
 * 1.17 skips synthesis whenever CD is set, which the RFC does not ask for.
 */
export function planQuery(
  cfg: Dns64Config,
  qname: Uint8Array,
  qtype: number,
  qclass: number,
  dnssecOk: boolean,
  cd: boolean,
): Plan {
  if (qclass !== CLASS_IN || cfg.forwardOnly) return { kind: "forward" };
  if (isSubdomain(qname, IPV4ONLY_ARPA)) return { kind: "ipv4only" };
  if (dnssecOk && cd) return { kind: "forward" };
  if (qtype === TYPE.AAAA) return { kind: "aaaa" };
  if (qtype === TYPE.PTR) {
    const target = ptrTarget(cfg, qname);
    if (target) return { kind: "ptr", target };
    if (isPartialIp6Arpa(cfg.prefix, qname)) return { kind: "reverseNodata" };
  }
  return { kind: "forward" };
}

/**
 * RFC 6147 §5.3.1: the in-addr.arpa name an ip6.arpa name under the PREF64's reverse zone stands
 * for, or undefined when the name is outside that zone or not a whole address.
 */
export function ptrTarget(cfg: Dns64Config, qname: Uint8Array): Uint8Array | undefined {
  if (!isSubdomain(qname, reverseZone(cfg.prefix))) return undefined;
  const addr = addressOfIp6Arpa(qname);
  if (!addr) return undefined;
  const v4 = new Uint8Array(4);
  if (!cfg.prefix.extract(addr, 0, v4, 0)) return undefined;
  return inAddrArpaName(v4);
}

export type AaaaVerdict =
  | { kind: "answer"; reply: Reply } // return this (real AAAA, or NXDOMAIN)
  // fetch the A records and synthesize; with nothing to synthesize from (§5.1.6), `fallback` is the
  // answer: the AAAA answer without its excluded records (NODATA when all were excluded, §5.1.4);
  // `nodata`: it holds no usable AAAA (only alwaysSynthesize leaves some)
  | { kind: "synthesize"; fallback: Reply; nodata: boolean };

/** Records of the answer section that are AAAA data (class IN, 16 bytes). */
function aaaaRecords(m: Message) {
  return m.records.filter(
    (r) => r.section === 0 && r.type === TYPE.AAAA && r.class === CLASS_IN && r.rdlength === 16,
  );
}

/**
 * RFC 6147 §5.1.1-§5.1.4: is the upstream AAAA answer usable as it is?
 * - NXDOMAIN: returned as is (§5.1.2: no synthesis for a name that does not exist).
 * - any other RCODE but NOERROR: treated as NODATA (§5.1.2), so synthesis is tried.
 * - NOERROR with AAAA records: usable unless every one lies in an excluded prefix (§5.1.4); the
 *   excluded ones are removed from a mixed answer (BIND does the same; Unbound has no default
 *   exclusion and returns ::ffff:0:0/96 records unchanged). An excluded record is never returned,
 *   not even when there is nothing to synthesize from (§5.1.4: it counts as absent).
 * - NOERROR without AAAA (NODATA, or a CNAME chain ending without AAAA, §5.1.3): synthesize.
 * `parsed`: the reply already parsed (parseReply), when the caller has it.
 */
export function judgeAaaa(cfg: Dns64Config, reply: Reply, parsed?: Message): AaaaVerdict {
  if (reply.rcode === RCODE.NXDOMAIN) return { kind: "answer", reply };
  if (reply.rcode !== RCODE.NOERROR) return { kind: "synthesize", fallback: reply, nodata: true };
  const m = parsed ?? parseReply(reply);
  const aaaa = aaaaRecords(m);
  if (aaaa.length === 0) return { kind: "synthesize", fallback: reply, nodata: true };
  const excluded = aaaa.filter((r) => cfg.exclude.some((p) => inPrefix6(p, reply.wire, r.rdataOffset)));
  const usable = excluded.length === 0 ? reply : withoutRecords(reply, m, excluded);
  const nodata = excluded.length === aaaa.length;
  if (cfg.alwaysSynthesize || nodata) return { kind: "synthesize", fallback: usable, nodata };
  return { kind: "answer", reply: usable };
}

/** `reply` rebuilt without the records `drop` (SERVFAIL when a record cannot be copied). */
function withoutRecords(reply: Reply, m: Message, drop: WireRecord[]): Reply {
  const q = m.question!;
  const sections = copySections(reply, m, (r) => !drop.includes(r));
  if (!sections) return errorReply(q.name, q.type, q.class, RCODE.SERVFAIL);
  return buildReply(q.name, q.type, q.class, m.flags, sections, reply.ttl);
}

/** The records of `m` (parsed from `reply`) that `keep` selects, copied by section; undefined when one cannot be copied. */
function copySections(
  reply: Reply,
  m: Message,
  keep: (r: WireRecord) => boolean,
): [OutRecord[], OutRecord[], OutRecord[]] | undefined {
  const sections: [OutRecord[], OutRecord[], OutRecord[]] = [[], [], []];
  for (const r of m.records) {
    if (r.type === TYPE.OPT || !keep(r)) continue;
    const c = copyRecord(reply.wire, r);
    if (!c) return undefined;
    sections[r.section].push(c);
  }
  return sections;
}

/**
 * RFC 6147 §5.1.3: a record of the A answer's CNAME/DNAME chain, kept in the AAAA answer made from
 * it, with its signatures when the client asked for DNSSEC records (signatures over A records are
 * not kept: they cover the A data).
 */
function isChainRecord(wire: Uint8Array, r: WireRecord, dnssecOk: boolean): boolean {
  if (r.type === TYPE.CNAME || r.type === TYPE.DNAME) return true;
  if (r.type !== TYPE.RRSIG || !dnssecOk || r.rdlength < 2) return false;
  const covered = readU16(wire, r.rdataOffset);
  return covered === TYPE.CNAME || covered === TYPE.DNAME;
}

/**
 * RFC 6147 §5.1.6-§5.1.8: the synthesized answer to an AAAA query, from the upstream A answer.
 * Returns undefined when there is nothing to synthesize from (no A records, or an error): the caller
 * then returns the AAAA answer (§5.1.6), or the A query's failure (see aFailure).
 *
 * - The CNAME/DNAME chain of the A answer is kept as is (§5.1.3, isChainRecord).
 * - Every A record becomes an AAAA record with the RFC 6052 address under the PREF64 (§5.1.6).
 * - TTL (§5.1.7): the smaller of the A record's TTL and the negative-caching TTL of the AAAA answer
 *   (its SOA, RFC 2308 §5); 600 s when the AAAA answer had no SOA. BIND does this; Unbound 1.17
 *   keeps the A record's TTL.
 * - AD (§5.5): the synthesized data is as trustworthy as its inputs: AD only when the upstream set
 *   it on both the AAAA and the A answers. Unbound does this too; BIND (break-dnssec no) does not
 *   synthesize at all for a DO query whose negative AAAA answer is signed.
 * - Authority and additional sections are left empty.
 * `aaaaParsed`: the AAAA reply already parsed (parseReply), when the caller has it.
 */
export function synthesize(
  cfg: Dns64Config,
  qname: Uint8Array,
  aaaaReply: Reply,
  aReply: Reply,
  dnssecOk: boolean,
  aaaaParsed?: Message,
): Reply | undefined {
  if (aReply.rcode !== RCODE.NOERROR) return undefined;
  const a = parseReply(aReply);
  const aaaaMsg = aaaaParsed ?? parseReply(aaaaReply);
  // the SOA of a NODATA answer, also after a CNAME chain (RFC 2308 §2.2)
  const neg = aaaaReply.rcode === RCODE.NOERROR ? negativeTtl(aaaaReply.wire, aaaaMsg) : undefined;
  const ttlCap = neg ?? NO_SOA_TTL;
  const answer: OutRecord[] = [];
  let synthesized = 0;
  for (const r of a.records) {
    if (r.section !== 0) continue;
    if (isChainRecord(aReply.wire, r, dnssecOk)) {
      const c = copyRecord(aReply.wire, r);
      if (!c) return undefined;
      answer.push(c);
    } else if (r.type === TYPE.A && r.class === CLASS_IN && r.rdlength === 4) {
      const v6 = synthesizeAddress(cfg.prefix, aReply.wire.subarray(r.rdataOffset, r.end));
      answer.push({
        name: r.name,
        type: TYPE.AAAA,
        class: CLASS_IN,
        ttl: Math.min(r.ttl, ttlCap),
        rdata: v6,
      });
      synthesized++;
    }
  }
  if (synthesized === 0) return undefined;
  const ad = a.flags & aaaaMsg.flags & FLAG.AD;
  let ttl = Math.min(aReply.ttl, ttlCap);
  for (const r of answer) ttl = Math.min(ttl, r.ttl);
  return buildReply(qname, TYPE.AAAA, CLASS_IN, ad | RCODE.NOERROR, [answer, [], []], ttl);
}

/**
 * §5.1.4 with RFC 2308 §3: the NODATA left when every AAAA record was excluded (`fallback`, from
 * judgeAaaa) and the A answer has no A records either. The AAAA answer held data, so its authority
 * section has no SOA and a client could not cache the NODATA; the A answer's SOA (same name, same
 * zone) is put in its place, as BIND does. Without an SOA in the A answer, `fallback` stands.
 */
export function excludedNodata(fallback: Reply, aReply: Reply): Reply {
  const a = parseReply(aReply);
  if (negativeTtl(aReply.wire, a) === undefined) return fallback;
  const f = parseReply(fallback);
  const chain = copySections(fallback, f, (r) => r.section === 0);
  const soa = copySections(aReply, a, (r) => r.section === 1);
  if (!chain || !soa) return fallback;
  const q = f.question!;
  const flags = (f.flags & a.flags & FLAG.AD) | RCODE.NOERROR;
  return buildReply(
    q.name,
    q.type,
    q.class,
    flags,
    [chain[0], soa[1], []],
    Math.min(fallback.ttl, aReply.ttl),
  );
}

/**
 * The answer to an AAAA query when the AAAA answer had nothing usable and the A query then failed
 * (any RCODE but NOERROR: SERVFAIL, NXDOMAIN, REFUSED): that failure, under the AAAA question.
 * RFC 6147 §5.1.6 synthesizes from the A answer; an A answer that is an error has nothing to
 * synthesize from, and an empty NOERROR instead would tell the client that the name exists without
 * addresses (and be cached for the AAAA answer's negative TTL) when the truth is unknown or that it
 * does not exist. Kept: the A answer's CNAME/DNAME chain (isChainRecord) and its authority section
 * (the SOA of an NXDOMAIN for negative caching, RFC 2308 §3); its TTL (a SERVFAIL is not cached).
 */
export function aFailure(qname: Uint8Array, aReply: Reply, dnssecOk: boolean): Reply {
  const a = parseReply(aReply);
  const kept = (r: WireRecord) =>
    r.section === 1 || (r.section === 0 && isChainRecord(aReply.wire, r, dnssecOk));
  const sections = copySections(aReply, a, kept);
  if (!sections) return errorReply(qname, TYPE.AAAA, CLASS_IN, RCODE.SERVFAIL);
  return buildReply(qname, TYPE.AAAA, CLASS_IN, a.flags, sections, aReply.ttl);
}

/**
 * RFC 6147 §5.3.1, second method: the answer to the in-addr.arpa PTR query, re-owned by the ip6.arpa
 * name that was asked (PTR records of the target become PTR records of the query name; the rest of
 * the answer and the authority section are kept for negative caching). Unbound 1.17 answers this
 * way; BIND 9.18 uses the first method (a CNAME from the ip6.arpa name to the in-addr.arpa name).
 */
export function ptrAnswer(qname: Uint8Array, target: Uint8Array, inAddr: Reply): Reply {
  const m = parseReply(inAddr);
  const sections: [OutRecord[], OutRecord[], OutRecord[]] = [[], [], []];
  for (const r of m.records) {
    if (r.type === TYPE.OPT || r.section === 2) continue;
    if (r.section === 0 && !(r.type === TYPE.PTR && nameEquals(r.name, target))) continue;
    const c = copyRecord(inAddr.wire, r, r.section === 0 ? qname : r.name);
    if (c) sections[r.section].push(c);
  }
  let ttl = inAddr.ttl;
  for (const r of sections[0]) ttl = Math.min(ttl, r.ttl);
  // an in-addr.arpa answer that was only a CNAME chain has nothing to re-own: NODATA
  const rcode = inAddr.rcode;
  return buildReply(
    qname,
    TYPE.PTR,
    CLASS_IN,
    rcode,
    sections,
    sections[0].length === 0 && rcode === RCODE.NOERROR && sections[1].length === 0 ? 0 : ttl,
  );
}

const ROOT_NAME = Uint8Array.of(0);

/** TTL and negative TTL (SOA MINIMUM, RFC 2308 §4) of the PREF64's reverse zone SOA. */
const REVERSE_SOA_TTL = NO_SOA_TTL;

/**
 * RFC 6147 §5.3.1: the DNS64 answers for the ip6.arpa zone of its PREF64 (ptrTarget maps whole
 * addresses). A name of that zone with fewer nibbles than an address (the apex, or a name between
 * it and the addresses) exists in the zone's tree and owns no PTR record: NOERROR with no answer
 * (NODATA), and the zone's SOA in the authority section so that the client can cache the answer
 * (RFC 2308 §3). The SOA is the one of an empty zone as BIND writes it for its built-in empty zones
 * (MNAME the zone, RNAME "."), with the §5.1.7 bound of 600 s as TTL and MINIMUM.
 */
export function reverseNodata(cfg: Dns64Config, qname: Uint8Array, qtype: number, qclass: number): Reply {
  const zone = reverseZone(cfg.prefix);
  const times = new Uint8Array(20);
  const view = new DataView(times.buffer);
  // SERIAL 0, REFRESH, RETRY, EXPIRE (BIND's empty-zone values), MINIMUM
  view.setUint32(4, 28800);
  view.setUint32(8, 7200);
  view.setUint32(12, 604800);
  view.setUint32(16, REVERSE_SOA_TTL);
  const soa: OutRecord = {
    name: zone,
    type: TYPE.SOA,
    class: CLASS_IN,
    ttl: REVERSE_SOA_TTL,
    rdata: concat(zone, ROOT_NAME, times),
  };
  return buildReply(qname, qtype, qclass, RCODE.NOERROR, [[], [soa], []], REVERSE_SOA_TTL);
}

/** RFC 8880 §2: the well-known IPv4 addresses of ipv4only.arpa. */
export const IPV4ONLY_ADDRESSES = [Uint8Array.of(192, 0, 0, 170), Uint8Array.of(192, 0, 0, 171)];
/** TTL of the locally answered ipv4only.arpa records (the RFC 6147 §5.1.7 bound without an SOA). */
export const IPV4ONLY_TTL = NO_SOA_TTL;

/**
 * RFC 8880 §7.2 (and RFC 7050 §3 for the prefix discovery it serves): a DNS64 answers ipv4only.arpa
 * itself, never sending it upstream: A → 192.0.0.170 and 192.0.0.171; AAAA → both synthesized
 * with the PREF64; any other type → NODATA; names below ipv4only.arpa → NXDOMAIN.
 */
export function ipv4onlyAnswer(cfg: Dns64Config, qname: Uint8Array, qtype: number, qclass: number): Reply {
  if (!nameEquals(qname, IPV4ONLY_ARPA))
    return buildReply(qname, qtype, qclass, RCODE.NXDOMAIN, [[], [], []], 0);
  const answer: OutRecord[] = [];
  if (qtype === TYPE.A || qtype === TYPE.ANY) {
    for (const v4 of IPV4ONLY_ADDRESSES)
      answer.push({ name: qname, type: TYPE.A, class: CLASS_IN, ttl: IPV4ONLY_TTL, rdata: v4 });
  }
  if (qtype === TYPE.AAAA || qtype === TYPE.ANY) {
    for (const v4 of IPV4ONLY_ADDRESSES) {
      answer.push({
        name: qname,
        type: TYPE.AAAA,
        class: CLASS_IN,
        ttl: IPV4ONLY_TTL,
        rdata: synthesizeAddress(cfg.prefix, v4),
      });
    }
  }
  return buildReply(qname, qtype, qclass, RCODE.NOERROR, [answer, [], []], IPV4ONLY_TTL);
}
