/**
 * `npm run bench:nat64-crossing`: what one packet's crossing into the kernel costs against its
 * translation (issue 18). In a network namespace of its own, on a TUN device with packets queued:
 *
 * - the koffi call alone (memmove of 0 bytes: no system call);
 * - read() of a queued 112-byte packet (IPv6 + UDP + 64 bytes) through koffi, one per call, as
 *   the packet loop does today (src/datapath/tun/worker.ts), and read() of an empty queue (EAGAIN);
 * - the same reads through io_uring (src/util/sys/uring.ts), BATCH per io_uring_enter;
 * - write() of a packet into the device, one per call, and BATCH per io_uring_enter (the kernel
 *   routes each into a blackhole route: the same kernel work either way);
 * - the translation itself: Nat64Translator.translate of the same packet (64 B UDP, one flow);
 * - the whole pipeline, read -> translate -> write, both ways: today's loop, and io_uring with
 *   BATCH reads per enter and the writes going with the next batch (docs/nat64.md has figures).
 *
 * Wall time and this process's CPU time per packet (CPU shows work handed to io_uring's worker
 * threads, which wall time on an idle core would hide). Medians of ROUNDS rounds.
 */
import { execFileSync } from "node:child_process";
import { Nat64Translator } from "../src/datapath/nat64/translator.ts";
import { copyBytes } from "../src/datapath/siit/bytes.ts";
import { SiitTranslator, Verdict } from "../src/datapath/siit/index.ts";
import * as sys from "../src/datapath/tun/sys.ts";
import { openTun } from "../src/datapath/tun/tun.ts";
import { prefixOf } from "../src/util/net.ts";
import {
  AF_INET6,
  check,
  close,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  sockaddrIn6,
  socket,
} from "../src/util/sys/libc.ts";
import { DatagramBatch } from "../src/util/sys/mmsg.ts";
import {
  IORING_OP_READ,
  IORING_OP_WRITE,
  IORING_SETUP_DEFER_TASKRUN,
  IORING_SETUP_SINGLE_ISSUER,
  RWF_NOWAIT,
  Uring,
} from "../src/util/sys/uring.ts";

const N = 8192;
const BATCH = Number(process.env.BENCH_BATCH ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TUN = "xing0";

function run(args: string[]): string {
  // a wait that never ends (an io_uring read without RWF_NOWAIT) ends the bench, not the machine
  return execFileSync(args[0]!, args.slice(1), { encoding: "utf8", timeout: 120_000 });
}

if (process.argv[2] !== "--inside") {
  if (process.getuid?.() !== 0) {
    console.log("bench skipped: needs root (a network namespace and a TUN device)");
    process.exit(0);
  }
  const ns = `v6m-xing-${process.pid}`;
  run(["ip", "netns", "add", ns]);
  try {
    process.stdout.write(
      run(["ip", "netns", "exec", ns, process.execPath, "--import", "tsx", import.meta.filename, "--inside"]),
    );
  } finally {
    run(["ip", "netns", "del", ns]);
  }
  process.exit(0);
}

// Inside the namespace: the device, its routes, a sender that queues packets on it.
const fd = openTun(TUN, { nonBlocking: true });
run(["ip", "link", "set", "lo", "up"]);
run(["ip", "link", "set", TUN, "txqueuelen", String(2 * N), "up"]);
run(["ip", "addr", "add", "2001:db8:ff::1/64", "dev", TUN, "nodad"]);
run(["ip", "-6", "route", "add", "2001:db8:fe::/64", "dev", TUN]);
run(["ip", "-6", "route", "add", "blackhole", "2001:db8:fd::/64"]);
// The pipelines' packets: to the NAT64 prefix (the server's image) in, IPv4 to a blackhole out.
run(["ip", "-6", "route", "add", "2001:db8:64::/96", "dev", TUN]);
run(["ip", "route", "add", "blackhole", "203.0.113.0/24"]);
run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv4.ip_forward=1"]);

const udp = check(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0), "socket");
const out = new DatagramBatch(64, 64);
const dst = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
const server6 = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 203, 0, 113, 10]);
const to = sockaddrIn6(server6, 0, 9);
for (let i = 0; i < 64; i++) out.set(i, new Uint8Array(64), to);
/** Queues N packets on the device (sendmmsg from the namespace's own stack). */
function fill(): void {
  while (sys.readAt(fd, base, SLOT) > 0);
  for (let k = 0; k < N; k += 64) out.send(udp, 64);
}

const SLOT = 2048;
const bufs = new Uint8Array(BATCH * SLOT);
const base = sys.addressOf(bufs);
// The packet written back: IPv6 UDP 2001:db8:fe::2 → 2001:db8:fd::2 (the blackhole), 112 bytes.
const pkt = new Uint8Array(SLOT);
pkt.set([0x60, 0, 0, 0, 0, 72, 17, 64]);
pkt.set(dst, 8);
pkt.set([0x20, 0x01, 0x0d, 0xb8, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
pkt.set([0x30, 0x39, 0, 9, 0, 72, 0, 0], 40);
const pktAddr = sys.addressOf(pkt);
const memmove = (await import("koffi")).default
  .load("libc.so.6")
  .func("memmove", "intptr_t", ["intptr_t", "intptr_t", "size_t"]) as (
  d: number,
  s: number,
  n: number,
) => number;

interface Cost {
  wall: number;
  cpu: number;
}
/** ns of wall and CPU time per packet of `body`, which handles (about) `count` packets. */
function timed(count: number, body: () => number): Cost {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const done = body();
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  // A stray packet of the namespace's own (an MLD report) may take a read's place: a few, no more.
  if (done < count * 0.99) throw new Error(`expected ${count} packets, handled ${done}`);
  return { wall: wall / done, cpu: ((c.user + c.system) * 1000) / done };
}

// One thread submits, completions run when it waits: the cheapest setup (measured against 0).
const ring = new Uring(2 * BATCH, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
/** BATCH operations `op` per io_uring_enter on the device, until `count` succeeded. */
function uringBatches(op: number, count: number, addrOf: (i: number) => number, len: number): number {
  let ok = 0;
  while (ok < count) {
    const k = Math.min(BATCH, count - ok);
    for (let i = 0; i < k; i++) {
      ring.fill(i, op, fd, addrOf(i), len, i, RWF_NOWAIT);
      ring.push(i);
    }
    const r = ring.submit(k);
    if (r < 0) throw new Error(`io_uring_enter: errno ${-r}`);
    const n = ring.ready();
    for (let i = 0; i < n; i++) {
      const res = ring.result(i);
      if (res > 0) ok++;
      else if (res !== -sys.EAGAIN) throw new Error(`io_uring op ${op}: errno ${-res}`);
    }
    ring.consume(n);
    if (n === 0) throw new Error("io_uring: no completion");
  }
  return ok;
}

const nat = new Nat64Translator({
  pool6: prefixOf("2001:db8:64::/96"),
  pool4: [{ first: 0xcb007180, last: 0xcb007187, portMin: 1024, portMax: 65535 }],
  timeouts: { udp: 300, icmp: 60, tcpEstablished: 7440, tcpTransitory: 240, tcpIncomingSyn: 6 },
});
const xlat = new Uint8Array(112);
xlat.set(pkt.subarray(0, 112));
xlat.set([0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 203, 0, 113, 10], 24);

const cases: [string, () => Cost][] = [
  [
    "koffi call, no system call",
    () =>
      timed(N, () => {
        for (let i = 0; i < N; i++) memmove(base, base, 0);
        return N;
      }),
  ],
  [
    "read(), empty queue (EAGAIN)",
    () =>
      timed(N, () => {
        let n = 0;
        for (let i = 0; i < N; i++) if (sys.readAt(fd, base, SLOT) < 0) n++;
        return n;
      }),
  ],
  [
    "read(), one packet per call",
    () => {
      fill();
      return timed(N, () => {
        let n = 0;
        for (let i = 0; i < N; i++) if (sys.readAt(fd, base, SLOT) > 0) n++;
        return n;
      });
    },
  ],
  [
    `io_uring read, ${BATCH} per enter`,
    () => {
      fill();
      return timed(N, () => uringBatches(IORING_OP_READ, N, (i) => base + i * SLOT, SLOT));
    },
  ],
  [
    "write(), one packet per call",
    () =>
      timed(N, () => {
        let n = 0;
        for (let i = 0; i < N; i++) if (sys.writeAt(fd, pktAddr, 112) === 112) n++;
        return n;
      }),
  ],
  [
    `io_uring write, ${BATCH} per enter`,
    () => timed(N, () => uringBatches(IORING_OP_WRITE, N, () => pktAddr, 112)),
  ],
  [
    "translate (Nat64Translator, 64 B UDP)",
    () =>
      timed(N, () => {
        let n = 0;
        for (let i = 0; i < N; i++) {
          xlat[7] = 64;
          if (nat.translate(xlat, 112, 1000) === Verdict.Translated) n++;
        }
        return n;
      }),
  ],
];

/** Today's loop: read() into the translator's input, translate, write() from its output. */
function pipelineSyscalls(): number {
  const input = nat.siit.inputBuffer;
  const inAddr = sys.addressOf(nat.siit.inputWithHeadroom) + SiitTranslator.HEADROOM;
  const bufAddr = sys.addressOf(nat.siit.buf);
  let n = 0;
  for (;;) {
    const len = sys.readAt(fd, inAddr, SLOT);
    if (len <= 0) return n;
    if (nat.translate(input, len, 1000) !== Verdict.Translated) continue;
    if (sys.writeAt(fd, bufAddr + nat.outOffset[0]!, nat.outLength[0]!) > 0) n++;
  }
}

const wslots = new Uint8Array(BATCH * SLOT);
const wbase = sys.addressOf(wslots);
const slotViews = Array.from({ length: BATCH }, (_, i) => bufs.subarray(i * SLOT, (i + 1) * SLOT));
/**
 * The same through io_uring: BATCH reads into slots per io_uring_enter, each packet translated
 * from its slot (the translator copies it in) and its output copied into a write slot; the
 * writes go with the next batch's reads, in the same enter.
 */
function pipelineUring(nativeCopies = false): number {
  // SQEs 0..BATCH-1: the reads, filled once; BATCH..2*BATCH-1: the writes, their lengths set per packet.
  for (let i = 0; i < BATCH; i++) {
    ring.fill(i, IORING_OP_READ, fd, base + i * SLOT, SLOT, i, RWF_NOWAIT);
    ring.fill(BATCH + i, IORING_OP_WRITE, fd, wbase + i * SLOT, 0, BATCH + i);
  }
  let n = 0;
  let writes = 0;
  for (;;) {
    for (let i = 0; i < BATCH; i++) ring.push(i);
    if (ring.submit(BATCH + writes) < 0) throw new Error("io_uring_enter");
    writes = 0;
    let got = 0;
    const k = ring.ready();
    for (let c = 0; c < k; c++) {
      const res = ring.result(c);
      const tag = ring.userData(c);
      if (tag >= BATCH) {
        if (res > 0) n++;
        continue;
      }
      if (res <= 0) continue;
      got++;
      // nativeCopies: views of the exact length make both copies memcpy, at two small
      // allocations a packet (what a translator that works in the batch's buffers would spare)
      const input = nativeCopies ? bufs.subarray(tag * SLOT, tag * SLOT + res) : slotViews[tag]!;
      if (nat.translate(input, res, 1000) !== Verdict.Translated) continue;
      const len = nat.outLength[0]!;
      const o = nat.outOffset[0]!;
      if (nativeCopies) wslots.set(nat.outBuf.subarray(o, o + len), writes * SLOT);
      else copyBytes(nat.outBuf, o, wslots, writes * SLOT, len);
      ring.setBuffer(BATCH + writes, wbase + writes * SLOT, len);
      ring.push(BATCH + writes);
      writes++;
    }
    ring.consume(k);
    if (got === 0 && writes === 0) return n;
  }
}

cases.push(
  [
    "pipeline: read(), translate, write()",
    () => {
      fill();
      return timed(N, pipelineSyscalls);
    },
  ],
  [
    `pipeline: io_uring, ${BATCH} per enter`,
    () => {
      fill();
      return timed(N, () => pipelineUring());
    },
  ],
  [
    `pipeline: io_uring, native copies`,
    () => {
      fill();
      return timed(N, () => pipelineUring(true));
    },
  ],
);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(
  `per packet, ${N} packets a round, median of ${ROUNDS} rounds (wall ns / this process's CPU ns):`,
);
const results = new Map<string, Cost>();
for (const [name, f] of cases) {
  f(); // warm-up
  const rs: Cost[] = [];
  for (let r = 0; r < ROUNDS; r++) rs.push(f());
  const c = { wall: med(rs.map((x) => x.wall)), cpu: med(rs.map((x) => x.cpu)) };
  results.set(name, c);
  console.log(
    `  ${name.padEnd(40)} ${c.wall.toFixed(0).padStart(6)} ns  ${c.cpu.toFixed(0).padStart(6)} ns CPU`,
  );
}
const get = (k: string) => results.get(k)!.wall;
const rd = get("read(), one packet per call");
const ur = get(`io_uring read, ${BATCH} per enter`);
const wr = get("write(), one packet per call");
const uw = get(`io_uring write, ${BATCH} per enter`);
const tr = get("translate (Nat64Translator, 64 B UDP)");
const ps = get("pipeline: read(), translate, write()");
const pu = get(`pipeline: io_uring, ${BATCH} per enter`);
const pn = get("pipeline: io_uring, native copies");
console.log(
  `whole pipeline per packet: ${ps.toFixed(0)} ns with read()/write(), ${pu.toFixed(0)} ns through io_uring (${(ps / pu).toFixed(2)}x), ${pn.toFixed(0)} ns with native copies (${(ps / pn).toFixed(2)}x)`,
);
console.log(
  `one read + one write per packet: ${(rd + wr).toFixed(0)} ns against ${tr.toFixed(0)} ns of translation; through io_uring: ${(ur + uw).toFixed(0)} ns (${((rd + wr) / (ur + uw)).toFixed(2)}x less)`,
);
// io_uring's worker threads (iou-wrk) would mean work punted off this thread: none expected.
const comms = run(["sh", "-c", `cat /proc/${process.pid}/task/*/comm`]).split("\n");
console.log(`io_uring worker threads: ${comms.filter((t) => t.startsWith("iou-")).length}`);
ring.close();
out.free();
close(udp);
sys.close(fd);
