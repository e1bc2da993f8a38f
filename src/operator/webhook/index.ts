// The validating admission webhook of `v6mostly operator`: served by every replica (the API
// server's Service picks any), from the certificate Secret they share, with the
// ValidatingWebhookConfiguration's caBundle kept trusting the Secret's CAs.
//
// Who writes the configuration: every replica, idempotently, not the leader alone. The caBundle is
// a function of the Secret, which all replicas read, so they agree on it; a replica writes only
// when what it sees differs from what it wants, so agreeing replicas never write twice; a replica
// that has not yet read a rotated Secret leaves a caBundle that trusts more than it knows alone;
// and a webhook served by followers stays trusted while leader election is stuck or changing
// hands. The configuration is watched too: deleted or reset (`helm upgrade`), it is written back.
import { setTimeout as sleep } from "node:timers/promises";
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "../../util/log.ts";
import { FIELD_MANAGER } from "../reconcile/plan.ts";
import { CORE, type KubeClient, type KubeObject } from "../runtime/client.ts";
import { Informer } from "../runtime/informer.ts";
import { type CertificateBundle, type Lifetimes, splitPem, summarize } from "./certificates.ts";
import {
  caBundleCurrent,
  caBundleOnly,
  type FailurePolicy,
  serviceHosts,
  validatingWebhookConfiguration,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_NAME,
} from "./configuration.ts";
import { CertificateSecret, type OwnerReference } from "./secret.ts";
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
  /** the operator's Deployment, owner of the certificate Secret (removed with it) */
  owner?: OwnerReference;
  lifetimes?: Lifetimes;
  now?: () => Date;
}

/** the least time between two writes of the same caBundle (repairs of other drift) */
const REPAIR_INTERVAL_MS = 10_000;

type Configuration = KubeObject & { webhooks?: ({ name: string } & Record<string, unknown>)[] };

export class Webhook {
  readonly secret: CertificateSecret;
  private server: WebhookServer | undefined;
  private readonly abort = new AbortController();
  private readonly configurations: Informer<Configuration>;
  private syncing = false;
  private syncAgain = false;
  private lastWrite: { ca: string; at: number } | undefined;
  private missingLogged = false;
  private configurationsListed = false;
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
      owner: opts.owner,
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
    void this.configurations.start().then(() => {
      this.configurationsListed = true;
      void this.syncConfiguration();
    });
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
        const desired = ca === undefined ? undefined : this.desiredConfiguration(ca);
        if (ca === undefined || desired === undefined || !this.needsWrite(desired, ca)) continue;
        // A repair with the caBundle last written waits a while after that write: replicas whose
        // flags differ (during a rollout) then take turns that often, not in a tight loop.
        const wait = this.lastWrite?.ca === ca ? this.lastWrite.at + REPAIR_INTERVAL_MS - Date.now() : 0;
        if (wait > 0) {
          await sleep(wait, undefined, { signal: this.abort.signal }).catch(() => undefined);
          this.syncAgain = true; // look again: the bundle or the configuration may have moved on
          continue;
        }
        try {
          await this.opts.client.apply(CORE.validatingwebhookconfigurations, desired, {
            fieldManager: FIELD_MANAGER,
            force: true,
          });
          this.lastWrite = { ca, at: Date.now() };
          this.counts.configApplied++;
          this.opts.log.info(
            { configuration: WEBHOOK_CONFIGURATION, ca: summarize(ca) },
            "webhook configuration updated",
          );
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

  /** The configuration to apply: the whole of it, or only the caBundle of the chart's (if any). */
  private desiredConfiguration(caBundle: string): KubeObject | undefined {
    if (this.opts.manageConfig)
      return validatingWebhookConfiguration({
        namespace: this.opts.namespace,
        caBundle,
        failurePolicy: this.opts.failurePolicy,
        timeoutSeconds: this.opts.timeoutSeconds,
        url: this.opts.url,
      });
    if (this.configurations.get(WEBHOOK_CONFIGURATION)) return caBundleOnly(caBundle);
    if (this.configurationsListed && !this.missingLogged)
      this.opts.log.info(
        { configuration: WEBHOOK_CONFIGURATION },
        "no ValidatingWebhookConfiguration to put the caBundle in yet (install the chart's, or run with --webhook-manage-config)",
      );
    this.missingLogged = this.configurationsListed;
    return undefined;
  }

  /**
   * Whether the configuration seen differs from `desired`. Fields the API server fills in are not
   * differences; a caBundle that trusts our CAs and more that have not expired is not one either:
   * another replica has read a newer Secret than ours, and we would undo its rotation.
   */
  private needsWrite(desired: KubeObject, caBundle: string): boolean {
    const observed = this.configurations.get(WEBHOOK_CONFIGURATION);
    const hook = observed?.webhooks?.find((w) => w.name === WEBHOOK_NAME);
    if (!observed || !hook || !covers(observed.metadata, desired.metadata)) return true;
    const want = structuredClone((desired.webhooks as Record<string, { caBundle?: string }>[])[0]!);
    delete want.clientConfig!.caBundle;
    const seen = (hook.clientConfig as { caBundle?: string } | undefined)?.caBundle;
    return !covers(hook, want) || !caBundleCurrent(seen, caBundle, this.opts.now?.() ?? new Date());
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
