// The HTTPS client both drivers use: certificate checks on by default (a custom CA from a file;
// `insecureSkipVerify` turns them off by name only), and retries with exponential backoff for what
// is worth retrying. The credential in the headers is kept out of log lines and messages by the
// caller (./redact.ts: the logger it passes redacts every field, the run's report every text).
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import type { Logger } from "../util/log.ts";

export type HttpFailure = "unreachable" | "timeout" | "tls" | "http";

export class DeviceHttpError extends Error {
  constructor(
    message: string,
    readonly kind: HttpFailure,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export interface TlsOptions {
  insecureSkipVerify: boolean;
  /** PEM text of the CA that signed the device's certificate */
  ca?: string;
}

export interface HttpClientOptions {
  /** https://192.0.2.99 or https://[2001:db8::99]:8443 */
  endpoint: string;
  /** sent with every request (Authorization); never logged */
  headers: Record<string, string>;
  tls: TlsOptions;
  log: Logger;
  timeoutMs?: number;
  /** attempts after the first one for retryable failures */
  retries?: number;
  /** first backoff delay; doubles each attempt, with ±25 % jitter, capped at 10 s */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface HttpResponse {
  status: number;
  body: unknown;
}

export interface RequestOptions {
  query?: Record<string, string>;
  body?: unknown;
  contentType?: string;
  /** false: one attempt only (a POST that would create a second object on retry) */
  retry?: boolean;
  /** decide whether a response (status >= 400) is worth another attempt; default 502/503/504 */
  retryable?: (r: HttpResponse) => boolean;
}

export interface HttpClient {
  request(method: string, path: string, opts?: RequestOptions): Promise<HttpResponse>;
  readonly attempts: number;
  close(): void;
}

/** The largest reply body we read (a FortiGate's whole policy table is far smaller). */
export const MAX_REPLY_BYTES = 32 * 1024 * 1024;

const TLS_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_SIGNATURE_FAILURE",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/** Read a CA file named by the resource; a clear message when it is not there. */
export function readCa(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`tls.caFile ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function createHttpClient(o: HttpClientOptions): HttpClient {
  const base = new URL(o.endpoint);
  const agent = new Agent({
    keepAlive: true,
    noDelay: true,
    // Verification is on unless the resource turns it off by name.
    rejectUnauthorized: !o.tls.insecureSkipVerify,
    ca: o.tls.ca,
  });
  const timeoutMs = o.timeoutMs ?? 15000;
  const retries = o.retries ?? 4;
  const backoffMs = o.backoffMs ?? 500;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let attempts = 0;
  if (o.tls.insecureSkipVerify)
    o.log.warn(
      { endpoint: base.origin },
      "tls.insecureSkipVerify is set: the device's certificate is not checked",
    );

  function once(method: string, path: string, opts: RequestOptions): Promise<HttpResponse> {
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { Accept: opts.contentType ?? "application/json", ...o.headers };
    if (payload) {
      headers["Content-Type"] = opts.contentType ?? "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    attempts++;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          // A reply larger than any configuration we read is a broken or hostile box.
          if (size > MAX_REPLY_BYTES) {
            req.destroy(new DeviceHttpError(`reply larger than ${MAX_REPLY_BYTES} bytes`, "http"));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // a non-JSON reply is kept as text
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on("error", (e) => reject(new DeviceHttpError(e.message, "unreachable")));
      });
      req.on("timeout", () =>
        req.destroy(new DeviceHttpError(`no answer within ${timeoutMs} ms`, "timeout")),
      );
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (e instanceof DeviceHttpError) return reject(e);
        const code = e.code ?? "";
        if (TLS_CODES.has(code) || /certificate|self[- ]signed|SSL/i.test(e.message)) {
          reject(
            new DeviceHttpError(
              `TLS: ${code || e.message}: the device's certificate is not trusted (set tls.caFile to its CA, or tls.insecureSkipVerify: true)`,
              "tls",
            ),
          );
        } else reject(new DeviceHttpError(`${code || "error"}: ${e.message}`, "unreachable"));
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  return {
    get attempts() {
      return attempts;
    },
    close: () => agent.destroy(),
    async request(method, path, opts = {}) {
      const retryable =
        opts.retryable ?? ((r: HttpResponse) => r.status === 502 || r.status === 503 || r.status === 504);
      const max = opts.retry === false ? 0 : retries;
      for (let attempt = 0; ; attempt++) {
        let failure: DeviceHttpError | undefined;
        let res: HttpResponse | undefined;
        try {
          res = await once(method, path, opts);
        } catch (e) {
          failure = e as DeviceHttpError;
        }
        const logged = { method, path, attempt: attempt + 1 };
        if (res) {
          o.log.debug({ ...logged, status: res.status }, "device request");
          if (res.status < 400 || !retryable(res) || attempt >= max) return res;
          o.log.warn({ ...logged, status: res.status }, "device answered with a transient error; retrying");
        } else {
          if (failure!.kind === "tls" || failure!.kind === "http" || attempt >= max) throw failure;
          o.log.warn({ ...logged, error: failure!.message }, "device request failed; retrying");
        }
        const delay = Math.min(backoffMs * 2 ** attempt, 10000) * (0.75 + Math.random() * 0.5);
        await sleep(delay);
      }
    },
  };
}
