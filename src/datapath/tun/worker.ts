/**
 * The packet worker thread's entry: the packet loop (loop.ts) on this
 * worker's TUN queue, with the real system calls (sys.ts) and messages to
 * the main thread. It starts on import, which is what a worker thread does:
 * other modules import nothing from here (the contract is contract.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { nameThisThread } from "../../util/sys/libc.ts";
import { HostSender, isNoRoute } from "../../util/sys/originate.ts";
import { ERROR_TTL } from "../siit/icmpErrors.ts";
import type { WorkerInput, WorkerMessage } from "./contract.ts";
import {
  type LoopIo,
  ORIGINATE_FAILED,
  ORIGINATE_NO_ROUTE,
  ORIGINATE_SENT,
  PacketLoop,
  READ_AGAIN,
  READ_FAILED,
  READ_INTERRUPTED,
} from "./loop.ts";
import * as sys from "./sys.ts";

/** The loop's I/O on a TUN queue fd and, with several workers, their eventfds. */
class SystemIo implements LoopIo {
  private readonly fd: number;
  /** struct pollfd[]: the TUN queue, and (multi-queue stateful) this worker's eventfd. */
  private readonly pfd = new Uint8Array(16);
  private readonly nfds: number;
  private readonly eventfds: number[];
  private readonly ownEventfd: number;
  private readonly one = new Uint8Array(8);
  private readonly efdBuf = new Uint8Array(8);
  /** Sends the errors the host sources (SiitConfig.hostErrorSource): raw sockets, CAP_NET_RAW. */
  private readonly host: HostSender | null;

  constructor(input: WorkerInput) {
    this.fd = input.fd;
    const pdv = new DataView(this.pfd.buffer);
    pdv.setInt32(0, input.fd, true);
    this.pfd[4] = sys.POLLIN;
    const shard = input.shard;
    this.eventfds = shard?.eventfds ?? [];
    this.ownEventfd = shard ? shard.eventfds[shard.index]! : -1;
    if (shard) {
      pdv.setInt32(8, this.ownEventfd, true);
      this.pfd[12] = sys.POLLIN;
    }
    this.nfds = shard ? 2 : 1;
    this.one[0] = 1;
    const hostErrors = input.siit?.hostErrorSource ?? input.nat64?.siit?.hostErrorSource ?? false;
    // A failure here (no CAP_NET_RAW) ends the worker before it starts: the service says why.
    this.host = hostErrors ? new HostSender(ERROR_TTL) : null;
  }

  addressOf(b: Uint8Array): number {
    return sys.addressOf(b);
  }
  readAt(addr: number, n: number): number {
    const r = sys.readAt(this.fd, addr, n);
    if (r >= 0) return r;
    const e = sys.errno();
    return e === sys.EAGAIN ? READ_AGAIN : e === sys.EINTR ? READ_INTERRUPTED : READ_FAILED;
  }
  writeAt(addr: number, n: number): number {
    return sys.writeAt(this.fd, addr, n);
  }
  poll(ms: number): void {
    sys.poll(this.pfd, this.nfds, ms);
    if (this.nfds > 1 && (this.pfd[14]! & sys.POLLIN) !== 0) sys.read(this.ownEventfd, this.efdBuf, 8);
  }
  wake(i: number): void {
    sys.write(this.eventfds[i]!, this.one, 8);
  }
  originate(b: Uint8Array, off: number, len: number): number {
    if (this.host === null) return ORIGINATE_FAILED;
    const r = this.host.send(b, off, len);
    return r >= 0 ? ORIGINATE_SENT : isNoRoute(-r) ? ORIGINATE_NO_ROUTE : ORIGINATE_FAILED;
  }
  now(): number {
    return Date.now();
  }
  close(): void {
    this.host?.close();
  }
  post(m: WorkerMessage): void {
    // The session records are handed over, not copied.
    parentPort?.postMessage(m, m.type === "snapshot" ? [m.records.buffer as ArrayBuffer] : []);
  }
}

const input = workerData as WorkerInput;
nameThisThread(`v6m-packet-${input.worker}`);
const io = new SystemIo(input);
new PacketLoop(input, io).run();
// the TUN queue is the main thread's to close (workers.ts); these sockets are the worker's
io.close();
