// One DNS query over UDP for the doctor and the lab's probe: the answer's records of one type and
// the rcode, never an exception. Errors do not name the server: the caller does, once.
import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";
import { describeSocketError } from "../util/net.ts";

/** One DNS query over UDP (RFC 1035 §4.2.1), with a timeout. Never throws. */
export async function query(
  server: string,
  name: string,
  type: "A" | "AAAA",
  timeoutMs: number,
): Promise<{ answers: string[]; rcode: string; error?: string }> {
  return await new Promise((resolve) => {
    const sock = createSocket(server.includes(":") ? "udp6" : "udp4");
    const id = Math.floor(Math.random() * 65535);
    const timer = setTimeout(() => {
      sock.close();
      resolve({ answers: [], rcode: "TIMEOUT", error: `no answer in ${timeoutMs} ms` });
    }, timeoutMs);
    sock.on("error", (e) => {
      clearTimeout(timer);
      sock.close();
      resolve({ answers: [], rcode: "ERROR", error: describeSocketError(e) });
    });
    sock.on("message", (buf) => {
      try {
        const p = dnsPacket.decode(buf);
        if (p.id !== id) return;
        clearTimeout(timer);
        sock.close();
        const answers = (p.answers ?? [])
          .filter((a) => a.type === type)
          .map((a) => String((a as { data: unknown }).data));
        resolve({ answers, rcode: (p as { rcode?: string }).rcode ?? "NOERROR" });
      } catch (e) {
        clearTimeout(timer);
        sock.close();
        resolve({ answers: [], rcode: "FORMERR", error: `undecodable answer: ${(e as Error).message}` });
      }
    });
    const msg = dnsPacket.encode({
      type: "query",
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name, class: "IN" }],
    });
    sock.send(msg, 53, server, (err) => {
      if (err) {
        clearTimeout(timer);
        sock.close();
        resolve({ answers: [], rcode: "ERROR", error: describeSocketError(err) });
      }
    });
  });
}
