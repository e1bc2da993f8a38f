// Prometheus metrics of the DNS64 resolvers, read from each one's stats() when /metrics is scraped:
// what the hostile-neighbour defences count (answers from upstream not taken, by reason; TCP
// connections refused or closed, by reason; 0x20 fallbacks) and the queries served. Several
// resolvers share one registry: each adds its `resource` label and removes it when it stops.
import { Counter, Gauge, type Registry } from "prom-client";

type Stats = Record<string, number>;

interface Family {
  name: string;
  help: string;
  /** the label that tells the values apart, if any */
  label?: string;
  /** label value → stats key */
  from: Record<string, string>;
}

const COUNTERS: Family[] = [
  {
    name: "v6mostly_dns64_queries_total",
    help: "client queries received, by transport",
    label: "transport",
    from: { udp: "udpQueries", tcp: "tcpQueries" },
  },
  {
    name: "v6mostly_dns64_upstream_answers_rejected_total",
    help: "upstream answers not taken (RFC 5452), by reason; none is ever cached",
    label: "reason",
    from: {
      malformed: "upstreamRejectedMalformed",
      no_query: "upstreamRejectedNoQuery",
      source: "upstreamRejectedSource",
      question: "upstreamRejectedQuestion",
      case: "upstreamRejectedCase",
    },
  },
  {
    name: "v6mostly_dns64_upstream_case_fallbacks_total",
    help: "queries asked again over TCP because the upstream did not echo the 0x20 case",
    from: { "": "upstreamCaseFallbacks" },
  },
  {
    name: "v6mostly_dns64_upstream_port_windows_shared_total",
    help: "windows of upstream queries that shared an open socket because 1,024 were open (RFC 5452 §9.2 weakened: an upstream not answering under load)",
    from: { "": "upstreamPortsShared" },
  },
  {
    name: "v6mostly_dns64_tcp_connections_refused_total",
    help: "client TCP connections reset at accept, by reason (outside allowClients, over a connection limit)",
    label: "reason",
    from: { acl: "tcpRefused", limit: "tcpOverLimit" },
  },
  {
    name: "v6mostly_dns64_tcp_connections_closed_total",
    help: "client TCP connections closed by a deadline, by reason",
    label: "reason",
    from: { message_deadline: "tcpMessageTimeouts", idle: "tcpIdleTimeouts", write_stall: "tcpWriteStalls" },
  },
];

const GAUGES: Family[] = [
  {
    name: "v6mostly_dns64_upstream_ports_open",
    help: "UDP sockets open towards upstreams (one per turn of queries, closed once answered)",
    from: { "": "upstreamPortsOpen" },
  },
  {
    name: "v6mostly_dns64_upstreams_without_0x20",
    help: "upstreams asked without 0x20 case randomisation because they did not echo it",
    from: { "": "upstreamNoCaseEcho" },
  },
  {
    name: "v6mostly_dns64_tcp_connections_open",
    help: "client TCP connections open",
    from: { "": "tcpOpen" },
  },
];

interface Source {
  resource: string;
  stats: () => Stats;
  /** counter values already added, by stats key */
  added: Map<string, number>;
}

/** The resolvers feeding each registry's metrics. */
const sources = new WeakMap<Registry, Set<Source>>();

function labelsOf(f: Family, resource: string, value: string): Record<string, string> {
  return f.label ? { resource, [f.label]: value } : { resource };
}

/** Calls `fn` with the labels, value and stats key of every series of `f` over every resolver. */
function eachSeries(
  f: Family,
  all: Set<Source>,
  fn: (s: Source, labels: Record<string, string>, value: number, key: string) => void,
): void {
  for (const s of all) {
    const stats = s.stats();
    for (const [label, key] of Object.entries(f.from))
      fn(s, labelsOf(f, s.resource, label), stats[key] ?? 0, key);
  }
}

function register(reg: Registry, all: Set<Source>): void {
  const labelNames = (f: Family) => (f.label ? ["resource", f.label] : ["resource"]);
  for (const f of COUNTERS) {
    new Counter({
      name: f.name,
      help: f.help,
      labelNames: labelNames(f),
      registers: [reg],
      collect() {
        // a counter only goes up: add what the stats gained since the last scrape
        eachSeries(f, all, (s, labels, value, key) => {
          const delta = value - (s.added.get(key) ?? 0);
          if (delta > 0) {
            this.inc(labels, delta);
            s.added.set(key, value);
          }
        });
      },
    });
  }
  for (const f of GAUGES) {
    new Gauge({
      name: f.name,
      help: f.help,
      labelNames: labelNames(f),
      registers: [reg],
      collect() {
        eachSeries(f, all, (_s, labels, value) => this.set(labels, value));
      },
    });
  }
}

/**
 * Publishes the metrics of resolver `resource` in `reg`, read from `stats` at each scrape. Returns
 * the function that removes them (when the resolver stops).
 */
export function publishDns64Metrics(reg: Registry, resource: string, stats: () => Stats): () => void {
  let all = sources.get(reg);
  if (!all) {
    all = new Set();
    sources.set(reg, all);
    register(reg, all);
  }
  const source: Source = { resource, stats, added: new Map() };
  all.add(source);
  return () => {
    all.delete(source);
    for (const f of [...COUNTERS, ...GAUGES]) {
      const m = reg.getSingleMetric(f.name) as Counter | Gauge | undefined;
      for (const value of Object.keys(f.from)) m?.remove(labelsOf(f, resource, value));
    }
  };
}
