// fast-check generators of valid resources (documentation ranges and ULAs only).
import fc from "fast-check";
import { PREF64_LENGTHS } from "../../src/api/nat64gateway.ts";
import { format, maskOf } from "../../src/util/net.ts";

const DOC6 = 0x20010db8n << 96n; // 2001:db8::/32

/** A PREF64 inside 2001:db8::/32 (or the well-known prefix), any RFC 6052 length, u-octet zero. */
export const pref64 = fc.oneof(
  fc.constant("64:ff9b::/96"),
  fc
    .tuple(fc.constantFrom(...PREF64_LENGTHS), fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }))
    .map(([len, low]) => {
      let net = (DOC6 | low) & maskOf(6, len);
      net &= ~(0xffn << 56n); // RFC 6052 §2.2: bits 64-71 are zero
      return `${format(6, net)}/${len}`;
    }),
);

/** A ULA prefix of length 48 to 64. */
export const ulaPrefix = fc
  .tuple(fc.integer({ min: 48, max: 64 }), fc.bigInt({ min: 0n, max: (1n << 120n) - 1n }))
  .map(([len, low]) => `${format(6, ((0xfdn << 120n) | low) & maskOf(6, len))}/${len}`);

/** A ULA /64, as SLAAC wants. */
export const ula64 = fc
  .bigInt({ min: 0n, max: (1n << 56n) - 1n })
  .map((n) => `${format(6, (0xfdn << 120n) | (n << 64n))}/64`);

/** Up to `n` disjoint, sorted ranges inside a /24 starting at `base`. */
function disjointRanges(base: bigint, n: number) {
  return fc
    .uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: 2, maxLength: n * 2 })
    .map((points) => {
      const sorted = [...points].sort((a, b) => a - b);
      const out: string[] = [];
      for (let i = 0; i + 1 < sorted.length; i += 2) {
        const a = format(4, base + BigInt(sorted[i]!));
        const b = format(4, base + BigInt(sorted[i + 1]!));
        out.push(i % 4 === 0 ? `${a}-${b}` : a);
      }
      return out;
    });
}

const duration = (min: number, max: number) =>
  fc
    .integer({ min, max })
    .chain((s) =>
      fc.constantFrom<number | string>(
        s,
        `${s}s`,
        ...(s % 60 === 0 ? [`${s / 60}m`] : []),
        ...(s % 3600 === 0 ? [`${s / 3600}h`] : []),
      ),
    );

const labelMap = fc.dictionary(
  fc.constantFrom("role", "zone", "kubernetes.io/hostname", "v6mostly.dev/nat64"),
  fc.constantFrom("a", "b", "edge"),
  {
    maxKeys: 2,
  },
);

const envelope = (kind: string, spec: fc.Arbitrary<Record<string, unknown>>) =>
  fc.record({
    apiVersion: fc.constant("v6mostly.dev/v1alpha1"),
    kind: fc.constant(kind),
    metadata: fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/) }),
    spec,
  });

export const nat64Stateful = envelope(
  "Nat64Gateway",
  fc.record(
    {
      prefix: pref64,
      mode: fc.constant("stateful"),
      pool4: disjointRanges(0xc6336400n, 3), // 198.51.100.0/24
      allowedSources: fc.array(ulaPrefix, { minLength: 1, maxLength: 1 }),
      filtering: fc.constantFrom("endpointIndependent", "addressDependent"),
      lowestIpv6Mtu: fc.integer({ min: 1280, max: 9000 }),
      amendUdpChecksumZero: fc.boolean(),
      rfc6791Pool: fc.record({ ipv4: fc.constant(["203.0.113.8"]), ipv6: fc.constant([]) }),
      uplinkInterface: fc.constantFrom("eth0", "enp1s0", "br-wan"),
      tunName: fc.constantFrom("nat64", "v6m0"),
      mtu: fc.integer({ min: 1280, max: 9000 }),
      timeouts: fc.record(
        {
          udp: duration(120, 3600),
          icmp: duration(1, 600),
          tcpEstablished: duration(7440, 86400),
          tcpTransitory: duration(240, 3600),
        },
        { requiredKeys: [] },
      ),
      nodeSelector: labelMap,
    },
    { requiredKeys: ["pool4", "allowedSources"] },
  ),
);

export const nat64Stateless = envelope(
  "Nat64Gateway",
  fc.record(
    {
      prefix: pref64,
      mode: fc.constant("stateless"),
      // blocks of 64 addresses: /122 on the IPv6 side, /26 on the IPv4 side (RFC 7757 §3.2)
      eamt: fc.integer({ min: 0, max: 3 }).map((n) =>
        Array.from({ length: n }, (_, i) => ({
          ipv6: `2001:db8:64:${i}::/122`,
          ipv4: `198.51.100.${i * 64}/26`,
        })),
      ),
      amendUdpChecksumZero: fc.boolean(),
    },
    { requiredKeys: ["mode"] },
  ),
);

const v6Listen = fc.integer({ min: 1, max: 0xfffe }).map((n) => `[2001:db8:53::${n.toString(16)}]:53`);
const v4Listen = fc.integer({ min: 1, max: 254 }).map((n) => `192.0.2.${n}`);

export const dns64 = envelope(
  "Dns64Resolver",
  fc.record(
    {
      listen: fc.uniqueArray(fc.oneof(v6Listen, v4Listen), { minLength: 1, maxLength: 3 }),
      prefix: pref64,
      upstreams: fc.uniqueArray(
        fc.integer({ min: 1, max: 254 }).map((n) => `198.51.100.${n}`),
        { minLength: 1, maxLength: 2 },
      ),
      alwaysSynthesize: fc.boolean(),
      exclude: fc.constantFrom(["::ffff:0:0/96"], [], ["::ffff:0:0/96", "2001:db8:dead::/48"]),
      allowClients: fc.array(fc.oneof(ulaPrefix, fc.constant("192.0.2.0/24"), fc.constant("127.0.0.0/8")), {
        minLength: 1,
        maxLength: 3,
      }),
      nodeSelector: labelMap,
    },
    { requiredKeys: ["listen", "prefix", "upstreams", "allowClients"] },
  ),
);

export const routerAdvert = fc.integer({ min: 4, max: 1800 }).chain((max) =>
  envelope(
    "RouterAdvert",
    fc.record(
      {
        interface: fc.constantFrom("br-lan", "eth1", "lan0"),
        interval: fc.record(
          { min: fc.integer({ min: 3, max: Math.max(3, Math.floor(0.75 * max)) }), max: fc.constant(max) },
          { requiredKeys: ["max"] },
        ),
        prefixes: fc.array(
          fc.record({
            prefix: ula64,
            onLink: fc.boolean(),
            autonomous: fc.constant(true),
            validLifetime: fc.constant("30d"),
            preferredLifetime: fc.constantFrom("7d", 86400),
          }),
          { maxLength: 2 },
        ),
        rdnss: fc.array(
          fc.record({
            address: fc.constant("2001:db8::53"),
            lifetime: fc.integer({ min: max, max: 3 * max }),
          }),
          { maxLength: 2 },
        ),
        dnssl: fc.array(
          fc.record({ domain: fc.constantFrom("home.arpa", "example.com."), lifetime: fc.constant(3 * max) }),
          { maxLength: 1 },
        ),
        pref64: fc.record(
          { prefix: pref64, lifetime: fc.integer({ min: max, max: 65528 }) },
          { requiredKeys: ["prefix"] },
        ),
        routes: fc.array(
          fc.record({ prefix: pref64, preference: fc.constantFrom("high", "medium", "low") }),
          { maxLength: 2 },
        ),
        defaultRouter: fc.oneof(
          fc.constant({ lifetime: 0 }),
          fc.record({
            lifetime: fc.integer({ min: max, max: 9000 }),
            preference: fc.constantFrom("high", "medium", "low"),
          }),
        ),
        mtu: fc.integer({ min: 1280, max: 9000 }),
        hopLimit: fc.integer({ min: 0, max: 255 }),
        managed: fc.boolean(),
        otherConfig: fc.boolean(),
      },
      { requiredKeys: ["interface", "interval"] },
    ),
  ),
);

export const dhcpScope = envelope(
  "DhcpScope",
  fc.record(
    {
      interface: fc.constantFrom("br-lan", "lan0"),
      subnet: fc.constant("192.0.2.0/24"),
      ranges: disjointRanges(0xc0000200n, 2).map((rs) =>
        rs.map((r) => r.replace(/^192\.0\.2\.1$/, "192.0.2.2")).filter((r) => !/^192\.0\.2\.1-/.test(r)),
      ),
      exclude: fc.constant(["192.0.2.1"]),
      router: fc.constant("192.0.2.1"),
      dnsServers: fc.constant(["192.0.2.1"]),
      domainName: fc.constantFrom("home.arpa", "lan.example"),
      leaseTime: duration(60, 86400 * 7),
      ipv6OnlyPreferred: duration(300, 86400),
      reservations: fc.constant([{ mac: "02:00:5e:00:53:01", address: "192.0.2.250" }]),
      options: fc.uniqueArray(
        fc.record({
          code: fc.constantFrom(43, 66, 67, 150, 252),
          hex: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex")),
        }),
        { selector: (o) => o.code, maxLength: 3 },
      ),
      maxLeasesPerMinute: fc.integer({ min: 1, max: 10000 }),
    },
    { requiredKeys: ["interface", "subnet", "ranges"] },
  ),
).filter((d) => (d.spec.ranges as string[]).length > 0);

export const externalDevice = envelope(
  "ExternalDevice",
  fc.oneof(
    fc.record({
      vendor: fc.constant("fortios"),
      endpoint: fc.integer({ min: 1, max: 254 }).map((n) => `https://192.0.2.${n}`),
      version: fc.constantFrom("6.2.16", "7.0.12", "7.4.7"),
      credentialsEnv: fc.constant("FGT_TOKEN"),
      vdom: fc.constant("root"),
      tls: fc.record({ insecureSkipVerify: fc.boolean() }),
    }),
    fc.record({
      vendor: fc.constant("iosxe"),
      endpoint: fc.constant("https://[2001:db8::1]:8443"),
      version: fc.constantFrom("17.9.1", "17.12.3"),
      username: fc.constant("admin"),
      credentialsFile: fc.constant("/etc/v6mostly/isr.password"),
      transport: fc.constantFrom("restconf", "ssh"),
    }),
  ),
);

export const anyValidResource = fc.oneof(
  nat64Stateful,
  nat64Stateless,
  dns64,
  routerAdvert,
  dhcpScope,
  externalDevice,
);
