// The validating admission webhook of `v6mostly operator`: served by every replica (the API
// server's Service picks any), from the certificate Secret they share, with the
// ValidatingWebhookConfiguration's caBundle kept equal to the Secret's CAs.
//
// Who writes the caBundle: every replica, idempotently, whenever the certificate it serves
// changes, not the leader alone. The configuration is a function of the Secret, which all
// replicas read; applying the same object under the one field manager is a no-op for the API, so
// replicas cannot fight, and a webhook served by followers stays trusted while leader election is
// stuck or changing hands.
import { setTimeout as sleep } from "node:timers/promises";
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "../../util/log.ts";
import { FIELD_MANAGER } from "../reconcile/plan.ts";
import { CORE, type KubeClient, type KubeObject } from "../runtime/client.ts";
import { Informer } from "../runtime/informer.ts";
import { type CertificateBundle, type Lifetimes, splitPem, summarize } from "./certificates.ts";
import {
  caBundleOnly,
  type FailurePolicy,
  serviceHosts,
  validatingWebhookConfiguration,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_NAME,
} from "./configuration.ts";
import { CertificateSecret } from "./secret.ts";
import { startWebhookServer, type WebhookServer } from "./server.ts";

export interface WebhookOptions {
  client: KubeClient;
  /** the operator's namespace: the Secret, and the Service the configuration names */
  namespace: string;
  log: Logger;
  /** where to listen: ":9443" is every address, IPv6 and IPv4 */
  address: string;
  /** more names for the certificate: addresses or DNS names a --webhook-url may use */
  hosts?: string[];
  /** the configuration calls this URL instead of the Service; its host joins the certificate */
  url?: string;
  /** create and update the whole configuration; otherwise only the caBundle of one that exists */
  manageConfig?: boolean;
  failurePolicy?: FailurePolicy;
  timeoutSeconds?: number;
  metrics?: Registry;
  secretName?: string;
  lifetimes?: Lifetimes;
  now?: () => Date;
}

type Configuration = KubeObject & { webhooks?: ({ name: string } & Record<string, unknown>)[] };

export class Webhook {
  readonly secret: CertificateSecret;
  private server: WebhookServer | undefined;
  private readonly abort = new AbortController();
  private readonly configurations: Informer<Configuration>;
  private syncing = false;
  private syncAgain = false;
  private missingLogged = false;
  private readonly expiry: Gauge | undefined;
  /** configuration writes, for tests */
  readonly counts = { configApplied: 0, configFailures: 0 };

  constructor(private readonly opts: WebhookOptions) {
    const hosts = [...serviceHosts(opts.namespace), ...(opts.hosts ?? [])];
    if (opts.url) hosts.push(new URL(opts.url).hostname.replace(/^\[(.*)\]$/, "$1"));
    this.secret = new CertificateSecret({
      client: opts.client,
      namespace: opts.namespace,
      name: opts.secretName,
      hosts,
      log: opts.log,
      lifetimes: opts.lifetimes,
      now: opts.now,
      onChange: (b) => this.serve(b),
    });
    // The configuration is watched too: one deleted, or reset by a `helm upgrade`, is mended.
    this.configurations = new Informer<Configuration>(opts.client, CORE.validatingwebhookconfigurations, {
      fieldSelector: `metadata.name=${WEBHOOK_CONFIGURATION}`,
      log: opts.log,
    });
    const poke = () => void this.syncConfiguration();
    this.configurations.on({ added: poke, updated: poke, deleted: poke });
    const METRIC = "v6mostly_webhook_certificate_expiry_timestamp_seconds";
    this.expiry = opts.metrics
      ? ((opts.metrics.getSingleMetric(METRIC) as Gauge | undefined) ??
        new Gauge({
          name: METRIC,
          help: "when the webhook's serving certificate expires (it is renewed at 2/3 of its life)",
          registers: [opts.metrics],
        }))
      : undefined;
  }

  /** Resolves once the server listens with the shared certificate. */
  async start(): Promise<void> {
    void this.configurations.start();
    const first = await this.secret.start();
    if (!this.server) {
      this.server = await startWebhookServer({
        address: this.opts.address,
        cert: first.cert,
        key: first.key,
        log: this.opts.log,
        metrics: this.opts.metrics,
      });
      this.opts.log.info({ address: this.server.address() }, "admission webhook serving");
    }
    // a rotation that landed while the server was starting
    const now = this.secret.current;
    if (now && now.cert !== first.cert) this.server.setCertificate(now.cert, now.key);
  }

  /** listening with the shared certificate (readiness: the Service sends reviews only then) */
  get serving(): boolean {
    return this.server !== undefined;
  }

  get reviews(): WebhookServer["counts"] | undefined {
    return this.server?.counts;
  }

  address(): string {
    if (!this.server) throw new Error("the webhook is not started");
    return this.server.address();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.secret.stop();
    this.configurations.stop();
    await this.server?.close();
  }

  /** A bundle to serve: swap the server's certificate, bring the configuration's caBundle along. */
  private serve(b: CertificateBundle): void {
    this.server?.setCertificate(b.cert, b.key);
    const [leaf] = splitPem(b.cert);
    if (leaf) this.expiry?.set(Date.parse(leaf.validTo) / 1000);
    void this.syncConfiguration();
  }

  /** Bring the configuration to the newest caBundle; one pass at a time, retried with backoff. */
  private async syncConfiguration(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true; // the running pass goes round once more, with the newest bundle
      return;
    }
    this.syncing = true;
    let delay = 1000;
    try {
      do {
        this.syncAgain = false;
        const ca = this.secret.current?.caCert;
        if (!ca) return;
        try {
          await this.applyConfiguration(ca);
          delay = 1000;
        } catch (e) {
          this.counts.configFailures++;
          this.opts.log.warn(
            { configuration: WEBHOOK_CONFIGURATION, err: (e as Error).message, retryInMs: delay },
            "cannot write the webhook configuration",
          );
          this.syncAgain = true;
          await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
          delay = Math.min(delay * 2, 30_000);
        }
      } while (this.syncAgain && !this.abort.signal.aborted);
    } finally {
      this.syncing = false;
    }
  }

  private async applyConfiguration(caBundle: string): Promise<void> {
    const { client, log } = this.opts;
    const observed = this.configurations.get(WEBHOOK_CONFIGURATION);
    const observedHook = observed?.webhooks?.find((w) => w.name === WEBHOOK_NAME);
    let desired: KubeObject;
    if (this.opts.manageConfig) {
      desired = validatingWebhookConfiguration({
        namespace: this.opts.namespace,
        caBundle,
        failurePolicy: this.opts.failurePolicy,
        timeoutSeconds: this.opts.timeoutSeconds,
        url: this.opts.url,
      });
    } else {
      // The chart owns the configuration: only its caBundle is ours, and only once it exists.
      if (!observed) {
        if (!this.missingLogged)
          log.info(
            { configuration: WEBHOOK_CONFIGURATION },
            "no ValidatingWebhookConfiguration to put the caBundle in yet (install the chart's, or run with --webhook-manage-config)",
          );
        this.missingLogged = true;
        return;
      }
      desired = caBundleOnly(caBundle);
    }
    // Apply only what differs: an apply that changes nothing would still wake every replica's
    // watch, and the API server fills in defaults that the desired object leaves out.
    const hook = (desired.webhooks as Record<string, unknown>[])[0]!;
    if (observedHook && covers(observedHook, hook) && covers(observed?.metadata, desired.metadata)) return;
    await client.apply(CORE.validatingwebhookconfigurations, desired, {
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    this.counts.configApplied++;
    log.info(
      { configuration: WEBHOOK_CONFIGURATION, ca: summarize(caBundle) },
      "webhook configuration updated",
    );
  }
}

/** Whether `have` holds every field of `want` with the same value (fields `want` lacks are ignored). */
export function covers(have: unknown, want: unknown): boolean {
  if (Array.isArray(want))
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => covers(have[i], w));
  if (typeof want === "object" && want !== null) {
    if (typeof have !== "object" || have === null) return false;
    return Object.entries(want).every(([k, v]) => covers((have as Record<string, unknown>)[k], v));
  }
  return have === want;
}
