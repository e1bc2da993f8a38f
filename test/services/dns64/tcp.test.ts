// DNS64 over TCP with hostile clients (issue 19, RFC 7766 §6.2.2, §10), in network namespaces
// (netlab.ts) with real TCP stacks: a host outside allowClients is reset at accept; a slow-loris
// trickling a query one byte a second is dropped at the message deadline; a client pipelining
// queries without ever reading keeps the resolver's RSS bounded while a second client keeps
// getting answers; one client cannot take more than its share of connections. Unbound 1.17, in
// the same namespace with its defaults (incoming-num-tcp 10, tcp-idle-timeout 30 s), meets the same
// clients and its figures are printed beside ours.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ZONE } from "./lab.ts";
import { ADDR, type Agent, type Child, LAN, missingForNetlab, NetLab, rssKb } from "./netlab.ts";

const PREFIX = "64:ff9b::/96";
/** Short deadlines so the tests take seconds; the defaults are 5 s and 10 s. */
const MESSAGE_MS = 2000;
const IDLE_MS = 3000;

interface ConnectResult {
  connected: boolean;
  answered: boolean;
  rcode?: string;
  closedAfterMs: number | null;
  error?: string;
}

interface LorisResult {
  sentBytes: number;
  messageBytes: number;
  closedAfterMs: number | null;
  answered: boolean;
}

interface PipelineResult {
  written: number;
  closedAfterMs: number | null;
  error?: string;
}

interface SteadyResult {
  udp: { sent: number; ok: number };
  tcp: { sent: number; ok: number };
}

function unboundConf(lab: NetLab): string {
  return `
server:
  verbosity: 0
  use-syslog: no
  logfile: ""
  chroot: ""
  username: ""
  directory: "${lab.dir}"
  pidfile: "${lab.dir}/unbound.pid"
  interface: ${ADDR.unbound}
  do-ip6: no
  access-control: ${LAN} allow
  module-config: "dns64 iterator"
  dns64-prefix: ${PREFIX}
  qname-minimisation: no
  local-zone: "example." nodefault
  ratelimit: 0
  ip-ratelimit: 0
forward-zone:
  name: "."
  forward-addr: ${ADDR.upstream}
`;
}

async function startPeers(lab: NetLab): Promise<{ resolver: Child; unbound: Child }> {
  lab.setup();
  await lab.startAuthoritative();
  const relay = lab.fixture("u", "relay", { listen: ADDR.upstream });
  await relay.line((l) => l === "ready");
  const resolver = lab.fixture("r", "resolver", {
    spec: {
      listen: [ADDR.resolver],
      prefix: PREFIX,
      upstreams: [ADDR.upstream],
      alwaysSynthesize: false,
      exclude: ["::ffff:0:0/96"],
      allowClients: [LAN],
      rateLimit: 0,
      nodeSelector: {},
    },
    opts: { tcp: { messageMs: MESSAGE_MS, idleMs: IDLE_MS } },
  });
  await resolver.line((l) => l === "ready");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(`${lab.dir}/unbound.conf`, unboundConf(lab));
  const unbound = lab.start("r", ["unbound", "-d", "-c", `${lab.dir}/unbound.conf`]);
  return { resolver, unbound };
}

async function stats(lab: NetLab, resolver: Child): Promise<Record<string, number>> {
  return (await lab.command<{ stats: Record<string, number> }>(resolver, "stats")).stats;
}

/** Waits until `server` answers a TCP query from `agent` (Unbound takes a moment to start). */
async function answering(agent: Agent, server: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const r = await agent.call<{ results: { data?: string[] }[] }>("ask", {
      server,
      names: [`ready${i}.${ZONE}`],
      type: "AAAA",
      tcp: true,
      timeoutMs: 1000,
    });
    if (r.results[0]?.data?.length) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`${server} does not answer over TCP`);
}

test("dns64 tcp: outside host reset at accept, slow-loris dropped at the message deadline, per-client connection limit", async (t) => {
  const missing = missingForNetlab();
  if (missing) {
    t.skip(missing);
    return;
  }
  const lab = new NetLab();
  try {
    const { resolver } = await startPeers(lab);
    const lan = await lab.agent("c");
    const outside = await lab.agent("o");
    await answering(lan, ADDR.resolver);
    await answering(lan, ADDR.unbound);

    // an outside host: the handshake completes in the kernel, then the connection is reset at once
    const refused = await outside.call<ConnectResult>("connect", { server: ADDR.resolver });
    const unboundRefused = await outside.call<ConnectResult>("connect", { server: ADDR.unbound });
    console.log(
      `# outside host: v6mostly ${refused.error === "ECONNRESET" ? "reset" : "closed"} it after ${refused.closedAfterMs} ms, ${refused.answered ? `answered ${refused.rcode}` : "no answer"}; Unbound (refuse): answered ${unboundRefused.rcode ?? "nothing"}, connection ${unboundRefused.closedAfterMs === null ? "still open after 3 s" : `closed after ${unboundRefused.closedAfterMs} ms`}`,
    );
    assert.equal(refused.answered, false);
    assert.equal(refused.error, "ECONNRESET", "reset at accept, not served");
    assert.equal((await stats(lab, resolver)).tcpRefused, 1);

    // a slow-loris: one byte a second; the query (about 50 bytes) would take most of a minute
    const loris = await lan.call<LorisResult>("loris", { server: ADDR.resolver, intervalMs: 1000 });
    const ubLoris = await lan.call<LorisResult>("loris", {
      server: ADDR.unbound,
      intervalMs: 1000,
      maxMs: 10_000,
    });
    console.log(
      `# slow-loris (1 byte/s): v6mostly dropped it after ${loris.closedAfterMs} ms, ${loris.sentBytes} of ${loris.messageBytes} bytes sent (message deadline ${MESSAGE_MS} ms); Unbound (tcp-idle-timeout 30 s, reset by each byte): ${ubLoris.closedAfterMs === null ? `still open after ${ubLoris.sentBytes} bytes in 10 s` : `dropped after ${ubLoris.closedAfterMs} ms`}`,
    );
    assert.notEqual(loris.closedAfterMs, null, "dropped");
    assert.ok(loris.sentBytes < loris.messageBytes, "before the message was complete");
    assert.equal(loris.answered, false);
    assert.equal((await stats(lab, resolver)).tcpMessageTimeouts, 1);

    // one client, 20 connections at once: the per-client limit (8) holds
    const held = await lan.call<{ open: number; closed: number }>("hold", {
      server: ADDR.resolver,
      count: 20,
      holdMs: 500,
    });
    console.log(`# 20 connections from one client: ${held.open} kept, ${held.closed} reset`);
    assert.equal(held.open, 8);
    assert.equal((await stats(lab, resolver)).tcpOverLimit, 12);
  } finally {
    await lab.cleanup();
  }
});

test("dns64 tcp: a client pipelining without reading keeps RSS bounded; a second client keeps getting answers", async (t) => {
  const missing = missingForNetlab();
  if (missing) {
    t.skip(missing);
    return;
  }
  const lab = new NetLab();
  try {
    const { resolver, unbound } = await startPeers(lab);
    const hostile = await lab.agent("a");
    const polite = await lab.agent("c");
    await answering(polite, ADDR.resolver);
    await answering(polite, ADDR.unbound);
    const pid = resolver.proc.pid!;
    const before = rssKb(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssKb(pid));
    }, 100);
    // four connections that write queries as fast as the resolver takes them and never read
    const floods = Array.from({ length: 4 }, (_, i) =>
      hostile.call<PipelineResult>(
        "pipeline",
        { server: ADDR.resolver, durationMs: 8000, prefix: `flood${i}-` },
        30_000,
      ),
    );
    const meanwhile = await polite.call<SteadyResult>(
      "steady",
      { server: ADDR.resolver, durationMs: 8000, intervalMs: 50, prefix: "polite-" },
      30_000,
    );
    const flooded = await Promise.all(floods);
    clearInterval(sampler);
    const s = await stats(lab, resolver);

    // the same against Unbound
    const ubPid = unbound.proc.pid!;
    const ubBefore = rssKb(ubPid);
    let ubPeak = ubBefore;
    const ubSampler = setInterval(() => {
      ubPeak = Math.max(ubPeak, rssKb(ubPid));
    }, 100);
    const ubFloods = Array.from({ length: 4 }, (_, i) =>
      hostile.call<PipelineResult>(
        "pipeline",
        { server: ADDR.unbound, durationMs: 8000, prefix: `flood${i}-` },
        30_000,
      ),
    );
    const ubMeanwhile = await polite.call<SteadyResult>(
      "steady",
      { server: ADDR.unbound, durationMs: 8000, intervalMs: 50, prefix: "polite-" },
      30_000,
    );
    const ubFlooded = await Promise.all(ubFloods);
    clearInterval(ubSampler);

    const rate = (r: SteadyResult) =>
      `UDP ${r.udp.ok}/${r.udp.sent}, TCP ${r.tcp.ok}/${r.tcp.sent} (${(((r.udp.ok + r.tcp.ok) / (r.udp.sent + r.tcp.sent)) * 100).toFixed(1)}%)`;
    const written = (f: PipelineResult[]) => f.reduce((n, x) => n + x.written, 0);
    console.log(
      `# pipelining without reading, 4 connections, 8 s: v6mostly RSS ${Math.round(before / 1024)} → peak ${Math.round(peak / 1024)} MiB, ${written(flooded)} queries written, connections closed after ${flooded.map((f) => f.closedAfterMs ?? "-").join("/")} ms (write stalls ${s.tcpWriteStalls}, reads paused ${s.tcpPaused} times); the second client: ${rate(meanwhile)}`,
    );
    console.log(
      `# the same against Unbound: RSS ${Math.round(ubBefore / 1024)} → peak ${Math.round(ubPeak / 1024)} MiB, ${written(ubFlooded)} queries written, closed after ${ubFlooded.map((f) => f.closedAfterMs ?? "-").join("/")} ms; the second client: ${rate(ubMeanwhile)}`,
    );
    // bounded: the answers queued per connection are capped (64 KiB and 16 in flight) and reading
    // stops past them, so RSS grows by a few MiB, not with the queries written
    assert.ok(peak - before < 64 * 1024, `RSS grew by ${Math.round((peak - before) / 1024)} MiB`);
    assert.ok(s.tcpPaused! > 0, "backpressure engaged");
    for (const f of flooded) assert.notEqual(f.closedAfterMs, null, "a client that never reads is closed");
    const ok = meanwhile.udp.ok + meanwhile.tcp.ok;
    const sent = meanwhile.udp.sent + meanwhile.tcp.sent;
    assert.ok(ok >= 0.95 * sent, `the second client: ${ok}/${sent}`);
  } finally {
    await lab.cleanup();
  }
});
