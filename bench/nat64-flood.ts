// The saturating small-packet sender of bench/nat64.ts: UDP datagrams of `size` payload bytes to
// `dst` (an IPv6 address, port 9), `rate` packets a second for `seconds`, with sendmmsg(2)
// (util/sys/mmsg.ts: one system call per batch of 64). iperf3 tops out near 110 kpps on this
// machine, below what either translator carries; this offers more than both (bench/nat64.ts runs
// it in the translator's namespace: the packets go straight into the TUN queue). Paced: a batch goes
// when the schedule is a batch behind, otherwise the sender sleeps 0.1 ms (Atomics.wait), so
// that it leaves a core to the translator. Prints {"sent": n, "seconds": s} on stdout.
//   ip netns exec NS node --import tsx bench/nat64-flood.ts DST RATE SECONDS SIZE

import { parseAddress } from "../src/util/net.ts";
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

const [dst, rateArg, secondsArg, sizeArg] = process.argv.slice(2);
const rate = Number(rateArg ?? 300_000);
const seconds = Number(secondsArg ?? 3);
const size = Number(sizeArg ?? 64);
const BATCH = 64;

const fd = check(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0), "socket");
const batch = new DatagramBatch(BATCH, size);
const a = parseAddress(dst ?? "", 6);
if (!a.ok) throw new Error(`destination: ${a.error}`);
const addr = new Uint8Array(16);
for (let i = 0; i < 16; i++) addr[i] = Number((a.value.value >> BigInt(120 - 8 * i)) & 0xffn);
const name = sockaddrIn6(addr, 0, 9);
const payload = new Uint8Array(size);
for (let i = 0; i < BATCH; i++) batch.set(i, payload, name);
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
