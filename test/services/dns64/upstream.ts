// Scripted upstreams for the service tests: dns-packet servers on loopback, UDP and TCP.
import { createSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import dnsPacket from "dns-packet";

/** A TCP listener on 127.0.0.1:`port` answering each connection's one query with `answer(query)`. */
export async function tcpResponder(port: number, answer: (query: Buffer) => Buffer): Promise<Server> {
  const tcp = createServer((c) => {
    c.on("data", (d) => {
      const out = answer(d.subarray(2));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(out.length);
      c.end(Buffer.concat([len, out]));
    });
  });
  await new Promise<void>((r) => tcp.listen(port, "127.0.0.1", () => r()));
  return tcp;
}

/** A UDP+TCP upstream: A 192.0.2.1 for every name, AAAA NODATA; over UDP names starting "tc" get TC. */
export async function fakeUpstream(port: number) {
  const seen = { udp: 0, tcp: 0 };
  const answer = (q: dnsPacket.Packet, tcp: boolean): Buffer => {
    const question = q.questions![0]!;
    const truncate = !tcp && question.name.toLowerCase().startsWith("tc");
    return dnsPacket.encode({
      type: "response",
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (truncate ? dnsPacket.TRUNCATED_RESPONSE : 0),
      questions: q.questions,
      answers:
        truncate || question.type !== "A"
          ? []
          : [{ type: "A", name: question.name, ttl: 300, class: "IN", data: "192.0.2.1" }],
      authorities:
        question.type === "A"
          ? []
          : [
              {
                type: "SOA",
                name: "example",
                ttl: 300,
                class: "IN",
                data: {
                  mname: "ns.example",
                  rname: "h.example",
                  serial: 1,
                  refresh: 1,
                  retry: 1,
                  expire: 1,
                  minimum: 60,
                },
              },
            ],
    });
  };
  const udp = createSocket("udp4");
  udp.on("message", (m, r) => {
    seen.udp++;
    udp.send(answer(dnsPacket.decode(m), false), r.port, r.address);
  });
  await new Promise<void>((r) => udp.bind(port, "127.0.0.1", () => r()));
  const tcp = await tcpResponder(port, (m) => {
    seen.tcp++;
    return answer(dnsPacket.decode(m), true);
  });
  return {
    seen,
    close: async () => {
      udp.close();
      await new Promise((r) => tcp.close(r));
    },
  };
}

export interface Scripted {
  rcode?: "NOERROR" | "SERVFAIL" | "NXDOMAIN" | "REFUSED";
  answers?: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
}

/**
 * A UDP+TCP upstream answering from a table keyed "name TYPE" (lower case), REFUSED for anything
 * else: for answers no real zone gives, such as an A query that fails where the AAAA query of the
 * same name did not. `asked` lists the questions it got.
 */
export async function scriptedUpstream(port: number, table: Record<string, Scripted>) {
  const asked: string[] = [];
  const rcodes = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };
  const answer = (m: Buffer): Buffer => {
    const q = dnsPacket.decode(m);
    const question = q.questions![0]!;
    const key = `${question.name.toLowerCase()} ${question.type}`;
    asked.push(key);
    const e = table[key] ?? { rcode: "REFUSED" };
    return dnsPacket.encode({
      type: "response",
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED | rcodes[e.rcode ?? "NOERROR"],
      questions: q.questions,
      answers: e.answers ?? [],
      authorities: e.authorities ?? [],
    });
  };
  const udp = createSocket("udp4");
  udp.on("message", (m, r) => udp.send(answer(m), r.port, r.address));
  await new Promise<void>((r) => udp.bind(port, "127.0.0.1", () => r()));
  const tcp = await tcpResponder(port, answer);
  return {
    asked,
    close: async () => {
      udp.close();
      await new Promise((r) => tcp.close(r));
    },
  };
}
