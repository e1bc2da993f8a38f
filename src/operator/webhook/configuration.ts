// The ValidatingWebhookConfiguration that sends CREATE and UPDATE of the five kinds to the
// webhook: a pure function, for the operator (--webhook-manage-config) and for the chart.

import type { X509Certificate } from "node:crypto";
import { GROUP, KIND_NAMES, KINDS, VERSION } from "../../api/resources.ts";
import type { KubeObject } from "../runtime/client.ts";
import { splitPem } from "./certificates.ts";

/** The Service in front of the operator's replicas, its TLS Secret, and the configuration's names. */
export const WEBHOOK_SERVICE = "v6mostly-webhook";
export const WEBHOOK_SECRET = "v6mostly-webhook-tls";
export const WEBHOOK_CONFIGURATION = "v6mostly-webhook";
/** The name kubectl shows: `admission webhook "validate.v6mostly.dev" denied the request: ...` */
export const WEBHOOK_NAME = `validate.${GROUP}`;
export const WEBHOOK_PATH = "/validate";

/**
 * Fail refuses every create and update of the five kinds while no replica answers (an upgrade with
 * one replica, a crash loop, a cluster starting): users and GitOps are blocked and nothing is
 * gained, because while the operator is down nothing acts on the resources anyway. With Ignore, an
 * invalid resource that slips in is caught by the operator when it is back (Ready=False, reason
 * Invalid, with validate's message) and never planned. Ignore is the default; Fail for clusters
 * that want no invalid object stored at all.
 */
export type FailurePolicy = "Fail" | "Ignore";
export const DEFAULT_FAILURE_POLICY: FailurePolicy = "Ignore";

export interface ConfigurationOptions {
  /** the operator's namespace (the Service's) */
  namespace: string;
  /** PEM: the CAs the API server trusts for the webhook; absent in the chart's (a replica puts it in) */
  caBundle?: string;
  failurePolicy?: FailurePolicy;
  /** 1 to 30 (the API's bounds); validation takes microseconds, the rest is the network */
  timeoutSeconds?: number;
  /** call this URL instead of the Service (an API server that cannot reach Services) */
  url?: string;
  /** the Service's port (default 443; the chart maps it to the operator's --webhook-address port) */
  servicePort?: number;
}

/** The names the API server uses to reach the webhook through the Service (the certificate's SANs). */
export function serviceHosts(namespace: string): string[] {
  return [`${WEBHOOK_SERVICE}.${namespace}.svc`, `${WEBHOOK_SERVICE}.${namespace}.svc.cluster.local`];
}

const LABELS = { "app.kubernetes.io/name": "v6mostly", "app.kubernetes.io/component": "webhook" };

export function validatingWebhookConfiguration(opts: ConfigurationOptions): KubeObject {
  const timeout = opts.timeoutSeconds ?? 5;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 30)
    throw new Error(`timeoutSeconds must be a whole number from 1 to 30, got ${timeout}`);
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: WEBHOOK_CONFIGURATION, labels: LABELS },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig: {
          ...clientTarget(opts),
          ...(opts.caBundle === undefined ? {} : { caBundle: Buffer.from(opts.caBundle).toString("base64") }),
        },
        rules: [
          {
            apiGroups: [GROUP],
            apiVersions: [VERSION],
            // DELETE is not sent: deleting is always allowed
            operations: ["CREATE", "UPDATE"],
            // the main resources only: /status is the operator's
            resources: KIND_NAMES.map((k) => KINDS[k].plural),
            scope: "Namespaced",
          },
        ],
        failurePolicy: opts.failurePolicy ?? DEFAULT_FAILURE_POLICY,
        matchPolicy: "Equivalent",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: timeout,
      },
    ],
  };
}

/** Why the API server would refuse this as a webhook URL (admissionregistration/v1), or undefined. */
export function webhookUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${url} is not a URL`;
  }
  if (u.protocol !== "https:") return `${url}: the webhook URL must be https`;
  if (u.username || u.password || u.search || u.hash)
    return `${url}: no user, password, query or fragment allowed in a webhook URL`;
  return undefined;
}

function clientTarget(opts: ConfigurationOptions) {
  if (opts.url !== undefined) {
    const problem = webhookUrlProblem(opts.url);
    if (problem) throw new Error(problem);
    return { url: opts.url };
  }
  return {
    service: {
      namespace: opts.namespace,
      name: WEBHOOK_SERVICE,
      path: WEBHOOK_PATH,
      port: opts.servicePort ?? 443,
    },
  };
}

/**
 * Whether a configuration's caBundle (base64, as stored) trusts what a replica serves from `ours`
 * (PEM): every CA of ours is in it, and any other is one that has not expired (a CA that a replica
 * with a newer Secret put there). An expired extra is pruned by rewriting.
 */
export function caBundleCurrent(observed: string | undefined, ours: string, now: Date): boolean {
  let seen: X509Certificate[];
  try {
    seen = splitPem(Buffer.from(observed ?? "", "base64").toString("utf8"));
  } catch {
    return false;
  }
  const mine = new Set(splitPem(ours).map((c) => c.fingerprint256));
  const have = new Set(seen.map((c) => c.fingerprint256));
  return (
    [...mine].every((f) => have.has(f)) &&
    seen.every((c) => mine.has(c.fingerprint256) || Date.parse(c.validTo) > now.getTime())
  );
}

/**
 * Only the caBundle, for a configuration someone else owns (the chart): applied under the
 * operator's field manager, it takes over that one field and leaves the rest to its owner.
 */
export function caBundleOnly(caBundle: string): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: WEBHOOK_CONFIGURATION },
    webhooks: [{ name: WEBHOOK_NAME, clientConfig: { caBundle: Buffer.from(caBundle).toString("base64") } }],
  };
}
