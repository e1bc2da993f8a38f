// The lab's addressing plan: the seed's network (examples/seed) re-addressed into documentation
// ranges (RFC 5737, RFC 3849) and ULAs (RFC 4193). These must match examples/lab/*.yaml, which
// the router namespace runs; test/lab/lab.test.ts checks that they do.

/** the LAN: one bridge in the router namespace, every client hangs off it by a veth pair */
export const LAN = {
  bridge: "br0",
  prefix6: "fd00:64:1::/64",
  router6: "fd00:64:1::1",
  subnet4: "192.0.2.0/24",
  router4: "192.0.2.1",
} as const;

/** the NAT64 prefix (the seed's own fd00:ff9b::/96) and pool4 (on the uplink's subnet) */
export const PREF64 = "fd00:ff9b::/96";
export const POOL4 = { first: "198.51.100.201", last: "198.51.100.250" } as const;

/** the uplink between the router and the "internet" namespace */
export const UPLINK = {
  routerIf: "wan",
  internetIf: "inet0",
  router4: "198.51.100.1",
  internet4: "198.51.100.254",
  len4: 24,
  router6: "2001:db8:ffff::1",
  internet6: "2001:db8:ffff::2",
  len6: 64,
} as const;

/** servers in the "internet" namespace (on its loopback, routed) */
export const SERVERS = {
  /** an IPv4-only web server (the seed's yahoo.co.jp) */
  v4only4: "203.0.113.10",
  /** a dual-stack web server (the seed's google.com) */
  dual4: "203.0.113.20",
  dual6: "2001:db8:20::20",
  /** the authoritative DNS of the lab's zone */
  dns4: "203.0.113.53",
  dns6: "2001:db8:53::53",
  zone: "lab.example",
  /** A only */
  v4onlyName: "v4only.lab.example",
  /** A and AAAA */
  dualName: "dual.lab.example",
  httpPort: 80,
} as const;

/**
 * The CLAT client's TAYGA (RFC 6877 §6.3): the host's IPv4 side in 192.0.0.0/29 (RFC 7335, the
 * IPv4 service continuity prefix), its IPv6 side two addresses of the LAN's /64 that the client
 * answers Neighbor Solicitations for. Never inside the PREF64: a translator drops sources inside
 * its own prefix (RFC 6146 §3.5.1.1 filtering, and the seed author's clatd problem).
 */
export const CLAT = {
  tun: "clat0",
  hostIpv4: "192.0.0.1",
  taygaIpv4: "192.0.0.2",
  hostIpv6: "fd00:64:1::c1a7",
  taygaIpv6: "fd00:64:1::c1a8",
  mtu: 1260,
} as const;

export type ClientKind = "ipv4-only" | "dual-stack" | "ipv6-only" | "ipv6-only+clat";

export interface ClientSpec {
  /** short id, also the namespace suffix and the bridge port name */
  id: "c1" | "c2" | "c3" | "c4";
  kind: ClientKind;
  /** the seed's row */
  label: string;
  mac: string;
  ipv4: boolean;
  ipv6: boolean;
  clat: boolean;
}

/** The seed's four client types (its matrix rows 1 to 4). */
export const CLIENTS: readonly ClientSpec[] = [
  {
    id: "c1",
    kind: "ipv4-only",
    label: "1 IPv4-only",
    mac: "02:64:00:00:00:01",
    ipv4: true,
    ipv6: false,
    clat: false,
  },
  {
    id: "c2",
    kind: "dual-stack",
    label: "2 dual-stack, no CLAT",
    mac: "02:64:00:00:00:02",
    ipv4: true,
    ipv6: true,
    clat: false,
  },
  {
    id: "c3",
    kind: "ipv6-only",
    label: "3 IPv6-only, no CLAT",
    mac: "02:64:00:00:00:03",
    ipv4: false,
    ipv6: true,
    clat: false,
  },
  {
    id: "c4",
    kind: "ipv6-only+clat",
    label: "4 IPv6-only with CLAT (464XLAT)",
    mac: "02:64:00:00:00:04",
    ipv4: false,
    ipv6: true,
    clat: true,
  },
];

/** IPv4 address text → number (no validation: the constants above are well-formed) */
export function v4num(a: string): number {
  return a.split(".").reduce((x, y) => x * 256 + Number(y), 0) >>> 0;
}

export function inPool4(a: string): boolean {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(a)) return false;
  const n = v4num(a);
  return n >= v4num(POOL4.first) && n <= v4num(POOL4.last);
}
