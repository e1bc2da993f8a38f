// The plan reconciler: every v6mostly resource and every Node -> the same validation and planner
// as `v6mostly validate` and `v6mostly plan` -> one NodeConfig per node that runs something, the
// agent DaemonSet, and each resource's status (from the plan and the agents' reports).
//
// One key ("plan") for the whole cluster: placement is global (pool4 and DHCP ranges must not
// overlap anywhere, rendezvous hashing spreads pool4 over the selected nodes, the older resource
// keeps its place in a conflict), so the planner always sees everything. Informer events only
// enqueue the key; the queue folds a burst of events into one reconcile. Writes are skipped when
// the object already says what it should: a steady state costs no API requests.
import { isDeepStrictEqual } from "node:util";
import type { RawDocument } from "../../api/load.ts";
import { NODE_CONFIG_RESOURCE, type NodeConfigSpec, type NodeConfigStatus } from "../../api/nodeconfig.ts";
import { API_VERSION, KIND_NAMES, type Kind, kindResource } from "../../api/resources.ts";
import { type Problem, validateDocuments } from "../../api/validate.ts";
import type { NodeInfo } from "../../planner/nodes.ts";
import { type Plan, plan } from "../../planner/plan.ts";
import { encodeAssignment } from "../../planner/wire.ts";
import type { Logger } from "../../util/log.ts";
import { type AgentTemplate, agentDaemonSet } from "../manifests/agent.ts";
import { CORE, type KubeClient, type KubeObject, withoutEmptyStrings } from "../runtime/client.ts";
import { type StatusCondition, setConditions } from "../runtime/conditions.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import { type DesiredStatus, desiredStatuses, keyOf, type StatusInputs } from "./status.ts";

export const FIELD_MANAGER = "v6mostly-operator";

const NODE_CONFIGS = NODE_CONFIG_RESOURCE;

type NodeObject = KubeObject & {
  status?: { conditions?: { type: string; status: string }[] };
  spec?: { unschedulable?: boolean };
};
type NodeConfigObject = KubeObject & { spec?: NodeConfigSpec; status?: NodeConfigStatus };
type UserObject = KubeObject & {
  spec?: unknown;
  status?: { conditions?: StatusCondition[] } & Record<string, unknown>;
};

export interface PlanContext {
  client: KubeClient;
  /** the operator's namespace: NodeConfigs and the agent DaemonSet live there */
  namespace: string;
  log: Logger;
  events: EventRecorder;
  kinds: Record<Kind, Informer<UserObject>>;
  nodes: Informer<NodeObject>;
  nodeConfigs: Informer<NodeConfigObject>;
  agent: AgentTemplate;
  /** the operator's Deployment, owner of what it creates in its namespace (removed with it) */
  owner?: { apiVersion: string; kind: string; name: string; uid: string };
  /** nodes whose agent heartbeat is fresh (agent leases); absent = trust the reports */
  aliveNodes?: () => ReadonlySet<string>;
  /** the device controller's last outcome per ExternalDevice (resources placed on devices) */
  deviceOutcome?: StatusInputs["deviceOutcome"];
  /** told each plan made (the device controller takes its devices' assignments from it) */
  onPlanned?: (plan: Plan) => void;
}

/** A Node takes part while it is not being deleted and not NotReady (objects without kubelet count). */
export function nodeInfo(n: NodeObject): NodeInfo | undefined {
  if (n.metadata.deletionTimestamp) return undefined;
  const ready = n.status?.conditions?.find((c) => c.type === "Ready");
  if (ready && ready.status !== "True") return undefined;
  return { name: n.metadata.name, labels: n.metadata.labels ?? {} };
}

export class PlanReconciler {
  /** what the last reconcile wrote, for the benchmark and tests */
  readonly counts = {
    nodeConfigsWritten: 0,
    nodeConfigsDeleted: 0,
    statusesWritten: 0,
    daemonSetsWritten: 0,
  };
  private lastDaemonSet: string | undefined;

  constructor(private readonly ctx: PlanContext) {}

  async reconcile(): Promise<void> {
    const { ctx } = this;
    // 1. every resource, checked as `validate` checks files (the API server's schema is older)
    const objects: UserObject[] = [];
    const docs: RawDocument[] = [];
    for (const kind of KIND_NAMES) {
      for (const o of ctx.kinds[kind].list()) {
        if (o.metadata.deletionTimestamp) continue;
        objects.push(o);
        docs.push({
          source: { file: `${o.metadata.namespace}/${kind}/${o.metadata.name}`, doc: 0 },
          value: { apiVersion: API_VERSION, kind, metadata: o.metadata, spec: o.spec },
        });
      }
    }
    const { resources, problems } = validateDocuments(docs);
    const problemsOf = new Map<string, Problem[]>();
    for (const p of problems) {
      const k = p.source.file;
      problemsOf.set(k, [...(problemsOf.get(k) ?? []), p]);
    }
    const invalid = new Set(
      [...problemsOf].filter(([, ps]) => ps.some((p) => p.severity === "error")).map(([k]) => k),
    );
    // A resource with an error is left out of the plan; the others go on.
    const valid = resources.filter((r) => !invalid.has(`${r.namespace}/${r.kind}/${r.name}`));

    // 2. the plan over the nodes
    const nodes = ctx.nodes
      .list()
      .map(nodeInfo)
      .filter((n): n is NodeInfo => n !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
    const p = plan(valid, { nodes });
    ctx.onPlanned?.(p);

    // 3. one NodeConfig per node that runs something; none elsewhere
    const wanted = new Map<string, NodeConfigSpec>();
    for (const n of p.nodes) {
      if (n.assignments.length === 0) continue;
      const assignments = [...n.assignments]
        .sort((a, b) => keyOf(a).localeCompare(keyOf(b)))
        .map((a) => encodeAssignment(a) as unknown);
      wanted.set(n.name, { count: assignments.length, assignments });
    }
    for (const [node, spec] of wanted) {
      const have = ctx.nodeConfigs.get(`${ctx.namespace}/${node}`);
      if (have && isDeepStrictEqual(have.spec, spec)) continue;
      await ctx.client.apply(
        NODE_CONFIGS,
        {
          metadata: {
            name: node,
            namespace: ctx.namespace,
            labels: { "app.kubernetes.io/managed-by": FIELD_MANAGER },
            ownerReferences: ctx.owner
              ? [{ ...ctx.owner, controller: true, blockOwnerDeletion: false }]
              : undefined,
          },
          spec,
        },
        { fieldManager: FIELD_MANAGER },
      );
      this.counts.nodeConfigsWritten++;
    }
    for (const nc of ctx.nodeConfigs.list()) {
      if (!wanted.has(nc.metadata.name) && nc.metadata.namespace === ctx.namespace) {
        await ctx.client.delete(NODE_CONFIGS, ctx.namespace, nc.metadata.name);
        this.counts.nodeConfigsDeleted++;
      }
    }

    // 4. the agent DaemonSet, on the nodes the resources select
    const selectors = valid.filter((r) => r.kind !== "ExternalDevice").map((r) => r.spec.nodeSelector);
    const ds = agentDaemonSet(ctx.namespace, ctx.agent, selectors, ctx.owner);
    const text = JSON.stringify(ds);
    if (text !== this.lastDaemonSet) {
      await ctx.client.apply(CORE.daemonsets, ds as KubeObject, { fieldManager: FIELD_MANAGER });
      this.lastDaemonSet = text;
      this.counts.daemonSetsWritten++;
    }

    // 5. statuses, from the plan and what the agents report
    const reports = new Map<string, NodeConfigStatus>();
    for (const nc of ctx.nodeConfigs.list()) if (nc.status) reports.set(nc.metadata.name, nc.status);
    const identities = objects.map((o) => ({
      kind: o.kind ?? "",
      namespace: o.metadata.namespace ?? "",
      name: o.metadata.name,
      generation: o.metadata.generation,
    }));
    const desired = desiredStatuses({
      objects: identities,
      problems: problemsOf,
      plan: p,
      reports,
      alive: ctx.aliveNodes?.(),
      deviceOutcome: ctx.deviceOutcome,
    });
    for (const o of objects) {
      const k = keyOf({ kind: o.kind ?? "", namespace: o.metadata.namespace ?? "", name: o.metadata.name });
      const want = desired.get(k);
      if (want) await this.writeStatus(o, want);
    }
  }

  private async writeStatus(o: UserObject, want: DesiredStatus): Promise<void> {
    const kind = o.kind as Kind;
    const current = o.status ?? {};
    const before = current.conditions ?? [];
    const conditions = setConditions(before, want.conditions, new Date(), true);
    const next = withoutEmptyStrings({
      observedGeneration: want.observedGeneration,
      programmed: want.programmed,
      conditions,
      nodes: want.nodes,
      devices: want.devices,
      ...(current.version === undefined ? {} : { version: current.version }),
    });
    if (isDeepStrictEqual(strip(current), strip(next))) return;
    try {
      await this.ctx.client.mergePatch(
        kindResource(kind),
        o.metadata.namespace,
        o.metadata.name,
        { status: next },
        "status",
      );
    } catch (e) {
      this.ctx.log.error(
        { resource: `${kind}/${o.metadata.name}`, status: next, err: (e as Error).message },
        "status refused",
      );
      throw e;
    }
    this.counts.statusesWritten++;
    const about = {
      apiVersion: API_VERSION,
      kind,
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: o.metadata.uid,
    };
    const wasReady = before.find((c) => c.type === "Ready");
    const isReady = conditions.find((c) => c.type === "Ready")!;
    if (wasReady?.status !== isReady.status || wasReady?.reason !== isReady.reason) {
      await this.ctx.events.record(
        about,
        isReady.status === "False" ? "Warning" : "Normal",
        isReady.reason,
        isReady.message || want.programmed,
      );
    }
  }
}

/** Status fields compared for "already says what it should" (JSON round trip drops undefined). */
function strip(s: unknown): unknown {
  return JSON.parse(JSON.stringify(s ?? {}));
}
