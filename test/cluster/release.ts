// The chart installed on a test cluster as a user installs it (helm install), and what the cluster
// tests read back from it: the operator Deployment and the agent DaemonSet rolled out, the agent
// pods, an agent's status server on its node. Shared by seed.test.ts (one node) and
// twonode.test.ts (two nodes).
import assert from "node:assert/strict";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { STATUS_ADDRESS } from "../../src/lab/topology.ts";
import { type RenderedDocument, renderChart } from "../helm/render.ts";
import type { ControlPlane } from "./controlplane.ts";
import type { BuiltImage } from "./image.ts";
import { applyManifests, type TestNode } from "./node.ts";

const ROOT = join(import.meta.dirname, "..", "..");
export const CHART = join(ROOT, "charts", "v6mostly");
export const RELEASE_NS = "v6mostly-system";

export type Obj = {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    generation?: number;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

type AgentDaemonSet = Obj & {
  spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
};

/** One line on the image, as the cluster tests print it. */
export function describeImage(image: BuiltImage): string {
  return (
    `# image ${image.ref}: ${(image.compressedBytes / 1e6).toFixed(1)} MB compressed, ` +
    `${(image.uncompressedBytes / 1e6).toFixed(1)} MB uncompressed` +
    (image.cached ? " (cached)" : `; built in ${image.buildSeconds} s`)
  );
}

export class Release {
  constructor(
    readonly cp: ControlPlane,
    readonly image: BuiltImage,
    /** the nodes whose daemons' logs go into diagnostics */
    readonly nodes: () => TestNode[],
  ) {}

  kubectlJson<T = { items: Obj[] }>(args: string[]): T {
    return JSON.parse(this.cp.kubectl([...args, "-o", "json"])) as T;
  }

  /** Diagnostics for a failed wait: the pods, the operator's and agents' logs, the nodes' daemons. */
  diagnostics(): string {
    const parts: string[] = [];
    const tryRun = (label: string, f: () => string) => {
      try {
        parts.push(`--- ${label}\n${f()}`);
      } catch (e) {
        parts.push(`--- ${label}: ${(e as Error).message}`);
      }
    };
    tryRun("pods", () => this.cp.kubectl(["get", "pods", "-A", "-o", "wide"]));
    tryRun("describe pods", () => this.cp.kubectl(["describe", "pods", "-n", RELEASE_NS]).slice(-6000));
    for (const c of ["operator", "agent"])
      tryRun(`${c} logs`, () =>
        this.cp.kubectl([
          "logs",
          "-n",
          RELEASE_NS,
          "-l",
          `app.kubernetes.io/component=${c}`,
          "--tail=40",
          "--prefix",
        ]),
      );
    for (const n of this.nodes()) tryRun(`node ${n.name}`, () => n.logTails(20));
    return parts.join("\n");
  }

  /** Poll `f` until it returns something other than undefined; errors count as "not yet". */
  async until<T>(what: string, timeoutMs: number, f: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      try {
        const v = f();
        if (v !== undefined) return v;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        assert.fail(
          `${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last})` : ""}\n${this.diagnostics()}`,
        );
      await sleep(200);
    }
  }

  /** The chart as `helm template v6mostly charts/v6mostly -n v6mostly-system` with the imported image. */
  async render(extra: object = {}): Promise<{ manifest: string; documents: RenderedDocument[] }> {
    const at = this.image.ref.lastIndexOf(":");
    const values = {
      image: {
        repository: this.image.ref.slice(0, at),
        tag: this.image.ref.slice(at + 1),
        pullPolicy: "Never",
      },
    };
    return renderChart(CHART, { release: "v6mostly", namespace: RELEASE_NS, values: [values, extra] });
  }

  /** `helm upgrade --install`'s apply: every rendered object, server-side, one field manager. */
  applyRendered(manifest: string): void {
    applyManifests(this.cp, manifest, ["--server-side", "--force-conflicts", "--field-manager=helm"]);
  }

  /** The operator Deployment rolled out: every replica updated and Ready. */
  operatorReady(): Obj | undefined {
    const d = this.kubectlJson<Obj & { spec: { replicas: number } }>([
      "get",
      "deployment",
      "-n",
      RELEASE_NS,
      "v6mostly-operator",
    ]);
    const s = d.status as {
      observedGeneration?: number;
      replicas?: number;
      updatedReplicas?: number;
      readyReplicas?: number;
    };
    const n = d.spec.replicas;
    return s.observedGeneration === d.metadata.generation &&
      s.updatedReplicas === n &&
      s.readyReplicas === n &&
      s.replicas === n
      ? d
      : undefined;
  }

  /** The agent DaemonSet (the operator's) rolled out on at least `atLeast` nodes, every pod Ready. */
  agentsReady(atLeast = 1): AgentDaemonSet | undefined {
    const d = this.kubectlJson<AgentDaemonSet>(["get", "daemonset", "-n", RELEASE_NS, "v6mostly-agent"]);
    const s = d.status as {
      observedGeneration?: number;
      desiredNumberScheduled?: number;
      updatedNumberScheduled?: number;
      numberReady?: number;
      numberAvailable?: number;
    };
    const n = s.desiredNumberScheduled ?? 0;
    return s.observedGeneration === d.metadata.generation &&
      n >= atLeast &&
      s.updatedNumberScheduled === n &&
      s.numberReady === n &&
      s.numberAvailable === n
      ? d
      : undefined;
  }

  /** The pods of a component ("agent", "operator"), Running and Ready. */
  readyPods(component = "agent"): Obj[] {
    return this.kubectlJson([
      "get",
      "pods",
      "-n",
      RELEASE_NS,
      "-l",
      `app.kubernetes.io/component=${component}`,
    ]).items.filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        (p.status as { conditions?: { type: string; status: string }[] }).conditions?.some(
          (c) => c.type === "Ready" && c.status === "True",
        ),
    );
  }
}

/** What the agent's status server on `node` publishes (its port is on 0.0.0.0 in the node's namespace). */
export function agentStatus<T>(node: TestNode, topic: string): T | undefined {
  try {
    return JSON.parse(node.exec(["curl", "-s", "-m", "2", `http://${STATUS_ADDRESS}/${topic}`])) as T;
  } catch {
    return undefined;
  }
}
