/**
 * `npm run bench:translate`: packets per second of the pure translation
 * functions on one core (no TUN, no syscalls), with ns/packet and GC counts:
 * stateless SIIT, then the stateful NAT64 on an established flow (BIB and
 * session lookups included) as the TUN worker calls it, and the same over up to 100k flows.
 * There is no peer in this bench: the TAYGA comparison needs the TUN datapath
 * (npm run bench:nat64) and is not measured here.
 */
import { PerformanceObserver } from "node:perf_hooks";
import { Nat64Translator } from "../src/datapath/nat64/translator.ts";
import { SiitTranslator, Verdict } from "../src/datapath/siit/index.ts";
import { addressOf, prefixOf } from "../src/util/net.ts";
import { bytes, ipv4Packet, ipv6Packet, offHeap } from "../test/datapath/siit/build.ts";

const tr = new SiitTranslator(
  {
    pool6: prefixOf("64:ff9b::/96"),
    eamt: [{ ipv6: prefixOf("2001:db8:3::/120"), ipv4: prefixOf("1.0.0.0/24") }],
    rfc6791Pool: { ipv4: [addressOf("203.0.113.8")], ipv6: [] },
    ownIpv4: addressOf("198.51.100.1"),
    ownIpv6: addressOf("2001:db8::1"),
  },
  { nextIpv4Id: () => 0 },
);

// 64-byte packets: IPv6 40 + UDP 8 + 16 payload; IPv4 20 + UDP 8 + 36 payload.
const udp64 = ipv6Packet("2001:db8:3::8", "64:ff9b::c633:6402", { proto: 17, payload: bytes(16) });
const udp46 = ipv4Packet("198.51.100.2", "1.0.0.8", { proto: 17, payload: bytes(36) });
// 1500-byte TCP both ways (IPv6 1500 → IPv4 1480; IPv4 1480 → IPv6 1500).
const tcp64 = ipv6Packet("2001:db8:3::8", "64:ff9b::c633:6402", { proto: 6, payload: bytes(1500 - 60) });
const tcp46 = ipv4Packet("198.51.100.2", "1.0.0.8", { proto: 6, payload: bytes(1480 - 40) });
// ICMP errors quoting a UDP packet: ICMPv4 port unreachable (4→6) and ICMPv6 1/4 (6→4).
const quoted4 = ipv4Packet("1.0.0.8", "198.51.100.2", { proto: 17, payload: bytes(100) });
const icmpErr46 = ipv4Packet("198.51.100.2", "1.0.0.8", {
  proto: 1,
  icmpType: 3,
  icmpCode: 3,
  icmpRest: 0,
  payload: quoted4,
});
const quoted6 = ipv6Packet("64:ff9b::c633:6402", "2001:db8:3::8", { proto: 17, payload: bytes(100) });
const icmpErr64 = ipv6Packet("2001:db8:3::8", "64:ff9b::c633:6402", {
  proto: 58,
  icmpType: 1,
  icmpCode: 4,
  icmpRest: 0,
  payload: quoted6,
});

// The NAT64 as the TUN worker runs it (hop limits kept for the kernel's two forwards), with one
// flow per protocol set up by the first 6→4 packet; the 4→6 packets are the server's replies.
const nat = new Nat64Translator({
  pool6: prefixOf("64:ff9b::/96"),
  pool4: [{ first: 0xc6336401, last: 0xc6336408, portMin: 1024, portMax: 65535 }], // 198.51.100.1-8
  timeouts: { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 },
  hopLimitMode: "tun",
  siit: { ownIpv4: addressOf("198.51.100.1"), ownIpv6: addressOf("64:ff9b::c633:6401") },
});
const NOW = 1000;
const natUdp64 = ipv6Packet("2001:db8:3::8", "64:ff9b::cb00:710a", { proto: 17, payload: bytes(16) });
const natTcp64 = ipv6Packet("2001:db8:3::8", "64:ff9b::cb00:710a", { proto: 6, payload: bytes(1500 - 60) });
/** The server's answer to the translation of `p` (a TCP or UDP packet from the IPv6 side). */
function reply(p: Uint8Array, payload: number): Uint8Array {
  const first = p.slice();
  if (first[6] === 6) first[40 + 13] = 0x02; // TCP: a SYN opens the mapping (RFC 6146 §3.5.2.2)
  if (nat.translate(first, first.length, NOW) !== Verdict.Translated)
    throw new Error("NAT64: flow not set up");
  const o = nat.outputs()[0]!;
  const a4 = (at: number) => `${o[at]}.${o[at + 1]}.${o[at + 2]}.${o[at + 3]}`;
  const port = (at: number) => (o[at]! << 8) | o[at + 1]!;
  return ipv4Packet(a4(16), a4(12), {
    proto: o[9]!,
    srcPort: port(22),
    dstPort: port(20),
    payload: bytes(payload),
  });
}
const natUdp46 = reply(natUdp64, 36);
const natTcp46 = reply(natTcp64, 1480 - 40);

/** What the bench loop calls: SiitTranslator.translate ignores `now`. */
interface Xlat {
  readonly inputBuffer: Uint8Array;
  translate(pkt: Uint8Array, len: number, now: number): number;
  readonly lastReason: number;
}
const siitX: Xlat = tr;
const natX: Xlat = {
  inputBuffer: nat.siit.inputBuffer,
  translate: (p, l, now) => nat.translate(p, l, now),
  get lastReason() {
    return nat.lastDrop;
  },
};

let gcCount = 0;
const obs = new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
});
obs.observe({ entryTypes: ["gc"] });

const g = (globalThis as { gc?: () => void }).gc;

function run(x: Xlat, name: string, built: Uint8Array, seconds: number, zeroCopy = false): Promise<void> {
  // Packets arrive in device-sized (off-heap) buffers, not in 64-byte on-heap arrays.
  // zeroCopy: the packet sits in x.inputBuffer (a TUN read would put it there).
  const pkt = zeroCopy ? x.inputBuffer : offHeap(built);
  if (zeroCopy) x.inputBuffer.set(built);
  const len = built.length;
  if (x.translate(pkt, len, NOW) !== Verdict.Translated)
    throw new Error(`${name}: not translated (reason ${x.lastReason})`);
  // Warm up (JIT).
  for (let i = 0; i < 200_000; i++) x.translate(pkt, len, NOW);
  g?.();
  return new Promise((resolve) => {
    // Let the GC observer flush entries from the warm-up / forced GC.
    setTimeout(() => {
      const gcBefore = gcCount;
      const heapBefore = process.memoryUsage().heapUsed;
      let n = 0;
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const deadline = t0 + BigInt(Math.round(seconds * 1e9));
      let now = t0;
      while (now < deadline) {
        for (let i = 0; i < 10_000; i++) x.translate(pkt, len, NOW);
        n += 10_000;
        now = process.hrtime.bigint();
      }
      const ns = Number(now - t0);
      const cpu = process.cpuUsage(cpu0);
      const cpuNs = (cpu.user + cpu.system) * 1000;
      const heapAfter = process.memoryUsage().heapUsed;
      setTimeout(() => {
        const gcs = gcCount - gcBefore;
        const pps = (n / ns) * 1e9;
        const cpuPps = (n / cpuNs) * 1e9;
        const heapDelta = heapAfter - heapBefore;
        console.log(
          `${name.padEnd(36)} ${(pps / 1e6).toFixed(2).padStart(5)} Mpps wall ${(ns / n).toFixed(0).padStart(5)} ns/pkt | ` +
            `${(cpuPps / 1e6).toFixed(2).padStart(5)} Mpps cpu ${(cpuNs / n).toFixed(0).padStart(5)} ns/pkt | ` +
            `${String(n).padStart(8)} pkts, GCs ${gcs}, heap delta ${(heapDelta / 1024).toFixed(1)} KiB (${(heapDelta / n).toFixed(3)} B/pkt)`,
        );
        resolve();
      }, 50);
    }, 50);
  });
}

/**
 * NAT64 UDP 6->4 over `flows` established flows (source address and port vary), visited in a
 * fixed pseudo-random order: the many-small-flows case, where every packet's BIB and session
 * lookups touch table memory another flow's packet left cold. CPU ns/packet, median of 5 rounds.
 */
function runFlows(flows: number): void {
  const n = new Nat64Translator({
    pool6: prefixOf("64:ff9b::/96"),
    pool4: [{ first: 0xc6336401, last: 0xc6336408, portMin: 1024, portMax: 65535 }],
    timeouts: { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 },
    hopLimitMode: "tun",
  });
  const inb = n.siit.inputBuffer;
  inb.set(natUdp64);
  const len = natUdp64.length;
  // flow i: source 2001:db8:3::xx (i >>> 2 in the last two bytes), source port 1024 + (i & 1023)
  const flow = (i: number) => {
    inb[22] = (i >>> 10) & 0xff;
    inb[23] = (i >>> 2) & 0xff;
    inb[40] = 4 + ((i >>> 8) & 3);
    inb[41] = i & 0xff;
    inb[7] = 64; // the hop limit the translator raised last time (hopLimitMode "tun")
  };
  for (let i = 0; i < flows; i++) {
    flow(i);
    if (n.translate(inb, len, NOW) !== Verdict.Translated) throw new Error(`flow ${i} not set up`);
  }
  const order = new Int32Array(1 << 20);
  let x = 12345;
  for (let k = 0; k < order.length; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    order[k] = x % flows;
  }
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    for (let k = 0; k < order.length; k++) {
      flow(order[k]!);
      n.translate(inb, len, NOW);
    }
    const c = process.cpuUsage(c0);
    rounds.push(((c.user + c.system) * 1000) / order.length);
  }
  const med = rounds.sort((p, q) => p - q)[2]!;
  console.log(
    `${`NAT64 UDP 6->4 (64 B), ${flows} flows`.padEnd(36)} ${(1000 / med).toFixed(2).padStart(5)} Mpps cpu ${med.toFixed(0).padStart(5)} ns/pkt | ${n.state.totalSessions()} sessions, ${(n.state.approxBytes() / 1024).toFixed(0)} KiB of tables`,
  );
}

const secs = Number(process.env.BENCH_SECONDS ?? 2);
console.log(
  `SIIT pure-function translation bench, one core, node ${process.version}, ${secs}s per case${g ? ", --expose-gc" : ""}`,
);
console.log("No peer in this bench: the TAYGA comparison needs the TUN datapath (npm run bench:nat64).");
console.log(
  `Load average at start: ${(await import("node:os"))
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(
      " ",
    )} on ${(await import("node:os")).cpus().length} CPUs (wall figures suffer from other load; cpu figures count this process only)`,
);
await run(siitX, `UDP 6->4 (${udp64.length} B)`, udp64, secs);
await run(siitX, `UDP 4->6 (${udp46.length} B)`, udp46, secs);
await run(siitX, `TCP 6->4 (${tcp64.length} B)`, tcp64, secs);
await run(siitX, `TCP 4->6 (${tcp46.length} B)`, tcp46, secs);
await run(siitX, `ICMPv4 error 4->6 (${icmpErr46.length} B)`, icmpErr46, secs);
await run(siitX, `ICMPv6 error 6->4 (${icmpErr64.length} B)`, icmpErr64, secs);
await run(siitX, `UDP 6->4 (${udp64.length} B), zero-copy`, udp64, secs, true);
await run(siitX, `UDP 4->6 (${udp46.length} B), zero-copy`, udp46, secs, true);
await run(natX, `NAT64 UDP 6->4 (${natUdp64.length} B), zero-copy`, natUdp64, secs, true);
await run(natX, `NAT64 UDP 4->6 (${natUdp46.length} B), zero-copy`, natUdp46, secs, true);
await run(natX, `NAT64 TCP 6->4 (${natTcp64.length} B), zero-copy`, natTcp64, secs, true);
await run(natX, `NAT64 TCP 4->6 (${natTcp46.length} B), zero-copy`, natTcp46, secs, true);
for (const flows of [1, 1000, 10_000, 100_000]) runFlows(flows);
obs.disconnect();
console.log(
  'Allocation: "GCs 0" and a heap delta well under 1 B/pkt (any allocation is >= 16 B) mean no per-packet allocation; ' +
    "the residual delta is the bench loop itself.",
);
console.log(
  "zero-copy = the packet is read straight into the translator's inputBuffer (the TUN read path); the other rows include one copy of the input.",
);
