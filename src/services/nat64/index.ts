/**
 * The Nat64Gateway service on a node: stateful NAT64 (RFC 6146) or, with `mode: stateless`, SIIT
 * (RFC 7915) with EAMT (RFC 7757), translated by packet workers on a TUN device.
 *
 * plan.ts decides (pure), host.ts sets the host up (routes, proxy ARP, forwarding) and undoes it,
 * workers.ts runs the TUN queues and their workers, metrics.ts exports the counters. Publishes
 * "translations" (the live table, for `v6mostly translations`).
 */

import type { SessionRow } from "../../datapath/tun/contract.ts";
import { counters, dropsByName } from "../../datapath/tun/stats.ts";
import type { Nat64Assignment } from "../../planner/plan.ts";
import { type RunningService, type ServiceContext, ServiceError } from "../contract.ts";
import { SessionHandover } from "./handover.ts";
import { HostPlumbing, preflight, uplinkSubnets } from "./host.ts";
import { gatewayMetrics } from "./metrics.ts";
import { type GatewayOptions, planGateway, proxyArp } from "./plan.ts";
import { openQueues, PacketWorkers } from "./workers.ts";

export type { GatewayOptions } from "./plan.ts";

export interface TranslationsTopic {
  mode: "stateful" | "stateless";
  tun: string;
  prefix: string;
  pool4: string[];
  counters: Record<string, number>;
  drops: Record<string, number>;
  sessions: SessionRow[];
  totalSessions: number;
  truncated: boolean;
  /**
   * how old the session table is, in ms (the workers send theirs once a second; the counters are
   * at most a quarter of a second old); absent before the first table arrived
   */
  sessionsAgeMs?: number;
}

export async function startNat64Gateway(
  assignment: Nat64Assignment,
  ctx: ServiceContext,
  opts: GatewayOptions = {},
): Promise<RunningService<Nat64Assignment>> {
  const log = ctx.log;
  const spec = assignment.spec;
  const plan = planGateway(assignment, opts, ctx.resource);
  for (const note of plan.notes) log.warn(note);
  if (!opts.skipPreflight) {
    const problems = await preflight(plan.host, plan.answered);
    if (problems.length) {
      for (const p of problems) log.error({ problem: p.message, reason: p.reason }, "preflight");
      throw new ServiceError(
        problems[0]!.reason,
        `Nat64Gateway ${assignment.name}: ${problems.map((p) => p.message).join("; ")}`,
      );
    }
  }
  if (plan.host.uplink) plan.host.proxy4 = proxyArp(plan.answered, await uplinkSubnets(plan.host.uplink));

  const plumbing = new HostPlumbing(plan.host, ctx.stateDir, `nat64-${assignment.name}`, (msg, extra) =>
    log.info(extra ?? {}, msg),
  );
  await plumbing.cleanStale();
  // Stateful: the sessions a graceful stop of the previous translator left (handover.ts).
  const handover = plan.nat64 ? new SessionHandover(ctx.stateDir, assignment.name, log) : undefined;
  const carried = plan.nat64 && handover?.take({ ...plan.nat64, workers: plan.queues });
  const queues = openQueues(plan, log);
  let workers: PacketWorkers;
  try {
    await plumbing.apply();
    workers = await PacketWorkers.start(plan, queues, log, carried);
  } catch (e) {
    queues.close();
    await plumbing.remove().catch(() => undefined);
    throw e;
  }
  log.info(
    { mode: spec.mode, prefix: spec.prefix, pool4: assignment.pool4, tun: spec.tunName },
    "translating",
  );
  // each worker restores its share before it says it runs: the counts are in
  if (carried) log.info(workers.restored, "handed-over sessions restored");

  const stats = workers.stats;
  const handoverCounts = () => (handover ? { ...handover.counts, ...workers.restored } : {});
  const unpublish = ctx.publish?.("translations", (): TranslationsTopic => {
    const table = workers.sessions();
    return {
      mode: spec.mode,
      tun: spec.tunName,
      prefix: spec.prefix.text,
      pool4: assignment.pool4.map(String),
      counters: { ...counters(stats), ...handoverCounts() },
      drops: Object.fromEntries(Object.entries(dropsByName(stats)).filter(([, v]) => v > 0)),
      sessions: table.sessions,
      totalSessions: table.total,
      truncated: table.total > table.sessions.length,
      sessionsAgeMs: table.at === undefined ? undefined : Date.now() - table.at,
    };
  });
  const metrics = ctx.metrics ? gatewayMetrics(ctx.metrics, plan.resource, stats) : undefined;

  return {
    async stop() {
      unpublish?.();
      metrics?.remove();
      await workers.stop();
      queues.close();
      if (plan.nat64 && handover && workers.handedOver.some((r) => r.length > 0)) {
        try {
          handover.save(plan.nat64.pool6, workers.handedOver);
        } catch (e) {
          log.warn({ error: (e as Error).message }, "could not write the sessions for the next translator");
        }
      }
      await plumbing.remove();
      log.info({ dev: spec.tunName }, "stopped");
    },
    stats() {
      const c: Record<string, number> = counters(stats);
      if (workers.failure || !workers.alive) c.workerFailed = 1;
      Object.assign(c, handoverCounts());
      const a = plumbing.announcements;
      if (a.sent || a.errors) Object.assign(c, { pool4Announced: a.sent, pool4AnnounceErrors: a.errors });
      return c;
    },
    // for fate-sharing (src/agent/fatesharing.ts): the RA and DNS64 that send clients here
    health: () => workers.health(),
  };
}
