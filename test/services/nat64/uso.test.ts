/**
 * UDP super-packets (TUN_F_USO4/USO6, src/datapath/tun/offload.ts) through `v6mostly run -f` in
 * namespaces (lab.ts), with real senders: the kernel's GRO coalesces each direction's forwarded
 * datagrams on the translator's ingress veth (`rx-udp-gro-forwarding on`, and threaded NAPI so
 * that a veth collects a batch at all, see docs/nat64.md), the translator takes them whole and
 * writes them back as GSO_UDP_L4. The egress veths complete checksums in software (`tx off`), so
 * the receivers' kernels verify every datagram's checksum (InCsumErrors).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { CLIENT6, canRun, Lab, REPO, SERVER4, SERVER6, sh, type Translations, waitFor } from "./lab.ts";

function skipReason(): string | null {
  const why = canRun();
  if (why) return why;
  try {
    sh(["sh", "-c", "command -v ethtool"]);
  } catch {
    return "ethtool missing (GRO forwarding is set with it)";
  }
  return null;
}

/** A namespace's UDP counters (/proc/net/snmp or snmp6): received (queued or dropped at the socket) and bad checksums. */
function udpCounters(lab: Lab, ns: string, v6: boolean): { received: number; csumErrors: number } {
  const text = lab.ns(ns, ["cat", v6 ? "/proc/net/snmp6" : "/proc/net/snmp"]);
  const get = (name: string): number => {
    if (v6) return Number(new RegExp(`^Udp6${name}\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
    const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
    const names = lines[0]!.split(/\s+/);
    return Number(lines[1]!.split(/\s+/)[names.indexOf(name)] ?? 0);
  };
  return { received: get("InDatagrams") + get("RcvbufErrors"), csumErrors: get("InCsumErrors") };
}

/**
 * The datagrams a veth dropped on the way in because its peer's NAPI ring was full (its TX
 * dropped): on a busy machine the ring's thread may not run in time. Not the translator's doing:
 * they never reach its namespace.
 */
function vethDropped(lab: Lab, ns: string, dev: string): number {
  const j = JSON.parse(lab.ns(ns, ["ip", "-s", "-j", "link", "show", dev])) as {
    stats64: { tx: { dropped: number } };
  }[];
  return j[0]!.stats64.tx.dropped;
}

/** Polls f until it reaches `want` or stops growing for 2 s; its last value. */
async function settle(f: () => number, want: number): Promise<number> {
  let last = f();
  let since = Date.now();
  while (last < want && Date.now() - since < 2000) {
    await new Promise((r) => setTimeout(r, 150));
    const v = f();
    if (v !== last) since = Date.now();
    last = v;
  }
  return last;
}

// The receivers read everything: the kernel counts a datagram in InDatagrams when it is read, and
// one that finds the socket's buffer full in RcvbufErrors; one left queued is in neither.
const SERVER = `import socket,threading,time,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1<<24)
s.bind((sys.argv[1],9))
def drain():
    while True: s.recv(2048)
threading.Thread(target=drain,daemon=True).start()
b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
b.bind((sys.argv[1],9001))
print("ready",flush=True)
data,peer=b.recvfrom(100)
p=bytes(64)
for i in range(int(data)):
    b.sendto(p,peer)
    if i%32==31: time.sleep(0.001)
print("burst sent",flush=True)
time.sleep(1e9)
`;

const CLIENT = `import socket,sys
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1<<24)
s.bind(("${CLIENT6}",7000))
s.sendto(sys.argv[2].encode(),(sys.argv[1],9001))
while True: s.recv(2048)
`;

test("UDP super-packets (USO) through the NAT64: every datagram arrives, checksums verify", {
  timeout: 180_000,
}, async (t) => {
  const skip = skipReason();
  if (skip) {
    t.skip(skip);
    return;
  }
  const lab = new Lab("u");
  t.after(() => lab.cleanup());
  lab.setup();
  for (const dev of ["t0", "u0"]) {
    lab.ns(lab.t, ["ethtool", "-K", dev, "gro", "on", "rx-udp-gro-forwarding", "on", "rx-gro-list", "off"]);
    lab.ns(lab.t, ["sh", "-c", `echo 1 > /sys/class/net/${dev}/threaded`]);
    lab.ns(lab.t, ["ethtool", "-K", dev, "tx", "off"]);
  }
  const server = lab.spawnIn(lab.s, ["python3", "-c", SERVER, SERVER4], "server.log");
  await waitFor("discard server", () =>
    (server as unknown as { output: () => string }).output().includes("ready"),
  );
  const status = "127.0.0.1:9481";
  const run = lab.startRun(lab.writeResource(), status);
  const counters = () => lab.translations(status)["Nat64Gateway/lab"];
  /** Where a lost datagram went: the devices' drop counters and the namespaces' IP counters. */
  const whereLost = () =>
    [lab.t, lab.s, lab.c]
      .map((n) =>
        lab.ns(n, [
          "sh",
          "-c",
          "ip -s -s link 2>/dev/null; nstat -az | grep -iE 'drop|discard|err|Forw' | grep -v ' 0 '; true",
        ]),
      )
      .join("\n");
  await waitFor("translations endpoint", counters);
  const log = (run as unknown as { output: () => string }).output();
  if (/"udpOffload":false/.test(log)) {
    t.skip("this kernel refuses TUN_F_USO4/USO6 (before Linux 6.2): TCP super-packets only");
    return;
  }
  assert.match(log, /"udpOffload":true/);

  await t.test("IPv6 → IPv4: a sendmmsg sender's 64-byte datagrams, coalesced, all delivered", async () => {
    const s0 = udpCounters(lab, lab.s, false);
    const d0 = vethDropped(lab, lab.c, "c0");
    const out = lab.ns(lab.c, [
      process.execPath,
      "--import",
      "tsx",
      join(REPO, "bench/nat64-flood.ts"),
      SERVER6,
      "50000",
      "1",
      "64",
    ]);
    const sent = (JSON.parse(out) as { sent: number }).sent - (vethDropped(lab, lab.c, "c0") - d0);
    assert.ok(sent > 10_000, `sent ${sent}`);
    const got = await settle(() => udpCounters(lab, lab.s, false).received - s0.received, sent);
    const s1 = udpCounters(lab, lab.s, false);
    if (got !== sent) t.diagnostic(`${JSON.stringify(counters()!.counters)}\n${whereLost()}`);
    assert.equal(got, sent, "no datagram lost, none duplicated");
    assert.equal(s1.csumErrors, s0.csumErrors, "no bad checksum at the server");
    const c = await waitFor("super-packets counted", () => {
      const x = counters()!;
      return (x.counters.packets6to4 ?? 0) >= sent ? x : undefined;
    });
    t.diagnostic(
      `6→4: ${sent} datagrams, ${c.counters.gsoPackets} super-packets (${c.counters.gsoKeptWhole} kept whole), ${c.counters.packetsRead} reads`,
    );
    assert.ok(c.counters.gsoKeptWhole! > 0, "super-packets kept whole");
    assert.equal(c.counters.offloadDrops, 0);
    assert.ok(c.counters.packetsRead! < sent, "fewer reads than datagrams");
  });

  await t.test("IPv4 → IPv6: a burst from the server back to the client, all delivered", async () => {
    const burst = 20_000;
    const before = counters()!;
    const c0 = udpCounters(lab, lab.c, true);
    const d0 = vethDropped(lab, lab.s, "s0");
    lab.spawnIn(lab.c, ["python3", "-c", CLIENT, SERVER6, String(burst)], "client.log");
    const got = await settle(() => udpCounters(lab, lab.c, true).received - c0.received, burst);
    const n = burst - (vethDropped(lab, lab.s, "s0") - d0);
    const c1 = udpCounters(lab, lab.c, true);
    if (got !== n) t.diagnostic(`${JSON.stringify(counters()!.counters)}\n${whereLost()}`);
    assert.equal(got, n, "no datagram lost, none duplicated");
    assert.equal(c1.csumErrors, c0.csumErrors, "no bad checksum at the client");
    const after: Translations = await waitFor("counters", () => {
      const x = counters()!;
      return (x.counters.packets4to6 ?? 0) - (before.counters.packets4to6 ?? 0) >= n ? x : undefined;
    });
    t.diagnostic(
      `4→6: ${n} of ${burst} datagrams into the translator's namespace, ${after.counters.gsoKeptWhole! - before.counters.gsoKeptWhole!} super-packets kept whole`,
    );
    assert.equal(after.counters.offloadDrops, 0);
  });
  await lab.stop(run);
});
