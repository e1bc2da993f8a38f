/**
 * The session table as a packet worker publishes it once a second (`/translations`, `v6mostly
 * translations`): at most `limit` sessions, oldest first, as numbers in one Uint32Array
 * (SESSION_WORDS per session) that postMessage transfers instead of copying. The main thread
 * turns them into rows of text only when someone asks (sessionRows).
 *
 * Why numbers: built as rows of strings in the worker, the table cost 5 to 24 ms a second at
 * 10k to 60k sessions, time the loop spent away from the TUN queue (issue 19); the numbers take
 * a fraction of a millisecond and leave no garbage for the worker's collector.
 */
import { format4, format6 } from "../../util/addrtext.ts";
import type { Nat64State } from "../nat64/state.ts";
import { tcpStateName } from "../nat64/tcp.ts";
import { write32 } from "../siit/checksum.ts";
import type { Rfc6052Prefix } from "../siit/index.ts";
import type { SessionRow } from "./contract.ts";

/** Words per session: proto, IPv6 address (4), IPv6 port, IPv4, IPv4 port, remote IPv4, remote port, TCP state, seconds left, static. */
export const SESSION_WORDS = 13;

/** The first `limit` sessions of `st` (oldest first), their expiry counted from `now` (ms). */
export function sessionRecords(st: Nat64State, limit: number, now: number): Uint32Array {
  const n = Math.min(limit, st.totalSessions());
  const r = new Uint32Array(n * SESSION_WORDS);
  let o = 0;
  for (let s = st.oldestSession(); s !== -1 && o < r.length; s = st.newerSession(s)) {
    const b = st.sessionBib(s);
    r[o] = st.bibProto(b);
    for (let k = 0; k < 4; k++) r[o + 1 + k] = st.bibV6Word(b, k);
    r[o + 5] = st.bibPort6(b);
    r[o + 6] = st.bibV4(b);
    r[o + 7] = st.bibPort4(b);
    r[o + 8] = st.sessionRemote4(s);
    r[o + 9] = st.sessionRport(s);
    r[o + 10] = st.sessionState(s);
    r[o + 11] = Math.max(0, Math.round((st.sessionExpires(s) - now) / 1000));
    r[o + 12] = st.bibIsStatic(b) ? 1 : 0;
    o += SESSION_WORDS;
  }
  return r;
}

function protoName(p: number): "tcp" | "udp" | "icmp" {
  return p === 6 ? "tcp" : p === 17 ? "udp" : "icmp";
}

/** Records of sessionRecords as rows, at most `limit`; the remote's IPv6 address embeds it in `pool6`. */
export function sessionRows(
  r: Uint32Array,
  pool6: Rfc6052Prefix,
  limit = Number.POSITIVE_INFINITY,
): SessionRow[] {
  const rows: SessionRow[] = [];
  const v6 = new Uint8Array(16);
  const v4 = new Uint8Array(4);
  const r6 = new Uint8Array(16);
  for (let o = 0; o + SESSION_WORDS <= r.length && rows.length < limit; o += SESSION_WORDS) {
    const proto = r[o]!;
    for (let k = 0; k < 4; k++) write32(v6, 4 * k, r[o + 1 + k]!);
    const remote4 = r[o + 8]!;
    write32(v4, 0, remote4);
    pool6.embed(v4, 0, r6, 0);
    rows.push({
      proto: protoName(proto),
      ipv6: format6(v6),
      port6: r[o + 5]!,
      ipv4: format4(r[o + 6]!),
      port4: r[o + 7]!,
      remote4: format4(remote4),
      // ICMP: the identifier is the BIB's (RFC 6146 §3.5.3), there is no remote port
      remotePort: proto === 1 ? r[o + 7]! : r[o + 9]!,
      remote6: format6(r6),
      state: proto === 6 ? tcpStateName[r[o + 10]!]! : "",
      expiresIn: r[o + 11]!,
      static: r[o + 12] === 1,
    });
  }
  return rows;
}
