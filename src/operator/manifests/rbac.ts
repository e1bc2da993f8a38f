// Least-privilege RBAC, separate for the operator and the agent. Pure: the chart's templates and
// the tests apply the same objects.
//
// Operator: reads every v6mostly kind and the Nodes, writes only their /status (never a user's
// spec), writes Events; in its own namespace it owns NodeConfigs, the agent DaemonSet, its leader
// Lease, the webhook's certificate Secret and one ConfigMap per ExternalDevice (what it configured
// on the box, and the last outcome); it reads a Secret elsewhere only by name (`get`, never list or
// watch: an ExternalDevice's credentialsSecretRef and tls.caSecretRef).
// Agent: nothing cluster-wide; in the operator's namespace it reads NodeConfigs, writes their
// /status, and renews Leases (its heartbeat, and the addresses it owns).

import { NODE_CONFIG } from "../../api/nodeconfig.ts";
import { GROUP, KIND_NAMES, KINDS } from "../../api/resources.ts";

export const OPERATOR_ACCOUNT = "v6mostly-operator";
export const AGENT_ACCOUNT = "v6mostly-agent";

interface Rule {
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
    {
      apiGroups: ["admissionregistration.k8s.io"],
      resources: ["validatingwebhookconfigurations"],
      verbs: ["get", "create", "update", "patch"],
    },
  ];
}

export function operatorNamespaceRules(): Rule[] {
  return [
    { apiGroups: [GROUP], resources: [NODE_CONFIG.plural], verbs: WRITE },
    { apiGroups: ["apps"], resources: ["daemonsets"], verbs: WRITE },
    { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: WRITE },
    { apiGroups: [""], resources: ["configmaps"], verbs: WRITE },
    { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "update", "patch"] },
  ];
}

export function agentNamespaceRules(): Rule[] {
  return [
    { apiGroups: [GROUP], resources: [NODE_CONFIG.plural], verbs: READ },
    { apiGroups: [GROUP], resources: [`${NODE_CONFIG.plural}/status`], verbs: ["get", "patch", "update"] },
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["get", "list", "watch", "create", "update", "patch"],
    },
  ];
}

type Obj = Record<string, unknown>;

/** ServiceAccounts, Roles, ClusterRole and bindings for an install in `namespace`. */
export function rbacObjects(namespace: string, labels: Record<string, string> = {}): Obj[] {
  const meta = (name: string, ns?: string) => ({
    name,
    ...(ns ? { namespace: ns } : {}),
    labels: { ...labels },
  });
  const sa = (name: string) => ({ kind: "ServiceAccount", name, namespace });
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(OPERATOR_ACCOUNT, namespace) },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(AGENT_ACCOUNT, namespace) },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: meta(OPERATOR_ACCOUNT),
      rules: operatorClusterRules(),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: meta(OPERATOR_ACCOUNT),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: OPERATOR_ACCOUNT },
      subjects: [sa(OPERATOR_ACCOUNT)],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(OPERATOR_ACCOUNT, namespace),
      rules: operatorNamespaceRules(),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(OPERATOR_ACCOUNT, namespace),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: OPERATOR_ACCOUNT },
      subjects: [sa(OPERATOR_ACCOUNT)],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(AGENT_ACCOUNT, namespace),
      rules: agentNamespaceRules(),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(AGENT_ACCOUNT, namespace),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: AGENT_ACCOUNT },
      subjects: [sa(AGENT_ACCOUNT)],
    },
  ];
}
