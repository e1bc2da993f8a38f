// An HTTPS server on 127.0.0.1 (a free port) that hands each whole request to a handler: the
// transport under the fake FortiGate, the fake IOS-XE and the scripted boxes of the hostile tests.
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";

export interface BoxRequest {
  method: string;
  /** the request target as sent: path and query */
  url: string;
  /** the Authorization header */
  auth: string | undefined;
  /** the body, as text */
  text: string;
}

export type BoxHandler = (req: BoxRequest, res: ServerResponse) => void;

export class HttpsBox {
  private readonly server: Server;
  port = 0;

  constructor(tls: { key: string; cert: string }, handler: BoxHandler) {
    this.server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () =>
        handler(
          {
            method: req.method ?? "GET",
            url: req.url ?? "/",
            auth: req.headers.authorization,
            text: Buffer.concat(chunks).toString("utf8"),
          },
          res,
        ),
      );
    });
  }

  /** Listens (default 127.0.0.1, a free port); resolves to the endpoint, https://127.0.0.1:PORT. */
  async start(host = "127.0.0.1", port = 0): Promise<string> {
    await new Promise<void>((r) => this.server.listen(port, host, r));
    this.port = (this.server.address() as AddressInfo).port;
    return `https://${host.includes(":") ? `[${host}]` : host}:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
