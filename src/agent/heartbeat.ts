// The agent's heartbeat: a Lease per node in the operator's namespace, renewed every few seconds
// (as kubelet's node leases). The operator tells a dead agent from a quiet one by it, and a
// resource placed on a node whose agent stopped renewing is shown as "not reporting" instead of
// "running" from a report that is no longer true.
import {
  CORE,
  isConflict,
  type KubeClient,
  type KubeObject,
  type Owner,
  ownedBy,
} from "../operator/runtime/client.ts";
import { microTime } from "../operator/runtime/leader.ts";
import type { Logger } from "../util/log.ts";

export const HEARTBEAT_LABEL = { "app.kubernetes.io/component": "agent-heartbeat" };
export const heartbeatName = (node: string) => `v6mostly-agent-${node}`.slice(0, 253);

type LeaseObject = KubeObject & {
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
};

/** Whether a heartbeat Lease is fresh at `now` (its renewTime plus its duration not yet past). */
export function isFresh(lease: LeaseObject, now = Date.now()): boolean {
  const renew = Date.parse(lease.spec?.renewTime ?? "");
  const seconds = lease.spec?.leaseDurationSeconds ?? 0;
  return Number.isFinite(renew) && renew + seconds * 1000 > now;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly node: string,
    private readonly log: Logger,
    private readonly periodMs = 10_000,
    /** the agent DaemonSet: the Lease goes with it (an uninstall) */
    private readonly owner?: Owner,
  ) {}

  start(): void {
    const beat = () => {
      void this.beat().catch((e: Error) => this.log.warn({ err: e.message }, "heartbeat failed"));
      this.timer = setTimeout(beat, this.periodMs);
      this.timer.unref();
    };
    beat();
  }

  private async beat(): Promise<void> {
    const name = heartbeatName(this.node);
    const spec = {
      holderIdentity: this.node,
      renewTime: microTime(Date.now()),
      leaseDurationSeconds: Math.ceil((this.periodMs * 4) / 1000),
    };
    try {
      await this.client.apply(
        CORE.leases,
        {
          metadata: { name, namespace: this.namespace, labels: HEARTBEAT_LABEL, ...ownedBy(this.owner) },
          spec,
        },
        { fieldManager: "v6mostly-agent" },
      );
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }

  /** Stop renewing and say so at once (the operator need not wait for the expiry). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.client
      .mergePatch(CORE.leases, this.namespace, heartbeatName(this.node), {
        spec: { leaseDurationSeconds: 0 },
      })
      .catch(() => undefined);
  }
}
