// The messages exchanged with an upstream resolver: the query we send and the test that an answer
// answers it (RFC 5452 §9.1), and the upstream's socket address.
import { sockaddrIn, sockaddrIn6 } from "../../util/sys/libc.ts";
import { addressBytes } from "./reuseport.ts";
import {
  EDNS_UDP_SIZE,
  FLAG,
  HEADER_LEN,
  type Message,
  nameEquals,
  Writer,
  writeHeader,
  writeOpt,
} from "./wire.ts";

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

/** The query we send: RD, the client's CD, EDNS(0) with our buffer size and the client's DO. */
export function buildUpstreamQuery(id: number, q: UpstreamQuestion): Uint8Array {
  const w = new Writer(HEADER_LEN + q.name.length + 4 + 11);
  writeHeader(w, id, FLAG.RD | (q.cd ? FLAG.CD : 0), 1, 0, 0, 1);
  w.bytes(q.name);
  w.u16(q.type);
  w.u16(q.class);
  writeOpt(w, EDNS_UDP_SIZE, 0, q.dnssecOk);
  return w.finish();
}

/** Does this message answer that question? (QR set, same ID, the same question, RFC 5452 §9.1) */
export function matchesQuestion(msg: Message, id: number, q: UpstreamQuestion): boolean {
  return (
    msg.id === id &&
    (msg.flags & FLAG.QR) !== 0 &&
    msg.qdcount === 1 &&
    msg.optCount <= 1 &&
    msg.question !== undefined &&
    msg.question.type === q.type &&
    msg.question.class === q.class &&
    msg.question.end === HEADER_LEN + msg.question.name.length + 4 && // question uncompressed
    nameEquals(msg.question.name, q.name)
  );
}

/** The socket address of an endpoint (struct sockaddr_in / sockaddr_in6), for sendmmsg and matching. */
export function endpointSockaddr(u: UpstreamEndpoint): Uint8Array {
  return u.family === 4
    ? sockaddrIn(addressBytes(u.host, 4), u.port)
    : sockaddrIn6(addressBytes(u.host, 6), 0, u.port);
}
