// The service contract: what a service on a node (DNS64, RA, DHCPv4, the Nat64Gateway) gives the
// node runtime that hosts it, and what the runtime gives the service. Written once, here; every
// service implements it and `src/agent/runtime.ts` is its one host (standalone `run` and the
// cluster agent alike).

import type { Registry } from "prom-client";
import type { AssignmentByKind, NodeKind } from "../planner/plan.ts";
import type { Logger } from "../util/log.ts";

export interface ServiceContext {
  /**
   * How logs, metrics and status name the resource: Kind/name (namespace/Kind/name outside the
   * default namespace). Set by the runtime; a service started alone (unit tests) uses Kind/name.
   */
  resource?: string;
  log: Logger;
  /** where the service keeps state that must survive a restart (leases, host plumbing ledgers) */
  stateDir: string;
  /**
   * This process's Prometheus registry, served at /metrics by the status server. Services add
   * their metrics here with a `resource` label. Absent in unit tests.
   */
  metrics?: Registry;
  /**
   * Serve JSON at GET /<topic> of the status server (e.g. "translations"); several services may
   * publish one topic: the answer is { "<resource>": provider(), ... }. Returns an unpublish
   * function. Absent in unit tests.
   */
  publish?(topic: string, provider: () => unknown): () => void;
}

/** Kubernetes condition status words. */
export type ConditionStatus = "True" | "False" | "Unknown";

/**
 * One observation about a resource on this node, in the Kubernetes convention (type, status,
 * reason in CamelCase, a sentence for humans, when the status last changed).
 */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  /** ISO time of the last change of `status` (set by the runtime when the service leaves it out) */
  since?: string;
}

export interface RunningService<A> {
  /** Undo everything the service did on the host and release its sockets and devices. */
  stop(): Promise<void>;
  /** Apply a changed assignment without a restart, where the service can; throws to ask for one. */
  update?(assignment: A): Promise<void>;
  stats(): Record<string, number>;
  /** What the service itself observes beyond "running" (e.g. an RA's other routers); default none. */
  conditions?(): Condition[];
  /**
   * Whether it still does its job, for the services that share its fate (src/agent/fatesharing.ts):
   * a NAT64 whose workers died runs but translates nothing. Absent: running is healthy.
   */
  health?(): { ok: true } | { ok: false; why: string };
}

export type Starter<A> = (assignment: A, ctx: ServiceContext) => Promise<RunningService<A>>;

/** The services a build can run on a node, by kind; a kind left out does not run on nodes. */
export type Starters = { [K in NodeKind]?: Starter<AssignmentByKind[K]> };

/**
 * A start that failed for a reason worth a condition of its own (NoSuchInterface, NoIPv4Uplink,
 * PortInUse, ...): the runtime reports `reason` instead of the generic StartFailed.
 */
export class ServiceError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}
