/**
 * What a packet worker counts, shared with the main thread: a Float64Array
 * over a SharedArrayBuffer, written by the worker (loop.ts), read for
 * `/translations` and `/metrics`. Every slot is named once, in COUNTERS; the
 * slot indices, the array's length, the counters by name and the metric
 * families all derive from it and from the drop reasons (nat64/drops.ts,
 * siit/result.ts).
 *
 * Layout: the COUNTERS in order, then the drop counters in DROP_NAMES' order
 * (the NAT64's reasons, then the SIIT core's).
 */
import { DROP_NAMES, NAT64_DROP_COUNT, namedDrops } from "../nat64/drops.ts";

/** A Prometheus metric family, `v6mostly_nat64_<name>`: its kind, its help text, its label (if any). */
interface Family {
  /** "counter": a total that only grows; "gauge": a level that goes up and down. */
  kind: "counter" | "gauge";
  help: string;
  /** The label that tells the family's counters apart (besides `resource`). */
  label?: string;
}

const FAMILIES = {
  packets_total: { kind: "counter", help: "packets translated by direction", label: "direction" },
  bytes_total: { kind: "counter", help: "bytes translated (input size) by direction", label: "direction" },
  drops_total: { kind: "counter", help: "packets not translated, by reason", label: "reason" },
  icmp_errors_total: { kind: "counter", help: "ICMP errors the translator generated" },
  icmp_errors_suppressed_total: {
    kind: "counter",
    help: "ICMP errors the translator did not send: over its rate limit (RFC 4443 §2.4 f)",
  },
  icmp_errors_unsent_total: {
    kind: "counter",
    help: "ICMP errors the translator generated that the host could not send back: no route or no address toward their destination, or the send failed",
    label: "reason",
  },
  sessions: { kind: "gauge", help: "NAT64 sessions (RFC 6146 §3.2) by protocol", label: "proto" },
  bib_entries: { kind: "gauge", help: "NAT64 BIB entries by protocol", label: "proto" },
  pool4_ports_used: { kind: "gauge", help: "pool4 ports (identifiers) in use by protocol", label: "proto" },
  pool4_ports: { kind: "gauge", help: "pool4 ports per protocol (capacity)" },
  table_bytes: { kind: "gauge", help: "estimated memory of the BIB and session tables" },
  worker_heap_bytes: { kind: "gauge", help: "heap used by the packet worker" },
  worker_heap_committed_bytes: {
    kind: "gauge",
    help: "heap the packet worker's V8 isolate holds from the system (used or not)",
  },
  loop_longest_pause_seconds: {
    kind: "gauge",
    help: "the packet loop's longest stretch between two reads of the TUN queue since start (timers, table growth, GC)",
  },
  held_syns: {
    kind: "gauge",
    help: "unsolicited IPv4 SYNs held for a simultaneous open (RFC 6146 §3.5.2.2)",
  },
  tun_packets_read_total: { kind: "counter", help: "packets read from the TUN device (a super-packet once)" },
  tun_errors_total: { kind: "counter", help: "failed system calls on the TUN device", label: "call" },
  offload_packets_total: {
    kind: "counter",
    help: "TCP and UDP super-packets read from the TUN device (segmentation offload), by how they were translated",
    label: "path",
  },
  offload_tails_split_total: {
    kind: "counter",
    help: "super-packets whose short last segment was sent on its own (RFC 7915 §5.1 DF)",
  },
  handoffs_total: {
    kind: "counter",
    help: "packets a worker passed to the worker owning their BIB entry (several queues), by outcome",
    label: "outcome",
  },
  internal_errors_total: {
    kind: "counter",
    help: "exceptions caught on the packet path (a bug if ever non-zero)",
  },
} as const satisfies Record<string, Family>;

interface Counter {
  /** The metric family it is published in; none: `/translations` only. */
  metric?: keyof typeof FAMILIES;
  /** Its value of the family's label. */
  label?: string;
}

/**
 * The worker's counters, in slot order; the keys are the names `/translations`
 * prints them under.
 */
const COUNTERS = {
  packets6to4: { metric: "packets_total", label: "6to4" },
  packets4to6: { metric: "packets_total", label: "4to6" },
  bytes6to4: { metric: "bytes_total", label: "6to4" },
  bytes4to6: { metric: "bytes_total", label: "4to6" },
  icmpErrorsSent: { metric: "icmp_errors_total" },
  icmpErrorsSuppressed: { metric: "icmp_errors_suppressed_total" },
  /** Errors for the host to send (SiitConfig.hostErrorSource) with no route or address back. */
  icmpErrorsNoRoute: { metric: "icmp_errors_unsent_total", label: "no-route" },
  icmpErrorsSendFailed: { metric: "icmp_errors_unsent_total", label: "send-failed" },
  sessionsTcp: { metric: "sessions", label: "tcp" },
  sessionsUdp: { metric: "sessions", label: "udp" },
  sessionsIcmp: { metric: "sessions", label: "icmp" },
  bibTcp: { metric: "bib_entries", label: "tcp" },
  bibUdp: { metric: "bib_entries", label: "udp" },
  bibIcmp: { metric: "bib_entries", label: "icmp" },
  poolUsedTcp: { metric: "pool4_ports_used", label: "tcp" },
  poolUsedUdp: { metric: "pool4_ports_used", label: "udp" },
  poolUsedIcmp: { metric: "pool4_ports_used", label: "icmp" },
  poolCapacity: { metric: "pool4_ports" },
  tableBytes: { metric: "table_bytes" },
  workerHeapBytes: { metric: "worker_heap_bytes" },
  workerHeapCommittedBytes: { metric: "worker_heap_committed_bytes" },
  /**
   * The longest time, in seconds, the loop spent away from the TUN queue while it had packets or
   * timers to serve: a batch of 32 packets or a timer tick (expiry sweep, table snapshot), GC and
   * table growth included. Packets arriving meanwhile wait in the device's queue (txqueuelen).
   */
  loopLongestPause: { metric: "loop_longest_pause_seconds" },
  heldSyns: { metric: "held_syns" },
  packetsRead: { metric: "tun_packets_read_total" },
  readErrors: { metric: "tun_errors_total", label: "read" },
  writeErrors: { metric: "tun_errors_total", label: "write" },
  /** TCP and UDP super-packets read (segmentation offload): the sum of the three below. */
  gsoPackets: {},
  /** Super-packets translated whole (the fast path kept them so; see offload.ts). */
  gsoKeptWhole: { metric: "offload_packets_total", label: "whole" },
  /** Super-packets cut into segments in software (the fast path could not keep them whole). */
  gsoSoftwareSegmented: { metric: "offload_packets_total", label: "software-segmented" },
  /** Offloaded packets dropped: a GSO type or layout the worker cannot handle. */
  offloadDrops: { metric: "offload_packets_total", label: "dropped" },
  /** Super-packets whose short last segment was sent on its own (see offload.ts shortTail). */
  gsoTailsSplit: { metric: "offload_tails_split_total" },
  /** Packets handed to the worker that owns their BIB entry (multi-queue stateful). */
  handoffs: { metric: "handoffs_total", label: "passed" },
  /** Packets dropped because the owner's ring was full. */
  handoffDrops: { metric: "handoffs_total", label: "ring-full" },
  internalErrors: { metric: "internal_errors_total" },
} as const satisfies Record<string, Counter>;

export type CounterName = keyof typeof COUNTERS;
const names = Object.keys(COUNTERS) as CounterName[];

/** The slot of each counter. */
export const S: { readonly [K in CounterName]: number } = Object.fromEntries(names.map((n, i) => [n, i])) as {
  [K in CounterName]: number;
};
/** The slot of DROP_NAMES[0]: the NAT64's reasons by Nat64Drop, then the SIIT core's by DropReason. */
export const NAT64_DROP_BASE = names.length;
export const SIIT_DROP_BASE = NAT64_DROP_BASE + NAT64_DROP_COUNT;
export const STATS_LEN = NAT64_DROP_BASE + DROP_NAMES.length;

/** Every counter by name (`/translations` counters). */
export function counters(s: Float64Array): Record<CounterName, number> {
  const r = {} as Record<CounterName, number>;
  for (let i = 0; i < names.length; i++) r[names[i]!] = s[i]!;
  return r;
}

/** Drop counts by name (NAT64's own, then the SIIT core's prefixed "siit."; see DROP_NAMES). */
export function dropsByName(s: Float64Array): Record<string, number> {
  return namedDrops(s.subarray(NAT64_DROP_BASE));
}

/** A metric family with where its samples come from. */
export interface MetricFamily extends Family {
  /** Full metric name. */
  name: string;
  /** Its samples: a slot and the label's value there ("" for a family without a label). */
  members: { slot: number; value: string }[];
}

/** Every metric family the counters and the drops are published in (`/metrics`). */
export const METRICS: readonly MetricFamily[] = Object.entries(FAMILIES).map(([family, f]) => ({
  name: `v6mostly_nat64_${family}`,
  ...f,
  members:
    family === "drops_total"
      ? DROP_NAMES.flatMap((reason, i) =>
          reason === null ? [] : [{ slot: NAT64_DROP_BASE + i, value: reason }],
        )
      : names.flatMap((n, slot) => {
          const c: Counter = COUNTERS[n];
          return c.metric === family ? [{ slot, value: c.label ?? "" }] : [];
        }),
}));

/** A family's samples now: (labels besides `resource`, value) pairs. */
export function samples(f: MetricFamily, s: Float64Array): [Record<string, string>, number][] {
  return f.members.map((m) => [f.label ? { [f.label]: m.value } : {}, s[m.slot]!]);
}
