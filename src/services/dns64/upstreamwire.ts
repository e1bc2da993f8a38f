// The messages exchanged with an upstream resolver: the query we send, the test that an answer
// answers it (RFC 5452 §9.1), and the upstream's socket address.
import { sockaddrIn, sockaddrIn6 } from "../../util/sys/libc.ts";
import { addressBytes } from "./reuseport.ts";
import { EDNS_UDP_SIZE, FLAG, HEADER_LEN, type Message, Writer, writeHeader, writeOpt } from "./wire.ts";

export interface UpstreamEndpoint {
  family: 4 | 6;
  host: string;
  port: number;
}

export interface UpstreamQuestion {
  name: Uint8Array;
  type: number;
  class: number;
  dnssecOk: boolean;
  cd: boolean;
}

export interface UpstreamAnswer {
  wire: Uint8Array;
  msg: Message;
}

/**
 * Why an answer from upstream was not taken (counted per reason, never cached):
 * - malformed: shorter than a header, not a response, or not a parsable message
 * - noQuery: no query with this ID is waiting on the port it arrived at (a guess, or a late answer)
 * - source: the ID is waiting, but for another upstream address or port
 * - question: ID and source match, the question (name, type, class, count) does not
 * - case: all match but the letter case of the name (0x20 not echoed, or a forger's guess)
 */
export const REJECTIONS = ["malformed", "noQuery", "source", "question", "case"] as const;
export type Rejection = (typeof REJECTIONS)[number];

export type Rejections = Record<Rejection, number>;

export const newRejections = (): Rejections => ({
  malformed: 0,
  noQuery: 0,
  source: 0,
  question: 0,
  case: 0,
});

/**
 * The query we send: RD, the client's CD, EDNS(0) with our buffer size and the client's DO.
 * `name` is the question name as sent (with 0x20 case, dns0x20.ts), by default `q.name`.
 */
export function buildUpstreamQuery(id: number, q: UpstreamQuestion, name: Uint8Array = q.name): Uint8Array {
  const w = new Writer(HEADER_LEN + name.length + 4 + 11);
  writeHeader(w, id, FLAG.RD | (q.cd ? FLAG.CD : 0), 1, 0, 0, 1);
  w.bytes(name);
  w.u16(q.type);
  w.u16(q.class);
  writeOpt(w, EDNS_UDP_SIZE, 0, q.dnssecOk);
  return w.finish();
}

/**
 * RFC 5452 §9.1 on the answer's bytes, before anything else reads them: a response (QR) with the
 * ID of `query` and exactly one question, written out uncompressed and byte for byte the question
 * of `query` (so with the same letter case: 0x20). `qend` is where the question of `query` ends.
 * Undefined when it answers; otherwise why not ("case": equal but for the letter case).
 */
export function answerCheck(answer: Uint8Array, query: Uint8Array, qend: number): Rejection | undefined {
  if (answer.length < qend || !(answer[2]! & 0x80)) return "malformed";
  if (answer[0] !== query[0] || answer[1] !== query[1]) return "noQuery";
  if (answer[4] !== 0 || answer[5] !== 1) return "question";
  let caseOnly = false;
  for (let i = HEADER_LEN; i < qend; i++) {
    const a = answer[i]!;
    const b = query[i]!;
    if (a === b) continue;
    const la = a | 0x20;
    // a letter in the other case: only inside the name (type and class must be exact)
    if (i < qend - 4 && la === (b | 0x20) && la >= 0x61 && la <= 0x7a) caseOnly = true;
    else return "question";
  }
  return caseOnly ? "case" : undefined;
}

/** The socket address of an endpoint (struct sockaddr_in / sockaddr_in6), for sendmmsg and matching. */
export function endpointSockaddr(u: UpstreamEndpoint): Uint8Array {
  return u.family === 4
    ? sockaddrIn(addressBytes(u.host, 4), u.port)
    : sockaddrIn6(addressBytes(u.host, 6), 0, u.port);
}
