// Neighbor Discovery wire format for Router Solicitations and Router Advertisements: typed views
// over the bytes (RouterAdvertView, OptionIterator) and plain representations (RouterAdvertisement,
// NdOption) that decode from and encode to them, in the manner of smoltcp's wire module.
//
// Pure: no I/O, no clocks. Decoders never throw: a message that RFC 4861 §4.6 says to discard
// (an option of length 0, an option running past the end, a short header) decodes to
// { ok: false, error }; an option whose own content is malformed decodes to an option of type
// "invalid" with the reason, the rest of the message still decoded (hosts ignore such an option,
// RFC 8106 §5.3.1, RFC 4191 §3.1, RFC 8781 §4).
//
// The ICMPv6 checksum is left 0 by the encoder: the kernel fills it in for raw ICMPv6 sockets.
import { format as formatAddress, parseAddress } from "../../util/net.ts";

export const ICMP6_ROUTER_SOLICIT = 133;
export const ICMP6_ROUTER_ADVERT = 134;

/** Neighbor Discovery option types (IANA "IPv6 Neighbor Discovery Option Formats"). */
export const ND_OPT = {
  SOURCE_LINKADDR: 1,
  TARGET_LINKADDR: 2,
  PREFIX_INFORMATION: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
  ROUTE_INFORMATION: 24, // RFC 4191
  RDNSS: 25, // RFC 8106
  DNSSL: 31, // RFC 8106
  CAPTIVE_PORTAL: 37, // RFC 8910
  PREF64: 38, // RFC 8781
} as const;

/** RFC 4191 §2.1: the 2-bit preference values (10 is reserved). */
export type Preference = "high" | "medium" | "low" | "reserved";
const PRF_BITS: Record<Preference, number> = { medium: 0b00, high: 0b01, reserved: 0b10, low: 0b11 };
const PRF_NAMES: Preference[] = ["medium", "high", "reserved", "low"];

/** RFC 8781 §4: Prefix Length Code → prefix length. */
export const PREF64_PLC_LENGTHS = [96, 64, 56, 48, 40, 32] as const;

export type NdOption =
  | { type: "sourceLinkAddress"; address: string }
  | { type: "mtu"; mtu: number }
  | {
      type: "prefixInformation";
      prefix: string;
      prefixLength: number;
      onLink: boolean;
      autonomous: boolean;
      /** R flag, RFC 6275 §7.2 */
      routerAddress: boolean;
      validLifetime: number;
      preferredLifetime: number;
    }
  | {
      type: "routeInformation";
      prefix: string;
      prefixLength: number;
      preference: Preference;
      lifetime: number;
    }
  | { type: "rdnss"; lifetime: number; servers: string[] }
  | { type: "dnssl"; lifetime: number; domains: string[] }
  /** lifetime in seconds, a multiple of 8 (the option carries lifetime / 8 in 13 bits) */
  | { type: "pref64"; prefix: string; prefixLength: number; lifetime: number }
  | { type: "captivePortal"; uri: string }
  | { type: "unknown"; code: number; data: string }
  | { type: "invalid"; code: number; reason: string; data: string };

export interface RouterAdvertisement {
  curHopLimit: number;
  managed: boolean;
  otherConfig: boolean;
  /** H flag, RFC 6275 §7.1 */
  homeAgent: boolean;
  /** default router preference, RFC 4191 §2.2 */
  preference: Preference;
  /** P flag, RFC 4389 §4.1.3.3 */
  proxy: boolean;
  routerLifetime: number;
  reachableTime: number;
  retransTimer: number;
  options: NdOption[];
}

export interface RouterSolicitation {
  options: NdOption[];
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

// ---------------------------------------------------------------------------------------------
// Byte helpers

export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** 16 bytes → RFC 5952 text. */
export function ipv6Text(b: Uint8Array): string {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(b[i] ?? 0);
  return formatAddress(6, v);
}

/** IPv6 text → 16 bytes; throws on text that is not an IPv6 address (encoder input is validated config). */
export function ipv6Bytes(text: string): Uint8Array {
  const a = parseAddress(text, 6);
  if (!a.ok) throw new Error(a.error);
  const out = new Uint8Array(16);
  let v = a.value.value;
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Clear the bits after `length` (RFC 4191 §2.3, RFC 4861 §4.6.2: ignored by receivers). */
function maskBytes(b: Uint8Array, length: number): Uint8Array {
  const out = b.slice();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function macText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

export function macBytes(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length < 1 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new Error(`"${text}" is not a link-layer address (hex octets separated by ":")`);
  }
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}

// ---------------------------------------------------------------------------------------------
// Views

/** Fixed part of a Router Advertisement (RFC 4861 §4.2). */
export class RouterAdvertView {
  static readonly HEADER = 16;
  private v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get type() {
    return this.v.getUint8(0);
  }
  get code() {
    return this.v.getUint8(1);
  }
  get curHopLimit() {
    return this.v.getUint8(4);
  }
  get flags() {
    return this.v.getUint8(5);
  }
  get routerLifetime() {
    return this.v.getUint16(6);
  }
  get reachableTime() {
    return this.v.getUint32(8);
  }
  get retransTimer() {
    return this.v.getUint32(12);
  }
  options(): OptionIterator {
    return new OptionIterator(this.bytes.subarray(RouterAdvertView.HEADER));
  }
}

export interface RawOption {
  code: number;
  /** in units of 8 octets, as on the wire */
  length: number;
  /** the whole option, type and length octets included */
  bytes: Uint8Array;
  offset: number;
}

/** Walks TLV options (RFC 4861 §4.6); `error` is set when the walk had to stop on a malformed one. */
export class OptionIterator implements Iterable<RawOption> {
  error: string | undefined;
  constructor(private readonly bytes: Uint8Array) {}
  *[Symbol.iterator](): Iterator<RawOption> {
    let off = 0;
    while (off < this.bytes.length) {
      if (off + 2 > this.bytes.length) {
        this.error = `truncated option header at offset ${off}`;
        return;
      }
      const code = this.bytes[off]!;
      const length = this.bytes[off + 1]!;
      // RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero."
      if (length === 0) {
        this.error = `option ${code} at offset ${off} has length 0 (RFC 4861 §4.6: the packet is discarded)`;
        return;
      }
      if (off + length * 8 > this.bytes.length) {
        this.error = `option ${code} at offset ${off} (${length * 8} bytes) runs past the end of the message`;
        return;
      }
      yield { code, length, bytes: this.bytes.subarray(off, off + length * 8), offset: off };
      off += length * 8;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

export function decodeOptions(bytes: Uint8Array): Decoded<NdOption[]> {
  const it = new OptionIterator(bytes);
  const out: NdOption[] = [];
  for (const raw of it) out.push(decodeOption(raw));
  if (it.error) return { ok: false, error: it.error };
  return { ok: true, value: out };
}

export function decodeRouterAdvertisement(bytes: Uint8Array): Decoded<RouterAdvertisement> {
  if (bytes.length < RouterAdvertView.HEADER) {
    return {
      ok: false,
      error: `${bytes.length} bytes is shorter than a Router Advertisement (16, RFC 4861 §6.1.2)`,
    };
  }
  const v = new RouterAdvertView(bytes);
  if (v.type !== ICMP6_ROUTER_ADVERT)
    return { ok: false, error: `ICMPv6 type ${v.type} is not a Router Advertisement` };
  const options = decodeOptions(bytes.subarray(RouterAdvertView.HEADER));
  if (!options.ok) return options;
  const f = v.flags;
  return {
    ok: true,
    value: {
      curHopLimit: v.curHopLimit,
      managed: (f & 0x80) !== 0,
      otherConfig: (f & 0x40) !== 0,
      homeAgent: (f & 0x20) !== 0,
      preference: PRF_NAMES[(f >> 3) & 3]!,
      proxy: (f & 0x04) !== 0,
      routerLifetime: v.routerLifetime,
      reachableTime: v.reachableTime,
      retransTimer: v.retransTimer,
      options: options.value,
    },
  };
}

export function decodeRouterSolicitation(bytes: Uint8Array): Decoded<RouterSolicitation> {
  if (bytes.length < 8)
    return {
      ok: false,
      error: `${bytes.length} bytes is shorter than a Router Solicitation (8, RFC 4861 §6.1.1)`,
    };
  if (bytes[0] !== ICMP6_ROUTER_SOLICIT)
    return { ok: false, error: `ICMPv6 type ${bytes[0]} is not a Router Solicitation` };
  const options = decodeOptions(bytes.subarray(8));
  if (!options.ok) return options;
  return { ok: true, value: { options: options.value } };
}

function invalid(raw: RawOption, reason: string): NdOption {
  return { type: "invalid", code: raw.code, reason, data: toHex(raw.bytes) };
}

function decodeOption(raw: RawOption): NdOption {
  const b = raw.bytes;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (raw.code) {
    case ND_OPT.SOURCE_LINKADDR: {
      // RFC 2464 §6: Ethernet uses length 1 and 6 octets; other links pad to 8-octet units.
      const addr = raw.length === 1 ? b.subarray(2, 8) : b.subarray(2);
      return { type: "sourceLinkAddress", address: macText(addr) };
    }
    case ND_OPT.MTU:
      if (raw.length !== 1)
        return invalid(raw, `MTU option length ${raw.length} (must be 1, RFC 4861 §4.6.4)`);
      return { type: "mtu", mtu: v.getUint32(4) };
    case ND_OPT.PREFIX_INFORMATION: {
      if (raw.length !== 4)
        return invalid(raw, `Prefix Information length ${raw.length} (must be 4, RFC 4861 §4.6.2)`);
      const prefixLength = b[2]!;
      if (prefixLength > 128) return invalid(raw, `prefix length ${prefixLength} is more than 128`);
      const flags = b[3]!;
      return {
        type: "prefixInformation",
        prefix: ipv6Text(b.subarray(16, 32)),
        prefixLength,
        onLink: (flags & 0x80) !== 0,
        autonomous: (flags & 0x40) !== 0,
        routerAddress: (flags & 0x20) !== 0,
        validLifetime: v.getUint32(4),
        preferredLifetime: v.getUint32(8),
      };
    }
    case ND_OPT.ROUTE_INFORMATION: {
      // RFC 4191 §2.3: Length 1, 2 or 3; > 64 needs 3, > 0 needs at least 2.
      const prefixLength = b[2]!;
      if (raw.length > 3)
        return invalid(raw, `Route Information length ${raw.length} (1 to 3, RFC 4191 §2.3)`);
      if (prefixLength > 128) return invalid(raw, `prefix length ${prefixLength} is more than 128`);
      if ((prefixLength > 64 && raw.length < 3) || (prefixLength > 0 && raw.length < 2)) {
        return invalid(
          raw,
          `Route Information length ${raw.length} is too short for a /${prefixLength} (RFC 4191 §3.1)`,
        );
      }
      const prefix = new Uint8Array(16);
      prefix.set(b.subarray(8, Math.min(b.length, 24)));
      return {
        type: "routeInformation",
        prefix: ipv6Text(maskBytes(prefix, prefixLength)),
        prefixLength,
        preference: PRF_NAMES[(b[3]! >> 3) & 3]!,
        lifetime: v.getUint32(4),
      };
    }
    case ND_OPT.RDNSS: {
      // RFC 8106 §5.1: Length is 1 + 2 × (number of addresses), at least 3.
      if (raw.length < 3 || raw.length % 2 === 0)
        return invalid(raw, `RDNSS length ${raw.length} (odd and at least 3, RFC 8106 §5.1)`);
      const servers: string[] = [];
      for (let off = 8; off + 16 <= b.length; off += 16) servers.push(ipv6Text(b.subarray(off, off + 16)));
      return { type: "rdnss", lifetime: v.getUint32(4), servers };
    }
    case ND_OPT.DNSSL: {
      if (raw.length < 2) return invalid(raw, `DNSSL length ${raw.length} (at least 2, RFC 8106 §5.2)`);
      const names = decodeDomainNames(b.subarray(8));
      if (!names.ok) return invalid(raw, names.error);
      return { type: "dnssl", lifetime: v.getUint32(4), domains: names.value };
    }
    case ND_OPT.PREF64: {
      if (raw.length !== 2) return invalid(raw, `PREF64 length ${raw.length} (must be 2, RFC 8781 §4)`);
      const word = v.getUint16(2);
      const plc = word & 7;
      const prefixLength = PREF64_PLC_LENGTHS[plc];
      // RFC 8781 §4: PLC values 6 and 7 are invalid; the option is ignored.
      if (prefixLength === undefined)
        return invalid(raw, `PREF64 prefix length code ${plc} is not one of 0-5 (RFC 8781 §4)`);
      const prefix = new Uint8Array(16);
      prefix.set(b.subarray(4, 16));
      return {
        type: "pref64",
        prefix: ipv6Text(maskBytes(prefix, prefixLength)),
        prefixLength,
        lifetime: (word >> 3) * 8,
      };
    }
    case ND_OPT.CAPTIVE_PORTAL: {
      // RFC 8910 §2.3: the URI, padded with NUL octets.
      let end = b.length;
      while (end > 2 && b[end - 1] === 0) end--;
      return {
        type: "captivePortal",
        uri: new TextDecoder("utf-8", { fatal: false }).decode(b.subarray(2, end)),
      };
    }
    default:
      return { type: "unknown", code: raw.code, data: toHex(raw.bytes) };
  }
}

/** RFC 8106 §5.2 / RFC 1035 §3.1: uncompressed names one after another, then zero padding. */
function decodeDomainNames(b: Uint8Array): Decoded<string[]> {
  const names: string[] = [];
  let off = 0;
  while (off < b.length) {
    if (b[off] === 0) {
      // padding: everything left must be zero
      for (let i = off; i < b.length; i++)
        if (b[i] !== 0) return { ok: false, error: `DNSSL: data after the padding at offset ${i}` };
      break;
    }
    const labels: string[] = [];
    let wire = 0;
    for (;;) {
      if (off >= b.length) return { ok: false, error: "DNSSL: domain name not terminated (RFC 8106 §5.2)" };
      const len = b[off]!;
      if (len === 0) {
        off++;
        break;
      }
      if (len > 63)
        return { ok: false, error: `DNSSL: label length ${len} (compression is not allowed, RFC 8106 §5.2)` };
      if (off + 1 + len > b.length) return { ok: false, error: "DNSSL: label runs past the option" };
      wire += 1 + len;
      if (wire > 254) return { ok: false, error: "DNSSL: domain name longer than 255 octets" };
      labels.push(labelText(b.subarray(off + 1, off + 1 + len)));
      off += 1 + len;
    }
    names.push(labels.join("."));
  }
  return { ok: true, value: names };
}

/** Letters, digits, "-" and "_" as they are; anything else as \DDD (RFC 4343 §2.1 presentation). */
function labelText(b: Uint8Array): string {
  let s = "";
  for (const c of b) {
    const ch = String.fromCharCode(c);
    s += /[A-Za-z0-9_-]/.test(ch) ? ch : `\\${c.toString().padStart(3, "0")}`;
  }
  return s;
}

function labelBytes(label: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < label.length; i++) {
    if (label[i] === "\\" && /^\d{3}$/.test(label.slice(i + 1, i + 4))) {
      out.push(Number(label.slice(i + 1, i + 4)) & 0xff);
      i += 3;
    } else out.push(label.charCodeAt(i) & 0xff);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Encode one option. Throws on values that cannot be encoded (the service validates config first). */
export function encodeOption(o: NdOption): Uint8Array {
  switch (o.type) {
    case "sourceLinkAddress": {
      const mac = macBytes(o.address);
      const out = new Uint8Array(Math.ceil((mac.length + 2) / 8) * 8);
      out[0] = ND_OPT.SOURCE_LINKADDR;
      out[1] = out.length / 8;
      out.set(mac, 2);
      return out;
    }
    case "mtu": {
      const out = new Uint8Array(8);
      out[0] = ND_OPT.MTU;
      out[1] = 1;
      new DataView(out.buffer).setUint32(4, o.mtu);
      return out;
    }
    case "prefixInformation": {
      // RFC 4861 §4.6.2
      const out = new Uint8Array(32);
      const v = new DataView(out.buffer);
      out[0] = ND_OPT.PREFIX_INFORMATION;
      out[1] = 4;
      out[2] = o.prefixLength;
      out[3] = (o.onLink ? 0x80 : 0) | (o.autonomous ? 0x40 : 0) | (o.routerAddress ? 0x20 : 0);
      v.setUint32(4, o.validLifetime);
      v.setUint32(8, o.preferredLifetime);
      out.set(maskBytes(ipv6Bytes(o.prefix), o.prefixLength), 16);
      return out;
    }
    case "routeInformation": {
      // RFC 4191 §2.3. Length 3 (the whole prefix) whatever the prefix length, as radvd sends it:
      // allowed for every length, and receivers read the same route.
      const out = new Uint8Array(24);
      const v = new DataView(out.buffer);
      out[0] = ND_OPT.ROUTE_INFORMATION;
      out[1] = 3;
      out[2] = o.prefixLength;
      out[3] = PRF_BITS[o.preference] << 3;
      v.setUint32(4, o.lifetime);
      out.set(maskBytes(ipv6Bytes(o.prefix), o.prefixLength), 8);
      return out;
    }
    case "rdnss": {
      // RFC 8106 §5.1
      if (o.servers.length === 0 || o.servers.length > 127)
        throw new Error(`RDNSS with ${o.servers.length} servers (1 to 127)`);
      const out = new Uint8Array(8 + 16 * o.servers.length);
      out[0] = ND_OPT.RDNSS;
      out[1] = out.length / 8;
      new DataView(out.buffer).setUint32(4, o.lifetime);
      o.servers.forEach((s, i) => {
        out.set(ipv6Bytes(s), 8 + 16 * i);
      });
      return out;
    }
    case "dnssl": {
      // RFC 8106 §5.2: names in DNS wire format, no compression, padded with zeros to 8 octets.
      const names: number[] = [];
      for (const d of o.domains) {
        const name = d.endsWith(".") ? d.slice(0, -1) : d;
        let wire = 0;
        for (const label of name.split(".")) {
          const lb = labelBytes(label);
          if (lb.length === 0 || lb.length > 63)
            throw new Error(`DNSSL: "${d}" has a label of ${lb.length} octets`);
          names.push(lb.length, ...lb);
          wire += 1 + lb.length;
        }
        if (wire + 1 > 255) throw new Error(`DNSSL: "${d}" is longer than 255 octets`);
        names.push(0);
      }
      const out = new Uint8Array(8 + Math.ceil(names.length / 8) * 8);
      if (out.length / 8 > 255) throw new Error("DNSSL option longer than 2040 octets");
      out[0] = ND_OPT.DNSSL;
      out[1] = out.length / 8;
      new DataView(out.buffer).setUint32(4, o.lifetime);
      out.set(names, 8);
      return out;
    }
    case "pref64": {
      // RFC 8781 §4: Scaled Lifetime (13 bits, units of 8 s, rounded up) | PLC (3 bits), then the
      // highest 96 bits of the prefix.
      const plc = (PREF64_PLC_LENGTHS as readonly number[]).indexOf(o.prefixLength);
      if (plc < 0) throw new Error(`PREF64 /${o.prefixLength} has no prefix length code (RFC 8781 §4)`);
      const scaled = Math.min(Math.ceil(o.lifetime / 8), 8191);
      const out = new Uint8Array(16);
      out[0] = ND_OPT.PREF64;
      out[1] = 2;
      new DataView(out.buffer).setUint16(2, (scaled << 3) | plc);
      out.set(maskBytes(ipv6Bytes(o.prefix), o.prefixLength).subarray(0, 12), 4);
      return out;
    }
    case "captivePortal": {
      const uri = new TextEncoder().encode(o.uri);
      const out = new Uint8Array(Math.ceil((uri.length + 2) / 8) * 8);
      out[0] = ND_OPT.CAPTIVE_PORTAL;
      out[1] = out.length / 8;
      out.set(uri, 2);
      return out;
    }
    case "unknown":
    case "invalid":
      return fromHex(o.data);
  }
}

export function encodeRouterAdvertisement(ra: RouterAdvertisement): Uint8Array {
  const options = ra.options.map(encodeOption);
  const out = new Uint8Array(16 + options.reduce((n, o) => n + o.length, 0));
  const v = new DataView(out.buffer);
  out[0] = ICMP6_ROUTER_ADVERT;
  out[4] = ra.curHopLimit;
  out[5] =
    (ra.managed ? 0x80 : 0) |
    (ra.otherConfig ? 0x40 : 0) |
    (ra.homeAgent ? 0x20 : 0) |
    (PRF_BITS[ra.preference] << 3) |
    (ra.proxy ? 0x04 : 0);
  v.setUint16(6, ra.routerLifetime);
  v.setUint32(8, ra.reachableTime);
  v.setUint32(12, ra.retransTimer);
  let off = 16;
  for (const o of options) {
    out.set(o, off);
    off += o.length;
  }
  return out;
}

export function encodeRouterSolicitation(rs: RouterSolicitation): Uint8Array {
  const options = rs.options.map(encodeOption);
  const out = new Uint8Array(8 + options.reduce((n, o) => n + o.length, 0));
  out[0] = ICMP6_ROUTER_SOLICIT;
  let off = 8;
  for (const o of options) {
    out.set(o, off);
    off += o.length;
  }
  return out;
}
