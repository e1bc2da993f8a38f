// A receiving packet socket on one interface (AF_PACKET, SOCK_DGRAM: the kernel strips and writes
// the Ethernet header), with an optional classic BPF filter so that only the frames a service
// wants are queued to it, and sending to a chosen hardware address. What a neighbour responder
// needs: ARP requests (ETH_P_ARP) and IPv6 Neighbor Solicitations, also those sent unicast to a
// target address this host does not own (the kernel would never hand those to a raw ICMPv6 socket).
//
// Read without blocking the event loop, like raw6.ts: non-blocking, drained by the caller's timer.
import koffi from "koffi";
import {
  AF_PACKET,
  bind,
  check,
  close,
  errno,
  int32,
  interfaceIndex,
  SO_RCVBUF,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SysError,
  sendto,
  setIntOption,
  setsockopt,
  socket,
} from "./libc.ts";
import { DatagramBatch } from "./mmsg.ts";
import { sockaddrLl } from "./udp4.ts";

/** <linux/if_ether.h> */
export const ETH_P_IPV6 = 0x86dd;
const SO_ATTACH_FILTER = 26;
/** SO_RCVBUF beyond net.core.rmem_max (needs CAP_NET_ADMIN) */
const SO_RCVBUFFORCE = 33;
/** <linux/if_packet.h> */
const SOL_PACKET = 263;
const PACKET_ADD_MEMBERSHIP = 1;
const PACKET_MR_ALLMULTI = 2;
const PACKET_IGNORE_OUTGOING = 23;

/** sll_pkttype: who the frame was addressed to (<linux/if_packet.h>). */
export const PacketType = {
  host: 0,
  broadcast: 1,
  multicast: 2,
  otherHost: 3,
  outgoing: 4,
} as const;

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Classic BPF opcodes used by the filters here (<linux/filter.h>). */
export const BPF = {
  /** A = byte at absolute offset k (from the network header on a SOCK_DGRAM socket) */
  loadByte: 0x30,
  /** if A == k goto +jt else goto +jf */
  jumpIfEqual: 0x15,
  /** accept k bytes of the packet (0 = drop) */
  return: 0x06,
} as const;

export interface Frame {
  /** the payload after the Ethernet header (an ARP packet, an IPv6 packet) */
  data: Uint8Array;
  /** one of PacketType */
  packetType: number;
  /** the Ethernet source address */
  source: Uint8Array;
  truncated: boolean;
}

export interface PacketSocketOptions {
  ifname: string;
  /** the EtherType to receive (ETH_P_ARP, ETH_P_IPV6) */
  protocol: number;
  /** a filter run in the kernel before a frame is queued */
  filter?: readonly BpfInstruction[];
  /** receive every multicast frame on the link (PACKET_MR_ALLMULTI), released on close */
  allMulticast?: boolean;
  /** receive buffer in bytes (default 4 MiB; beyond net.core.rmem_max only with CAP_NET_ADMIN) */
  receiveBuffer?: number;
}

/** Frames per recvmmsg / sendmmsg call (receiveMany, enqueue / flush). */
const BATCH = 64;
/** Bytes kept of a frame's payload: Neighbor Discovery and ARP fit, and far longer frames are cut (truncated). */
const FRAME = 2048;

export class PacketSocket {
  private fd: number;
  private rx: DatagramBatch | undefined;
  private tx: DatagramBatch | undefined;
  private queued = 0;

  private constructor(
    fd: number,
    readonly ifindex: number,
    readonly protocol: number,
  ) {
    this.fd = fd;
  }

  static open(o: PacketSocketOptions): PacketSocket {
    const ifindex = interfaceIndex(o.ifname);
    // Protocol 0 at socket(): nothing is queued until bind() below, after the filter is attached,
    // so no unfiltered frame slips in between.
    const fd = check(socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket(AF_PACKET)");
    try {
      const rcvbuf = o.receiveBuffer ?? 4 << 20;
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int32(rcvbuf), 4) < 0)
        setIntOption(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
      // Our own transmissions are not solicitations to answer (Linux 4.20+).
      setIntOption(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
      if (o.filter) attachFilter(fd, o.filter);
      if (o.allMulticast) {
        // struct packet_mreq { int mr_ifindex; unsigned short mr_type; unsigned short mr_alen; unsigned char mr_address[8]; }
        const mreq = new Uint8Array(16);
        const v = new DataView(mreq.buffer);
        v.setInt32(0, ifindex, true);
        v.setUint16(4, PACKET_MR_ALLMULTI, true);
        check(setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq, 16), "setsockopt(PACKET_MR_ALLMULTI)");
      }
      const addr = sockaddrLl(ifindex, o.protocol, new Uint8Array(0));
      check(bind(fd, addr, addr.length), `bind(AF_PACKET, ${o.ifname})`);
    } catch (e) {
      close(fd);
      throw e;
    }
    return new PacketSocket(fd, ifindex, o.protocol);
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  /**
   * Up to 64 queued frames with one recvmmsg call; read them with frame(i) before the next call.
   * 0 when nothing is queued. Never blocks.
   */
  receiveMany(): number {
    if (this.fd < 0) return 0;
    this.rx ??= new DatagramBatch(BATCH, FRAME);
    return this.rx.receive(this.fd);
  }

  /** Frame i of the last receiveMany(): views into the batch, valid until the next receiveMany(). */
  frame(i: number): Frame {
    const rx = this.rx!;
    const name = rx.name(i);
    return {
      data: rx.data(i),
      packetType: name[10] ?? PacketType.otherHost,
      source: name.subarray(12, 12 + Math.min(name[11] ?? 0, 8)),
      truncated: rx.truncated(i),
    };
  }

  /** Queue a payload for `hwaddr`; sent by flush() (or here, when the batch is full). Returns how many earlier ones the kernel refused. */
  enqueue(payload: Uint8Array, hwaddr: Uint8Array): number {
    this.tx ??= new DatagramBatch(BATCH, FRAME);
    const refused = this.queued === BATCH ? this.flush() : 0;
    if (!this.tx.set(this.queued, payload, sockaddrLl(this.ifindex, this.protocol, hwaddr)))
      return refused + 1;
    this.queued++;
    return refused;
  }

  /** Send what enqueue() queued with sendmmsg; returns how many the kernel refused (a full device queue). */
  flush(): number {
    if (this.queued === 0 || !this.tx || this.fd < 0) return 0;
    const n = this.queued;
    this.queued = 0;
    return n - this.tx.send(this.fd, n);
  }

  /** Send a payload to `hwaddr`; the kernel writes the Ethernet header with our interface's address as source. */
  send(payload: Uint8Array, hwaddr: Uint8Array): void {
    if (this.fd < 0) throw new Error("socket closed");
    const to = sockaddrLl(this.ifindex, this.protocol, hwaddr);
    const n = sendto(this.fd, payload, payload.length, 0, to, to.length);
    if (n < 0) throw new SysError("sendto(AF_PACKET)", errno());
  }

  close(): void {
    if (this.fd >= 0) {
      close(this.fd);
      this.fd = -1;
      this.rx?.free();
      this.tx?.free();
    }
  }
}

/** SO_ATTACH_FILTER: struct sock_fprog { unsigned short len; struct sock_filter *filter; }. */
function attachFilter(fd: number, program: readonly BpfInstruction[]): void {
  const size = program.length * 8;
  const ptr = koffi.alloc("uint8_t", size);
  try {
    const v = new DataView(koffi.view(ptr, size));
    program.forEach((ins, i) => {
      v.setUint16(i * 8, ins.code, true);
      v.setUint8(i * 8 + 2, ins.jt);
      v.setUint8(i * 8 + 3, ins.jf);
      v.setUint32(i * 8 + 4, ins.k, true);
    });
    const fprog = new Uint8Array(16);
    const fv = new DataView(fprog.buffer);
    fv.setUint16(0, program.length, true);
    fv.setBigUint64(8, BigInt(koffi.address(ptr)), true);
    check(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16), "setsockopt(SO_ATTACH_FILTER)");
  } finally {
    koffi.free(ptr);
  }
}
