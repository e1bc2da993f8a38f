// The nodes a plan is made for: from `kubectl get nodes -o json|yaml`, or a short list
// [{ name, labels }], or in standalone mode the one host v6mostly runs on.
import { hostname } from "node:os";

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
}

/** Standalone mode: this host, on which every resource's nodeSelector is ignored. */
export function localNode(name = hostname()): NodeInfo {
  return { name, labels: { "kubernetes.io/hostname": name } };
}

/** Accepts a NodeList (kubectl), a list of nodes, or { nodes: [...] }. Returns nodes or an error. */
export function nodesFrom(value: unknown): { ok: true; nodes: NodeInfo[] } | { ok: false; error: string } {
  let items: unknown = value;
  if (items && typeof items === "object" && !Array.isArray(items)) {
    const o = items as { items?: unknown; nodes?: unknown };
    items = o.items ?? o.nodes;
  }
  if (!Array.isArray(items)) {
    return {
      ok: false,
      error: "expected a list of nodes: `kubectl get nodes -o yaml` output, or [{ name, labels }]",
    };
  }
  const nodes: NodeInfo[] = [];
  const seen = new Set<string>();
  for (const [i, item] of items.entries()) {
    const o = (item ?? {}) as {
      name?: unknown;
      labels?: unknown;
      metadata?: { name?: unknown; labels?: unknown };
    };
    const name = o.metadata?.name ?? o.name;
    const labels = o.metadata?.labels ?? o.labels ?? {};
    if (typeof name !== "string" || name === "") return { ok: false, error: `node ${i + 1} has no name` };
    if (
      typeof labels !== "object" ||
      labels === null ||
      Object.values(labels).some((v) => typeof v !== "string")
    ) {
      return { ok: false, error: `node ${name}: labels must map names to text values` };
    }
    if (seen.has(name)) return { ok: false, error: `node ${name} is listed twice` };
    seen.add(name);
    nodes.push({ name, labels: labels as Record<string, string> });
  }
  return { ok: true, nodes };
}

/** Pod-style nodeSelector: every key must be present with the same value. */
export function selects(selector: Record<string, string>, node: NodeInfo): boolean {
  return Object.entries(selector).every(([k, v]) => node.labels[k] === v);
}
