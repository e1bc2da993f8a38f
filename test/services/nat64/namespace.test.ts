/**
 * The NAT64 datapath end to end in network namespaces: an IPv6-only client,
 * the translator (`v6mostly run -f`, or the service with test-only timers),
 * an IPv4-only server (test/services/nat64/peer.py). See lab.ts for the addresses.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { CLIENT6, canRun, Lab, PREFIX, REPO, SERVER4, SERVER6, type Translations, waitFor } from "./lab.ts";

const skip = canRun();
const POOL = /^203\.0\.113\.13[0-5]$|^203\.0\.113\.12[89]$/;

function translations(lab: Lab, status: string): Record<string, Translations> {
  return lab.translations(status);
}

function udp(
  lab: Lab,
  n: number,
  timeout = 4,
  size = 0,
): { sent: number; answered: number; errors: Record<string, number>; sources: string[] } {
  return JSON.parse(
    lab.ns(lab.c, [
      "python3",
      join(REPO, "test/services/nat64/udpclient.py"),
      SERVER6,
      "9000",
      String(n),
      String(timeout),
      String(size),
    ]),
  );
}

/** A 50 MB download through the translator, checked against the server's own SHA-256. */
function download(lab: Lab): void {
  const n = 50 * 1024 * 1024;
  const want = lab.ns(lab.s, ["curl", "-s", `http://${SERVER4}:8080/sum?n=${n}`]).trim();
  const got = lab
    .ns(lab.c, ["sh", "-c", `curl -s --max-time 60 'http://[${SERVER6}]:8080/blob?n=${n}' | sha256sum`])
    .split(" ")[0];
  assert.equal(got, want);
}

/** An 8 MB upload; the server answers with the SHA-256 of what it received. */
function upload(lab: Lab): void {
  const f = join(lab.dir, "up.bin");
  const data = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32BE((i * 2654435761) >>> 0, i);
  writeFileSync(f, data);
  const got = lab
    .ns(lab.c, ["curl", "-s", "--max-time", "30", "--data-binary", `@${f}`, `http://[${SERVER6}]:8080/sum`])
    .trim();
  assert.equal(got, createHash("sha256").update(data).digest("hex"));
}

/** A lab (removed when the test ends) with the peer servers answering. */
async function labWithPeer(t: TestContext, tag: string): Promise<Lab> {
  const lab = new Lab(tag);
  t.after(() => lab.cleanup());
  lab.setup();
  lab.startPeer();
  await peerReady(lab);
  return lab;
}

async function peerReady(lab: Lab): Promise<void> {
  await waitFor("peer HTTP server", () =>
    lab.ns(lab.s, ["curl", "-s", "--max-time", "1", `http://${SERVER4}:8080/`]).startsWith("ok"),
  );
}

test("NAT64 in namespaces through `v6mostly run -f`", { timeout: 240_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = new Lab("a");
  t.after(() => lab.cleanup());
  lab.setup();
  lab.startPeer();
  await peerReady(lab);
  const status = "127.0.0.1:9464";
  const resource = lab.writeResource();
  // forwarding off before v6mostly turns it on, so that stop has something to put back (a new
  // namespace copies the machine's value, which may already be 1)
  lab.ns(lab.t, ["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
  const forwardingBefore = "0";
  let run = lab.startRun(resource, status);
  await waitFor("translations endpoint", () => translations(lab, status)["Nat64Gateway/lab"]);

  await t.test("ping through the translator; the box nets one hop-limit decrement on the wire", () => {
    const out = lab.ns(lab.c, ["ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER6]);
    assert.match(out, /3 received/);
    // The server answers with TTL 64: one decrement for the whole box, not three.
    assert.match(out, /ttl=63/);
  });

  await t.test("hop limit 2 reaches the server (one router), hop limit 1 expires at the translator", () => {
    assert.match(lab.ns(lab.c, ["ping", "-c", "1", "-t", "2", "-W", "2", SERVER6]), /1 received/);
    let out = "";
    try {
      out = lab.ns(lab.c, ["ping", "-c", "1", "-t", "1", "-W", "2", SERVER6]);
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? "");
    }
    assert.match(out, /Time exceeded/i);
  });

  await t.test("TCP: HTTP request; the server sees a pool4 address", () => {
    const out = lab.ns(lab.c, ["curl", "-s", "--max-time", "5", `http://[${SERVER6}]:8080/`]).trim();
    const m = /^ok (\S+)$/.exec(out);
    assert.ok(m, out);
    assert.match(m[1]!, POOL);
  });

  await t.test("TCP: 50 MB download verified by SHA-256", () => download(lab));

  await t.test("TCP: 8 MB upload verified by SHA-256", () => upload(lab));

  await t.test("segmentation offload: TCP super-packets went through whole, none refused", async () => {
    const c = await waitFor("offload counters", () => {
      const x = translations(lab, status)["Nat64Gateway/lab"]!;
      return x.counters.gsoPackets! > 0 ? x : undefined;
    });
    assert.equal(c.counters.offloadDrops, 0);
    assert.equal(c.drops["siit.Offload"], undefined, JSON.stringify(c.drops));
    // Each super-packet carries many segments: far fewer reads than packets (the packet counters
    // count segments, what goes on the wire).
    const packets = c.counters.packets6to4! + c.counters.packets4to6!;
    assert.ok(c.counters.packetsRead! * 4 < packets, JSON.stringify(c.counters));
  });

  await t.test("UDP echo; the answer comes back from the server", () => {
    const r = udp(lab, 1);
    assert.equal(r.answered, 1, JSON.stringify(r));
    assert.equal(r.sources.length, 1);
    assert.match(r.sources[0]!, POOL);
  });

  await t.test(
    "300 concurrent UDP flows, one pool4 address for the host (RFC 4787 REQ-2 paired pooling)",
    async () => {
      const r = udp(lab, 300, 6);
      assert.equal(r.answered, 300, JSON.stringify(r));
      assert.equal(r.sources.length, 1, `one IPv4 address for one IPv6 host: ${r.sources}`);
      // at least the 300 flows (the earlier echo test's flow may share a source port with one of them)
      const tr = await waitFor("sessions in /translations", () => {
        const x = translations(lab, status)["Nat64Gateway/lab"]!;
        return x.counters.sessionsUdp! >= 300 && x.totalSessions >= 300 ? x : undefined;
      });
      assert.ok(tr.sessions.filter((s) => s.proto === "udp").length >= 300);
    },
  );

  await t.test("v6mostly translations prints the table and counters", () => {
    const out = lab.ns(lab.t, [
      process.execPath,
      join(REPO, "bin/v6mostly.js"),
      "translations",
      "--status-address",
      status,
    ]);
    assert.match(out, /Proto\s+Original IPv4 \/ Translated IPv4\s+Translated IPv6 \/ Original IPv6/);
    assert.match(out, new RegExp(`udp\\s+${SERVER4.replace(/\./g, "\\.")}:9000\\s+\\[${SERVER6}\\]:9000`));
    assert.match(out, new RegExp(`\\[${CLIENT6}\\]:\\d+`));
    // how old the table is, so 0 sessions beside non-zero BIB counts right after traffic is explained
    assert.match(
      out,
      /Total number of translations: \d+ \(table from \d+\.\d s ago: the workers send it once a second/,
    );
    // The 50 MB download went through as super-packets (offload on by default).
    assert.match(out, /TCP\/UDP super-packets \(offload\) [1-9]\d*, cut in software \d+, dropped 0/);
    const json = JSON.parse(
      lab.ns(lab.t, [
        process.execPath,
        join(REPO, "bin/v6mostly.js"),
        "translations",
        "--status-address",
        status,
        "-o",
        "json",
      ]),
    );
    assert.equal(json["Nat64Gateway/lab"].prefix, PREFIX);
  });

  await t.test(
    "/metrics exposes sessions, BIB, pool usage, packets, bytes and drops with a resource label",
    () => {
      const m = lab.ns(lab.t, ["curl", "-s", `http://${status}/metrics`]);
      assert.match(m, /v6mostly_nat64_sessions\{resource="Nat64Gateway\/lab",proto="udp"\} \d+/);
      assert.match(m, /v6mostly_nat64_bib_entries\{resource="Nat64Gateway\/lab",proto="icmp"\} \d+/);
      assert.match(m, /v6mostly_nat64_pool4_ports_used\{resource="Nat64Gateway\/lab",proto="tcp"\} \d+/);
      assert.match(
        m,
        /v6mostly_nat64_packets_total\{resource="Nat64Gateway\/lab",direction="6to4"\} [1-9]\d*/,
      );
      assert.match(m, /v6mostly_nat64_bytes_total\{resource="Nat64Gateway\/lab",direction="4to6"\} [1-9]\d*/);
      assert.match(m, /v6mostly_nat64_table_bytes\{resource="Nat64Gateway\/lab"\} \d+/);
      // Published at 0 too: a bug caught on the packet path would show here.
      assert.match(m, /v6mostly_nat64_internal_errors_total\{resource="Nat64Gateway\/lab"\} 0\n/);
    },
  );

  await t.test(
    "a source outside allowedSources is refused with ICMPv6 administratively prohibited, and counted",
    async () => {
      lab.ns(lab.c, ["ip", "addr", "add", "2001:db8:99::2/128", "dev", "c0", "nodad"]);
      lab.ns(lab.t, ["ip", "-6", "route", "add", "2001:db8:99::2/128", "via", CLIENT6]);
      let out = "";
      try {
        out = lab.ns(lab.c, ["ping", "-c", "1", "-W", "2", "-I", "2001:db8:99::2", SERVER6]);
      } catch (e) {
        out = String((e as { stdout?: string }).stdout ?? "");
      }
      assert.match(out, /Administratively prohibited/i);
      await waitFor(
        "sourceNotAllowed counter",
        () => (translations(lab, status)["Nat64Gateway/lab"]!.drops.sourceNotAllowed ?? 0) >= 1,
      );
    },
  );

  await t.test("PMTU: a 1280-byte link on the IPv6 side (PTB → FN) and on the IPv4 side (FN → PTB)", () => {
    const n = 2 * 1024 * 1024;
    // IPv6 side: the translator's kernel sends PTB to the translated source; we turn it into FN for the server.
    lab.ns(lab.t, ["ip", "link", "set", "t0", "mtu", "1280"]);
    try {
      const want = lab.ns(lab.s, ["curl", "-s", `http://${SERVER4}:8080/sum?n=${n}`]).trim();
      const got = lab
        .ns(lab.c, ["sh", "-c", `curl -s --max-time 20 'http://[${SERVER6}]:8080/blob?n=${n}' | sha256sum`])
        .split(" ")[0];
      assert.equal(got, want, "download through a 1280-byte IPv6 link");
    } finally {
      lab.ns(lab.t, ["ip", "link", "set", "t0", "mtu", "1500"]);
    }
    // IPv4 side: FN for our 6→4 packets (DF set above 1260 bytes) comes back as PTB to the client.
    lab.ns(lab.t, ["ip", "link", "set", "u0", "mtu", "1280"]);
    try {
      const f = join(lab.dir, "up2.bin");
      const data = Buffer.alloc(n, 7);
      writeFileSync(f, data);
      const got = lab
        .ns(lab.c, [
          "curl",
          "-s",
          "--max-time",
          "20",
          "--data-binary",
          `@${f}`,
          `http://[${SERVER6}]:8080/sum`,
        ])
        .trim();
      assert.equal(
        got,
        createHash("sha256").update(data).digest("hex"),
        "upload through a 1280-byte IPv4 link",
      );
    } finally {
      lab.ns(lab.t, ["ip", "link", "set", "u0", "mtu", "1500"]);
    }
  });

  await t.test(
    "TAYGA as a CLAT in the client namespace (464XLAT): ping and TCP to an IPv4 literal",
    async (tt) => {
      if (!existsSync("/usr/sbin/tayga")) {
        tt.skip("tayga not installed");
        return;
      }
      // CLAT: the client's IPv4 192.0.0.1 maps to 2001:db8:1:c1::1; our NAT64 is the PLAT.
      const conf = join(lab.dir, "clat.conf");
      writeFileSync(
        conf,
        `tun-device clat\nipv4-addr 192.0.0.2\nprefix ${PREFIX}\nmap 192.0.0.1 2001:db8:1:c1::1\n`,
      );
      lab.ns(lab.c, ["tayga", "-c", conf, "--mktun"]);
      lab.ns(lab.c, ["ip", "link", "set", "clat", "up"]);
      lab.ns(lab.c, ["ip", "addr", "add", "192.0.0.1/32", "dev", "clat"]);
      lab.ns(lab.c, ["ip", "route", "add", "default", "dev", "clat", "src", "192.0.0.1"]);
      lab.ns(lab.c, ["ip", "-6", "route", "add", "2001:db8:1:c1::/64", "dev", "clat"]);
      lab.ns(lab.c, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
      lab.ns(lab.t, ["ip", "-6", "route", "add", "2001:db8:1:c1::/64", "via", CLIENT6]);
      lab.spawnIn(lab.c, ["tayga", "-c", conf, "-d"], "tayga-clat.log");
      await waitFor("CLAT ping", () =>
        /1 received/.test(lab.ns(lab.c, ["ping", "-c", "1", "-W", "1", SERVER4])),
      );
      const out = lab.ns(lab.c, ["ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER4]);
      assert.match(out, /3 received/);
      const http = lab.ns(lab.c, ["curl", "-s", "--max-time", "5", `http://${SERVER4}:8080/`]).trim();
      assert.match(http, /^ok 203\.0\.113\.(12[89]|13[0-5])$/);
      // /translations is a snapshot the packet worker sends once a second
      await waitFor("the CLAT's IPv6 address in /translations", () =>
        translations(lab, status)["Nat64Gateway/lab"]!.sessions.some((s) => s.ipv6 === "2001:db8:1:c1::1")
          ? true
          : undefined,
      );
    },
  );

  await t.test(
    "SIGTERM leaves no device, route, proxy entry or sysctl behind; a SIGKILLed run is cleaned at the next start",
    async () => {
      await lab.stop(run);
      assert.equal(run.exitCode, 0, "clean exit");
      const links = lab.ns(lab.t, ["ip", "-o", "link"]);
      assert.ok(!links.includes(lab.tun), "no TUN device left");
      assert.ok(!lab.ns(lab.t, ["ip", "route"]).includes("203.0.113.128"), "no pool4 route left");
      assert.ok(!lab.ns(lab.t, ["ip", "-6", "route"]).includes("2001:db8:64::"), "no prefix route left");
      assert.equal(lab.ns(lab.t, ["ip", "neigh", "show", "proxy"]).trim(), "", "no proxy ARP entry left");
      assert.equal(lab.ns(lab.t, ["cat", "/proc/sys/net/ipv4/ip_forward"]).trim(), forwardingBefore);

      run = lab.startRun(resource, status);
      await waitFor("restart", () => translations(lab, status)["Nat64Gateway/lab"]);
      await lab.stop(run, "SIGKILL");
      assert.ok(!lab.ns(lab.t, ["ip", "-o", "link"]).includes(lab.tun), "the device dies with its process");
      assert.notEqual(
        lab.ns(lab.t, ["ip", "neigh", "show", "proxy"]).trim(),
        "",
        "proxy entries survive a crash",
      );
      run = lab.startRun(resource, status);
      await waitFor("start after a crash", () => translations(lab, status)["Nat64Gateway/lab"]);
      const log = (run as unknown as { output: () => string }).output();
      assert.match(log, /cleaning state left by a previous run/);
      assert.match(lab.ns(lab.c, ["ping", "-c", "1", "-W", "2", SERVER6]), /1 received/);
      await lab.stop(run);
      assert.equal(lab.ns(lab.t, ["ip", "neigh", "show", "proxy"]).trim(), "");
    },
  );
});

test("TUN offload: off (spec.offload: false, one packet per read), and super-packets cut in software when they do not fit", {
  timeout: 120_000,
}, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = await labWithPeer(t, "o");
  const status = "127.0.0.1:9467";
  const run = lab.startRun(lab.writeResource("  offload: false\n"), status);
  await waitFor("translations endpoint", () => translations(lab, status)["Nat64Gateway/lab"]);
  download(lab);
  upload(lab);
  // the counters reach /translations a few hundred ms after the packets: wait for the last ones
  const c = await waitFor(
    "50 MB in packets of at most 1500 bytes",
    () => {
      const now = translations(lab, status)["Nat64Gateway/lab"]!;
      return now.counters.packets4to6! > 30_000 ? now : undefined;
    },
    3000,
  );
  assert.equal(c.counters.gsoPackets, 0);
  assert.match((run as unknown as { output: () => string }).output(), /"offload":false/);
  await lab.stop(run);

  // TUN MTU 1400: the kernel hands over super-packets of 1400-byte IPv4 segments, 1420 bytes once
  // translated: too big for the IPv6 side, so they are cut in software, the first segment is answered
  // with ICMPv4 Fragmentation Needed (1380), and the server then sends what fits.
  const small = lab.startRun(lab.writeResource("  mtu: 1400\n"), status);
  await waitFor("translations endpoint (mtu 1400)", () => translations(lab, status)["Nat64Gateway/lab"]);
  download(lab);
  upload(lab);
  const d = translations(lab, status)["Nat64Gateway/lab"]!;
  assert.ok(d.counters.gsoPackets! > 0, JSON.stringify(d.counters));
  assert.ok(d.counters.gsoSoftwareSegmented! > 0, JSON.stringify(d.counters));
  assert.equal(d.counters.offloadDrops, 0);
  assert.equal(d.drops["siit.Offload"], undefined, JSON.stringify(d.drops));
  await lab.stop(small);
});

test("stateful NAT64 on two TUN queues (spec.queues: 2): each worker owns half the ports, packets handed to their owner", {
  timeout: 120_000,
}, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = await labWithPeer(t, "q");
  const status = "127.0.0.1:9468";
  const run = lab.startRun(lab.writeResource("  queues: 2\n"), status);
  await waitFor("translations endpoint", () => translations(lab, status)["Nat64Gateway/lab"]);
  assert.match(lab.ns(lab.c, ["ping", "-c", "2", "-i", "0.2", "-W", "2", SERVER6]), /2 received/);
  download(lab);
  upload(lab);
  // 300 flows: the kernel queues each flow's first packet by its hash, the owner is its port's.
  const r = udp(lab, 300, 6);
  assert.equal(r.answered, 300, JSON.stringify(r.errors));
  assert.equal(new Set(r.sources).size, 1, "RFC 4787 REQ-2: one pool4 address for the host on both workers");
  const c = await waitFor("both workers' sessions in /translations", () => {
    const x = translations(lab, status)["Nat64Gateway/lab"]!;
    return x.totalSessions >= 300 ? x : undefined;
  });
  assert.ok(c.counters.handoffs! > 0, JSON.stringify(c.counters));
  assert.equal(c.counters.handoffDrops, 0);
  // 4000-byte datagrams: fragments both ways. Only the first carries the ports, so the others
  // find the worker that saw it by asking the workers in turn.
  const big = udp(lab, 20, 6, 4000);
  assert.equal(big.answered, 20, JSON.stringify(big.errors));
  assert.match((run as unknown as { output: () => string }).output(), /"queues":2/);
  await lab.stop(run);
  assert.equal(run.exitCode, 0, "clean exit");
});

test("NAT64 service with test-only timers and a tiny port range", { timeout: 120_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = new Lab("b");
  t.after(() => lab.cleanup());
  lab.setup();
  lab.startPeer();
  await peerReady(lab);
  const status = "127.0.0.1:9465";
  const svc = lab.startServe(
    {},
    { timeouts: { udp: 2, tcpIncomingSyn: 2 }, portMin: 2000, portMax: 2003 },
    status,
  );
  await waitFor("service", () => translations(lab, status)["Nat64Gateway/lab"]);

  await t.test(
    "pool exhaustion: 4 ports, 6 flows → 4 answered, 2 refused with ICMPv6, counted, still serving",
    async () => {
      const r = udp(lab, 6, 3);
      assert.equal(r.answered, 4, JSON.stringify(r));
      const refused = Object.values(r.errors).reduce((a, b) => a + b, 0);
      assert.equal(
        refused,
        2,
        `ICMPv6 destination unreachable reaches the sockets: ${JSON.stringify(r.errors)}`,
      );
      const tr = await waitFor("poolExhausted", () => {
        const x = translations(lab, status)["Nat64Gateway/lab"]!;
        return (x.drops.poolExhausted ?? 0) >= 2 ? x : undefined;
      });
      assert.equal(tr.counters.poolUsedUdp, 4);
      assert.match(lab.ns(lab.c, ["ping", "-c", "1", "-W", "2", SERVER6]), /1 received/);
    },
  );

  await t.test("UDP sessions and BIB entries expire after the UDP timer, freeing the ports", async () => {
    const tr = await waitFor(
      "UDP sessions to expire",
      () => {
        const x = translations(lab, status)["Nat64Gateway/lab"]!;
        return x.counters.sessionsUdp === 0 ? x : undefined;
      },
      8000,
    );
    assert.equal(tr.counters.bibUdp, 0);
    assert.equal(tr.counters.poolUsedUdp, 0);
    assert.equal(udp(lab, 4, 3).answered, 4, "the freed ports serve new flows");
  });

  await t.test(
    "an unsolicited IPv4 SYN is held TCP_INCOMING_SYN, then refused with ICMP port unreachable",
    () => {
      const script =
        "import socket,time,sys\ns=socket.socket();s.settimeout(10)\nt=time.time()\ntry:\n s.connect(('203.0.113.128',2001));print('connected')\nexcept OSError as e:\n print(type(e).__name__, round(time.time()-t,1))\n";
      const out = lab.ns(lab.s, ["python3", "-c", script]).trim();
      const m = /^ConnectionRefusedError ([\d.]+)$/.exec(out);
      assert.ok(m, out);
      assert.ok(Number(m[1]) >= 1.5, `refused after the hold (${m[1]} s), not at once`);
    },
  );

  await lab.stop(svc);
  assert.equal(svc.exitCode, 0);
  assert.ok(!lab.ns(lab.t, ["ip", "-o", "link"]).includes(lab.tun));
  void readFileSync;
});

test("mode: stateless is SIIT with EAMT on the same TUN datapath", { timeout: 60_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = new Lab("c");
  t.after(() => lab.cleanup());
  lab.setup();
  lab.startPeer();
  await peerReady(lab);
  const f = join(lab.dir, "siit.yaml");
  writeFileSync(
    f,
    `apiVersion: v6mostly.dev/v1alpha1
kind: Nat64Gateway
metadata:
  name: lab
spec:
  mode: stateless
  prefix: ${PREFIX}
  eamt: [{ ipv6: "${CLIENT6}/128", ipv4: "203.0.113.140/32" }]
  uplinkInterface: u0
  tunName: ${lab.tun}
`,
  );
  const status = "127.0.0.1:9466";
  const run = lab.startRun(f, status);
  await waitFor("translations endpoint", () => translations(lab, status)["Nat64Gateway/lab"]);
  const ping = lab.ns(lab.c, ["ping", "-c", "2", "-i", "0.2", "-W", "2", SERVER6]);
  assert.match(ping, /2 received/);
  assert.match(ping, /ttl=63/);
  const http = lab.ns(lab.c, ["curl", "-s", "--max-time", "5", `http://[${SERVER6}]:8080/`]).trim();
  assert.equal(http, "ok 203.0.113.140", "the server sees the client's EAMT address");
  // the session table reaches /translations in a snapshot sent once a second: wait for one taken
  // after the traffic, so that a stateless run that kept sessions would show them
  await new Promise((r) => setTimeout(r, 2200));
  const tr = translations(lab, status)["Nat64Gateway/lab"]!;
  assert.ok(tr.counters.packets6to4! > 0, "the traffic went through the translator");
  assert.equal(tr.totalSessions, 0, "stateless: no sessions");
  await lab.stop(run);
  assert.equal(run.exitCode, 0);
  assert.equal(lab.ns(lab.t, ["ip", "neigh", "show", "proxy"]).trim(), "");

  // The same with a multi-queue device and two workers (spec.queues).
  writeFileSync(
    f,
    readFileSync(f, "utf8").replace("  uplinkInterface: u0\n", "  uplinkInterface: u0\n  queues: 2\n"),
  );
  const run2 = lab.startRun(f, status);
  await waitFor("translations endpoint (2 queues)", () => translations(lab, status)["Nat64Gateway/lab"]);
  assert.match(lab.ns(lab.t, ["ip", "-d", "link", "show", "dev", lab.tun]), /multi_queue/);
  for (let i = 0; i < 4; i++) {
    const h = lab.ns(lab.c, ["curl", "-s", "--max-time", "5", `http://[${SERVER6}]:8080/`]).trim();
    assert.equal(h, "ok 203.0.113.140");
  }
  await waitFor("counters summed over both workers", () => {
    const c = translations(lab, status)["Nat64Gateway/lab"]!.counters;
    return c.packets6to4! > 0 && c.packets4to6! > 0;
  });
  await lab.stop(run2);
  assert.equal(run2.exitCode, 0);
  assert.ok(!lab.ns(lab.t, ["ip", "-o", "link"]).includes(lab.tun));
});
