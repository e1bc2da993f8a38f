// What the node runtime (standalone `v6mostly run`, and the agent in cluster mode) hosts: one
// running service per assignment of the plan. Each service module exports a start function of
// this shape; the registry below maps a resource kind to it.

import type { Registry } from "prom-client";
import type { Assignment } from "../planner/plan.ts";
import type { Logger } from "../util/log.ts";

export interface ServiceContext {
  log: Logger;
  /** where the service keeps state that must survive a restart (leases, ...) */
  stateDir: string;
  /**
   * This process's Prometheus registry, served at /metrics by the status server. Services add
   * their metrics here with a `resource` label ("Kind/name"). Optional: absent in unit tests.
   */
  metrics?: Registry;
  /**
   * Serve JSON at GET /<topic> of the status server (e.g. "translations"); several services may
   * publish one topic: the answer is { "Kind/name": provider(), ... }. Returns an unpublish
   * function. Optional: absent in unit tests.
   */
  publish?(topic: string, provider: () => unknown): () => void;
}

export interface RunningService {
  stop(): Promise<void>;
  /** apply a changed assignment without a restart, where the service can */
  update?(assignment: never): Promise<void>;
  stats(): Record<string, number>;
}

export type Starter = (assignment: Assignment, ctx: ServiceContext) => Promise<RunningService>;

/**
 * The services this build can run on a node, by kind. A kind that is missing here is not
 * implemented on nodes yet; `run` says so instead of pretending.
 */
export async function starters(): Promise<Partial<Record<Assignment["kind"], Starter>>> {
  const out: Partial<Record<Assignment["kind"], Starter>> = {};
  const dns64 = await import("../services/dns64/index.ts");
  out.Dns64Resolver = (a, ctx) => dns64.startDns64(a as Parameters<typeof dns64.startDns64>[0], ctx);
  const ra = await import("../services/ra/index.ts");
  out.RouterAdvert = (a, ctx) => ra.startRouterAdvert(a as Parameters<typeof ra.startRouterAdvert>[0], ctx);
  const nat64 = await import("../datapath/nat64/service.ts");
  out.Nat64Gateway = (a, ctx) =>
    nat64.startNat64Gateway(a as Parameters<typeof nat64.startNat64Gateway>[0], ctx);
  const dhcp4 = await import("../services/dhcp4/index.ts");
  out.DhcpScope = (a, ctx) => dhcp4.startDhcpScope(a as Parameters<typeof dhcp4.startDhcpScope>[0], ctx);
  return out;
}
