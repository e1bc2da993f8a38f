// The ownership gate: an owned assignment (plan.ts `owner`: a DhcpScope, a DNS64 on addresses of
// its own) runs on one candidate node at a time. Every candidate campaigns for the assignment's
// Lease (coordination.k8s.io/v1, in the operator's namespace) with the operator's LeaderElector;
// the holder adds the owned addresses, announces them and starts the service; the others stand by.
//
//   standby ──lease won──▶ activating: addresses (lifetime = renew deadline) ─▶ announce ─▶ start
//      ▲                        │ start failed: addresses removed, Lease released, retry later
//      └──lease lost / stop──── active: every renewal extends the addresses' lifetime
//
// Losing the Lease (a renewal not made within the renew deadline, which is shorter than the lease
// duration) stops the service and removes the addresses at once, before another candidate may
// take over. A process that is killed cannot do that: the kernel expires its addresses at the
// renew deadline (addresses.ts), and the DHCP lease store refuses the writes of an owner that lost
// its term (services/dhcp4/storeapi.ts), so a frozen owner that wakes up hands out nothing.
//
// What the runtime and the operator see: an owned assignment is "running" on every candidate. The
// active one reports Ready=True (the service's own conditions follow) and Owner=True/Active; a
// standby reports Ready=True reason=Standby (healthy, ready to take over) and Owner=False/Standby;
// a candidate that cannot reach its Lease, or could not start the service when it won, reports
// Ready=False with the reason. The operator's "2/2 nodes" then counts healthy candidates.

import type { KubeClient, Owner } from "../../operator/runtime/client.ts";
import { LeaderElector } from "../../operator/runtime/leader.ts";
import type { DhcpAssignment, Dns64Assignment, Ownership } from "../../planner/plan.ts";
import {
  type Condition,
  type RunningService,
  type ServiceContext,
  ServiceError,
  type Starter,
  type Starters,
} from "../../services/contract.ts";
import type { Logger } from "../../util/log.ts";
import {
  type Announcement,
  type AnnounceSchedule,
  announce,
  interfaceMac,
  RFC_SCHEDULE,
} from "../../util/sys/announce.ts";
import { OwnedAddresses, placeAddresses, readLinks } from "./addresses.ts";

/** The assignments that can be owned. */
export type OwnedAssignment = Dns64Assignment | DhcpAssignment;

export interface OwnershipTiming {
  /** how long a Lease holds without renewal; a dead owner is replaced after about this long */
  leaseDurationMs: number;
  /** the owner gives up (stops serving, removes addresses) when it could not renew for this long */
  renewDeadlineMs: number;
  /** how often candidates try, and the owner renews */
  retryPeriodMs: number;
}

/** client-go's leader-election defaults. */
export const DEFAULT_TIMING: OwnershipTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** The timing for a lease duration: renew deadline 2/3 of it, retry period 2/15 (client-go's ratios). */
export function timingFor(leaseDurationMs: number): OwnershipTiming {
  return {
    leaseDurationMs,
    renewDeadlineMs: Math.round((leaseDurationMs * 2) / 3),
    retryPeriodMs: Math.round((leaseDurationMs * 2) / 15),
  };
}

export interface OwnershipOptions {
  client: KubeClient;
  /** the operator's namespace, where the Leases are */
  namespace: string;
  /** this candidate: the node's name (the Lease's holderIdentity) */
  identity: string;
  log: Logger;
  timing?: OwnershipTiming;
  announce?: AnnounceSchedule;
  /** first pause before campaigning again after a failed start; doubles up to 60 s */
  retryMs?: number;
  /** the Leases' owner (the agent DaemonSet): deleted with it on uninstall */
  owner?: Owner;
}

/** Starters with owned assignments behind the gate; everything else starts as before. */
export function ownedStarters(base: Starters, opts: OwnershipOptions): Starters {
  const gate = <A extends OwnedAssignment>(start: Starter<A> | undefined): Starter<A> | undefined =>
    start && (async (a, ctx) => (a.owner ? OwnedService.start(start, a, a.owner, ctx, opts) : start(a, ctx)));
  return { ...base, Dns64Resolver: gate(base.Dns64Resolver), DhcpScope: gate(base.DhcpScope) };
}

type State = "standby" | "activating" | "active" | "failed" | "stopped";

const sameOwner = (a: Ownership, b: Ownership | undefined) =>
  b !== undefined &&
  a.lease === b.lease &&
  a.interface === b.interface &&
  a.addresses.join(" ") === b.addresses.join(" ");

export class OwnedService<A extends OwnedAssignment> implements RunningService<A> {
  private state: State = "standby";
  private elector!: LeaderElector;
  private inner: RunningService<A> | undefined;
  private round: Announcement | undefined;
  private readonly addresses: OwnedAddresses;
  /** every transition runs after the previous one */
  private queue: Promise<void> = Promise.resolve();
  private failure: { reason: string; message: string } | undefined;
  /** when (this clock) the last successful renewal began: the addresses live until its renew deadline */
  private renewed = 0;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private unpublish: (() => void)[] = [];
  private readonly timing: OwnershipTiming;
  private readonly log: Logger;
  private readonly counters = {
    ownerTransitions: 0,
    announcementsArp: 0,
    announcementsNa: 0,
    announceErrors: 0,
  };

  private constructor(
    private readonly starter: Starter<A>,
    private assignment: A,
    private readonly owner: Ownership,
    private readonly ctx: ServiceContext,
    private readonly opts: OwnershipOptions,
  ) {
    this.timing = opts.timing ?? DEFAULT_TIMING;
    this.log = ctx.log.child({ lease: owner.lease });
    this.addresses = new OwnedAddresses(ctx.stateDir, owner.lease, (msg, extra) =>
      this.log.info(extra ?? {}, msg),
    );
  }

  /** Cleans what a crashed predecessor left, then campaigns; returns at once, as a standby. */
  static async start<A extends OwnedAssignment>(
    starter: Starter<A>,
    a: A,
    owner: Ownership,
    ctx: ServiceContext,
    opts: OwnershipOptions,
  ): Promise<OwnedService<A>> {
    const s = new OwnedService(starter, a, owner, ctx, opts);
    await s.addresses.cleanStale();
    s.campaign();
    return s;
  }

  private campaign(): void {
    const t = this.timing;
    this.elector = new LeaderElector(this.opts.client, {
      namespace: this.opts.namespace,
      name: this.owner.lease,
      identity: this.opts.identity,
      owner: this.opts.owner,
      leaseDurationMs: t.leaseDurationMs,
      renewDeadlineMs: t.renewDeadlineMs,
      retryPeriodMs: t.retryPeriodMs,
      log: this.log,
      onStartedLeading: () => this.serial(() => this.activate()),
      onStoppedLeading: () => {
        // at once, not behind a start in progress: the service must be gone before the lease expires
        this.round?.stop();
        this.serial(() => this.deactivate("lost the Lease"));
      },
      onRenewed: (began) => {
        this.renewed = began;
        this.serial(() => this.refresh(began));
      },
    });
    this.elector.start();
  }

  private serial(step: () => Promise<void>): void {
    this.queue = this.queue
      .then(step)
      .catch((e: Error) => this.log.error({ err: e.message }, "ownership step failed"));
  }

  /** Seconds the owned addresses may live from now: until the renew deadline of `began`. */
  private lifetime(began: number): number {
    return Math.floor((began + this.timing.renewDeadlineMs - Date.now()) / 1000);
  }

  private async activate(): Promise<void> {
    if (this.state === "stopped" || !this.elector.isLeader) return;
    this.state = "activating";
    const began = Date.now();
    try {
      const placed = placeAddresses(this.owner.addresses, await readLinks(), this.owner.interface);
      if (!placed.ok) throw new ServiceError("NoInterfaceForAddress", placed.error);
      const life = this.lifetime(this.renewed);
      if (life < 1 && placed.value.length)
        throw new Error("the Lease is about to lapse: not taking over now");
      const added = await this.addresses.add(placed.value, life);
      const macs = await Promise.all(
        added.map(async (host) => ({ host, mac: await interfaceMac(host.dev) })),
      );
      this.round = announce(macs, this.opts.announce ?? RFC_SCHEDULE, (e, h) =>
        this.log.warn({ err: e.message, address: h.address }, "announcement failed"),
      );
      if (!this.elector.isLeader) throw new Error("lost the Lease while taking over");
      this.inner = await this.starter(this.assignment, this.innerContext());
      this.state = "active";
      this.failure = undefined;
      this.failures = 0;
      this.counters.ownerTransitions++;
      this.log.info(
        { addresses: added.map((h) => `${h.address} on ${h.dev}`), tookMs: Date.now() - began },
        "active: this node serves it",
      );
    } catch (e) {
      await this.deactivate("could not take over");
      // (deactivate and stop() may have moved the state on meanwhile)
      if ((this.state as State) === "stopped") return;
      // another candidate may be able to serve it: give the Lease up and try again later
      this.state = "failed";
      this.failures++;
      const delay = Math.min((this.opts.retryMs ?? 1000) * 2 ** (this.failures - 1), 60_000);
      const message = (e as Error).message;
      // said as the runtime says its own retries, whole from the start (a report may come any time)
      this.failure = {
        reason: e instanceof ServiceError ? e.reason : "StartFailed",
        message: `${message}; retrying at ${new Date(Date.now() + delay).toISOString()} (${this.failures} failed start${this.failures === 1 ? "" : "s"})`,
      };
      this.log.warn({ err: message }, "could not serve; Lease released");
      await this.giveUp();
      this.retry = setTimeout(() => {
        this.retry = undefined;
        if (this.state === "failed") this.campaign();
      }, delay);
      this.retry.unref();
    }
  }

  /** Stops the service, then removes the addresses; the Lease stays as the elector has it. */
  private async deactivate(why: string): Promise<void> {
    const wasActive = this.state === "active";
    this.round?.stop();
    if (this.round) {
      this.counters.announcementsArp += this.round.counts.arp;
      this.counters.announcementsNa += this.round.counts.na;
      this.counters.announceErrors += this.round.counts.errors;
      this.round = undefined;
    }
    const inner = this.inner;
    this.inner = undefined;
    for (const undo of this.unpublish.splice(0)) undo();
    if (inner) await inner.stop().catch((e: Error) => this.log.error({ err: e.message }, "stop failed"));
    await this.addresses.remove();
    // a failed start stays reported until the next attempt (the Lease lost after it changes nothing)
    if (this.state !== "stopped" && this.state !== "failed") this.state = "standby";
    if (wasActive) this.log.info({ why }, "standby: stopped serving, addresses removed");
  }

  private async refresh(began: number): Promise<void> {
    if (this.state !== "active") return;
    const life = this.lifetime(began);
    if (life >= 1) await this.addresses.refresh(life);
  }

  /** The context the service runs with: its topics are withdrawn when it stops (standby again). */
  private innerContext(): ServiceContext {
    const publish = this.ctx.publish;
    return {
      ...this.ctx,
      publish: publish
        ? (topic, provider) => {
            const undo = publish(topic, provider);
            this.unpublish.push(undo);
            return undo;
          }
        : undefined,
    };
  }

  async update(next: A): Promise<void> {
    // other addresses or another Lease: the runtime starts over (stop releases, start campaigns)
    if (!sameOwner(this.owner, next.owner)) throw new Error("the owned addresses changed");
    const done = new Promise<void>((resolve, reject) => {
      this.serial(async () => {
        try {
          this.assignment = next;
          const inner = this.inner;
          if (this.state !== "active" || !inner) return resolve();
          try {
            if (!inner.update) throw new Error("no update in place");
            await inner.update(next);
          } catch {
            // the service asks for a restart: here, keeping the Lease and the addresses
            await inner.stop();
            this.inner = await this.starter(next, this.innerContext());
          }
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
    await done;
  }

  async stop(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    await new Promise<void>((resolve) => {
      this.serial(async () => {
        this.state = "stopped";
        await this.deactivate("stopped");
        resolve();
      });
    });
    // the service is gone and the addresses removed: now the Lease, so that another takes over at
    // once; a request hung in flight is not waited for past the renew deadline (the Lease expires)
    await this.giveUp();
  }

  private async giveUp(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn("the Lease could not be released in time; it expires on its own");
        resolve();
      }, this.timing.renewDeadlineMs);
    });
    await Promise.race([this.elector.stop(), late]);
    clearTimeout(timer);
  }

  stats(): Record<string, number> {
    return {
      ...(this.inner?.stats() ?? {}),
      owner: this.state === "active" ? 1 : 0,
      ...this.counters,
      announcementsArp: this.counters.announcementsArp + (this.round?.counts.arp ?? 0),
      announcementsNa: this.counters.announcementsNa + (this.round?.counts.na ?? 0),
    };
  }

  conditions(): Condition[] {
    const lease = this.owner.lease;
    const moving = this.owner.addresses.length ? `; ${this.owner.addresses.join(", ")} move with it` : "";
    // a retry after a failed start reports the failure until it succeeds (the status would otherwise
    // flap between the failure's reason and Activating with every retry)
    const state = this.state === "activating" && this.failure ? "failed" : this.state;
    switch (state) {
      case "active":
        return [
          {
            type: "Owner",
            status: "True",
            reason: "Active",
            message: `this node holds Lease ${lease}${moving}`,
          },
          ...(this.inner?.conditions?.() ?? []),
        ];
      case "failed":
        return [
          { type: "Ready", status: "False", reason: this.failure!.reason, message: this.failure!.message },
          {
            type: "Owner",
            status: "False",
            reason: "StartFailed",
            message: `could not serve when it held Lease ${lease}; released it`,
          },
        ];
      case "activating":
        return [
          { type: "Ready", status: "False", reason: "Activating", message: `taking over Lease ${lease}` },
          { type: "Owner", status: "True", reason: "Activating", message: `this node holds Lease ${lease}` },
        ];
      default: {
        const err = this.elector.lastError;
        const holder = this.elector.holder;
        return [
          err
            ? {
                type: "Ready",
                status: "False",
                reason: "LeaseUnavailable",
                message: `Lease ${lease}: ${err}`,
              }
            : {
                type: "Ready",
                status: "True",
                reason: "Standby",
                message: holder ? `standby: ${holder} serves it` : "standby: campaigning",
              },
          {
            type: "Owner",
            status: "False",
            reason: "Standby",
            message: `${holder || "no node"} holds Lease ${lease}${moving}`,
          },
        ];
      }
    }
  }
}
