// The status server of a node runtime: /metrics (Prometheus), /healthz, /readyz, and JSON topics
// that services publish (/translations). It listens on loopback by default: it is for the host's
// own tools (`v6mostly translations`) and a Prometheus scraper, not for the network.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Registry } from "prom-client";
import { parseEndpoint } from "../util/net.ts";

export const DEFAULT_STATUS_ADDRESS = "127.0.0.1:9464";

export interface StatusServer {
  metrics: Registry;
  publish(resource: string, topic: string, provider: () => unknown): () => void;
  /** readiness, asked on every GET /readyz (so it follows reloads and failures) */
  setReadiness(provider: () => { ready: boolean; detail: unknown }): void;
  address(): string;
  close(): Promise<void>;
}

export async function startStatusServer(listen: string): Promise<StatusServer> {
  // port 0 asks the kernel for a free port (tests); parseEndpoint wants 1 to 65535
  const ephemeral = /:0$/.test(listen);
  const ep = parseEndpoint(ephemeral ? listen.replace(/:0$/, ":1") : listen, 9464);
  if (!ep.ok) throw new Error(ep.error);
  const port = ephemeral ? 0 : ep.value.port;
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: "v6mostly_" });
  const topics = new Map<string, Map<string, () => unknown>>();
  let readiness: () => { ready: boolean; detail: unknown } = () => ({ ready: false, detail: "starting" });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://status");
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(`${JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
    };
    if (req.method !== "GET") return json(405, { error: "GET only" });
    if (url.pathname === "/metrics") {
      metrics.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.contentType });
          res.end(text);
        },
        (e: Error) => json(500, { error: e.message }),
      );
      return;
    }
    if (url.pathname === "/healthz") return json(200, { ok: true });
    if (url.pathname === "/readyz") {
      const r = readiness();
      return json(r.ready ? 200 : 503, r);
    }
    const topic = topics.get(url.pathname.slice(1));
    if (!topic)
      return json(404, { error: `no ${url.pathname}`, topics: [...topics.keys()].map((t) => `/${t}`) });
    const body: Record<string, unknown> = {};
    for (const [resource, provider] of topic) {
      try {
        body[resource] = provider();
      } catch (e) {
        body[resource] = { error: (e as Error).message };
      }
    }
    return json(200, body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, ep.value.host, () => resolve());
  });
  return {
    metrics,
    publish(resource, topic, provider) {
      let m = topics.get(topic);
      if (!m) {
        m = new Map();
        topics.set(topic, m);
      }
      m.set(resource, provider);
      return () => {
        topics.get(topic)?.delete(resource);
      };
    },
    setReadiness(provider) {
      readiness = provider;
    },
    address() {
      const a = server.address() as AddressInfo;
      return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
