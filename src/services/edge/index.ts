/**
 * The EdgeTranslation service on a Linux node: the resource's SNAT44/66, DNAT44/66 and policies as
 * one nftables table of v6mostly's (ruleset.ts, pure), loaded atomically through `nft` (nft.ts),
 * its default routes (host.ts), and the neighbour responders that answer ARP / Neighbor
 * Solicitations for proxyNeighbors on the outside link (neighbours.ts). An update replaces the
 * table in one transaction; stop deletes it and nothing else.
 */

import { isDeepStrictEqual } from "node:util";
import type { EdgeAssignment } from "../../planner/plan.ts";
import { type RunningService, type ServiceContext, ServiceError } from "../contract.ts";
import { EdgeRoutes, forwardingProblems, interfaceAddresses, ownAddressClashes } from "./host.ts";
import { type Neighbours, startNeighbours } from "./neighbours.ts";
import { NftError, natSupport, nftChainPackets, nftDeleteTable, nftLoad, type ReadText } from "./nft.ts";
import { edgeRuleset, MappingTooFragmented, type Ruleset } from "./ruleset.ts";

export interface EdgeOptions {
  /** how the kernel's NAT support is read (tests) */
  readKernel?: ReadText;
}

export async function startEdgeTranslation(
  assignment: EdgeAssignment,
  ctx: ServiceContext,
  opts: EdgeOptions = {},
): Promise<RunningService<EdgeAssignment>> {
  const log = ctx.log;
  const label = ctx.resource ?? `EdgeTranslation/${assignment.name}`;
  const fail = (reason: string, message: string) => new ServiceError(reason, `${label}: ${message}`);

  /** What the host must offer before the table goes in: forwarding, no own address translated. */
  const check = async (a: EdgeAssignment) => {
    const off = forwardingProblems(a.spec);
    if (off.length) throw fail("ForwardingOff", off.join("; "));
    const own = ownAddressClashes(a.spec, await interfaceAddresses(a.spec.outsideInterface));
    if (own.length) throw fail("OwnAddressTranslated", own.join("; "));
  };
  await check(assignment);
  if (natSupport(opts.readKernel) === "no")
    throw fail(
      "NoKernelNat",
      "the kernel has no nf_nat (CONFIG_NF_NAT): nftables cannot translate addresses on this node",
    );

  const rulesetOf = (a: EdgeAssignment): Ruleset => {
    try {
      return edgeRuleset(a);
    } catch (e) {
      if (e instanceof MappingTooFragmented) throw fail("MappingTooFragmented", e.message);
      throw e;
    }
  };
  const load = async (r: Ruleset) => {
    try {
      await nftLoad(r.text);
    } catch (e) {
      if (!(e instanceof NftError)) throw e;
      if (e.missing) throw fail("NoNft", e.message);
      throw fail("RulesetRejected", `nft refused table inet ${r.table}: ${e.message}`);
    }
  };

  let current = assignment;
  let ruleset = rulesetOf(current);
  const routes = new EdgeRoutes(ctx.stateDir, `edge-${assignment.namespace}-${assignment.name}`);
  await routes.cleanStale();
  await load(ruleset);
  const answering = async (a: EdgeAssignment): Promise<Neighbours> => {
    try {
      return await startNeighbours(a.spec, log);
    } catch (e) {
      throw fail("NeighbourResponderFailed", `proxyNeighbors: ${(e as Error).message}`);
    }
  };
  let neighbours: Neighbours;
  try {
    try {
      await routes.apply(current.spec);
    } catch (e) {
      throw fail("RouteFailed", `default route: ${(e as Error).message}`);
    }
    neighbours = await answering(current);
  } catch (e) {
    await nftDeleteTable(ruleset.family, ruleset.table).catch(() => undefined);
    await routes.remove().catch(() => undefined);
    throw e;
  }
  log.info({ table: ruleset.table }, "table loaded");
  log.debug({ ruleset: ruleset.body }, "ruleset");

  let updates = 0;
  let packets: Record<string, number> = {};
  let reading = false;
  const refresh = () => {
    if (reading) return;
    reading = true;
    nftChainPackets(ruleset.family, ruleset.table)
      .then((p) => {
        packets = p;
      })
      .catch(() => undefined)
      .finally(() => {
        reading = false;
      });
  };

  return {
    async update(next) {
      await check(next); // a family added since the start may not be forwarded
      const nextRuleset = rulesetOf(next);
      await load(nextRuleset);
      if (nextRuleset.table !== ruleset.table) await nftDeleteTable(ruleset.family, ruleset.table);
      if (
        !isDeepStrictEqual(next.spec.defaultRoute, current.spec.defaultRoute) ||
        next.spec.outsideInterface !== current.spec.outsideInterface
      ) {
        await routes.remove();
        await routes.apply(next.spec);
      }
      if (
        !isDeepStrictEqual(next.spec.proxyNeighbors, current.spec.proxyNeighbors) ||
        next.spec.outsideInterface !== current.spec.outsideInterface
      ) {
        await neighbours.stop();
        neighbours = await answering(next);
      }
      current = next;
      ruleset = nextRuleset;
      updates++;
      log.info({ table: ruleset.table }, "table replaced");
    },
    async stop() {
      await neighbours.stop();
      await nftDeleteTable(ruleset.family, ruleset.table);
      await routes.remove();
      log.info({ table: ruleset.table }, "table removed");
    },
    stats() {
      // the counters of the last read (`nft -j list table` runs in the background)
      refresh();
      return {
        updates,
        // nat chains see the first packet of each connection only
        dnatConnections: packets.prerouting ?? 0,
        snatConnections: packets.postrouting ?? 0,
        droppedInbound: packets.forward ?? 0,
        ...neighbours.stats(),
      };
    },
  };
}
