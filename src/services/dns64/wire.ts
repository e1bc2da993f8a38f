// DNS messages as bytes (RFC 1035 §4, RFC 6891 for OPT). The resolver forwards records it does not
// change byte for byte, so it works on the wire form here instead of decoding everything:
// dns-packet (used by the tests) decodes labels as UTF-8 text joined with ".", so a label holding a
// dot or binary bytes would not survive a decode/encode round trip.
//
// Every reader here checks bounds and returns `undefined` (never throws) on malformed input.

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  AAAA: 28,
  DNAME: 39,
  OPT: 41,
  RRSIG: 46,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** RFC 6891 §9: extended RCODE 16, carried as 1 in the OPT TTL's upper byte. */
export const BADVERS_EXT = 1;

// Header flag bits (second 16-bit word).
export const FLAG = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  AD: 0x0020,
  CD: 0x0010,
} as const;

export const HEADER_LEN = 12;
/** RFC 6891 §6.2.5 / DNS flag day 2020: a buffer size that avoids IP fragmentation. */
export const EDNS_UDP_SIZE = 1232;
export const EDNS_DO = 0x8000;

export interface Question {
  /** owner name in uncompressed wire form, as sent (case kept) */
  name: Uint8Array;
  type: number;
  class: number;
  /** offset just past the question */
  end: number;
}

export interface Record {
  section: 0 | 1 | 2; // answer, authority, additional
  /** owner name, uncompressed wire form */
  name: Uint8Array;
  type: number;
  class: number;
  ttl: number;
  /** offset of the RR's first byte (its owner name) in the message */
  start: number;
  ttlOffset: number;
  rdataOffset: number;
  rdlength: number;
  end: number;
}

export interface Edns {
  udpSize: number;
  extRcode: number;
  version: number;
  do: boolean;
}

export interface Message {
  id: number;
  flags: number;
  rcode: number;
  question: Question | undefined;
  qdcount: number;
  records: Record[];
  edns: Edns | undefined;
  /** number of OPT records seen (more than one is a FORMERR, RFC 6891 §6.1.1) */
  optCount: number;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export const readU16 = u16;
export const readU32 = u32;

/**
 * Reads a possibly compressed name at `offset` (RFC 1035 §4.1.4). Returns the uncompressed wire form
 * and the offset just past the name in the message, or undefined when it is malformed (pointer
 * loops, pointers forward, names over 255 bytes, labels with reserved 01/10 bits).
 */
export function readName(msg: Uint8Array, offset: number): { name: Uint8Array; end: number } | undefined {
  // first pass: check the name and measure it; second pass: copy its labels (no growing array)
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let size = 0;
  for (;;) {
    if (pos >= msg.length) return undefined;
    const len = msg[pos]!;
    if (len === 0) {
      size++;
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) return undefined;
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (end < 0) end = pos + 2;
      // only backwards, and a bounded number of jumps (no loops)
      if (target >= pos || ++jumps > 64) return undefined;
      pos = target;
      continue;
    }
    if (kind !== 0) return undefined;
    if (pos + 1 + len > msg.length) return undefined;
    if (size + 1 + len + 1 > 255) return undefined;
    size += 1 + len;
    pos += 1 + len;
  }
  // without pointers the name is one run of bytes
  if (jumps === 0) return { name: msg.slice(offset, end), end };
  const name = new Uint8Array(size);
  let o = 0;
  pos = offset;
  for (;;) {
    const len = msg[pos]!;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      pos = ((len & 0x3f) << 8) | msg[pos + 1]!;
      continue;
    }
    for (let i = 0; i <= len; i++) name[o + i] = msg[pos + i]!;
    o += 1 + len;
    pos += 1 + len;
  }
  return { name, end };
}

/** ASCII lower case of a wire name (RFC 4343: DNS names compare case-insensitively, ASCII only). */
export function lowerName(name: Uint8Array): Uint8Array {
  const out = new Uint8Array(name.length);
  let i = 0;
  while (i < name.length) {
    const len = name[i]!;
    out[i] = len;
    for (let k = 1; k <= len && i + k < name.length; k++) {
      const c = name[i + k]!;
      out[i + k] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    i += len + 1;
    if (len === 0) break;
  }
  return out;
}

export function nameEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a[i]!;
    let y = b[i]!;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** Presentation form for logs and tests ("www.example." ; "." for the root), RFC 4343 escapes. */
export function nameToText(name: Uint8Array): string {
  let s = "";
  let i = 0;
  while (i < name.length) {
    const len = name[i]!;
    if (len === 0) break;
    for (let k = 1; k <= len; k++) {
      const c = name[i + k]!;
      if (c === 0x2e || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
      else if (c <= 0x20 || c >= 0x7f) s += `\\${c.toString().padStart(3, "0")}`;
      else s += String.fromCharCode(c);
    }
    s += ".";
    i += len + 1;
  }
  return s === "" ? "." : s;
}

/** Wire form of a plain name ("www.example" or "www.example."); labels must be ASCII without dots. */
export function textToName(text: string): Uint8Array {
  const t = text.endsWith(".") ? text.slice(0, -1) : text;
  const out: number[] = [];
  if (t.length > 0) {
    for (const label of t.split(".")) {
      if (label.length === 0 || label.length > 63) throw new Error(`bad label in ${text}`);
      out.push(label.length);
      for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i) & 0xff);
    }
  }
  out.push(0);
  return Uint8Array.from(out);
}

/** True when `name` is `zone` or below it. */
export function isSubdomain(name: Uint8Array, zone: Uint8Array): boolean {
  if (zone.length > name.length) return false;
  // walk labels of name; the suffix starting at a label boundary must equal zone
  let i = 0;
  while (i < name.length) {
    if (name.length - i === zone.length) return nameEquals(name.subarray(i), zone);
    const len = name[i]!;
    if (len === 0) return false;
    i += len + 1;
  }
  return false;
}

/**
 * Parses a whole message: header, the (first) question and every resource record with its offsets.
 * Returns undefined when the message is malformed (truncated, counts beyond the data, bad names).
 * Trailing bytes after the last record are tolerated (as BIND and Unbound do).
 */
export function parseMessage(msg: Uint8Array): Message | undefined {
  if (msg.length < HEADER_LEN) return undefined;
  const id = u16(msg, 0);
  const flags = u16(msg, 2);
  const qdcount = u16(msg, 4);
  const counts = [u16(msg, 6), u16(msg, 8), u16(msg, 10)];
  let pos = HEADER_LEN;
  let question: Question | undefined;
  for (let q = 0; q < qdcount; q++) {
    const n = readName(msg, pos);
    if (!n || n.end + 4 > msg.length) return undefined;
    if (q === 0)
      question = { name: n.name, type: u16(msg, n.end), class: u16(msg, n.end + 2), end: n.end + 4 };
    pos = n.end + 4;
  }
  const records: Record[] = [];
  let edns: Edns | undefined;
  let optCount = 0;
  for (let section = 0 as 0 | 1 | 2; section < 3; section = (section + 1) as 0 | 1 | 2) {
    for (let r = 0; r < counts[section]!; r++) {
      const start = pos;
      const n = readName(msg, pos);
      if (!n || n.end + 10 > msg.length) return undefined;
      const type = u16(msg, n.end);
      const klass = u16(msg, n.end + 2);
      const ttl = u32(msg, n.end + 4);
      const rdlength = u16(msg, n.end + 8);
      const rdataOffset = n.end + 10;
      const end = rdataOffset + rdlength;
      if (end > msg.length) return undefined;
      records.push({
        section,
        name: n.name,
        type,
        class: klass,
        ttl,
        start,
        ttlOffset: n.end + 4,
        rdataOffset,
        rdlength,
        end,
      });
      if (type === TYPE.OPT) {
        optCount++;
        // RFC 6891 §6.1.1: OPT lives in the additional section, owned by the root
        if (section !== 2 || n.name.length !== 1) return undefined;
        if (optCount === 1) {
          edns = {
            udpSize: klass,
            extRcode: ttl >>> 24,
            version: (ttl >>> 16) & 0xff,
            do: (ttl & EDNS_DO) !== 0,
          };
        }
      }
      pos = end;
    }
  }
  return { id, flags, rcode: flags & 0x0f, question, qdcount, records, edns, optCount };
}

/** A growable byte buffer to build messages with. */
export class Writer {
  buf: Uint8Array;
  len = 0;
  constructor(size = 512) {
    this.buf = new Uint8Array(size);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.room(2);
    writeU16(this.buf, this.len, v);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    writeU32(this.buf, this.len, v);
    this.len += 4;
  }
  finish(): Uint8Array {
    // a buffer sized exactly is handed over as it is (the writer is not used after finish)
    return this.len === this.buf.length ? this.buf : this.buf.slice(0, this.len);
  }
}

/** Header with the given counts; returns the writer positioned after it. */
export function writeHeader(
  w: Writer,
  id: number,
  flags: number,
  qd: number,
  an: number,
  ns: number,
  ar: number,
): void {
  w.u16(id);
  w.u16(flags);
  w.u16(qd);
  w.u16(an);
  w.u16(ns);
  w.u16(ar);
}

/**
 * RFC 1035 §4.1.4 message compression, whole names only: the names written so far and where, so
 * that a name written again becomes a 2-byte pointer. Enough for the messages built here, where
 * every synthesized record repeats its owner name (the question's, or a CNAME target's).
 */
export class NameTable {
  private readonly names: Uint8Array[] = [];
  private readonly offsets: number[] = [];

  /** Remembers that `name` was written at `offset` (pointers reach 14 bits). */
  note(name: Uint8Array, offset: number): void {
    if (offset < 0x4000) {
      this.names.push(name);
      this.offsets.push(offset);
    }
  }

  /** Writes `name`: a pointer when the same bytes were written before, else the name (noted). */
  write(w: Writer, name: Uint8Array): void {
    for (let i = 0; i < this.names.length; i++) {
      if (bytesEqual(this.names[i]!, name)) {
        w.u16(0xc000 | this.offsets[i]!);
        return;
      }
    }
    this.note(name, w.len);
    w.bytes(name);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * An RR with the given rdata; the owner name uncompressed, or through `names` (NameTable), which
 * also learns the target of a CNAME or DNAME (the next owner of a chain). Returns the TTL field's
 * offset.
 */
export function writeRecord(
  w: Writer,
  name: Uint8Array,
  type: number,
  klass: number,
  ttl: number,
  rdata: Uint8Array,
  names?: NameTable,
): number {
  if (names) names.write(w, name);
  else w.bytes(name);
  w.u16(type);
  w.u16(klass);
  const ttlOffset = w.len;
  w.u32(ttl);
  w.u16(rdata.length);
  if (names && (type === TYPE.CNAME || type === TYPE.DNAME)) names.note(rdata, w.len);
  w.bytes(rdata);
  return ttlOffset;
}

/** RFC 6891 §6.1.2: the OPT pseudo-RR (11 bytes without options). */
export function writeOpt(w: Writer, udpSize: number, extRcode: number, dnssecOk: boolean): void {
  w.u8(0);
  w.u16(TYPE.OPT);
  w.u16(udpSize);
  w.u8(extRcode);
  w.u8(0); // version 0
  w.u16(dnssecOk ? EDNS_DO : 0);
  w.u16(0);
}

/**
 * RDATA of a record with any compressed names expanded, so that it can be copied into another
 * message. Only the types whose RDATA RFC 3597 §4 allows to be compressed are rewritten (NS, CNAME,
 * SOA, PTR, MX and the other RFC 1035 types); everything else is copied as is.
 */
export function expandRdata(msg: Uint8Array, r: Record): Uint8Array | undefined {
  const name = (o: number) => readName(msg, o);
  switch (r.type) {
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR:
    case 3 /* MD */:
    case 4 /* MF */:
    case 7 /* MB */:
    case 8 /* MG */:
    case 9 /* MR */:
      {
        const n = name(r.rdataOffset);
        if (!n || n.end !== r.end) return undefined;
        return n.name;
      }
    case TYPE.MX: {
      if (r.rdlength < 3) return undefined;
      const n = name(r.rdataOffset + 2);
      if (!n || n.end !== r.end) return undefined;
      return concat(msg.subarray(r.rdataOffset, r.rdataOffset + 2), n.name);
    }
    case TYPE.SOA: {
      const mname = name(r.rdataOffset);
      if (!mname) return undefined;
      const rname = name(mname.end);
      if (!rname || rname.end + 20 !== r.end) return undefined;
      return concat(mname.name, rname.name, msg.subarray(rname.end, r.end));
    }
    default:
      return msg.slice(r.rdataOffset, r.end);
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The offset just past a possibly compressed name at `offset`, checked as readName checks it, or -1
 * when it is malformed (for names that are only stepped over: nothing is copied).
 */
export function skipName(msg: Uint8Array, offset: number): number {
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let size = 0;
  for (;;) {
    if (pos >= msg.length) return -1;
    const len = msg[pos]!;
    if (len === 0) return end < 0 ? pos + 1 : end;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) return -1;
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (end < 0) end = pos + 2;
      if (target >= pos || ++jumps > 64) return -1;
      pos = target;
      continue;
    }
    if (kind !== 0) return -1;
    if (pos + 1 + len > msg.length) return -1;
    if (size + 1 + len + 1 > 255) return -1;
    size += 1 + len;
    pos += 1 + len;
  }
}

/** The SOA MINIMUM field (RFC 2308 §4) of an SOA record, or undefined if malformed. */
export function soaMinimum(msg: Uint8Array, r: Record): number | undefined {
  const mnameEnd = skipName(msg, r.rdataOffset);
  if (mnameEnd < 0) return undefined;
  const rnameEnd = skipName(msg, mnameEnd);
  if (rnameEnd < 0 || rnameEnd + 20 !== r.end) return undefined;
  return u32(msg, rnameEnd + 16);
}

/**
 * RFC 2308 §5: how long a negative answer may be cached: the smaller of the SOA record's TTL and its
 * MINIMUM field. Undefined when the authority section carries no SOA.
 */
export function negativeTtl(msg: Uint8Array, m: Message): number | undefined {
  for (const r of m.records) {
    if (r.section === 1 && r.type === TYPE.SOA) {
      const min = soaMinimum(msg, r);
      return min === undefined ? r.ttl : Math.min(r.ttl, min);
    }
  }
  return undefined;
}
