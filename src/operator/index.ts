// `v6mostly operator`: informers on every v6mostly kind, Nodes, NodeConfigs and the device states;
// the plan reconciler and the device controller behind a Lease (one active operator; the others
// keep warm caches and take over within the lease duration when it dies).
import { hostname } from "node:os";
import { NODE_CONFIG_RESOURCE } from "../api/nodeconfig.ts";
import { KIND_NAMES, type Kind, kindResource } from "../api/resources.ts";
import type { Logger } from "../util/log.ts";
import { DeviceStates, STATE_SELECTOR } from "./devices/state.ts";
import type { AgentTemplate } from "./manifests/agent.ts";
import { type DeviceControllerOptions, DeviceReconciler } from "./reconcile/devices.ts";
import { FIELD_MANAGER, PlanReconciler } from "./reconcile/plan.ts";
import { CORE, type KubeClient, type KubeObject, type Owner } from "./runtime/client.ts";
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
  /** the operator's Deployment: owns what the operator creates in its namespace (deleted on uninstall) */
  owner?: Owner;
  /** informers relist this often (drift of NodeConfigs and statuses is corrected then) */
  resyncMs?: number;
  /** called when this replica loses leadership after having it (it stops reconciling and campaigns again) */
  onLostLeadership?: () => void;
  /** the device controller's timings (drift checks, retries, cleanup) and driver settings */
  devices?: Pick<DeviceControllerOptions, "resyncMs" | "retryMs" | "cleanupTimeoutMs" | "run">;
}

export const LEADER_LEASE = "v6mostly-operator";

export class Operator {
  readonly reconciler: PlanReconciler;
  readonly controller: Controller;
  readonly devices: DeviceReconciler;
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
    const states = new Informer<KubeObject>(client, CORE.configmaps, {
      ...informerOpts,
      namespace: opts.namespace,
      labelSelector: STATE_SELECTOR,
    });
    this.informers.push(...Object.values(kinds), nodes, nodeConfigs, states);
    const events = new EventRecorder(client, FIELD_MANAGER, log);
    this.devices = new DeviceReconciler({
      client,
      log,
      events,
      devices: kinds.ExternalDevice,
      states: new DeviceStates(client, opts.namespace, states, FIELD_MANAGER),
      ...opts.devices,
    });
    this.reconciler = new PlanReconciler({
      client,
      namespace: opts.namespace,
      log,
      events,
      kinds,
      nodes,
      nodeConfigs,
      agent: opts.agent,
      owner: opts.owner,
      deviceOutcome: (namespace, name) => this.devices.outcome(namespace, name),
      onPlanned: (plan) => this.devices.planned(plan),
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
        owner: opts.owner,
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
    this.devices.start();
    this.controller.start();
    this.controller.enqueue("plan");
  }

  private async follow(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    await this.controller.stop();
    await this.devices.stop();
  }

  async stop(): Promise<void> {
    await this.elector?.stop();
    await this.follow();
    for (const i of this.informers) i.stop();
  }
}
