// The DNS64 Prometheus metrics (src/services/dns64/metrics.ts): counters follow each resolver's
// stats by label, two resolvers share one registry, and a stopped one leaves no series behind.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry } from "prom-client";
import { publishDns64Metrics } from "../../../src/services/dns64/metrics.ts";

const line = (text: string, series: string) =>
  text
    .split("\n")
    .find((l) => l.startsWith(`${series} `))
    ?.split(" ")[1];

test("dns64 metrics: rejected answers and TCP closes by reason, per resource; removed on stop", async () => {
  const reg = new Registry();
  const a: Record<string, number> = { upstreamRejectedNoQuery: 5, tcpRefused: 2, upstreamPortsOpen: 3 };
  const b: Record<string, number> = { upstreamRejectedCase: 1, udpQueries: 10 };
  const stopA = publishDns64Metrics(reg, "Dns64Resolver/a", () => a);
  const stopB = publishDns64Metrics(reg, "Dns64Resolver/b", () => b);
  let text = await reg.metrics();
  assert.equal(
    line(
      text,
      'v6mostly_dns64_upstream_answers_rejected_total{resource="Dns64Resolver/a",reason="no_query"}',
    ),
    "5",
  );
  assert.equal(
    line(text, 'v6mostly_dns64_upstream_answers_rejected_total{resource="Dns64Resolver/b",reason="case"}'),
    "1",
  );
  assert.equal(
    line(text, 'v6mostly_dns64_tcp_connections_refused_total{resource="Dns64Resolver/a",reason="acl"}'),
    "2",
  );
  assert.equal(line(text, 'v6mostly_dns64_upstream_ports_open{resource="Dns64Resolver/a"}'), "3");
  assert.equal(line(text, 'v6mostly_dns64_queries_total{resource="Dns64Resolver/b",transport="udp"}'), "10");
  a.upstreamRejectedNoQuery = 9;
  a.upstreamPortsOpen = 0;
  text = await reg.metrics();
  assert.equal(
    line(
      text,
      'v6mostly_dns64_upstream_answers_rejected_total{resource="Dns64Resolver/a",reason="no_query"}',
    ),
    "9",
  );
  assert.equal(line(text, 'v6mostly_dns64_upstream_ports_open{resource="Dns64Resolver/a"}'), "0");
  stopA();
  text = await reg.metrics();
  assert.ok(!text.includes("Dns64Resolver/a"), "a's series removed");
  assert.ok(text.includes("Dns64Resolver/b"));
  stopB();
  assert.ok(!(await reg.metrics()).includes("Dns64Resolver/b"));
});
