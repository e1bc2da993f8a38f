// Prometheus metrics of a Nat64Gateway, read from its workers' shared counters at scrape time.
// Several gateways in one process share each metric, told apart by the `resource` label.
import { Counter, Gauge, type Registry } from "prom-client";
import { dropsByName, S } from "../../datapath/tun/stats.ts";

type Fill<M> = (m: M) => void;

/** Per registry and metric name: the fill functions of every gateway that reports it. */
const fillsOf = new WeakMap<Registry, Map<string, Fill<never>[]>>();

function fills<M>(reg: Registry, name: string): Fill<M>[] {
  let byName = fillsOf.get(reg);
  if (!byName) {
    byName = new Map();
    fillsOf.set(reg, byName);
  }
  let list = byName.get(name);
  if (!list) {
    list = [];
    byName.set(name, list);
  }
  return list as Fill<M>[];
}

/** Registers the gateway's metrics; `remove()` withdraws them (the gateway stopped). */
export function gatewayMetrics(reg: Registry, resource: string, stats: Float64Array): { remove(): void } {
  const labels = { resource };
  const removers: (() => void)[] = [];

  const join = <M extends Gauge | Counter>(name: string, make: () => M, fill: Fill<M>) => {
    const metric = (reg.getSingleMetric(name) as M | undefined) ?? make();
    const list = fills<M>(reg, name);
    list.push(fill);
    removers.push(() => {
      list.splice(list.indexOf(fill), 1);
      metric.remove(labels);
    });
  };

  const gauge = (name: string, help: string, labelNames: string[], fill: Fill<Gauge>) =>
    join(
      name,
      () =>
        new Gauge({
          name,
          help,
          labelNames,
          registers: [reg],
          collect() {
            for (const f of fills<Gauge>(reg, name)) f(this);
          },
        }),
      fill,
    );

  const byProto = (tcp: number, udp: number, icmp: number) => (g: Gauge) => {
    g.set({ ...labels, proto: "tcp" }, stats[tcp]!);
    g.set({ ...labels, proto: "udp" }, stats[udp]!);
    g.set({ ...labels, proto: "icmp" }, stats[icmp]!);
  };
  gauge(
    "v6mostly_nat64_sessions",
    "NAT64 sessions (RFC 6146 §3.2) by protocol",
    ["resource", "proto"],
    byProto(S.sessionsTcp, S.sessionsUdp, S.sessionsIcmp),
  );
  gauge(
    "v6mostly_nat64_bib_entries",
    "NAT64 BIB entries by protocol",
    ["resource", "proto"],
    byProto(S.bibTcp, S.bibUdp, S.bibIcmp),
  );
  gauge(
    "v6mostly_nat64_pool4_ports_used",
    "pool4 ports (identifiers) in use by protocol",
    ["resource", "proto"],
    byProto(S.poolUsedTcp, S.poolUsedUdp, S.poolUsedIcmp),
  );
  gauge("v6mostly_nat64_pool4_ports", "pool4 ports per protocol (capacity)", ["resource"], (g) =>
    g.set(labels, stats[S.poolCapacity]!),
  );
  gauge("v6mostly_nat64_table_bytes", "estimated memory of the BIB and session tables", ["resource"], (g) =>
    g.set(labels, stats[S.tableBytes]!),
  );
  gauge("v6mostly_nat64_worker_heap_bytes", "heap used by the packet worker", ["resource"], (g) =>
    g.set(labels, stats[S.workerHeapBytes]!),
  );

  // Monotonic totals from the workers, exposed as counters (incremented by the difference).
  const counter = (
    name: string,
    help: string,
    labelNames: string[],
    values: () => [Record<string, string>, number][],
  ) => {
    const last = new Map<string, number>();
    join(
      name,
      () =>
        new Counter({
          name,
          help,
          labelNames,
          registers: [reg],
          collect() {
            for (const f of fills<Counter>(reg, name)) f(this);
          },
        }),
      (c: Counter) => {
        for (const [l, v] of values()) {
          const k = JSON.stringify(l);
          const d = v - (last.get(k) ?? 0);
          if (d > 0) c.inc({ ...labels, ...l }, d);
          last.set(k, v);
        }
      },
    );
  };
  counter(
    "v6mostly_nat64_packets_total",
    "packets translated by direction",
    ["resource", "direction"],
    () => [
      [{ direction: "6to4" }, stats[S.packets6to4]!],
      [{ direction: "4to6" }, stats[S.packets4to6]!],
    ],
  );
  counter(
    "v6mostly_nat64_bytes_total",
    "bytes translated (input size) by direction",
    ["resource", "direction"],
    () => [
      [{ direction: "6to4" }, stats[S.bytes6to4]!],
      [{ direction: "4to6" }, stats[S.bytes4to6]!],
    ],
  );
  counter("v6mostly_nat64_drops_total", "packets not translated, by reason", ["resource", "reason"], () =>
    Object.entries(dropsByName(stats)).map(([reason, v]) => [{ reason }, v]),
  );
  counter("v6mostly_nat64_icmp_errors_total", "ICMP errors the translator generated", ["resource"], () => [
    [{}, stats[S.icmpErrors]!],
  ]);
  counter(
    "v6mostly_nat64_handoffs_total",
    "packets a worker passed to the worker owning their BIB entry (several queues), by outcome",
    ["resource", "outcome"],
    () => [
      [{ outcome: "passed" }, stats[S.handoffs]!],
      [{ outcome: "ring-full" }, stats[S.handoffDrops]!],
    ],
  );
  counter(
    "v6mostly_nat64_offload_packets_total",
    "TCP super-packets read from the TUN device (segmentation offload), by how they were translated",
    ["resource", "path"],
    () => [
      [{ path: "whole" }, stats[S.gsoIn]! - stats[S.gsoSoftware]! - stats[S.offloadDrops]!],
      [{ path: "software-segmented" }, stats[S.gsoSoftware]!],
      [{ path: "dropped" }, stats[S.offloadDrops]!],
    ],
  );

  return {
    remove() {
      for (const r of removers.splice(0)) r();
    },
  };
}
