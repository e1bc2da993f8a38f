// The saturating small-packet sender of bench/nat64.ts: UDP datagrams of `size` payload bytes to
// `dst` (an IPv6 address, port 9), `rate` packets a second for `seconds`, with sendmmsg(2)
// (util/sys/mmsg.ts: one system call per batch of 64). iperf3 tops out near 110 kpps on this
// machine, below what either translator carries; this offers more than both. Paced: a batch goes
// when the schedule is a batch behind, otherwise the sender sleeps 0.1 ms (Atomics.wait), so
// that it leaves a core to the translator. Prints {"sent": n, "seconds": s} on stdout.
//
// With FLOWS and SRC, the datagrams come from FLOWS source ports (40000, 40001, ...) in turn, one
// datagram each, from SRC: built whole here (IPv6 header, UDP header, checksum) and sent through
// a raw socket (IPPROTO_RAW: the header as written), since a UDP socket has one source port. One
// flow is what the kernel's GRO coalesces best (a bulk transfer); 64 flows interleaved give it
// one datagram per flow in each batch.
//   ip netns exec NS node --import tsx bench/nat64-flood.ts DST RATE SECONDS SIZE [FLOWS SRC]

import { parseAddress } from "../src/util/net.ts";
import {
  AF_INET6,
  check,
  close,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_RAW,
  sockaddrIn6,
  socket,
} from "../src/util/sys/libc.ts";
import { DatagramBatch } from "../src/util/sys/mmsg.ts";

const [dst, rateArg, secondsArg, sizeArg, flowsArg, srcArg] = process.argv.slice(2);
const rate = Number(rateArg ?? 300_000);
const seconds = Number(secondsArg ?? 3);
const size = Number(sizeArg ?? 64);
const flows = flowsArg === undefined ? 0 : Number(flowsArg);
const BATCH = 64;
const IPPROTO_RAW = 255;

function address(text: string | undefined, what: string): Uint8Array {
  const a = parseAddress(text ?? "", 6);
  if (!a.ok) throw new Error(`${what}: ${a.error}`);
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Number((a.value.value >> BigInt(120 - 8 * i)) & 0xffn);
  return b;
}

/** An IPv6 UDP datagram from src:sport to dst:9 with `size` zero bytes and its checksum (RFC 8200 §8.1). */
function datagram(src: Uint8Array, to: Uint8Array, sport: number): Uint8Array {
  const p = new Uint8Array(48 + size);
  const len = 8 + size;
  p.set([0x60, 0, 0, 0, len >>> 8, len & 0xff, 17, 64]);
  p.set(src, 8);
  p.set(to, 24);
  p.set([sport >>> 8, sport & 0xff, 0, 9, len >>> 8, len & 0xff], 40);
  let s = 17 + len;
  for (let i = 8; i < p.length; i += 2) s += (p[i]! << 8) | (p[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff || 0xffff;
  p[46] = c >>> 8;
  p[47] = c & 0xff;
  return p;
}

const to = address(dst, "destination");
const raw = flows > 0;
const fd = raw
  ? check(socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_RAW), "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)")
  : check(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0), "socket");
const batch = new DatagramBatch(BATCH, raw ? 48 + size : size);
// A raw socket's destination port is not a port: 0.
const name = sockaddrIn6(to, 0, raw ? 0 : 9);
const src = raw ? address(srcArg, "source") : undefined;
for (let i = 0; i < BATCH; i++)
  batch.set(i, raw ? datagram(src!, to, 40000 + (i % flows)) : new Uint8Array(size), name);
const nap = new Int32Array(new SharedArrayBuffer(4));
let sent = 0;
let offered = 0;
const t0 = performance.now();
const end = t0 + seconds * 1000;
for (;;) {
  const t = performance.now();
  if (t >= end) break;
  const due = Math.floor(((t - t0) / 1000) * rate) - offered;
  if (due < BATCH) {
    Atomics.wait(nap, 0, 0, 0.1);
    continue;
  }
  // A sender that fell far behind (a neighbour took the core) does not burst to catch up.
  const k = Math.min(due, BATCH);
  offered += due > 4 * BATCH ? due : k;
  sent += batch.send(fd, k);
}
const elapsed = (performance.now() - t0) / 1000;
batch.free();
close(fd);
console.log(JSON.stringify({ sent, seconds: elapsed }));
