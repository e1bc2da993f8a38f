// Applying manifests (CRDs, RBAC, resources) to a real API server with the project's own client.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../../../src/api/gen.ts";
import { isKind, kindResource } from "../../../src/api/resources.ts";
import type { KubeClient, KubeObject, Resource } from "../../../src/operator/runtime/client.ts";

const TYPES: Record<string, Resource> = {
  CustomResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
  },
  Namespace: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
  ServiceAccount: {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    kind: "ServiceAccount",
    namespaced: true,
  },
  Secret: { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
  ConfigMap: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  Service: { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true },
  Deployment: { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true },
  DaemonSet: { group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true },
  ValidatingWebhookConfiguration: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingwebhookconfigurations",
    kind: "ValidatingWebhookConfiguration",
    namespaced: false,
  },
  Node: { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false },
  ClusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
  },
  Role: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "roles",
    kind: "Role",
    namespaced: true,
  },
  RoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "rolebindings",
    kind: "RoleBinding",
    namespaced: true,
  },
};

export function resourceOf(kind: string): Resource {
  if (isKind(kind)) return kindResource(kind);
  const r = TYPES[kind];
  if (!r) throw new Error(`no resource type for ${kind} in test/operator/support/apply.ts`);
  return r;
}

/** Server-side apply each object as the test's own field manager. */
export async function applyAll(
  client: KubeClient,
  objects: readonly Record<string, unknown>[],
  namespace?: string,
) {
  for (const o of objects) {
    const obj = o as KubeObject;
    const r = resourceOf(String(obj.kind));
    if (r.namespaced && !obj.metadata.namespace && namespace) obj.metadata.namespace = namespace;
    await client.apply(r, obj, { fieldManager: "v6mostly-test" });
  }
}

export function yamlObjects(file: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((o): o is Record<string, unknown> => o !== null);
}

/** The CRDs of crds/, applied and Established. */
export async function installCrds(client: KubeClient): Promise<string[]> {
  const dir = join(repoRoot, "crds");
  const crds = readdirSync(dir).flatMap((f) => yamlObjects(join(dir, f)));
  await applyAll(client, crds);
  const names = crds.map((c) => (c.metadata as { name: string }).name);
  const end = Date.now() + 30_000;
  for (const name of names) {
    for (;;) {
      const c = await client.get<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >(TYPES.CustomResourceDefinition!, undefined, name);
      if (c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True")) break;
      if (Date.now() > end) throw new Error(`CRD ${name} not Established`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return names;
}
