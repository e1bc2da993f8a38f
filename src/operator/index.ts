// `v6mostly operator`: informers on every v6mostly kind, Nodes and NodeConfigs; the plan
// reconciler behind a Lease (one active operator; the others keep warm caches and take over
// within the lease duration when it dies).
import { hostname } from "node:os";
import { NODE_CONFIG_RESOURCE } from "../api/nodeconfig.ts";
import { KIND_NAMES, type Kind, kindResource } from "../api/resources.ts";
import type { Logger } from "../util/log.ts";
import type { AgentTemplate } from "./manifests/agent.ts";
import { FIELD_MANAGER, PlanReconciler } from "./reconcile/plan.ts";
import { CORE, type KubeClient, type KubeObject } from "./runtime/client.ts";
import { Controller } from "./runtime/controller.ts";
import { EventRecorder } from "./runtime/events.ts";
import { Informer } from "./runtime/informer.ts";
import { LeaderElector } from "./runtime/leader.ts";

export interface OperatorOptions {
  client: KubeClient;
  /** the operator's namespace (NodeConfigs, the agent DaemonSet, the leader Lease) */
  namespace: string;
  log: Logger;
  agent: AgentTemplate;
  /** this replica's name in the Lease (default: host name and pid) */
  identity?: string;
  leaderElection?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number } | false;
  owner?: { apiVersion: string; kind: string; name: string; uid: string };
  /** informers relist this often (drift of NodeConfigs and statuses is corrected then) */
  resyncMs?: number;
  /** called when this replica loses leadership after having it (it stops reconciling and campaigns again) */
  onLostLeadership?: () => void;
}

export const LEADER_LEASE = "v6mostly-operator";

export class Operator {
  readonly reconciler: PlanReconciler;
  readonly controller: Controller;
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly elector: LeaderElector | undefined;
  private leading = false;

  readonly client: KubeClient;

  constructor(private readonly opts: OperatorOptions) {
    this.client = opts.client;
    const { client, log } = opts;
    const informerOpts = { log, resyncMs: opts.resyncMs };
    const kinds = {} as Record<Kind, Informer<KubeObject>>;
    for (const kind of KIND_NAMES) kinds[kind] = new Informer(client, kindResource(kind), informerOpts);
    const nodes = new Informer<KubeObject>(client, CORE.nodes, informerOpts);
    const nodeConfigs = new Informer<KubeObject>(client, NODE_CONFIG_RESOURCE, {
      ...informerOpts,
      namespace: opts.namespace,
    });
    this.informers.push(...Object.values(kinds), nodes, nodeConfigs);
    this.reconciler = new PlanReconciler({
      client,
      namespace: opts.namespace,
      log,
      events: new EventRecorder(client, FIELD_MANAGER, log),
      kinds,
      nodes,
      nodeConfigs,
      agent: opts.agent,
      owner: opts.owner,
    });
    this.controller = new Controller({
      name: "plan",
      log,
      reconcile: async () => {
        await this.reconciler.reconcile();
        return undefined;
      },
    });
    const poke = () => {
      if (this.leading) this.controller.enqueue("plan");
    };
    for (const inf of this.informers) inf.on({ added: poke, updated: poke, deleted: poke });
    if (opts.leaderElection !== false) {
      this.elector = new LeaderElector(client, {
        namespace: opts.namespace,
        name: LEADER_LEASE,
        identity: opts.identity ?? `${hostname()}_${process.pid}`,
        log,
        ...(opts.leaderElection ?? {}),
        onStartedLeading: () => this.lead(),
        onStoppedLeading: () => {
          void this.follow();
          opts.onLostLeadership?.();
        },
      });
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Start the informers (resolves when their first lists are in), then campaign or lead. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    this.opts.log.info({ namespace: this.opts.namespace }, "caches synced");
    if (this.elector) this.elector.start();
    else this.lead();
  }

  private lead(): void {
    this.leading = true;
    this.controller.start();
    this.controller.enqueue("plan");
  }

  private async follow(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    await this.controller.stop();
  }

  async stop(): Promise<void> {
    await this.elector?.stop();
    await this.follow();
    for (const i of this.informers) i.stop();
  }
}
