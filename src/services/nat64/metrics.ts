// Prometheus metrics of a Nat64Gateway, read from its workers' shared counters at scrape time.
// Several gateways in one process share each metric, told apart by the `resource` label.
import { Counter, Gauge, type Registry } from "prom-client";
import { METRICS, samples } from "../../datapath/tun/stats.ts";

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
          // Every series from the first scrape on, at 0 too (a total nobody has seen is not 0).
          if (d > 0 || !last.has(k)) c.inc({ ...labels, ...l }, Math.max(0, d));
          last.set(k, v);
        }
      },
    );
  };
  // Every family the workers' counters and drops are published in (tun/stats.ts).
  for (const f of METRICS) {
    const labelNames = f.label ? ["resource", f.label] : ["resource"];
    if (f.kind === "gauge")
      gauge(f.name, f.help, labelNames, (g) => {
        for (const [l, v] of samples(f, stats)) g.set({ ...labels, ...l }, v);
      });
    else counter(f.name, f.help, labelNames, () => samples(f, stats));
  }

  return {
    remove() {
      for (const r of removers.splice(0)) r();
    },
  };
}
