// A Reply is an answer the resolver can hand out many times: the whole message in wire form with
// ID 0 and no OPT record, where every TTL field is, so that a copy can be aged (RFC 1035 §7.4:
// TTLs count down while cached) and stamped with the client's ID, question and EDNS.
import {
  EDNS_UDP_SIZE,
  expandRdata,
  FLAG,
  HEADER_LEN,
  type Message,
  NameTable,
  negativeTtl,
  parseMessage,
  RCODE,
  type Record,
  readU16,
  TYPE,
  Writer,
  writeHeader,
  writeOpt,
  writeRecord,
  writeU16,
  writeU32,
} from "./wire.ts";

export interface Reply {
  /** header (ID 0) + question + records, without OPT */
  wire: Uint8Array;
  /** offsets of the 32-bit TTL fields, for ageing */
  ttlOffsets: number[];
  rcode: number;
  /** seconds this reply may be cached: 0 = do not cache */
  ttl: number;
}

export interface CachePolicy {
  /** upper bound on any cached TTL (seconds) */
  maxTtl: number;
  /** RFC 2308 §5: upper bound on negative caching (seconds) */
  maxNegativeTtl: number;
}

export const DEFAULT_POLICY: CachePolicy = { maxTtl: 86400, maxNegativeTtl: 3600 };

/** Flags a reply keeps from the upstream answer; RD and CD come from the client at send time. */
const KEPT_FLAGS = FLAG.AD | 0x000f;

/** True for a negative answer: NXDOMAIN, or NOERROR without an answer for the question (NODATA). */
export function isNegative(m: Message): boolean {
  if (m.rcode === RCODE.NXDOMAIN) return true;
  return m.rcode === RCODE.NOERROR && !m.records.some((r) => r.section === 0);
}

/** How long a reply built from this message may be cached (RFC 2181 §5.2, RFC 2308 §5). */
export function cacheTtl(wire: Uint8Array, m: Message, policy: CachePolicy): number {
  if (m.rcode !== RCODE.NOERROR && m.rcode !== RCODE.NXDOMAIN) return 0;
  if (isNegative(m)) {
    const neg = negativeTtl(wire, m);
    // RFC 2308 §5: without an SOA a negative answer is not cached
    return neg === undefined ? 0 : Math.min(neg, policy.maxNegativeTtl);
  }
  let min = policy.maxTtl;
  for (const r of m.records) if (r.type !== TYPE.OPT && r.ttl < min) min = r.ttl;
  // a CNAME chain ending in NODATA/NXDOMAIN is bounded by the SOA too (RFC 2308 §2.1, §2.2)
  const neg = negativeTtl(wire, m);
  return neg === undefined ? min : Math.min(min, neg);
}

/**
 * A Reply from an upstream answer, kept byte for byte except the header and the OPT record, which is
 * cut out (nothing can point into it: its owner is the root and its RDATA holds no names, so the
 * compression pointers of the other records stay valid).
 */
export function replyFromUpstream(wire: Uint8Array, m: Message, policy: CachePolicy = DEFAULT_POLICY): Reply {
  const opt = m.records.find((r) => r.type === TYPE.OPT);
  const ttl = cacheTtl(wire, m, policy);
  if (opt && opt !== m.records[m.records.length - 1] && m.question) {
    // records after the OPT may point at each other: cutting bytes out would move their targets,
    // so the message is rewritten with every name expanded instead
    const sections: [OutRecord[], OutRecord[], OutRecord[]] = [[], [], []];
    for (const r of m.records) {
      if (r === opt) continue;
      const c = copyRecord(wire, r);
      if (!c) return errorReply(m.question.name, m.question.type, m.question.class, RCODE.SERVFAIL);
      sections[r.section].push(c);
    }
    return buildReply(m.question.name, m.question.type, m.question.class, m.flags, sections, ttl);
  }
  // bytes after the last record are dropped: our OPT goes right after the records
  const last = m.records[m.records.length - 1];
  wire = wire.subarray(0, last ? last.end : (m.question?.end ?? HEADER_LEN));
  let out: Uint8Array;
  let ttlOffsets: number[];
  if (opt) {
    out = new Uint8Array(wire.length - (opt.end - opt.start));
    out.set(wire.subarray(0, opt.start), 0);
    out.set(wire.subarray(opt.end), opt.start);
    writeU16(out, 10, readU16(wire, 10) - 1);
    const cut = opt.end - opt.start;
    ttlOffsets = m.records
      .filter((r) => r !== opt)
      .map((r) => (r.start > opt.start ? r.ttlOffset - cut : r.ttlOffset));
  } else {
    out = wire.slice();
    ttlOffsets = m.records.map((r) => r.ttlOffset);
  }
  // RFC 1035 §4.1.1: AA means this server is authoritative, which a forwarder never is.
  const flags = FLAG.QR | FLAG.RA | (m.flags & KEPT_FLAGS);
  writeU16(out, 0, 0);
  writeU16(out, 2, flags);
  return { wire: out, ttlOffsets, rcode: m.rcode, ttl };
}

/** A record to write into a rebuilt message. */
export interface OutRecord {
  name: Uint8Array;
  type: number;
  class: number;
  ttl: number;
  rdata: Uint8Array;
}

/** Copies a record out of a parsed message with its names expanded (see expandRdata). */
export function copyRecord(wire: Uint8Array, r: Record, name = r.name, ttl = r.ttl): OutRecord | undefined {
  const rdata = expandRdata(wire, r);
  if (!rdata) return undefined;
  return { name, type: r.type, class: r.class, ttl, rdata };
}

/**
 * Builds a Reply from scratch: one question and the given sections, owner names compressed against
 * the question and the owners and CNAME/DNAME targets before them (NameTable; RDATA is written as
 * given). Compression keeps a synthesized answer as small as the A answer it came from allows: a
 * client's UDP size is measured against it (render). `ttl` is how long it may be cached.
 */
export function buildReply(
  qname: Uint8Array,
  qtype: number,
  qclass: number,
  flags: number,
  sections: [OutRecord[], OutRecord[], OutRecord[]],
  ttl: number,
): Reply {
  const w = new Writer(HEADER_LEN + qname.length + 4 + 64 * (sections[0].length + sections[1].length + 1));
  writeHeader(
    w,
    0,
    FLAG.QR | FLAG.RA | (flags & KEPT_FLAGS),
    1,
    sections[0].length,
    sections[1].length,
    sections[2].length,
  );
  const names = new NameTable();
  names.write(w, qname);
  w.u16(qtype);
  w.u16(qclass);
  const ttlOffsets: number[] = [];
  for (const s of sections)
    for (const r of s) ttlOffsets.push(writeRecord(w, r.name, r.type, r.class, r.ttl, r.rdata, names));
  return { wire: w.finish(), ttlOffsets, rcode: flags & 0x0f, ttl };
}

/** Parses a Reply's wire form (always well-formed: we built it). */
export function parseReply(reply: Reply): Message {
  const m = parseMessage(reply.wire);
  if (!m) throw new Error("internal: a reply does not parse");
  return m;
}

/** What the client asked, as far as the answer depends on it. */
export interface ClientQuery {
  id: number;
  flags: number;
  /** the question section exactly as the client sent it (case kept, RFC 4343 / 0x20) */
  question: Uint8Array;
  /** EDNS: undefined when the query had no OPT */
  edns: { udpSize: number; do: boolean } | undefined;
}

export const MIN_UDP = 512;

/** Largest UDP answer for this client: RFC 6891 §6.2.5, clamped to [512, 1232] (no fragments). */
export function udpLimit(q: ClientQuery): number {
  return q.edns ? ednsUdpLimit(q.edns.udpSize) : MIN_UDP;
}

/** udpLimit for a client that sent an OPT record with this UDP payload size. */
export function ednsUdpLimit(udpSize: number): number {
  return Math.max(MIN_UDP, Math.min(udpSize, EDNS_UDP_SIZE));
}

/**
 * The bytes to send for `reply` to `q`: the reply aged by `ageSeconds`, the client's ID, RD and CD,
 * its question bytes, and an OPT record if it sent one. Over UDP an answer larger than `limit` is
 * replaced by an empty one with TC set (RFC 2181 §9, RFC 7766 §5: the client retries over TCP).
 */
export function render(reply: Reply, q: ClientQuery, ageSeconds: number, limit: number): Uint8Array {
  const optLen = q.edns ? 11 : 0;
  const total = reply.wire.length + optLen;
  const dnssecOk = q.edns?.do ?? false;
  if (total > limit) {
    const flags = answerFlags(reply, q.flags, dnssecOk);
    const w = new Writer(HEADER_LEN + q.question.length + optLen);
    writeHeader(w, q.id, flags | FLAG.TC, 1, 0, 0, q.edns ? 1 : 0);
    w.bytes(q.question);
    if (q.edns) writeOpt(w, EDNS_UDP_SIZE, 0, q.edns.do);
    return w.finish();
  }
  // every byte is written by renderInto; allocUnsafe takes small buffers from a pool (no zeroing, no malloc)
  const out = Buffer.allocUnsafe(total);
  renderInto(
    out,
    reply,
    q.id,
    q.flags,
    q.question,
    0,
    q.question.length,
    q.edns !== undefined,
    dnssecOk,
    ageSeconds,
    limit,
  );
  return out;
}

/** The answer's header flags: the reply's, the client's RD and CD, AD only if asked for. */
function answerFlags(reply: Reply, clientFlags: number, dnssecOk: boolean): number {
  const flags = readU16(reply.wire, 2) | (clientFlags & (FLAG.RD | FLAG.CD));
  // RFC 6840 §5.8: AD only for clients that asked for it with DO or AD
  return dnssecOk || clientFlags & FLAG.AD ? flags : flags & ~FLAG.AD;
}

/**
 * render's answer when it fits, written into `out` at 0 instead of a new buffer (the receive
 * thread writes into its send slot: recvthread.ts): the client's question is src[start..end) and
 * `clientFlags` its header flags, `opt` whether it sent an OPT record (`dnssecOk` its DO bit).
 * Returns the length, or -1 when the answer is longer than `limit` or `out` (render answers that
 * case with TC).
 */
export function renderInto(
  out: Uint8Array,
  reply: Reply,
  id: number,
  clientFlags: number,
  src: Uint8Array,
  start: number,
  end: number,
  opt: boolean,
  dnssecOk: boolean,
  ageSeconds: number,
  limit: number,
): number {
  const total = reply.wire.length + (opt ? 11 : 0);
  if (total > limit || total > out.length) return -1;
  const flags = answerFlags(reply, clientFlags, dnssecOk);
  out.set(reply.wire, 0);
  writeU16(out, 0, id);
  writeU16(out, 2, flags);
  // the question is the same name in another letter case (the cache key is case-folded)
  for (let i = start; i < end; i++) out[HEADER_LEN + i - start] = src[i]!;
  if (ageSeconds > 0) {
    for (const o of reply.ttlOffsets) {
      const t = ((out[o]! << 24) | (out[o + 1]! << 16) | (out[o + 2]! << 8) | out[o + 3]!) >>> 0;
      writeU32(out, o, t > ageSeconds ? t - ageSeconds : 0);
    }
  }
  if (opt) {
    writeU16(out, 10, readU16(out, 10) + 1);
    const o = reply.wire.length;
    out[o] = 0;
    writeU16(out, o + 1, TYPE.OPT);
    writeU16(out, o + 3, EDNS_UDP_SIZE);
    writeU32(out, o + 5, dnssecOk ? 0x8000 : 0);
    writeU16(out, o + 9, 0);
  }
  return total;
}

/** A header-and-question answer with an RCODE and no records (errors, REFUSED, local NODATA). */
export function errorReply(qname: Uint8Array, qtype: number, qclass: number, rcode: number): Reply {
  return buildReply(qname, qtype, qclass, rcode, [[], [], []], 0);
}
