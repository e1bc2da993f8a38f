// `v6mostly agent`: the node runtime (the code `run` uses) fed by this node's NodeConfig, reporting
// what runs in that NodeConfig's status (a small object per node: agents never contend for one
// array), with a heartbeat Lease; on stop it withdraws what it announced (the services' own stop:
// RA lifetimes 0, DHCP stopped, TUN removed) and stops the heartbeat.
import { isDeepStrictEqual } from "node:util";
import { NODE_CONFIG_RESOURCE, type NodeConfigStatus } from "../api/nodeconfig.ts";
import { type KubeClient, type Owner, withoutEmptyStrings } from "../operator/runtime/client.ts";
import type { Starters } from "../services/contract.ts";
import type { Logger } from "../util/log.ts";
import { Heartbeat } from "./heartbeat.ts";
import { type OwnershipOptions, ownedStarters } from "./ownership/gate.ts";
import { NodeRuntime } from "./runtime.ts";
import { ApiSource } from "./sources/api.ts";
import type { StatusServer } from "./status.ts";

export interface AgentOptions {
  client: KubeClient;
  /** the operator's namespace, where this node's NodeConfig is */
  namespace: string;
  nodeName: string;
  stateDir: string;
  log: Logger;
  starters: Starters;
  server?: StatusServer;
  version: string;
  /** report at least this often when something changed without an event (default 5 s) */
  reportEveryMs?: number;
  heartbeatMs?: number;
  retry?: { initialMs: number; maxMs: number };
  /** owned assignments (one candidate node at a time serves them): Lease timing, announcements */
  ownership?: Pick<OwnershipOptions, "timing" | "announce" | "retryMs">;
  /**
   * the agent DaemonSet: owns the Leases this agent creates (heartbeat, owned assignments), so
   * that the garbage collector removes them with it on uninstall
   */
  owner?: Owner;
}

export class Agent {
  readonly runtime: NodeRuntime;
  readonly source: ApiSource;
  private readonly heartbeat: Heartbeat;
  private timer: NodeJS.Timeout | undefined;
  private lastReport: NodeConfigStatus | undefined;
  private reporting: Promise<void> = Promise.resolve();
  private readonly started = new Date().toISOString();

  constructor(private readonly opts: AgentOptions) {
    // Owned assignments start behind their Lease (src/agent/ownership): only the holder serves.
    const starters = ownedStarters(opts.starters, {
      client: opts.client,
      namespace: opts.namespace,
      identity: opts.nodeName,
      log: opts.log,
      owner: opts.owner,
      ...opts.ownership,
    });
    this.runtime = new NodeRuntime(starters, {
      log: opts.log,
      stateDir: opts.stateDir,
      server: opts.server,
      retry: opts.retry,
      onChange: () => this.report(),
    });
    this.source = new ApiSource({
      client: opts.client,
      namespace: opts.namespace,
      nodeName: opts.nodeName,
      log: opts.log,
    });
    this.heartbeat = new Heartbeat(
      opts.client,
      opts.namespace,
      opts.nodeName,
      opts.log,
      opts.heartbeatMs,
      opts.owner,
    );
  }

  async start(): Promise<void> {
    this.heartbeat.start();
    await this.source.start((assignments) => this.runtime.apply(assignments));
    const every = this.opts.reportEveryMs ?? 5000;
    const tick = () => {
      this.report();
      this.timer = setTimeout(tick, every);
      this.timer.unref();
    };
    tick();
    this.opts.server?.setReadiness(() => {
      const s = this.runtime.status();
      return {
        ready: s.every((x) => x.running),
        detail: s.map((x) => ({ resource: x.resource, running: x.running, reason: x.conditions[0]?.reason })),
      };
    });
  }

  /** The NodeConfig status this agent would write now. */
  statusNow(): NodeConfigStatus {
    return {
      observedGeneration: this.source.generation,
      problems: this.source.problems,
      resources: this.runtime.status().map((s) => ({
        kind: s.kind,
        namespace: s.namespace,
        name: s.name,
        generation: s.generation,
        conditions: s.conditions.map((c) => ({
          type: c.type,
          status: c.status,
          reason: c.reason,
          message: c.message,
          lastTransitionTime: c.since ?? this.started,
          observedGeneration: s.generation,
        })),
      })),
      agent: { version: this.opts.version, pid: process.pid, started: this.started },
    };
  }

  /** Write the status if it changed (serialized; a failure is retried by the next tick). */
  report(): void {
    this.reporting = this.reporting.then(async () => {
      const nc = this.source.current();
      if (!nc) return;
      const next = withoutEmptyStrings(this.statusNow());
      if (this.lastReport && isDeepStrictEqual(this.lastReport, next) && isDeepStrictEqual(nc.status, next))
        return;
      try {
        await this.opts.client.mergePatch(
          NODE_CONFIG_RESOURCE,
          this.opts.namespace,
          this.opts.nodeName,
          { status: next },
          "status",
        );
        this.lastReport = next;
      } catch (e) {
        this.opts.log.warn({ err: (e as Error).message }, "could not report this node's status");
      }
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.source.stop();
    await this.runtime.stopAll();
    await this.reporting;
    await this.heartbeat.stop();
  }
}
