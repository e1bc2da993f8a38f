// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it (the
// client library has none): one holder at a time; the holder renews every retry period; another
// candidate takes over once the lease has not changed for its duration, as seen by the candidate's
// own clock (no trust in other nodes' clocks); a holder that cannot renew within the renew
// deadline stops leading before anyone else may start. Updates carry the resourceVersion read, so
// two candidates racing for an expired lease cannot both win (one gets 409 Conflict).
import type { Logger } from "../../util/log.ts";
import {
  CORE,
  isConflict,
  isNotFound,
  type KubeClient,
  type KubeObject,
  type Owner,
  ownedBy,
} from "./client.ts";

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export type Lease = KubeObject & { spec: LeaseSpec };

export interface ElectionOptions {
  namespace: string;
  name: string;
  /** this candidate: a pod name, or node/pid */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  /** after each successful renewal while leading, with the time (this clock) the attempt began */
  onRenewed?(at: number): void;
  /** the Lease's owner: the garbage collector deletes the Lease with it (an uninstall) */
  owner?: Owner;
}

/** MicroTime as the API writes it: RFC 3339 with microseconds. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export class LeaderElector {
  private leading = false;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** the record last seen and when (our clock) it last changed */
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;
  /** fires at lastRenew + renew deadline: a renewal stuck in flight cannot keep us leading */
  private deadline: NodeJS.Timeout | undefined;
  /** the holder in the record last read ("" = none), and the last attempt's error, for status */
  holder = "";
  lastError: string | undefined;
  /** the attempt under way, awaited by stop() so that none lands after the release */
  private inflight: Promise<void> = Promise.resolve();
  readonly durationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: ElectionOptions,
  ) {
    this.durationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.durationMs && this.retryMs < this.renewDeadlineMs)) {
      throw new Error("leader election: retry period < renew deadline < lease duration");
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.inflight = this.tick();
  }

  /** Stop campaigning; a leader gives the lease up at once so that another takes over without waiting. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    await this.inflight;
    if (this.leading) {
      this.setLeading(false);
      await this.release().catch((e: Error) =>
        this.opts.log?.warn({ err: e.message }, "lease release failed"),
      );
    }
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    // The renewal counts from when the attempt began: the others' clocks start when they read the
    // record we write, which is after that, so our deadline always falls before their expiry.
    const began = Date.now();
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.opts.log?.warn(
        { err: (e as Error).message, lease: this.opts.name },
        "leader election: lease update failed",
      );
    }
    if (!this.running) return;
    const now = Date.now();
    if (ok && now - began < this.renewDeadlineMs) {
      this.lastRenew = began;
      if (!this.leading) this.setLeading(true);
      this.armDeadline();
      this.opts.onRenewed?.(began);
    } else if (this.leading && now - this.lastRenew >= this.renewDeadlineMs) {
      // could not renew in time: stop before the lease can expire for the others
      this.setLeading(false);
    }
    this.timer = setTimeout(() => {
      this.inflight = this.tick();
    }, this.retryMs);
    this.timer.unref();
  }

  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    // re-armed at every renewal: when it fires, none came in time (no clock check here: a timer
    // may fire a millisecond before Date.now() says it is due, and it would not be armed again)
    this.deadline = setTimeout(
      () => {
        if (this.running && this.leading) this.setLeading(false);
      },
      Math.max(0, this.lastRenew + this.renewDeadlineMs - Date.now()),
    );
    this.deadline.unref();
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.opts.log?.info(
      { identity: this.opts.identity, lease: this.opts.name },
      v ? "became leader" : "stopped leading",
    );
    if (v) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = Date.now();
    const mine: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.durationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    const current = await this.client.find<Lease>(CORE.leases, namespace, name);
    if (!this.running) return false;
    if (!current) {
      try {
        await this.client.create<Lease>(CORE.leases, {
          metadata: { name, namespace, ...ownedBy(this.opts.owner) },
          spec: mine,
        });
        this.observed = { record: JSON.stringify(mine), at: now };
        this.holder = identity;
        return true;
      } catch (e) {
        if (isConflict(e) || (e as { status?: number }).status === 409) return false;
        throw e;
      }
    }
    const spec = current.spec ?? {};
    this.holder = spec.holderIdentity ?? "";
    const record = JSON.stringify(spec);
    if (!this.observed || this.observed.record !== record) this.observed = { record, at: now };
    const holder = spec.holderIdentity ?? "";
    const duration = (spec.leaseDurationSeconds ?? Math.ceil(this.durationMs / 1000)) * 1000;
    if (holder && holder !== identity && this.observed.at + duration > now) return false;
    const next: LeaseSpec =
      holder === identity
        ? { ...spec, renewTime: microTime(now), leaseDurationSeconds: mine.leaseDurationSeconds }
        : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      // a Lease written before it had an owner (or for an owner since replaced) gets this one
      const metadata = { ...current.metadata, ...ownedBy(this.opts.owner) };
      await this.client.replace<Lease>(CORE.leases, { ...current, metadata, spec: next });
    } catch (e) {
      if (isConflict(e)) return false;
      if (isNotFound(e)) return false;
      throw e;
    }
    this.observed = { record: JSON.stringify(next), at: now };
    this.holder = identity;
    return true;
  }

  /** Give the lease up: no holder, a duration of 1 s (client-go's ReleaseOnCancel). */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    const current = await this.client.find<Lease>(CORE.leases, namespace, name);
    if (!current || current.spec?.holderIdentity !== identity) return;
    await this.client.replace<Lease>(CORE.leases, {
      ...current,
      spec: {
        ...current.spec,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: microTime(Date.now()),
      },
    });
  }
}
