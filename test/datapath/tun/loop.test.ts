/**
 * The packet loop (tun/loop.ts) without a device: packets in through a fake
 * read, translated packets out through a fake write, a fake clock and poll,
 * and the real shared counters, stop flag and handoff rings. Expected bytes
 * come from the test packet builders (test/datapath/siit/build.ts, packets.ts
 * here), never from the code under test. The namespace tests
 * (test/services/nat64/) run the same loop on a real TUN device.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Nat64Config } from "../../../src/datapath/nat64/translator.ts";
import type { SiitConfig } from "../../../src/datapath/siit/config.ts";
import { Rfc6052Prefix } from "../../../src/datapath/siit/index.ts";
import {
  CONTROL_WORDS,
  type SessionRow,
  type WorkerInput,
  type WorkerMessage,
} from "../../../src/datapath/tun/contract.ts";
import { Ring } from "../../../src/datapath/tun/handoff.ts";
import {
  type LoopIo,
  ORIGINATE_NO_ROUTE,
  ORIGINATE_SENT,
  PacketLoop,
  READ_AGAIN,
  READ_FAILED,
  READ_INTERRUPTED,
} from "../../../src/datapath/tun/loop.ts";
import {
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  writeVnetHdr,
} from "../../../src/datapath/tun/offload.ts";
import { sessionRows } from "../../../src/datapath/tun/snapshot.ts";
import { counters, STATS_LEN } from "../../../src/datapath/tun/stats.ts";
import { toBytes } from "../../../src/util/net.ts";
import { nat64Config } from "../nat64/packets.ts";
import { addr6, bytes, ipv4Packet, ipv6Packet } from "../siit/build.ts";
import {
  fill,
  fragNeeded,
  hex,
  ipPacket,
  ipv4HeaderOk,
  l4Ok,
  partialOf,
  r32,
  SIIT_CFG,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  tcpBytes,
  udpBytes,
  v4,
  w16,
  wkp,
} from "./packets.ts";

type Script = (Uint8Array | number | (() => Uint8Array))[];

/** Buffer k's address is (k + 1) * 2^32: an address tells the buffer and the offset in it. */
const SPAN = 2 ** 32;

/**
 * The loop's I/O as a script: each read takes the next packet (or READ_*
 * answer, or a function making the packet when it is read); each write is
 * kept; poll() moves the clock by its timeout; once the script is done, the
 * k-th empty read raises the stop flag.
 */
class FakeIo implements LoopIo {
  clock = 1_000_000;
  private readonly reads: Script;
  readonly writes: Uint8Array[] = [];
  readonly messages: WorkerMessage[] = [];
  readonly wakes: number[] = [];
  /** The packets handed to the host's stack (LoopIo.originate), and what the host answers. */
  readonly originated: Uint8Array[] = [];
  originateAnswer = ORIGINATE_SENT;
  polls = 0;
  private readonly mem: Uint8Array[] = [];
  private idle = 0;

  constructor(
    private readonly control: SharedArrayBuffer,
    reads: Script,
    /** Empty reads after the script before the stop flag is raised. */
    private readonly idleReads = 1,
    /** Throws on posting a log message (to make the translator catch an exception). */
    private readonly failLogs = false,
  ) {
    this.reads = [...reads];
  }

  addressOf(b: Uint8Array): number {
    this.mem.push(b);
    return this.mem.length * SPAN;
  }
  private at(addr: number, n: number): Uint8Array {
    const b = this.mem[Math.floor(addr / SPAN) - 1]!;
    const o = addr % SPAN;
    assert.ok(o + n <= b.length, "within the buffer");
    return b.subarray(o, o + n);
  }
  readAt(addr: number, n: number): number {
    const next = this.reads.shift();
    if (next === undefined) {
      if (++this.idle >= this.idleReads) Atomics.store(new Int32Array(this.control), 0, 1);
      return READ_AGAIN;
    }
    if (typeof next === "number") return next;
    const p = typeof next === "function" ? next() : next;
    assert.ok(p.length <= n);
    this.at(addr, p.length).set(p);
    return p.length;
  }
  writeAt(addr: number, n: number): number {
    this.writes.push(this.at(addr, n).slice());
    return n;
  }
  originate(b: Uint8Array, off: number, len: number): number {
    this.originated.push(b.slice(off, off + len));
    return this.originateAnswer;
  }
  poll(ms: number): void {
    this.polls++;
    this.clock += ms;
  }
  wake(i: number): void {
    this.wakes.push(i);
  }
  now(): number {
    return this.clock;
  }
  post(m: WorkerMessage): void {
    if (this.failLogs && m.type === "log") throw new Error("planted");
    this.messages.push(m);
  }
}

function workerInput(over: Partial<WorkerInput> = {}): WorkerInput {
  return {
    fd: -1,
    worker: 0,
    mode: "stateless",
    siit: SIIT_CFG,
    stats: new SharedArrayBuffer(STATS_LEN * 8),
    control: new SharedArrayBuffer(4 * CONTROL_WORDS),
    snapshotLimit: 100,
    logEvents: false,
    loop: "poll",
    wake: addr6("64:ff9b::1"),
    offload: false,
    ...over,
  };
}

/** Runs a loop over `reads` until the script is done; returns its I/O and counters. */
function run(
  input: WorkerInput,
  reads: Script,
  opts: { idleReads?: number; failLogs?: boolean; originateAnswer?: number } = {},
) {
  const io = new FakeIo(input.control, reads, opts.idleReads, opts.failLogs);
  if (opts.originateAnswer !== undefined) io.originateAnswer = opts.originateAnswer;
  new PacketLoop(input, io).run();
  return { io, c: counters(new Float64Array(input.stats)) };
}

/** A virtio_net_hdr followed by the packet. */
function vnet(
  p: Uint8Array,
  h: { flags?: number; type?: number; hdrLen?: number; gso?: number; start?: number; offset?: number } = {},
): Uint8Array {
  const b = new Uint8Array(VNET_HDR_LEN + p.length);
  writeVnetHdr(
    b,
    0,
    h.flags ?? 0,
    h.type ?? VNET_GSO_NONE,
    h.hdrLen ?? 0,
    h.gso ?? 0,
    h.start ?? 0,
    h.offset ?? 0,
  );
  b.set(p, VNET_HDR_LEN);
  return b;
}

/** The hop limit / TTL a packet read from the device leaves with: the host nets one decrement. */
const READ_HOP = 63;
const SENT_HOP = 64;

describe("packet loop: reading, translating, writing", () => {
  it("stateless SIIT: IPv6 → IPv4 and IPv4 → IPv6, byte for byte, counted", () => {
    const udp = { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(16) };
    const in6 = ipv6Packet("64:ff9b::c000:202", "64:ff9b::c633:6402", udp, READ_HOP);
    const in4 = ipv4Packet("198.51.100.2", "192.0.2.2", { ...udp, srcPort: 53, dstPort: 5000 }, READ_HOP);
    const { io, c } = run(workerInput(), [in6, in4]);
    // RFC 7915 §5.1: DF clear below 1260 bytes, so an Identification (the translator's first, 1).
    const out4 = ipv4Packet("192.0.2.2", "198.51.100.2", udp, SENT_HOP, false, 0, 1);
    const out6 = ipv6Packet(
      "64:ff9b::c633:6402",
      "64:ff9b::c000:202",
      { ...udp, srcPort: 53, dstPort: 5000 },
      SENT_HOP,
    );
    assert.deepEqual(io.writes.map(hex), [hex(out4), hex(out6)]);
    assert.equal(c.packetsRead, 2);
    assert.equal(c.packets6to4, 1);
    assert.equal(c.packets4to6, 1);
    assert.equal(c.bytes6to4, in6.length);
    assert.equal(c.writeErrors, 0);
    assert.deepEqual(
      io.messages.map((m) => m.type),
      ["ready", "stopped"],
    );
  });

  it("stateful NAT64: a UDP flow out and its answer back; snapshots list the session; counters published", () => {
    const host = "2001:db8:1::10";
    const server6 = "2001:db8:64::cb00:710a";
    const out = ipv6Packet(
      host,
      server6,
      { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(16) },
      READ_HOP,
    );
    const input = workerInput({ mode: "stateful", siit: undefined, nat64: nat64Config() });
    const udp = (s: number, d: number) => ({ proto: 17, srcPort: s, dstPort: d, payload: bytes(16) });
    /** The server's answer, once the first packet showed which pool4 address and port the flow got. */
    const answer = (): Uint8Array => {
      const o = io.writes[0]!;
      const pool4 = `${o[12]}.${o[13]}.${o[14]}.${o[15]}`;
      const port4 = (o[20]! << 8) | o[21]!;
      assert.equal(hex(o), hex(ipv4Packet(pool4, "203.0.113.10", udp(port4, 53), SENT_HOP, false, 0, 1)));
      return ipv4Packet("203.0.113.10", pool4, udp(53, port4), READ_HOP);
    };
    const io = new FakeIo(input.control, [out, answer], 8);
    new PacketLoop(input, io).run();
    assert.equal(io.writes.length, 2);
    assert.equal(hex(io.writes[1]!), hex(ipv6Packet(server6, host, udp(53, 5000), SENT_HOP)));
    const snaps = io.messages.filter(
      (m): m is Extract<WorkerMessage, { type: "snapshot" }> => m.type === "snapshot",
    );
    assert.ok(snaps.length >= 1, "a snapshot within the first second");
    const last = snaps[snaps.length - 1]!;
    assert.equal(last.total, 1);
    const p6 = input.nat64!.pool6;
    const row: SessionRow = sessionRows(
      last.records,
      new Rfc6052Prefix(toBytes(6, p6.network), p6.length),
    )[0]!;
    const o = io.writes[0]!;
    assert.deepEqual(
      { ...row, expiresIn: 0 },
      {
        proto: "udp",
        ipv6: host,
        port6: 5000,
        ipv4: `${o[12]}.${o[13]}.${o[14]}.${o[15]}`,
        port4: (o[20]! << 8) | o[21]!,
        remote4: "203.0.113.10",
        remotePort: 53,
        remote6: server6,
        state: "",
        expiresIn: 0,
        static: false,
      },
    );
    assert.ok(row.expiresIn > 290 && row.expiresIn <= 300, `UDP timer 300 s, ${row.expiresIn} left`);
    const c = counters(new Float64Array(input.stats));
    assert.equal(c.sessionsUdp, 1);
    assert.equal(c.bibUdp, 1);
    assert.equal(c.packets6to4, 1);
    assert.equal(c.packets4to6, 1);
    assert.equal(c.internalErrors, 0);
  });

  it("an exception the NAT64 catches on the packet path is published as internalErrors", () => {
    const p = ipv6Packet(
      "2001:db8:1::10",
      "2001:db8:64::cb00:710a",
      { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(16) },
      READ_HOP,
    );
    const input = workerInput({ mode: "stateful", siit: undefined, nat64: nat64Config(), logEvents: true });
    // The session event's log message throws inside the translator (a stand-in for a bug there).
    const { io, c } = run(input, [p], { failLogs: true });
    assert.equal(io.writes.length, 0);
    assert.equal(c.internalErrors, 1);
    assert.equal(counters(new Float64Array(input.stats)).internalErrors, 1);
  });

  it("session events are logged, 100 a second at most, and again the next second", () => {
    const flows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) =>
        ipv6Packet(
          "2001:db8:1::10",
          "2001:db8:64::cb00:710a",
          { proto: 17, srcPort: from + i, dstPort: 53, payload: bytes(4) },
          READ_HOP,
        ),
      );
    const input = workerInput({ mode: "stateful", siit: undefined, nat64: nat64Config(), logEvents: true });
    // 80 new flows, a second and more without packets (6 polls of 200 ms), 10 more flows.
    const idle = Array<number>(6).fill(READ_AGAIN);
    const { io } = run(input, [...flows(10000, 80), ...idle, ...flows(20000, 10)]);
    const logs = io.messages.filter((m) => m.type === "log");
    // Each new flow: bib-add and session-add. 160 events in the first second, 20 in the next.
    assert.equal(logs.length, 100 + 20);
    assert.ok(logs.every((m) => m.type === "log" && m.ipv6.startsWith("[2001:db8:1::10]:")));
  });

  it("a failed read is counted, an interrupted one is not; the loop keeps reading", () => {
    const p = ipv6Packet(
      "64:ff9b::c000:202",
      "64:ff9b::c633:6402",
      { proto: 17, payload: bytes(8) },
      READ_HOP,
    );
    const { io, c } = run(workerInput(), [READ_FAILED, READ_INTERRUPTED, p, READ_FAILED]);
    assert.equal(c.readErrors, 2);
    assert.equal(io.writes.length, 1);
    assert.equal(io.polls, 3, "a sleep after each failed read and once idle");
  });

  it("stops when the control word is raised, with the counters published and a stopped message", () => {
    const input = workerInput({ mode: "stateful", siit: undefined, nat64: nat64Config() });
    const { io, c } = run(input, [], { idleReads: 3 });
    assert.equal(io.polls, 3);
    assert.ok(c.workerHeapBytes > 0);
    assert.ok(c.poolCapacity > 0);
    assert.deepEqual(io.messages.at(-1), { type: "stopped" });
    assert.equal(io.messages.filter((m) => m.type === "stopped").length, 1);
  });

  it("the heartbeat carries the probe's outcome; the probe writes nothing and moves no counter", () => {
    for (const mode of ["stateless", "stateful"] as const) {
      const input = workerInput(mode === "stateful" ? { mode, siit: undefined, nat64: nat64Config() } : {});
      // 16 idle polls of 200 ms: three seconds, three heartbeats
      const { io, c } = run(input, [], { idleReads: 16 });
      const beats = io.messages.filter((m) => m.type === "snapshot");
      assert.ok(beats.length >= 3, `${mode}: ${beats.length} heartbeats`);
      for (const b of beats) assert.equal(b.probe, null, `${mode}: the probe passed`);
      assert.equal(io.writes.length, 0, `${mode}: nothing written into the device`);
      const moved = Object.entries(c).filter(
        ([k, v]) => v !== 0 && !/^(workerHeap|poolCapacity|loopLongestPause|tableBytes)/.test(k),
      );
      assert.deepEqual(moved, [], `${mode}: no counter moved`);
    }
  });

  it("the test hook breaks the probe of the workers it names, and only theirs", () => {
    for (const worker of [0, 1]) {
      const input = workerInput({ worker });
      Atomics.store(new Int32Array(input.control), 1, 1 << 1);
      const { io } = run(input, [], { idleReads: 8 });
      const beat = io.messages.find((m) => m.type === "snapshot")!;
      if (worker === 1) assert.match(beat.probe ?? "", /^4→6 \(general path\): not the datagram/);
      else assert.equal(beat.probe, null);
    }
  });

  it("blocking loop: the wake datagram runs the timers and is not translated", () => {
    const input = workerInput({ loop: "blocking" });
    const wakeUp = ipv6Packet("2001:db8::1", "64:ff9b::1", { proto: 17, payload: bytes(1) }, READ_HOP);
    const { io, c } = run(input, [wakeUp]);
    assert.equal(io.writes.length, 0);
    assert.equal(c.packetsRead, 0);
    assert.equal(io.polls, 0, "a blocking loop never polls");
  });
});

describe("packet loop: ICMP errors the host sources (SiitConfig.hostErrorSource)", () => {
  const hostSourced: SiitConfig = { ...SIIT_CFG, ownIpv4: null, ownIpv6: null, hostErrorSource: true };
  // IPv4 with DF, 1490 bytes: 1510 as IPv6, over the 1500-byte IPv6 link (RFC 7915 §4: FN back).
  const udp = { proto: 17, srcPort: 5000, dstPort: 53, payload: bytes(1462) };
  const big = () => ipv4Packet("198.51.100.2", "192.0.2.2", udp, READ_HOP);
  // What the translator quotes: the packet as the sender sent it (the loop undid the kernel's decrement).
  const quoted = ipv4Packet("198.51.100.2", "192.0.2.2", udp, SENT_HOP);
  // RFC 7915 §4: MTU = IPv6 link MTU - 20; the source left to the host.
  const fn = fragNeeded("0.0.0.0", "198.51.100.2", 1480, quoted);

  it("an error with the unspecified source goes to the host's stack, not into the device", () => {
    const { io, c } = run(workerInput({ siit: hostSourced }), [big()]);
    assert.deepEqual(io.originated.map(hex), [hex(fn)]);
    assert.equal(io.writes.length, 0);
    assert.equal(c.icmpErrorsSent, 1);
    assert.equal(c.icmpErrorsNoRoute, 0);
  });

  it("no route back is counted, and so is a send that failed otherwise", () => {
    const noRoute = run(workerInput({ siit: hostSourced }), [big(), big()], {
      originateAnswer: ORIGINATE_NO_ROUTE,
    });
    assert.equal(noRoute.c.icmpErrorsNoRoute, 2);
    assert.equal(noRoute.c.icmpErrorsSendFailed, 0);
    const failed = run(workerInput({ siit: hostSourced }), [big()], { originateAnswer: -2 });
    assert.equal(failed.c.icmpErrorsSendFailed, 1);
  });

  it("an error with an own source still goes into the device", () => {
    const { io } = run(workerInput(), [big()]);
    assert.equal(io.originated.length, 0);
    assert.equal(io.writes.length, 1);
    assert.deepEqual([...io.writes[0]!.subarray(12, 20)], [192, 0, 2, 1, 198, 51, 100, 2]);
  });

  it("stateful: a source outside allowedSources gets ICMPv6 1/1 sourced by the host", () => {
    const nat64 = nat64Config({ siit: { hostErrorSource: true } });
    const stranger = ipv6Packet("2001:db8:9::5", "2001:db8:64::cb00:710a", udp, READ_HOP);
    const { io } = run(workerInput({ mode: "stateful", nat64, siit: undefined }), [stranger]);
    // RFC 6146 §3.5 / RFC 4443 §3.1 code 1 (administratively prohibited), quoting the packet as read.
    const err = ipv6Packet("::", "2001:db8:9::5", {
      proto: 58,
      icmpType: 1,
      icmpCode: 1,
      icmpRest: 0,
      payload: stranger.subarray(0, 1280 - 48),
    });
    assert.deepEqual(io.originated.map(hex), [hex(err)]);
    assert.equal(io.writes.length, 0);
  });
});

describe("packet loop: segmentation offload (virtio_net_hdr)", () => {
  const src6 = wkp(v4(192, 0, 2, 2));
  const dst6 = wkp(v4(198, 51, 100, 2));
  const src4 = v4(192, 0, 2, 2);
  const dst4 = v4(198, 51, 100, 2);
  const MSS = 1400;
  const SEQ = 0x10000000;
  const tcp = (seq: number, flags: number, payload: Uint8Array) =>
    tcpBytes({ sport: 40000, dport: 443, seq, flags, payload });
  /** An IPv6 TCP super-packet with a partial checksum, as the kernel hands it over. */
  const superPacket = (payload: Uint8Array, opt = 0) =>
    vnet(
      partialOf(
        ipPacket({ v: 6, src: src6, dst: dst6, ttl: READ_HOP, opt }, 6, tcp(SEQ, TCP_ACK | TCP_PSH, payload)),
      ),
      {
        flags: VNET_F_NEEDS_CSUM,
        type: VNET_GSO_TCPV6,
        hdrLen: 40 + opt + 20,
        gso: MSS,
        start: 40 + opt,
        offset: 16,
      },
    );
  const offloaded = () => workerInput({ offload: true });

  /** The IPv4 image of (a part of) the super-packet, its checksum left partial. */
  const image = (df: boolean, id: number, seq: number, flags: number, payload: Uint8Array) =>
    partialOf(ipPacket({ v: 4, src: src4, dst: dst4, ttl: SENT_HOP, df, id }, 6, tcp(seq, flags, payload)));
  /** The virtio_net_hdr of an IPv4 super-packet with segments of MSS and a partial checksum. */
  const gso4 = {
    flags: VNET_F_NEEDS_CSUM,
    type: VNET_GSO_TCPV4,
    hdrLen: 40,
    gso: MSS,
    start: 20,
    offset: 16,
  };

  it("a TCP super-packet goes out whole: one read, one write, its IPv4 image and header", () => {
    const payload = fill(3 * MSS, 7);
    const { io, c } = run(offloaded(), [superPacket(payload)]);
    // Segments of 20 + 20 + 1400 bytes: DF (RFC 7915 §5.1), no Identification.
    const out = image(true, 0, SEQ, TCP_ACK | TCP_PSH, payload);
    assert.deepEqual(io.writes.map(hex), [hex(vnet(out, gso4))]);
    assert.equal(c.gsoPackets, 1);
    assert.equal(c.gsoKeptWhole, 1);
    assert.equal(c.gsoSoftwareSegmented, 0);
    // The packet counters count what goes on the wire: the super-packet's three segments.
    assert.equal(c.packets6to4, 3);
  });

  it("the short last segment is split off and sent on its own, without DF (RFC 7915 §5.1)", () => {
    const payload = fill(2 * MSS + 100, 9);
    const { io, c } = run(offloaded(), [superPacket(payload)]);
    const head = image(true, 0, SEQ, TCP_ACK, payload.subarray(0, 2 * MSS));
    // 140 bytes: DF clear, so the translator's first Identification; PSH stays with the last bytes.
    const tail = image(false, 1, SEQ + 2 * MSS, TCP_ACK | TCP_PSH, payload.subarray(2 * MSS));
    assert.deepEqual(io.writes.map(hex), [
      hex(vnet(head, gso4)),
      hex(vnet(tail, { flags: VNET_F_NEEDS_CSUM, start: 20, offset: 16 })),
    ]);
    assert.equal(c.gsoTailsSplit, 1);
    assert.equal(c.gsoKeptWhole, 1);
  });

  it("a super-packet the fast path cannot keep whole is cut into complete segments in software", () => {
    // A Destination Options header: not the fast path's, so not kept whole.
    const payload = fill(2 * MSS + 10, 3);
    const { io, c } = run(offloaded(), [superPacket(payload, 8)]);
    assert.equal(c.gsoSoftwareSegmented, 1);
    assert.equal(c.gsoKeptWhole, 0);
    assert.equal(io.writes.length, 3);
    io.writes.forEach((w, i) => {
      assert.equal(hex(w.subarray(0, VNET_HDR_LEN)), hex(new Uint8Array(VNET_HDR_LEN)), "a plain packet");
      const p = w.subarray(VNET_HDR_LEN);
      assert.ok(ipv4HeaderOk(p) && l4Ok(p), `segment ${i}: checksums complete`);
      assert.equal(r32(p, 24), SEQ + i * MSS, `segment ${i}: sequence number`);
      assert.equal(p[33]! & (TCP_PSH | TCP_FIN), i === 2 ? TCP_PSH : 0, "PSH on the last segment only");
      assert.equal(hex(p.subarray(40)), hex(payload.subarray(i * MSS, (i + 1) * MSS)));
    });
  });
});

describe("packet loop: UDP segmentation offload (USO, VIRTIO_NET_HDR_GSO_UDP_L4)", () => {
  const src6 = wkp(v4(192, 0, 2, 2));
  const dst6 = wkp(v4(198, 51, 100, 2));
  const src4 = v4(192, 0, 2, 2);
  const dst4 = v4(198, 51, 100, 2);
  const GSO = 64;
  const udp = (payload: Uint8Array) => udpBytes(40000, 9, payload);
  /** A UDP super-packet with a partial checksum as the kernel's GRO hands it over (udp_gro_complete). */
  const superPacket = (v: 4 | 6, payload: Uint8Array, over: { opt?: number; zeroCsum?: boolean } = {}) => {
    const p =
      v === 6
        ? partialOf(ipPacket({ v: 6, src: src6, dst: dst6, ttl: READ_HOP, opt: over.opt }, 17, udp(payload)))
        : partialOf(ipPacket({ v: 4, src: dst4, dst: src4, ttl: READ_HOP, id: 7 }, 17, udp(payload)));
    const l4 = v === 6 ? 40 + (over.opt ?? 0) : 20;
    if (over.zeroCsum) w16(p, l4 + 6, 0);
    return vnet(p, {
      flags: VNET_F_NEEDS_CSUM,
      type: VNET_GSO_UDP_L4,
      hdrLen: l4 + 8,
      gso: GSO,
      start: l4,
      offset: 6,
    });
  };
  const offloaded = () => workerInput({ offload: true });

  it("an IPv6 UDP super-packet goes out whole as IPv4: one write, GSO_UDP_L4, segments counted", () => {
    const payload = fill(10 * GSO, 5);
    const { io, c } = run(offloaded(), [superPacket(6, payload)]);
    // Segments of 20 + 8 + 64 bytes: no DF (RFC 7915 §5.1), the translator's first Identification.
    const out = partialOf(ipPacket({ v: 4, src: src4, dst: dst4, ttl: SENT_HOP, id: 1 }, 17, udp(payload)));
    const hdr = {
      flags: VNET_F_NEEDS_CSUM,
      type: VNET_GSO_UDP_L4,
      hdrLen: 28,
      gso: GSO,
      start: 20,
      offset: 6,
    };
    assert.deepEqual(io.writes.map(hex), [hex(vnet(out, hdr))]);
    assert.equal(c.gsoPackets, 1);
    assert.equal(c.gsoKeptWhole, 1);
    assert.equal(c.gsoSoftwareSegmented, 0);
    assert.equal(c.packets6to4, 10);
  });

  it("an IPv4 UDP super-packet goes out whole as IPv6, its short last datagram included", () => {
    const payload = fill(5 * GSO + 9, 6);
    const { io, c } = run(offloaded(), [superPacket(4, payload)]);
    const out = partialOf(ipPacket({ v: 6, src: dst6, dst: src6, ttl: SENT_HOP }, 17, udp(payload)));
    const hdr = {
      flags: VNET_F_NEEDS_CSUM,
      type: VNET_GSO_UDP_L4,
      hdrLen: 48,
      gso: GSO,
      start: 40,
      offset: 6,
    };
    assert.deepEqual(io.writes.map(hex), [hex(vnet(out, hdr))]);
    assert.equal(c.gsoKeptWhole, 1);
    assert.equal(c.packets4to6, 6);
  });

  it("a UDP super-packet the fast path cannot keep whole is cut into complete datagrams in software", () => {
    // IPv6 with a Destination Options header, and IPv4 without a checksum (IPv6 needs one): 3 each.
    const payload = fill(2 * GSO + 10, 3);
    const { io, c } = run(offloaded(), [
      superPacket(6, payload, { opt: 8 }),
      superPacket(4, payload, { zeroCsum: true }),
    ]);
    assert.equal(c.gsoPackets, 2);
    assert.equal(c.gsoSoftwareSegmented, 2);
    assert.equal(c.gsoKeptWhole, 0);
    assert.equal(c.offloadDrops, 0);
    assert.equal(io.writes.length, 6);
    io.writes.forEach((w, i) => {
      assert.equal(hex(w.subarray(0, VNET_HDR_LEN)), hex(new Uint8Array(VNET_HDR_LEN)), "a plain packet");
      const p = w.subarray(VNET_HDR_LEN);
      const l4 = p[0]! >>> 4 === 4 ? 20 : 40;
      assert.ok((l4 === 40 || ipv4HeaderOk(p)) && l4Ok(p), `datagram ${i}: checksums complete`);
      const k = i % 3;
      assert.equal(
        hex(p.subarray(l4 + 8)),
        hex(payload.subarray(k * GSO, (k + 1) * GSO)),
        `datagram ${i} payload`,
      );
    });
  });

  it("hostile virtio_net_hdr fields: never a throw; every super-packet kept whole, cut, or a counted drop", () => {
    const payload = fill(4 * GSO, 8);
    fc.assert(
      fc.property(
        fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>,
        fc.record({
          flags: fc.integer({ min: 0, max: 255 }),
          type: fc.oneof(fc.constantFrom(1, 3, 4, 5, 0x80, 0x85), fc.integer({ min: 0, max: 255 })),
          hdrLen: fc.integer({ min: 0, max: 0xffff }),
          gso: fc.integer({ min: 0, max: 0xffff }),
          start: fc.integer({ min: 0, max: 0xffff }),
          offset: fc.integer({ min: 0, max: 0xffff }),
        }),
        fc.integer({ min: 0, max: 4 * GSO + 47 }),
        (v, h, cut) => {
          const good = superPacket(v, payload);
          const p = good.subarray(VNET_HDR_LEN, VNET_HDR_LEN + cut);
          const { c } = run(offloaded(), [vnet(p, h)]);
          // the ECN bit alone (0x80 on GSO_NONE) marks no super-packet, as in the kernel
          if ((h.type & ~VNET_GSO_ECN) !== VNET_GSO_NONE && p.length > 0) {
            assert.equal(c.gsoPackets, 1);
            assert.ok(c.gsoKeptWhole + c.gsoSoftwareSegmented + c.offloadDrops >= 1, JSON.stringify(c));
          } else {
            assert.equal(c.gsoPackets, 0, JSON.stringify(c));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("packet loop: several workers (multi-queue stateful NAT64)", () => {
  it("a packet read by a worker that does not own its port goes through a ring to the owner, which wakes", () => {
    const rings = [
      [null, new Ring(1 << 16).sab],
      [new Ring(1 << 16).sab, null],
    ];
    const sleeping = new SharedArrayBuffer(8);
    const worker = (index: number): WorkerInput => {
      const cfg: Nat64Config = { ...nat64Config(), share: { index, count: 2 } };
      return workerInput({
        mode: "stateful",
        siit: undefined,
        nat64: cfg,
        shard: { index, count: 2, rings, eventfds: [], sleeping },
      });
    };
    // Source port 5002: (5002 >>> 1) % 2 = 1, worker 1's (nat64/shard.ts portOwner).
    const udp = { proto: 17, srcPort: 5002, dstPort: 53, payload: bytes(16) };
    const p = ipv6Packet("2001:db8:1::10", "2001:db8:64::cb00:710a", udp, READ_HOP);
    const a = worker(0);
    const b = worker(1);
    Atomics.store(new Int32Array(sleeping), 1, 1); // worker 1 asleep in poll()
    const first = run(a, [p]);
    assert.equal(first.io.writes.length, 0, "worker 0 does not translate it");
    assert.deepEqual(first.io.wakes, [1], "and wakes worker 1");
    assert.equal(first.c.handoffs, 1);
    assert.equal(first.c.packetsRead, 1);
    const second = run(b, []);
    assert.equal(second.c.packetsRead, 0, "a handed-over packet was read once, by worker 0");
    assert.equal(second.c.packets6to4, 1);
    assert.equal(second.io.writes.length, 1);
    const o = second.io.writes[0]!;
    const port4 = (o[20]! << 8) | o[21]!;
    assert.equal((port4 >>> 1) % 2, 1, "a port of worker 1's share");
    const pool4 = `${o[12]}.${o[13]}.${o[14]}.${o[15]}`;
    assert.equal(
      hex(o),
      hex(ipv4Packet(pool4, "203.0.113.10", { ...udp, srcPort: port4 }, SENT_HOP, false, 0, 1)),
    );
  });
});
