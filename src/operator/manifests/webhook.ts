// The chart's admission webhook objects: the Service in front of every operator replica's
// --webhook-address, and the ValidatingWebhookConfiguration without a caBundle (each replica puts
// the CA of the shared certificate Secret there, src/operator/webhook/index.ts). Pure: `npm run gen`
// writes them into the chart with Helm directives where the placeholders are, and the tests apply
// the same objects.
import type { KubeObject } from "../runtime/client.ts";
import {
  type FailurePolicy,
  validatingWebhookConfiguration,
  WEBHOOK_SERVICE,
} from "../webhook/configuration.ts";

/** The operator pods' labels (templates/operator.yaml) the Service selects. */
const OPERATOR_SELECTOR = {
  "app.kubernetes.io/name": "v6mostly",
  "app.kubernetes.io/component": "operator",
};

export interface WebhookManifestOptions {
  namespace: string;
  labels?: Record<string, string>;
  failurePolicy?: FailurePolicy;
}

export function webhookObjects(opts: WebhookManifestOptions): KubeObject[] {
  const labels = { ...opts.labels, "app.kubernetes.io/component": "webhook" };
  const configuration = validatingWebhookConfiguration({
    namespace: opts.namespace,
    failurePolicy: opts.failurePolicy,
  });
  configuration.metadata.labels = labels;
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: WEBHOOK_SERVICE, namespace: opts.namespace, labels: { ...labels } },
      spec: {
        selector: OPERATOR_SELECTOR,
        // the API server calls 443 (the configuration's service.port); the operator container's
        // port named webhook is its --webhook-address, :9443 (templates/operator.yaml)
        ports: [{ name: "webhook", port: 443, targetPort: "webhook", protocol: "TCP" }],
      },
    },
    configuration,
  ];
}
