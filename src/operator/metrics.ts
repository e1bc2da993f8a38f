// The operator's Prometheus metrics, read from its counters at scrape time.
import { Counter, Gauge, type Registry } from "prom-client";
import type { Operator } from "./index.ts";

export function operatorMetrics(reg: Registry, op: Operator): void {
  const counterFrom = (
    name: string,
    help: string,
    labelNames: string[],
    values: () => [Record<string, string>, number][],
  ) => {
    const last = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        for (const [l, v] of values()) {
          const k = JSON.stringify(l);
          const d = v - (last.get(k) ?? 0);
          if (d > 0) this.inc(l, d);
          last.set(k, v);
        }
      },
    });
  };
  counterFrom(
    "v6mostly_operator_api_requests_total",
    "requests made to the Kubernetes API, by verb",
    ["verb"],
    () => Object.entries(op.client.requests).map(([verb, n]) => [{ verb }, n]),
  );
  counterFrom("v6mostly_operator_reconciles_total", "reconciles run, by outcome", ["outcome"], () => [
    [{ outcome: "ok" }, op.controller.counts.reconciles - op.controller.counts.errors],
    [{ outcome: "error" }, op.controller.counts.errors],
  ]);
  counterFrom(
    "v6mostly_operator_writes_total",
    "objects written by the plan reconciler, by what",
    ["what"],
    () => Object.entries(op.reconciler.counts).map(([what, n]) => [{ what }, n]),
  );
  new Gauge({
    name: "v6mostly_operator_leader",
    help: "1 while this replica leads",
    registers: [reg],
    collect() {
      this.set(op.isLeader ? 1 : 0);
    },
  });
}
