/**
 * Session handover: the NAT64's BIB entries and sessions (RFC 6146 §3.1, §3.2) carried from a
 * stopping translator to the next one, so that established connections outlive a restart (an agent
 * pod rolled by `helm upgrade`, `v6mostly run` stopped and started, a changed resource).
 *
 * Pure functions on bytes, no I/O (the service writes and reads the file: services/nat64/handover.ts):
 * - a stopping worker exports its sessions as fixed-size records ({@link exportSessions});
 * - the service wraps the records of every worker in a versioned file ({@link encodeHandover});
 * - the next service decodes it ({@link decodeHandover}: a truncated, corrupt or foreign file is a
 *   reason, never an exception), keeps the records that fit its configuration, ages their timers by
 *   the wall-clock time that passed and deals them to the workers that own their pool4 ports
 *   ({@link fitHandover});
 * - each new worker puts its records back into its tables ({@link restoreSessions}).
 *
 * File layout (all big-endian), version 1:
 *   0  "V6MH"   magic
 *   4  u8       version (1)
 *   5  u8       pool6 prefix length
 *   6  u16      record size (36)
 *   8  f64      written at (wall clock, ms since the epoch)
 *  16  16 B     pool6 prefix
 *  32  u32      record count
 *  36  records
 *  end u32      FNV-1a of every byte before it
 * Record (one session with its BIB entry inline):
 *   0 u8 protocol (1, 6, 17)   1 u8 TCP state (tcp.ts)   2 16 B IPv6 address   18 u16 IPv6 port
 *  20 u32 pool4 address        24 u16 pool4 port         26 u32 remote IPv4     30 u16 remote port
 *  32 u32 remaining lifetime, ms
 * Held IPv4 SYNs (§3.5.2.2, 6 s) and fragment flows are not carried.
 */
import type { PrefixData } from "../../util/net.ts";
import { read16, read32, write16, write32 } from "../siit/checksum.ts";
import { prefixBytes } from "../siit/config.ts";
import type { Pool4Range } from "./pool4.ts";
import { portOwner } from "./shard.ts";
import { CLIENT_LIMIT, type Nat64State, PROTO_NUM, type StaticBib } from "./state.ts";
import { TcpState } from "./tcp.ts";
import { prefixMatch } from "./translator.ts";

export const HANDOVER_VERSION = 1;
export const RECORD_BYTES = 36;
const MAGIC = [0x56, 0x36, 0x4d, 0x48]; // "V6MH"
const HEADER_BYTES = 36;
const TRAILER_BYTES = 4;
const MAX_REMAINING = 0xffffffff;

/** One carried session, as tools and tests see a record. */
export interface HandedSession {
  proto: number;
  state: number;
  ipv6: Uint8Array;
  port6: number;
  v4: number;
  port4: number;
  remote4: number;
  rport: number;
  remainingMs: number;
}

/** What a file holds once decoded: the records are a view into the file's bytes. */
export interface Handover {
  writtenAt: number;
  pool6: { bytes: Uint8Array; len: number };
  records: Uint8Array;
  count: number;
}

/** RFC 6146 §3.5 timers of each session, counted from `now`, as records (every session, oldest first). */
export function exportSessions(st: Nat64State, now: number): Uint8Array {
  const out = new Uint8Array(st.totalSessions() * RECORD_BYTES);
  let o = 0;
  for (let s = st.oldestSession(); s !== -1; s = st.newerSession(s)) {
    const remaining = st.sessionExpires(s) - now;
    if (remaining <= 0) continue;
    const b = st.sessionBib(s);
    out[o] = st.bibProto(b);
    out[o + 1] = st.sessionState(s);
    st.writeV6(b, out, o + 2);
    write16(out, o + 18, st.bibPort6(b));
    write32(out, o + 20, st.bibV4(b));
    write16(out, o + 24, st.bibPort4(b));
    write32(out, o + 26, st.sessionRemote4(s));
    write16(out, o + 30, st.sessionRport(s));
    write32(out, o + 32, Math.min(MAX_REMAINING, Math.ceil(remaining)));
    o += RECORD_BYTES;
  }
  return out.subarray(0, o);
}

/** FNV-1a over b[0, end). */
function fnv1a(b: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return h >>> 0;
}

/** The file: header, the workers' records one after the other, checksum. */
export function encodeHandover(
  writtenAt: number,
  pool6: PrefixData,
  parts: readonly Uint8Array[],
): Uint8Array {
  const p = prefixBytes(pool6, 6, "pool6");
  let n = 0;
  for (const r of parts) n += r.length;
  const out = new Uint8Array(HEADER_BYTES + n + TRAILER_BYTES);
  out.set(MAGIC, 0);
  out[4] = HANDOVER_VERSION;
  out[5] = p.len;
  write16(out, 6, RECORD_BYTES);
  new DataView(out.buffer).setFloat64(8, writtenAt);
  out.set(p.bytes, 16);
  write32(out, 32, n / RECORD_BYTES);
  let o = HEADER_BYTES;
  for (const r of parts) {
    out.set(r, o);
    o += r.length;
  }
  write32(out, o, fnv1a(out, o));
  return out;
}

function validRecord(r: Uint8Array, o: number): boolean {
  const proto = r[o]!;
  if (proto !== 1 && proto !== 6 && proto !== 17) return false;
  if (r[o + 1]! > TcpState.Trans || (proto !== 6 && r[o + 1] !== TcpState.Closed)) return false;
  return true;
}

/** A handover file's contents, or why it cannot be used (never throws). */
export function decodeHandover(buf: Uint8Array): Handover | { problem: string } {
  if (buf.length < HEADER_BYTES + TRAILER_BYTES) return { problem: `truncated: ${buf.length} bytes` };
  for (let i = 0; i < 4; i++) if (buf[i] !== MAGIC[i]) return { problem: "not a session handover file" };
  if (buf[4] !== HANDOVER_VERSION)
    return { problem: `version ${buf[4]}, this build reads version ${HANDOVER_VERSION}` };
  if (read16(buf, 6) !== RECORD_BYTES) return { problem: `record size ${read16(buf, 6)}` };
  const count = read32(buf, 32);
  const want = HEADER_BYTES + count * RECORD_BYTES + TRAILER_BYTES;
  if (buf.length !== want) return { problem: `${buf.length} bytes where ${count} sessions take ${want}` };
  const end = want - TRAILER_BYTES;
  if (read32(buf, end) !== fnv1a(buf, end)) return { problem: "checksum mismatch" };
  const len = buf[5]!;
  if (len > 128) return { problem: `prefix length ${len}` };
  const writtenAt = new DataView(buf.buffer, buf.byteOffset, buf.length).getFloat64(8);
  if (!Number.isFinite(writtenAt)) return { problem: "no write time" };
  const records = buf.subarray(HEADER_BYTES, end);
  for (let o = 0; o < records.length; o += RECORD_BYTES)
    if (!validRecord(records, o))
      return { problem: `session ${o / RECORD_BYTES}: invalid protocol or state` };
  return { writtenAt, pool6: { bytes: buf.slice(16, 32), len }, records, count };
}

/** Record i of a records array, as an object (tools, tests, logs). */
export function recordAt(r: Uint8Array, i: number): HandedSession {
  const o = i * RECORD_BYTES;
  return {
    proto: r[o]!,
    state: r[o + 1]!,
    ipv6: r.slice(o + 2, o + 18),
    port6: read16(r, o + 18),
    v4: read32(r, o + 20),
    port4: read16(r, o + 24),
    remote4: read32(r, o + 26),
    rport: read16(r, o + 30),
    remainingMs: read32(r, o + 32),
  };
}

/** Why a carried session was left behind (counted by reason). */
export type HandoverDrop = "prefix" | "source" | "pool4" | "expired";

export interface FittedHandover {
  /** Records per worker, timers already aged. */
  perWorker: Uint8Array[];
  kept: number;
  dropped: Partial<Record<HandoverDrop, number>>;
}

/** What the next translator is: what a carried session must fit. */
export interface HandoverTarget {
  pool6: PrefixData;
  pool4: readonly Pool4Range[];
  allowedSources?: readonly PrefixData[];
  staticBib?: readonly StaticBib[];
  /** Packet workers splitting pool4's ports (shard.ts). */
  workers: number;
}

function isStatic(t: HandoverTarget, r: Uint8Array, o: number): boolean {
  for (const s of t.staticBib ?? []) {
    if (PROTO_NUM[s.proto] !== r[o] || s.port6 !== read16(r, o + 18)) continue;
    if (s.ipv4 >>> 0 !== read32(r, o + 20) || s.port4 !== read16(r, o + 24)) continue;
    if (s.ipv6.every((v, k) => r[o + 2 + k] === v)) return true;
  }
  return false;
}

function inPool4(pool4: readonly Pool4Range[], v4: number, port: number): boolean {
  for (const p of pool4)
    if (v4 >= p.first >>> 0 && v4 <= p.last >>> 0 && port >= p.portMin && port <= p.portMax) return true;
  return false;
}

/**
 * The records that still fit the next translator: same pool6 prefix, an IPv6 source it still
 * allows, a pool4 address and port it still hands out (or a static BIB entry it still has), a
 * lifetime left after `ageMs` of wall-clock time (RFC 6146 §3.5: an expired session is gone).
 * Each goes to the worker that owns its pool4 port (shard.ts).
 */
export function fitHandover(h: Handover, target: HandoverTarget, ageMs: number): FittedHandover {
  const dropped: Partial<Record<HandoverDrop, number>> = {};
  const drop = (why: HandoverDrop, n = 1) => {
    dropped[why] = (dropped[why] ?? 0) + n;
  };
  const n = Math.max(1, target.workers);
  const p6 = prefixBytes(target.pool6, 6, "pool6");
  if (p6.len !== h.pool6.len || !prefixMatch(h.pool6.bytes, 0, p6)) {
    drop("prefix", h.count);
    return { perWorker: Array.from({ length: n }, () => new Uint8Array(0)), kept: 0, dropped };
  }
  const allowed = (target.allowedSources ?? []).map((p) => prefixBytes(p, 6, "allowedSources"));
  const age = Math.max(0, Math.ceil(ageMs));
  const r = h.records;
  // First the owner of each record (-1: left behind), then each worker's records, aged.
  const owner = new Int8Array(h.count);
  const sizes = new Array<number>(n).fill(0);
  for (let i = 0, o = 0; i < h.count; i++, o += RECORD_BYTES) {
    owner[i] = -1;
    if (read32(r, o + 32) <= age) drop("expired");
    else if (allowed.length > 0 && !allowed.some((p) => prefixMatch(r, o + 2, p))) drop("source");
    else if (!inPool4(target.pool4, read32(r, o + 20), read16(r, o + 24)) && !isStatic(target, r, o))
      drop("pool4");
    else {
      owner[i] = n > 1 ? portOwner(read16(r, o + 24), n) : 0;
      sizes[owner[i]!]! += RECORD_BYTES;
    }
  }
  const perWorker = sizes.map((size) => new Uint8Array(size));
  const used = new Array<number>(n).fill(0);
  let kept = 0;
  for (let i = 0, o = 0; i < h.count; i++, o += RECORD_BYTES) {
    const w = owner[i]!;
    if (w < 0) continue;
    const out = perWorker[w]!;
    out.set(r.subarray(o, o + RECORD_BYTES), used[w]);
    write32(out, used[w]! + 32, read32(r, o + 32) - age);
    used[w]! += RECORD_BYTES;
    kept++;
  }
  return { perWorker, kept, dropped };
}

/**
 * Puts carried sessions back into a worker's tables at clock time `now`: the BIB entry with its
 * pool4 address and port (or the static entry already there), then the session with its TCP state
 * and remaining lifetime. A record that conflicts with the tables (its port taken, its host paired
 * with another pool4 address, a client or table limit) is refused and counted.
 */
export function restoreSessions(
  st: Nat64State,
  r: Uint8Array,
  now: number,
): { restored: number; refused: number } {
  let restored = 0;
  let refused = 0;
  for (let o = 0; o + RECORD_BYTES <= r.length; o += RECORD_BYTES) {
    if (!validRecord(r, o)) {
      refused++;
      continue;
    }
    const proto = r[o]!;
    const port6 = read16(r, o + 18);
    const v4 = read32(r, o + 20);
    const port4 = read16(r, o + 24);
    let b = st.findBib6(proto, r, o + 2, port6);
    const fresh = b === -1;
    if (fresh) {
      if (st.findBib4(proto, v4, port4) !== -1) b = -1;
      else b = st.createBib(proto, r, o + 2, port6, v4 * 65536 + port4);
    } else if (st.bibV4(b) !== v4 || st.bibPort4(b) !== port4) b = -1;
    if (b < 0) {
      refused++;
      continue;
    }
    const remote4 = read32(r, o + 26);
    const rport = read16(r, o + 30);
    const s = st.findSession(b, remote4, rport) === -1 ? st.createSession(b, remote4, rport, now) : -1;
    if (s === -1 || s === CLIENT_LIMIT) {
      if (fresh) st.releaseUnused(b);
      refused++;
      continue;
    }
    st.restoreTimer(s, r[o + 1]!, now + read32(r, o + 32));
    restored++;
  }
  return { restored, refused };
}
