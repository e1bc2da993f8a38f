// The agent DaemonSet, built with cdk8s from the plan: one agent pod per node that runs anything,
// hostNetwork (the services act on the node's own links), with the capabilities the datapath
// needs (NET_ADMIN for TUN, routes and proxy ARP; NET_RAW for RA and DHCP raw sockets;
// NET_BIND_SERVICE for port 53 and 67) instead of privileged, /dev/net/tun from the host, and a
// state directory on the node (DHCP leases, host plumbing ledgers) that survives pod restarts.
// The node's forwarding sysctls are not the agent's to set: runc mounts /proc/sys read-only in a
// container that is not privileged and refuses any mount inside /proc ("cannot be mounted because
// it is inside /proc", seen on a real node: the pod never started), so the node must have
// net.ipv4.ip_forward and net.ipv6.conf.all.forwarding on (the NAT64 only writes them when off).
// The RA and DHCP services hold a lock per interface in /run/v6mostly (src/agent/lock.ts, for
// root): the node's own directory, so that the agent and a `v6mostly run` on the node never both
// answer on one link (and a read-only root has no /run to make it in: RA and DHCP never started).
// Pure: the same plan gives the same object (applied again without change).
import type { V1Container, V1DaemonSetSpec, V1NodeSelectorTerm, V1Toleration } from "@kubernetes/client-node";
import { ApiObject, App, Chart } from "cdk8s";

export interface AgentTemplate {
  image: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  resources?: V1Container["resources"];
  tolerations?: V1Toleration[];
  /** nodes the agent may run on at all (the chart's agent.nodeSelector) */
  nodeSelector?: Record<string, string>;
  priorityClassName?: string;
  /** where the agent serves /metrics, /healthz and /readyz on the node */
  statusPort?: number;
  logLevel?: string;
  /** the service account bound to the agent's Role */
  serviceAccountName?: string;
  /** the state directory on the node */
  stateDir?: string;
}

export const AGENT_NAME = "v6mostly-agent";
/** roleLockDir() of src/agent/lock.ts for root (the agent runs as uid 0) */
export const ROLE_LOCK_DIR = "/run/v6mostly";
export const AGENT_LABELS = { "app.kubernetes.io/name": "v6mostly", "app.kubernetes.io/component": "agent" };

/**
 * The nodes the agent must run on: any node matched by a resource's nodeSelector. Selectors are
 * OR'ed terms of node affinity; an empty selector means every node (no affinity).
 */
export function affinityTerms(
  selectors: readonly Record<string, string>[],
): V1NodeSelectorTerm[] | undefined {
  if (selectors.length === 0 || selectors.some((s) => Object.keys(s).length === 0)) return undefined;
  const seen = new Map<string, V1NodeSelectorTerm>();
  for (const s of selectors) {
    const keys = Object.keys(s).sort();
    const id = keys.map((k) => `${k}=${s[k]}`).join(",");
    seen.set(id, { matchExpressions: keys.map((k) => ({ key: k, operator: "In", values: [s[k]!] })) });
  }
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, t]) => t);
}

export function agentDaemonSet(
  namespace: string,
  t: AgentTemplate,
  selectors: readonly Record<string, string>[],
  owner?: { apiVersion: string; kind: string; name: string; uid: string },
): Record<string, unknown> {
  const port = t.statusPort ?? 9464;
  const stateDir = t.stateDir ?? "/var/lib/v6mostly";
  const terms = affinityTerms(selectors);
  const spec: V1DaemonSetSpec = {
    selector: { matchLabels: AGENT_LABELS },
    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
    template: {
      metadata: { labels: AGENT_LABELS },
      spec: {
        hostNetwork: true,
        dnsPolicy: "ClusterFirstWithHostNet",
        serviceAccountName: t.serviceAccountName ?? AGENT_NAME,
        priorityClassName: t.priorityClassName,
        // the agent withdraws what it announced (RA lifetime 0, DHCP stopped, TUN removed)
        terminationGracePeriodSeconds: 30,
        nodeSelector: t.nodeSelector && Object.keys(t.nodeSelector).length ? t.nodeSelector : undefined,
        tolerations: t.tolerations,
        affinity: terms
          ? { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } }
          : undefined,
        containers: [
          {
            name: "agent",
            image: t.image,
            imagePullPolicy: t.imagePullPolicy ?? "IfNotPresent",
            args: [
              "agent",
              "--state-dir",
              stateDir,
              "--status-address",
              `0.0.0.0:${port}`,
              // what the agent creates goes with the DaemonSet (helm uninstall)
              "--owner-daemonset",
              AGENT_NAME,
            ],
            env: [
              { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
              { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              ...(t.logLevel ? [{ name: "V6MOSTLY_LOG_LEVEL", value: t.logLevel }] : []),
            ],
            resources: t.resources,
            securityContext: {
              // the image runs as 65532 by default; a non-root container gets none of the added
              // capabilities (no ambient ones) and cannot open /dev/net/tun (Dockerfile, test/cluster)
              runAsUser: 0,
              runAsNonRoot: false,
              privileged: false,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"] },
            },
            ports: [{ name: "metrics", containerPort: port, protocol: "TCP" }],
            livenessProbe: { httpGet: { path: "/healthz", port }, periodSeconds: 10, failureThreshold: 3 },
            readinessProbe: { httpGet: { path: "/readyz", port }, periodSeconds: 5 },
            volumeMounts: [
              { name: "tun", mountPath: "/dev/net/tun" },
              { name: "state", mountPath: stateDir },
              { name: "locks", mountPath: ROLE_LOCK_DIR },
            ],
          },
        ],
        volumes: [
          { name: "tun", hostPath: { path: "/dev/net/tun", type: "CharDevice" } },
          { name: "state", hostPath: { path: stateDir, type: "DirectoryOrCreate" } },
          { name: "locks", hostPath: { path: ROLE_LOCK_DIR, type: "DirectoryOrCreate" } },
        ],
      },
    },
  };
  const chart = new Chart(new App(), "v6mostly-agent");
  new ApiObject(chart, "daemonset", {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: AGENT_NAME,
      namespace,
      labels: AGENT_LABELS,
      ownerReferences: owner ? [{ ...owner, controller: true, blockOwnerDeletion: false }] : undefined,
    },
    spec: JSON.parse(JSON.stringify(spec)),
  });
  return chart.toJson()[0] as Record<string, unknown>;
}
