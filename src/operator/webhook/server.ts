// The webhook's HTTPS server: POST /validate (an AdmissionReview), GET /healthz. Every operator
// replica serves it, leader or not. The certificate is swapped in place when the Secret rotates
// (open connections keep theirs). Bodies are bounded; anything odd is answered and counted.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { Counter, type Registry } from "prom-client";
import type { Logger } from "../../util/log.ts";
import { parseEndpoint } from "../../util/net.ts";
import { type Answer, answerReview, malformed, type Outcome } from "./admission.ts";
import { WEBHOOK_PATH } from "./configuration.ts";

/**
 * The largest request read. An AdmissionReview carries the object and, for an update, the old
 * one; etcd stores objects up to 1.5 MiB, and JSON with the request's other fields stays under
 * this (controller-runtime's limit, for the same reason).
 */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

export interface WebhookServerOptions {
  /** ":9443" (every address, IPv6 and IPv4), "0.0.0.0:9443", "[::]:9443", "[fd00::1]:9443"; port 0: any free port */
  address: string;
  cert: string;
  key: string;
  log: Logger;
  metrics?: Registry;
  maxBodyBytes?: number;
}

export interface WebhookServer {
  setCertificate(cert: string, key: string): void;
  /** reviews answered, by outcome (also in the Prometheus registry when one was given) */
  readonly counts: Record<Outcome | "too_large" | "bad_request", number>;
  address(): string;
  close(): Promise<void>;
}

/** host and port of --webhook-address; the host is undefined for ":PORT" */
export function parseListenAddress(text: string): { host?: string; port: number } {
  const any = /^:(\d{1,5})$/.exec(text.trim());
  if (any) {
    const port = Number(any[1]);
    if (port > 65535) throw new Error(`"${text}": port must be 0 to 65535`);
    return { port };
  }
  // port 0 asks the kernel for a free port (tests); parseEndpoint wants 1 to 65535
  const ephemeral = /:0$/.test(text);
  const ep = parseEndpoint(ephemeral ? text.replace(/:0$/, ":1") : text, 9443);
  if (!ep.ok) throw new Error(ep.error);
  return { host: ep.value.host, port: ephemeral ? 0 : ep.value.port };
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const { log } = opts;
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const counts: WebhookServer["counts"] = {
    allowed: 0,
    warned: 0,
    denied: 0,
    skipped: 0,
    malformed: 0,
    too_large: 0,
    bad_request: 0,
  };
  const METRIC = "v6mostly_webhook_reviews_total";
  const reviews = opts.metrics
    ? ((opts.metrics.getSingleMetric(METRIC) as Counter<"kind" | "operation" | "outcome"> | undefined) ??
      new Counter({
        name: METRIC,
        help: "admission reviews answered, by kind, operation and outcome (allowed, warned, denied, skipped, malformed, too_large, bad_request)",
        labelNames: ["kind", "operation", "outcome"],
        registers: [opts.metrics],
      }))
    : undefined;
  const count = (outcome: keyof typeof counts, kind = "", operation = "") => {
    counts[outcome]++;
    reviews?.inc({ kind, operation, outcome });
  };
  const { host, port } = parseListenAddress(opts.address);

  const server: Server = createServer(
    { cert: opts.cert, key: opts.key, minVersion: "TLSv1.2", requestTimeout: 30_000 },
    (req, res) => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
        });
        res.end(text);
      };
      const url = new URL(req.url ?? "/", "https://webhook");
      if (url.pathname === "/healthz" && req.method === "GET") return send(200, { ok: true });
      if (url.pathname !== WEBHOOK_PATH) {
        count("bad_request");
        return send(404, { error: `no ${url.pathname}; POST AdmissionReviews to ${WEBHOOK_PATH}` });
      }
      if (req.method !== "POST") {
        count("bad_request");
        res.setHeader("allow", "POST");
        return send(405, { error: `${req.method} ${WEBHOOK_PATH}: POST an AdmissionReview` });
      }
      const declared = Number(req.headers["content-length"] ?? 0);
      // Refused at once; the rest of the body is read and dropped (never kept), and the
      // connection closes after the answer (requestTimeout bounds a sender that never stops).
      const tooLarge = () => {
        count("too_large");
        log.warn({ limit, declared: declared || undefined }, "admission review refused: body too large");
        res.setHeader("connection", "close");
        send(413, malformed("", `the body is larger than ${limit} bytes`).body);
      };
      if (declared > limit) {
        tooLarge();
        req.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= limit) chunks.push(c);
        else if (!res.headersSent) {
          chunks.length = 0;
          tooLarge();
        }
      });
      req.on("end", () => {
        if (size > limit) return;
        const answer: Answer = answerReview(Buffer.concat(chunks).toString("utf8"));
        count(answer.outcome, answer.kind, answer.operation);
        const detail = { kind: answer.kind, operation: answer.operation, object: answer.object };
        if (answer.outcome === "malformed")
          log.warn({ ...detail, error: answer.body.response.status?.message }, "malformed admission review");
        else if (answer.outcome === "denied")
          log.info({ ...detail, outcome: answer.outcome }, "admission refused");
        else log.debug({ ...detail, outcome: answer.outcome }, "admission answered");
        send(answer.httpStatus, answer.body);
      });
      req.on("error", () => {
        // the client went away; nothing to answer
      });
    },
  );
  server.on("tlsClientError", (e) => log.debug({ err: e.message }, "webhook TLS handshake failed"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    counts,
    setCertificate(cert, key) {
      server.setSecureContext({ cert, key, minVersion: "TLSv1.2" });
    },
    address() {
      const a = server.address() as AddressInfo;
      return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
