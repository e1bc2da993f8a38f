// The certificate Secret every operator replica serves from. Whoever finds it missing or due
// creates or rotates it, with the API's optimistic concurrency deciding between replicas: a create
// that meets AlreadyExists, or an update whose resourceVersion is stale (409), reads again and
// judges what the winner wrote. A watch on the Secret brings another replica's rotation to every
// replica within moments; a timer wakes each replica when its certificate is due. The Secret's
// contents never reach the log: only serial numbers, fingerprints and dates.
import type { Logger } from "../../util/log.ts";
import {
  CORE,
  isConflict,
  type KubeClient,
  type KubeObject,
  type Owner,
  ownedBy,
} from "../runtime/client.ts";
import { Informer } from "../runtime/informer.ts";
import {
  type CertificateBundle,
  DEFAULT_LIFETIMES,
  issue,
  type Lifetimes,
  planRotation,
  SECRET_KEYS,
  summarize,
} from "./certificates.ts";
import { WEBHOOK_SECRET } from "./configuration.ts";

export interface CertificateSecretOptions {
  client: KubeClient;
  namespace: string;
  /** default v6mostly-webhook-tls */
  name?: string;
  /** the names the API server reaches this replica by (the serving certificate's SANs) */
  hosts: string[];
  log: Logger;
  lifetimes?: Lifetimes;
  now?: () => Date;
  /** look again at least this often, whatever the certificates' dates say (default 1 h) */
  checkEveryMs?: number;
  /** called with each bundle this replica starts serving; errors are the callee's to handle */
  onChange: (bundle: CertificateBundle) => void | Promise<void>;
  /** the operator's Deployment: the Secret it creates goes with it (garbage collection on uninstall) */
  owner?: OwnerReference;
}

type SecretObject = KubeObject & { type?: string; data?: Record<string, string> };

/** The object whose deletion takes the Secret along (client.ts Owner). */
export type OwnerReference = Owner;

export function toSecret(
  namespace: string,
  name: string,
  b: CertificateBundle,
  owner?: OwnerReference,
): SecretObject {
  const data: Record<string, string> = {};
  for (const [part, key] of Object.entries(SECRET_KEYS))
    data[key] = Buffer.from(b[part as keyof CertificateBundle]).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/name": "v6mostly", "app.kubernetes.io/component": "webhook" },
      ...ownedBy(owner),
    },
    type: "kubernetes.io/tls",
    data,
  };
}

export function fromSecret(s: SecretObject): CertificateBundle {
  const part = (key: string) => Buffer.from(s.data?.[key] ?? "", "base64").toString("utf8");
  return {
    caCert: part(SECRET_KEYS.caCert),
    caKey: part(SECRET_KEYS.caKey),
    cert: part(SECRET_KEYS.cert),
    key: part(SECRET_KEYS.key),
  };
}

export class CertificateSecret {
  /** the bundle this replica serves */
  current: CertificateBundle | undefined;
  /** what this replica did, for tests and logs */
  readonly counts = { created: 0, rotated: 0, adopted: 0, conflicts: 0, failures: 0 };
  private readonly name: string;
  private readonly informer: Informer<SecretObject>;
  private running = false;
  private busy = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private failuresInRow = 0;
  private firstBundle: Promise<CertificateBundle>;
  private resolveFirst!: (b: CertificateBundle) => void;

  constructor(private readonly opts: CertificateSecretOptions) {
    this.name = opts.name ?? WEBHOOK_SECRET;
    this.informer = new Informer<SecretObject>(opts.client, CORE.secrets, {
      namespace: opts.namespace,
      fieldSelector: `metadata.name=${this.name}`,
      log: opts.log,
    });
    const poke = () => this.trigger();
    this.informer.on({ added: poke, updated: poke, deleted: poke });
    this.firstBundle = new Promise((r) => {
      this.resolveFirst = r;
    });
  }

  /** Resolves with the first bundle in use (created, rotated or read). */
  start(): Promise<CertificateBundle> {
    this.running = true;
    void this.informer.start();
    this.trigger();
    return this.firstBundle;
  }

  stop(): void {
    this.running = false;
    this.informer.stop();
    clearTimeout(this.timer);
  }

  /** Look at the Secret now (one pass at a time; a poke during a pass runs another after it). */
  trigger(): void {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && this.running);
      this.busy = false;
    })();
  }

  private async pass(): Promise<void> {
    const { log } = this.opts;
    clearTimeout(this.timer);
    let wakeInMs: number;
    try {
      const next = await this.ensure();
      wakeInMs = Math.max(1000, next.getTime() - this.now().getTime());
      this.failuresInRow = 0;
    } catch (e) {
      this.counts.failures++;
      this.failuresInRow++;
      wakeInMs = Math.min(1000 * 2 ** (this.failuresInRow - 1), 30_000);
      log.warn(
        { secretName: this.name, err: (e as Error).message, retryInMs: wakeInMs },
        "webhook certificate check failed",
      );
    }
    if (!this.running) return;
    // setTimeout holds at most 2^31 - 1 ms; the hourly look also covers a clock that jumps
    this.timer = setTimeout(() => this.trigger(), Math.min(wakeInMs, this.opts.checkEveryMs ?? 3_600_000));
    this.timer.unref();
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Read, judge, write if due; returns when to look again. */
  private async ensure(): Promise<Date> {
    const { client, namespace, log } = this.opts;
    const lifetimes = this.opts.lifetimes ?? DEFAULT_LIFETIMES;
    for (let attempt = 0; attempt < 5; attempt++) {
      const found = await client.find<SecretObject>(CORE.secrets, namespace, this.name);
      const bundle = found ? fromSecret(found) : undefined;
      const now = this.now();
      const plan = planRotation(bundle, now, this.opts.hosts, lifetimes);
      if (plan.action === "keep") {
        await this.adopt(bundle!, "read");
        return plan.nextCheck;
      }
      const next = await issue(bundle, plan, now, lifetimes);
      const secret = toSecret(namespace, this.name, next, this.opts.owner);
      try {
        if (found) {
          // PUT with the resourceVersion read: a replica that wrote in between wins, we read again
          await client.replace(CORE.secrets, {
            ...found,
            type: secret.type,
            data: secret.data,
            metadata: { ...found.metadata, labels: { ...found.metadata.labels, ...secret.metadata.labels } },
          });
          this.counts.rotated++;
        } else {
          await client.create(CORE.secrets, secret);
          this.counts.created++;
        }
      } catch (e) {
        if (!isConflict(e)) throw e;
        this.counts.conflicts++;
        log.debug(
          { secretName: this.name },
          "another replica wrote the webhook certificate first; reading it",
        );
        continue;
      }
      log.info(
        {
          secretName: this.name,
          reasons: plan.reasons,
          certificate: summarize(next.cert),
          ca: summarize(next.caCert),
        },
        found ? "webhook certificate rotated" : "webhook certificate created",
      );
      await this.adopt(next, "written");
      const after = planRotation(next, now, this.opts.hosts, lifetimes);
      return after.action === "keep" ? after.nextCheck : now;
    }
    throw new Error("the webhook Secret kept changing under us (5 conflicts in a row)");
  }

  private async adopt(bundle: CertificateBundle, how: "read" | "written"): Promise<void> {
    const cur = this.current;
    if (cur && cur.cert === bundle.cert && cur.key === bundle.key && cur.caCert === bundle.caCert) return;
    this.current = bundle;
    if (how === "read") {
      this.counts.adopted++;
      this.opts.log.info(
        { secretName: this.name, certificate: summarize(bundle.cert), ca: summarize(bundle.caCert) },
        "webhook certificate loaded",
      );
    }
    this.resolveFirst(bundle);
    try {
      await this.opts.onChange(bundle);
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, "webhook certificate change not taken up");
    }
  }
}
