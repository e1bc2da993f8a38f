// The lab's web servers in the "internet" namespace (`v6mostly lab serve`, hidden): every answer
// is `{"from": "<the source address this connection came from>"}`, the evidence of the path.
import { createServer, type Server } from "node:http";

export async function serveHttp(listen: { host: string; port: number }[]): Promise<Server[]> {
  const servers: Server[] = [];
  for (const l of listen) {
    const s = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json", connection: "close" });
      res.end(`${JSON.stringify({ from: req.socket.remoteAddress, to: req.socket.localAddress })}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(l.port, l.host, () => resolve());
    });
    servers.push(s);
  }
  return servers;
}
