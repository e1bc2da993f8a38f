// Least-privilege RBAC, separate for the operator and the agent. Pure: the chart's templates and
// the tests apply the same objects.
//
// Operator: reads every v6mostly kind and the Nodes, writes only their /status (never a user's
// spec), writes Events; in its own namespace it owns NodeConfigs, the agent DaemonSet, its leader
// Lease and one ConfigMap per ExternalDevice (what it configured on the box, and the last
// outcome); it reads a Secret elsewhere only by name (`get`, never list or watch: an
// ExternalDevice's credentialsSecretRef and tls.caSecretRef).
// Its admission webhook (webhookPolicyRules, separate objects so the chart can leave them out):
// the certificate Secret and the ValidatingWebhookConfiguration, by name.
// Agent: nothing cluster-wide; in the operator's namespace it reads NodeConfigs, writes their
// /status, renews Leases (its heartbeat, and the addresses it owns), keeps the DHCP leases of
// the scopes it serves in ConfigMaps, and reads its own DaemonSet (their owner, for uninstall).

import { NODE_CONFIG } from "../../api/nodeconfig.ts";
import { GROUP, KIND_NAMES, KINDS } from "../../api/resources.ts";
import { WEBHOOK_CONFIGURATION, WEBHOOK_SECRET } from "../webhook/configuration.ts";
import { AGENT_NAME } from "./agent.ts";

export const OPERATOR_ACCOUNT = "v6mostly-operator";
export const AGENT_ACCOUNT = "v6mostly-agent";

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const READ = ["get", "list", "watch"];
const WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"];

export function operatorClusterRules(): Rule[] {
  const kinds = KIND_NAMES.map((k) => KINDS[k].plural);
  return [
    { apiGroups: [GROUP], resources: kinds, verbs: READ },
    { apiGroups: [GROUP], resources: kinds.map((k) => `${k}/status`), verbs: ["get", "patch", "update"] },
    // finalizers on ExternalDevices (device configuration to undo) need update on this subresource
    { apiGroups: [GROUP], resources: ["externaldevices/finalizers"], verbs: ["update"] },
    { apiGroups: [GROUP], resources: ["externaldevices"], verbs: ["update", "patch"] },
    { apiGroups: [""], resources: ["nodes"], verbs: READ },
    { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
    { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
  ];
}

export function operatorNamespaceRules(): Rule[] {
  return [
    { apiGroups: [GROUP], resources: [NODE_CONFIG.plural], verbs: WRITE },
    { apiGroups: ["apps"], resources: ["daemonsets"], verbs: WRITE },
    { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: WRITE },
    // the device state ConfigMaps (src/operator/devices/state.ts): watched (by label, which RBAC
    // cannot narrow), server-side applied (a patch, or a create for a new one), deleted with the
    // device; never replaced
    {
      apiGroups: [""],
      resources: ["configmaps"],
      verbs: ["get", "list", "watch", "create", "patch", "delete"],
    },
  ];
}

/**
 * What the admission webhook needs, by name where the API allows it (list and watch with a
 * metadata.name field selector are authorized against resourceNames; create has no name yet).
 * With `manageConfig` the operator also creates the configuration: server-side apply of an
 * object that does not exist is authorized as a create, and the create right cannot be limited
 * to one name. Without it (the chart's way) the operator only patches the chart's configuration.
 */
export function webhookPolicyRules(opts: { manageConfig?: boolean } = {}): {
  namespaced: Rule[];
  cluster: Rule[];
} {
  const configurations = ["validatingwebhookconfigurations"];
  return {
    namespaced: [
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: [WEBHOOK_SECRET],
        verbs: ["get", "list", "watch", "update"],
      },
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
    ],
    cluster: [
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: configurations,
        resourceNames: [WEBHOOK_CONFIGURATION],
        // server-side apply is a patch
        verbs: ["get", "list", "watch", "patch"],
      },
      ...(opts.manageConfig
        ? [{ apiGroups: ["admissionregistration.k8s.io"], resources: configurations, verbs: ["create"] }]
        : []),
    ],
  };
}

export function agentNamespaceRules(): Rule[] {
  return [
    // its node's NodeConfig (an informer: list and watch), and the status it reports there
    { apiGroups: [GROUP], resources: [NODE_CONFIG.plural], verbs: READ },
    { apiGroups: [GROUP], resources: [`${NODE_CONFIG.plural}/status`], verbs: ["patch"] },
    // the heartbeat and the owned assignments' Leases (src/agent/heartbeat.ts, ownership/gate.ts)
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["get", "create", "update", "patch"],
    },
    // its DaemonSet, by name: the owner of the Leases and ConfigMaps it creates (--owner-daemonset)
    { apiGroups: ["apps"], resources: ["daemonsets"], resourceNames: [AGENT_NAME], verbs: ["get"] },
    // the DHCP lease store of the scopes it serves (services/dhcp4/storeapi.ts: find, create,
    // merge patch, replace); without it no DhcpScope ever served from a pod (403, seen on a node)
    { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create", "update", "patch"] },
  ];
}

type Obj = Record<string, unknown>;

/** The webhook's Role and ClusterRole, bound to the operator's ServiceAccount. */
export const WEBHOOK_ROLE = "v6mostly-operator-webhook";

const RBAC = "rbac.authorization.k8s.io";

/** A Role (namespace given) or ClusterRole and its binding to one ServiceAccount of `namespace`. */
function boundRole(
  name: string,
  account: string,
  namespace: string,
  rules: Rule[],
  labels: Record<string, string>,
  scope: "cluster" | "namespace",
): Obj[] {
  const metadata = { name, ...(scope === "namespace" ? { namespace } : {}), labels: { ...labels } };
  const kind = scope === "cluster" ? "ClusterRole" : "Role";
  return [
    { apiVersion: `${RBAC}/v1`, kind, metadata, rules },
    {
      apiVersion: `${RBAC}/v1`,
      kind: `${kind}Binding`,
      metadata: structuredClone(metadata),
      roleRef: { apiGroup: RBAC, kind, name },
      subjects: [{ kind: "ServiceAccount", name: account, namespace }],
    },
  ];
}

/**
 * ServiceAccounts, Roles, ClusterRole and bindings for an install in `namespace`; with `webhook`
 * (the default) also webhookRbacObjects.
 */
export function rbacObjects(
  namespace: string,
  labels: Record<string, string> = {},
  opts: { webhook?: boolean } = {},
): Obj[] {
  const account = (name: string) => ({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace, labels: { ...labels } },
  });
  return [
    account(OPERATOR_ACCOUNT),
    account(AGENT_ACCOUNT),
    ...boundRole(OPERATOR_ACCOUNT, OPERATOR_ACCOUNT, namespace, operatorClusterRules(), labels, "cluster"),
    ...boundRole(
      OPERATOR_ACCOUNT,
      OPERATOR_ACCOUNT,
      namespace,
      operatorNamespaceRules(),
      labels,
      "namespace",
    ),
    ...boundRole(AGENT_ACCOUNT, AGENT_ACCOUNT, namespace, agentNamespaceRules(), labels, "namespace"),
    ...(opts.webhook === false ? [] : webhookRbacObjects(namespace, labels)),
  ];
}

/** The admission webhook's rules (webhookPolicyRules, the chart's way) for the operator's account. */
export function webhookRbacObjects(namespace: string, labels: Record<string, string> = {}): Obj[] {
  const rules = webhookPolicyRules();
  return [
    ...boundRole(WEBHOOK_ROLE, OPERATOR_ACCOUNT, namespace, rules.cluster, labels, "cluster"),
    ...boundRole(WEBHOOK_ROLE, OPERATOR_ACCOUNT, namespace, rules.namespaced, labels, "namespace"),
  ];
}
