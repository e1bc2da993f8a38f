// A tiny stub resolver for the tests: one query over UDP or TCP, dns-packet for the wire format.
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import type dnsPacket from "dns-packet";
import { type Decoded, decode, queryWire } from "./helpers.ts";

export interface AskOptions {
  tcp?: boolean;
  do?: boolean;
  cd?: boolean;
  edns?: boolean;
  timeoutMs?: number;
}

export async function askServer(
  host: string,
  port: number,
  name: string,
  type: dnsPacket.RecordType,
  o: AskOptions = {},
): Promise<Decoded> {
  const id = Math.floor(Math.random() * 0xffff);
  const q = queryWire(name, type, { id, do: o.do, cd: o.cd, edns: o.edns });
  const timeoutMs = o.timeoutMs ?? 4000;
  const family = host.includes(":") ? "udp6" : "udp4";
  const bytes = await new Promise<Uint8Array>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer from ${host}:${port} for ${name} ${type}${o.tcp ? " over TCP" : ""}`));
    }, timeoutMs);
    let cleanup = () => clearTimeout(timer);
    if (o.tcp) {
      const s = connect({ host, port });
      let buf = Buffer.alloc(0);
      cleanup = () => {
        clearTimeout(timer);
        s.destroy();
      };
      s.on("connect", () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        s.write(Buffer.concat([len, q]));
      });
      s.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const out = new Uint8Array(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          cleanup();
          resolve(out);
        }
      });
      s.on("error", (e) => {
        cleanup();
        reject(e);
      });
    } else {
      const s = createSocket(family);
      cleanup = () => {
        clearTimeout(timer);
        s.close();
      };
      s.on("message", (m) => {
        if (m.readUInt16BE(0) !== id) return;
        cleanup();
        resolve(new Uint8Array(m));
      });
      s.on("error", (e) => {
        cleanup();
        reject(e);
      });
      s.send(q, port, host);
    }
  });
  return decode(bytes);
}

/** The part of an answer the comparisons look at: RCODE, TC and the answer RRs, sorted. */
export function essence(p: Decoded, withTtl = false): { rcode: string; tc: boolean; answers: string[] } {
  const norm = (r: Decoded["answers"][number]) => {
    let data = r.data;
    if (typeof data === "string") data = data.toLowerCase();
    else data = JSON.stringify(data);
    return `${r.name.toLowerCase()} ${r.type} ${data}${withTtl ? ` ${r.ttl}` : ""}`;
  };
  return {
    rcode: p.rcode,
    tc: p.flag_tc,
    answers: p.answers
      .filter((r) => r.type !== "RRSIG")
      .map(norm)
      .sort(),
  };
}
