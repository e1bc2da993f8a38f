// BOOTP/DHCP messages (RFC 951, RFC 2131 §2, RFC 2132): a typed view, a decoder that never throws
// and an encoder. Pure: bytes in, values out.
//
//   op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr | giaddr | chaddr (16)
//   sname (64) | file (128) | magic cookie 99.130.83.99 | options

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

/** RFC 2132 §9.6 message types (option 53). */
export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

export const MESSAGE_TYPE_NAMES: Record<number, string> = {
  1: "DISCOVER",
  2: "OFFER",
  3: "REQUEST",
  4: "DECLINE",
  5: "ACK",
  6: "NAK",
  7: "RELEASE",
  8: "INFORM",
};

/** Option codes (RFC 2132, RFC 8925). */
export const OPT = {
  pad: 0,
  subnetMask: 1,
  router: 3,
  dnsServers: 6,
  hostName: 12,
  domainName: 15,
  requestedAddress: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  parameterRequestList: 55,
  message: 56,
  maxMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  clientId: 61,
  v6OnlyPreferred: 108,
  end: 255,
} as const;

export const MAGIC_COOKIE = 0x63825363;
/** The fixed BOOTP header, without the cookie. */
export const FIXED_LENGTH = 236;
/** RFC 2131 §2: every host accepts a 576-octet IP datagram, so a DHCP message of 576 - 28. */
export const MIN_MAX_MESSAGE = 576;
/** Larger UDP payloads are dropped unread: no DHCP client sends one (hostile or broken input). */
export const MAX_ACCEPTED = 4096;

const FLAG_BROADCAST = 0x8000;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  /** IPv4 addresses as unsigned 32-bit numbers */
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** the 16 bytes of chaddr */
  chaddr: Uint8Array;
  sname: Uint8Array;
  file: Uint8Array;
  /**
   * Options by code, values concatenated when a code repeats (RFC 3396 §7) and gathered from
   * `file` and `sname` when option 52 says they hold options (RFC 2131 §4.1).
   */
  options: Map<number, Uint8Array>;
}

export type Decoded = { ok: true; msg: DhcpMessage } | { ok: false; reason: string };

export function isBroadcast(m: DhcpMessage): boolean {
  return (m.flags & FLAG_BROADCAST) !== 0;
}

/** The client's hardware address (chaddr cut to hlen, at most 16). */
export function hardwareAddress(m: DhcpMessage): Uint8Array {
  return m.chaddr.subarray(0, Math.min(m.hlen, 16));
}

export function messageType(m: DhcpMessage): number | undefined {
  const v = m.options.get(OPT.messageType);
  return v && v.length === 1 ? v[0] : undefined;
}

export function optionAddress(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code);
  if (v?.length !== 4) return undefined;
  return ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
}

/** Whether the parameter request list (option 55) asks for `code`. */
export function requests(m: DhcpMessage, code: number): boolean {
  const prl = m.options.get(OPT.parameterRequestList);
  return prl?.includes(code) === true;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * Reads options from `b[start, end)` into `out`. Returns an error text for a truncated option;
 * stops at option 255 (end).
 */
function readOptions(
  b: Uint8Array,
  start: number,
  end: number,
  out: Map<number, Uint8Array>,
): string | undefined {
  let i = start;
  while (i < end) {
    const code = b[i]!;
    if (code === OPT.pad) {
      i++;
      continue;
    }
    if (code === OPT.end) return undefined;
    if (i + 1 >= end) return `option ${code} has no length byte`;
    const len = b[i + 1]!;
    if (i + 2 + len > end) return `option ${code} runs past the end (length ${len})`;
    const value = b.subarray(i + 2, i + 2 + len);
    const before = out.get(code);
    if (before === undefined) out.set(code, value);
    else {
      // RFC 3396 §7: a repeated option is one option, its values concatenated in order.
      const joined = new Uint8Array(before.length + len);
      joined.set(before, 0);
      joined.set(value, before.length);
      out.set(code, joined);
    }
    i += 2 + len;
  }
  return undefined;
}

/** Decodes one UDP payload. Never throws: malformed input gives `{ ok: false, reason }`. */
export function decode(b: Uint8Array): Decoded {
  if (b.length > MAX_ACCEPTED) return { ok: false, reason: "oversized" };
  if (b.length < FIXED_LENGTH + 4) return { ok: false, reason: "truncated" };
  if (u32(b, FIXED_LENGTH) !== MAGIC_COOKIE)
    return { ok: false, reason: "no magic cookie (BOOTP, not DHCP)" };
  const options = new Map<number, Uint8Array>();
  const err = readOptions(b, FIXED_LENGTH + 4, b.length, options);
  if (err) return { ok: false, reason: `malformed options: ${err}` };
  const file = b.subarray(108, 236);
  const sname = b.subarray(44, 108);
  const overload = options.get(OPT.overload);
  if (overload !== undefined) {
    // RFC 2131 §4.1 / RFC 2132 §9.3: 1 = file holds options, 2 = sname, 3 = both; file first.
    const v = overload.length === 1 ? overload[0]! : 0;
    if (v < 1 || v > 3) return { ok: false, reason: "malformed options: option 52 value" };
    options.delete(OPT.overload);
    if (v & 1) {
      const e = readOptions(b, 108, 236, options);
      if (e) return { ok: false, reason: `malformed options in file: ${e}` };
    }
    if (v & 2) {
      const e = readOptions(b, 44, 108, options);
      if (e) return { ok: false, reason: `malformed options in sname: ${e}` };
    }
  }
  return {
    ok: true,
    msg: {
      op: b[0]!,
      htype: b[1]!,
      hlen: b[2]!,
      hops: b[3]!,
      xid: u32(b, 4),
      secs: (b[8]! << 8) | b[9]!,
      flags: (b[10]! << 8) | b[11]!,
      ciaddr: u32(b, 12),
      yiaddr: u32(b, 16),
      siaddr: u32(b, 20),
      giaddr: u32(b, 24),
      chaddr: b.subarray(28, 44),
      sname: overload !== undefined && overload[0]! & 2 ? new Uint8Array(64) : sname,
      file: overload !== undefined && overload[0]! & 1 ? new Uint8Array(128) : file,
      options,
    },
  };
}

/** An option to send: code and value bytes (any length; longer than 255 is split, RFC 3396). */
export type OptionOut = [code: number, value: Uint8Array];

export interface ReplyFields {
  op: number;
  htype: number;
  hlen: number;
  xid: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  chaddr: Uint8Array;
}

function optionBytes(options: OptionOut[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const [code, value] of options) {
    // RFC 3396 §6: a value longer than 255 octets is sent as several options of the same code.
    let off = 0;
    do {
      const n = Math.min(255, value.length - off);
      const o = new Uint8Array(2 + n);
      o[0] = code;
      o[1] = n;
      o.set(value.subarray(off, off + n), 2);
      out.push(o);
      off += n;
    } while (off < value.length);
  }
  return out;
}

/**
 * Encodes a message. Options go in the options field up to `maxSize` (the client's option 57, at
 * least 576 - 28); what does not fit overflows into `file`, then `sname`, with option 52
 * (RFC 2131 §4.1). The message type (53) must be the first option so it stays in the options field.
 * Returns undefined when even the overload areas cannot hold the options.
 */
export function encode(
  f: ReplyFields,
  options: OptionOut[],
  maxSize = MIN_MAX_MESSAGE - 28,
): Uint8Array | undefined {
  const parts = optionBytes(options);
  const limit = Math.max(maxSize, MIN_MAX_MESSAGE - 28);
  // Room in the options field: keep 3 bytes for a possible option 52 and 1 for end.
  const mainRoom = limit - FIXED_LENGTH - 4 - 1;
  let total = 0;
  for (const p of parts) total += p.length;
  const main: Uint8Array[] = [];
  const inFile: Uint8Array[] = [];
  const inSname: Uint8Array[] = [];
  if (total <= mainRoom) main.push(...parts);
  else {
    let used = 3; // option 52
    let fileUsed = 0;
    let snameUsed = 0;
    for (const p of parts) {
      if (used + p.length <= mainRoom) {
        main.push(p);
        used += p.length;
      } else if (fileUsed + p.length <= 127) {
        inFile.push(p);
        fileUsed += p.length;
      } else if (snameUsed + p.length <= 63) {
        inSname.push(p);
        snameUsed += p.length;
      } else return undefined;
    }
  }
  let mainLen = 0;
  for (const p of main) mainLen += p.length;
  const overload = (inFile.length ? 1 : 0) | (inSname.length ? 2 : 0);
  const size = FIXED_LENGTH + 4 + mainLen + (overload ? 3 : 0) + 1;
  // Pad to the BOOTP minimum of 300 octets: some old clients and relays drop shorter messages.
  const b = new Uint8Array(Math.max(size, 300));
  const v = new DataView(b.buffer);
  b[0] = f.op;
  b[1] = f.htype;
  b[2] = f.hlen;
  b[3] = 0;
  v.setUint32(4, f.xid >>> 0);
  v.setUint16(8, 0);
  v.setUint16(10, f.flags & 0xffff);
  v.setUint32(12, f.ciaddr >>> 0);
  v.setUint32(16, f.yiaddr >>> 0);
  v.setUint32(20, f.siaddr >>> 0);
  v.setUint32(24, f.giaddr >>> 0);
  b.set(f.chaddr.subarray(0, 16), 28);
  v.setUint32(FIXED_LENGTH, MAGIC_COOKIE);
  let i = FIXED_LENGTH + 4;
  const first = main[0];
  if (first) {
    b.set(first, i);
    i += first.length;
  }
  if (overload) {
    b[i++] = OPT.overload;
    b[i++] = 1;
    b[i++] = overload;
  }
  for (const p of main.slice(1)) {
    b.set(p, i);
    i += p.length;
  }
  b[i] = OPT.end;
  const fill = (area: Uint8Array[], at: number) => {
    let j = at;
    for (const p of area) {
      b.set(p, j);
      j += p.length;
    }
    b[j] = OPT.end;
  };
  if (inFile.length) fill(inFile, 108);
  if (inSname.length) fill(inSname, 44);
  return b;
}

/** Encodes a request (tests and the bench use it to play a client). */
export function encodeRequest(f: Omit<ReplyFields, "op">, options: OptionOut[]): Uint8Array {
  return encode({ ...f, op: BOOTREQUEST }, options, 1500) ?? new Uint8Array(0);
}

// Small value builders.
export function addrBytes(a: number): Uint8Array {
  return new Uint8Array([(a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]);
}
export function addrListBytes(list: number[]): Uint8Array {
  const b = new Uint8Array(list.length * 4);
  list.forEach((a, i) => {
    b.set(addrBytes(a), i * 4);
  });
  return b;
}
export function u32Bytes(n: number): Uint8Array {
  return addrBytes(n >>> 0);
}
export function u8Bytes(n: number): Uint8Array {
  return new Uint8Array([n & 255]);
}

export function formatAddr(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
export function parseAddr(s: string): number {
  const p = s.split(".").map(Number);
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0) as number;
}
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
export function macText(b: Uint8Array): string {
  let t = "";
  for (let i = 0; i < b.length; i++) t += i ? `:${HEX[b[i]!]}` : HEX[b[i]!];
  return t;
}
