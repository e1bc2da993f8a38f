// From a query's bytes to the answer's bytes, independent of the transport: the client checks
// (ACL → REFUSED), FORMERR/NOTIMP/BADVERS, the cached fast path and the resolver. Malformed input
// is answered with FORMERR when there is a header to answer to, or dropped and counted; nothing a
// client sends ends the process. The listeners (server.ts, udpbatch.ts, tcp.ts) feed it.
import type { ClientAcl } from "./access.ts";
import { keyTail } from "./cache.ts";
import {
  type ClientQuery,
  ednsUdpLimit,
  errorReply,
  MIN_UDP,
  render,
  renderInto,
  udpLimit,
} from "./reply.ts";
import type { Resolver } from "./resolver.ts";
import {
  BADVERS_EXT,
  EDNS_UDP_SIZE,
  FLAG,
  HEADER_LEN,
  lowerName,
  parseMessage,
  RCODE,
  readU16,
  TYPE,
  Writer,
  writeHeader,
  writeOpt,
} from "./wire.ts";

export interface ServerStats {
  udpQueries: number;
  tcpQueries: number;
  refused: number;
  rateLimited: number;
  formerr: number;
  notimp: number;
  dropped: number;
  truncated: number;
  cacheHits: number;
  errors: number;
  /** UDP queries received by recvmmsg (the receive thread, or a drain in udpbatch.ts), part of udpQueries */
  udpBatched: number;
}

export const newServerStats = (): ServerStats => ({
  udpQueries: 0,
  tcpQueries: 0,
  refused: 0,
  rateLimited: 0,
  formerr: 0,
  notimp: 0,
  dropped: 0,
  truncated: 0,
  cacheHits: 0,
  errors: 0,
  udpBatched: 0,
});

const keyScratch = Buffer.allocUnsafe(256 + 5);

/** handleLocal: the answer needs the resolver (upstream work or its cache), which is elsewhere. */
export const UPSTREAM = Symbol("upstream");

/**
 * The fast path's reading of a query (one uncompressed question, at most an EDNS(0) OPT, opcode
 * QUERY, `flags` its header flags): writes the cache key into keyScratch and returns the end of the
 * question, or -1 for anything else (the full path handles every other case). The key is
 * keyScratch[0 .. qend - HEADER_LEN + 1): the name, type, class and the DO/CD byte.
 */
function fastQuestion(query: Uint8Array, flags: number): number {
  const len = query.length;
  if (flags & 0x7800 || readU16(query, 4) !== 1 || readU16(query, 6) !== 0 || readU16(query, 8) !== 0)
    return -1;
  const arcount = readU16(query, 10);
  if (arcount > 1) return -1;
  const key = keyScratch;
  let pos = HEADER_LEN;
  for (;;) {
    if (pos >= len) return -1;
    const l = query[pos]!;
    if (l > 63 || pos - HEADER_LEN + l + 1 > 255) return -1;
    key[pos - HEADER_LEN] = l;
    pos++;
    if (l === 0) break;
    if (pos + l > len) return -1;
    for (let i = 0; i < l; i++) {
      const c = query[pos + i]!;
      key[pos - HEADER_LEN + i] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    pos += l;
  }
  if (pos + 4 > len) return -1;
  const qend = pos + 4;
  let dnssecOk = false;
  if (arcount === 1) {
    // OPT: root owner, type 41, class = UDP size, TTL = ext-RCODE/version/flags, RDLENGTH
    if (qend + 11 > len || query[qend] !== 0 || readU16(query, qend + 1) !== TYPE.OPT) return -1;
    if (query[qend + 6] !== 0) return -1; // EDNS version > 0: BADVERS on the full path
    if (qend + 11 + readU16(query, qend + 9) > len) return -1;
    dnssecOk = (query[qend + 7]! & 0x80) !== 0;
  }
  keyTail(
    key,
    pos - HEADER_LEN,
    readU16(query, pos),
    readU16(query, pos + 2),
    dnssecOk,
    (flags & FLAG.CD) !== 0,
  );
  return qend;
}

/** The cache key of a query the fast path can read (cacheKey's form), or undefined. */
export function queryCacheKey(query: Uint8Array): string | undefined {
  if (query.length < HEADER_LEN) return undefined;
  const qend = fastQuestion(query, readU16(query, 2));
  return qend < 0 ? undefined : keyScratch.toString("latin1", 0, qend - HEADER_LEN + 1);
}

/** A header-only answer (QDCOUNT 0) for a query whose question could not be read. */
function headerOnly(id: number, flags: number, rcode: number): Uint8Array {
  const w = new Writer(HEADER_LEN);
  writeHeader(w, id, FLAG.QR | FLAG.RA | (flags & (FLAG.RD | 0x7800)) | rcode, 0, 0, 0, 0);
  return w.finish();
}

/** From query bytes to answer bytes (or undefined: send nothing). Independent of the transport. */
export class QueryHandler {
  constructor(
    private readonly resolver: Resolver,
    private readonly acl: ClientAcl,
    readonly stats: ServerStats = newServerStats(),
  ) {}

  /**
   * `client` is the source address; `tcp` lifts the UDP size limit (RFC 7766: 65535). The promise
   * never rejects.
   */
  async handle(query: Uint8Array, client: string, tcp: boolean): Promise<Uint8Array | undefined> {
    try {
      return await this.handleUnsafe(query, client, tcp);
    } catch {
      this.stats.errors++;
      return undefined;
    }
  }

  /**
   * Synchronous part: returns bytes, undefined (drop) or a promise when upstream work is needed.
   * `borrowed`: the query bytes are valid during this call only (a receive buffer reused for the
   * next datagram), so the slow path copies them before it waits.
   */
  handleSync(
    query: Uint8Array,
    client: string,
    tcp: boolean,
    borrowed = false,
  ): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    try {
      return this.handleUnsafe(query, client, tcp, borrowed);
    } catch {
      this.stats.errors++;
      return undefined;
    }
  }

  /**
   * What this thread can answer without the resolver (a thread with a copy of the cache,
   * recvthread.ts): the checks, the errors and cached answers; UPSTREAM when the query needs the
   * resolver. `query` is not kept.
   */
  handleLocal(query: Uint8Array, client: string): Uint8Array | undefined | typeof UPSTREAM {
    try {
      return this.handleUnsafe(query, client, false, false, true);
    } catch {
      this.stats.errors++;
      return undefined;
    }
  }

  /**
   * The receive thread's hit path without allocating an answer (recvthread.ts): a UDP query the
   * fast path can read, from a client the ACL allows, whose answer is cached and fits, written into
   * `out` at 0; returns its length. -1 for everything else, which handleLocal then answers as
   * before (the checks here are the first ones of handleUnsafe, in its order).
   */
  cachedInto(query: Uint8Array, client: string, out: Uint8Array): number {
    try {
      if (query.length < HEADER_LEN) return -1;
      const flags = readU16(query, 2);
      if (flags & FLAG.QR || !this.acl.allows(client)) return -1;
      const qend = fastQuestion(query, flags);
      if (qend < 0) return -1;
      const hit = this.resolver.cachedBytes(keyScratch, qend - HEADER_LEN + 1);
      if (!hit) return -1;
      // fastQuestion checked the OPT record, if there is one
      const opt = readU16(query, 10) === 1;
      const limit = opt ? ednsUdpLimit(readU16(query, qend + 3)) : MIN_UDP;
      const dnssecOk = opt && (query[qend + 7]! & 0x80) !== 0;
      const n = renderInto(
        out,
        hit.reply,
        readU16(query, 0),
        flags,
        query,
        HEADER_LEN,
        qend,
        opt,
        dnssecOk,
        hit.age,
        limit,
      );
      if (n >= 0) this.stats.cacheHits++;
      return n;
    } catch {
      return -1; // handleLocal answers it, and counts the error if there is one
    }
  }

  private handleUnsafe(
    query: Uint8Array,
    client: string,
    tcp: boolean,
    borrowed: boolean,
    local: true,
  ): Uint8Array | undefined | typeof UPSTREAM;
  private handleUnsafe(
    query: Uint8Array,
    client: string,
    tcp: boolean,
    borrowed?: boolean,
  ): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  private handleUnsafe(
    query: Uint8Array,
    client: string,
    tcp: boolean,
    borrowed = false,
    local = false,
  ): Uint8Array | undefined | typeof UPSTREAM | Promise<Uint8Array | undefined> {
    if (query.length < HEADER_LEN) {
      this.stats.dropped++;
      return undefined;
    }
    const id = readU16(query, 0);
    const flags = readU16(query, 2);
    // RFC 1035 §4.1.1: a message with QR set is a response; answering it could start a loop
    if (flags & FLAG.QR) {
      this.stats.dropped++;
      return undefined;
    }
    if (!this.acl.allows(client)) {
      this.stats.refused++;
      return this.refuse(query, id, flags, tcp);
    }
    const fast = this.fromCache(query, id, flags, tcp);
    if (fast) return fast;
    if (borrowed) query = query.slice();
    const m = parseMessage(query);
    if (
      m?.qdcount !== 1 ||
      !m.question ||
      m.optCount > 1 ||
      m.question.end !== HEADER_LEN + m.question.name.length + 4
    ) {
      this.stats.formerr++;
      return headerOnly(id, flags, RCODE.FORMERR);
    }
    const q = m.question;
    const cq: ClientQuery = {
      id,
      flags,
      question: query.subarray(HEADER_LEN, q.end),
      edns: m.edns ? { udpSize: m.edns.udpSize, do: m.edns.do } : undefined,
    };
    const limit = tcp ? 65535 : udpLimit(cq);
    const name = lowerName(q.name);
    const opcode = (flags >>> 11) & 0xf;
    if (opcode !== 0) {
      this.stats.notimp++;
      return render(
        errorReply(name, q.type, q.class, RCODE.NOTIMP),
        { ...cq, flags: flags & ~0x7800 },
        0,
        limit,
      );
    }
    // RFC 6891 §6.1.3: only EDNS version 0 is spoken here
    if (m.edns && m.edns.version > 0) {
      const w = new Writer(HEADER_LEN + cq.question.length + 11);
      writeHeader(w, id, FLAG.QR | FLAG.RA | (flags & (FLAG.RD | FLAG.CD)), 1, 0, 0, 1);
      w.bytes(cq.question);
      writeOpt(w, EDNS_UDP_SIZE, BADVERS_EXT, m.edns.do);
      return w.finish();
    }
    if (q.type === TYPE.OPT) {
      this.stats.formerr++;
      return render(errorReply(name, q.type, q.class, RCODE.FORMERR), cq, 0, limit);
    }
    // zone transfers are an authoritative server's business (RFC 5936), not a forwarder's
    if (q.type === TYPE.AXFR || q.type === TYPE.IXFR) {
      this.stats.notimp++;
      return render(errorReply(name, q.type, q.class, RCODE.NOTIMP), cq, 0, limit);
    }
    if (local) return UPSTREAM;
    const dnssecOk = m.edns?.do ?? false;
    const cd = (flags & FLAG.CD) !== 0;
    return this.resolver
      .answer(name, q.type, q.class, dnssecOk, cd)
      .then((a) => this.out(render(a.reply, cq, a.age, limit)));
  }

  /**
   * The fast path for the common query (one uncompressed question, at most an EDNS(0) OPT, opcode
   * QUERY) whose answer is cached: the cache key is built straight from the query bytes. Anything
   * else returns undefined and takes the full path, which handles every error case.
   */
  private fromCache(query: Uint8Array, id: number, flags: number, tcp: boolean): Uint8Array | undefined {
    const qend = fastQuestion(query, flags);
    if (qend < 0) return undefined;
    const hit = this.resolver.cachedBytes(keyScratch, qend - HEADER_LEN + 1);
    if (!hit) return undefined;
    this.stats.cacheHits++;
    // fastQuestion checked the OPT record, if there is one
    const edns: ClientQuery["edns"] =
      readU16(query, 10) === 1
        ? { udpSize: readU16(query, qend + 3), do: (query[qend + 7]! & 0x80) !== 0 }
        : undefined;
    const cq: ClientQuery = { id, flags, question: query.subarray(HEADER_LEN, qend), edns };
    return this.out(render(hit.reply, cq, hit.age, tcp ? 65535 : udpLimit(cq)));
  }

  private out(bytes: Uint8Array): Uint8Array {
    if (readU16(bytes, 2) & FLAG.TC) this.stats.truncated++;
    return bytes;
  }

  private refuse(query: Uint8Array, id: number, flags: number, tcp: boolean): Uint8Array {
    const m = parseMessage(query);
    const q = m?.question;
    if (!m || !q || m.qdcount !== 1 || q.end !== HEADER_LEN + q.name.length + 4)
      return headerOnly(id, flags, RCODE.REFUSED);
    const cq: ClientQuery = { id, flags, question: query.subarray(HEADER_LEN, q.end), edns: undefined };
    return render(
      errorReply(lowerName(q.name), q.type, q.class, RCODE.REFUSED),
      cq,
      0,
      tcp ? 65535 : MIN_UDP,
    );
  }
}
