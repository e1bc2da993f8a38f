/**
 * proxyNeighbors as neighbour responders (./responder): one per link-layer address answered with
 * (a responder answers with one), each with its IPv4 ranges (ARP, RFC 826) and IPv6 ranges
 * (Neighbor Solicitations, RFC 4861 §7.2.4) on the outside interface. responderPlans() is pure;
 * startNeighbours() starts them.
 */
import type { EdgeTranslationSpec } from "../../api/edgetranslation.ts";
import type { Logger } from "../../util/log.ts";
import type { Range } from "../../util/net.ts";
import { startNeighbourResponder } from "./responder/index.ts";

export interface ResponderPlan {
  interface: string;
  ipv4: Range[];
  ipv6: Range[];
  /** undefined: the outside interface's own */
  linkLayerAddress?: string;
}

export function responderPlans(s: EdgeTranslationSpec): ResponderPlan[] {
  const byMac = new Map<string | undefined, ResponderPlan>();
  for (const n of s.proxyNeighbors) {
    // one MAC written two ways (aa:bb / AA-BB) is one link-layer address
    const mac = n.linkLayerAddress?.toLowerCase().replaceAll("-", ":");
    let plan = byMac.get(mac);
    if (!plan) {
      plan = { interface: s.outsideInterface, ipv4: [], ipv6: [], linkLayerAddress: mac };
      byMac.set(mac, plan);
    }
    (n.addresses.family === 4 ? plan.ipv4 : plan.ipv6).push(n.addresses);
  }
  return [...byMac.values()];
}

export interface Neighbours {
  stop(): Promise<void>;
  /** the responders' counters summed, each name prefixed with "neighbour." */
  stats(): Record<string, number>;
}

/** Starts a responder per plan; if one fails to start, those already started are stopped. */
export async function startNeighbours(s: EdgeTranslationSpec, log: Logger): Promise<Neighbours> {
  const running: Awaited<ReturnType<typeof startNeighbourResponder>>[] = [];
  try {
    for (const p of responderPlans(s)) running.push(await startNeighbourResponder({ ...p, log }));
  } catch (e) {
    for (const r of running) await r.stop();
    throw e;
  }
  return {
    async stop() {
      for (const r of running) await r.stop();
    },
    stats() {
      const sum: Record<string, number> = {};
      for (const r of running)
        for (const [k, v] of Object.entries(r.stats()))
          sum[`neighbour.${k}`] = (sum[`neighbour.${k}`] ?? 0) + v;
      return sum;
    },
  };
}
