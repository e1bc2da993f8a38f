/**
 * Counters the packet worker shares with the main thread (a Float64Array
 * over a SharedArrayBuffer: written by the worker, read by metrics and stats).
 */

import { nat64DropNames } from "../nat64/translator.ts";
import { DROP_REASON_COUNT, dropReasonName } from "../siit/result.ts";

export const S = {
  packets6to4: 0,
  packets4to6: 1,
  bytes6to4: 2,
  bytes4to6: 3,
  icmpErrors: 4,
  sessionsTcp: 5,
  sessionsUdp: 6,
  sessionsIcmp: 7,
  bibTcp: 8,
  bibUdp: 9,
  bibIcmp: 10,
  poolUsedTcp: 11,
  poolUsedUdp: 12,
  poolUsedIcmp: 13,
  poolCapacity: 14,
  tableBytes: 15,
  workerHeapBytes: 16,
  readErrors: 17,
  writeErrors: 18,
  heldSyns: 19,
  packetsIn: 20,
  /** TCP super-packets read (segmentation offload). */
  gsoIn: 21,
  /** Super-packets cut into segments in software (the fast path could not keep them whole). */
  gsoSoftware: 22,
  /** Offloaded packets dropped: a GSO type or layout this worker cannot handle. */
  offloadDrops: 23,
  /** Packets handed to the worker that owns their BIB entry (multi-queue stateful). */
  handoffs: 24,
  /** Packets dropped because the owner's ring was full. */
  handoffDrops: 25,
  /** Super-packets whose short last segment was sent on its own (RFC 7915 §5.1 DF, see offload.ts). */
  gsoTailSplit: 26,
} as const;
export const NAT64_DROP_BASE = 32;
export const SIIT_DROP_BASE = NAT64_DROP_BASE + nat64DropNames.length;
export const STATS_LEN = SIIT_DROP_BASE + DROP_REASON_COUNT;

/** Drop reasons by name (NAT64's own, then the SIIT core's prefixed "siit."). */
export function dropsByName(s: Float64Array): Record<string, number> {
  const r: Record<string, number> = {};
  nat64DropNames.forEach((n, i) => {
    r[n] = s[NAT64_DROP_BASE + i]!;
  });
  for (let i = 1; i < DROP_REASON_COUNT; i++) r[`siit.${dropReasonName[i]}`] = s[SIIT_DROP_BASE + i]!;
  return r;
}
