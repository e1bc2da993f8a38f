// Every rejection path of `validate`, with the words it prints.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { doc, NAT64_OK, validateText } from "../support/validate.ts";

interface Case {
  what: string;
  text: string;
  /** the start of the line: "home.yaml#1 Kind/name spec.field" */
  at: string;
  /** a part of the message */
  says: string;
}

const nat = (extra: string, base = NAT64_OK) => doc("Nat64Gateway", "home", `${base}\n${extra}`);
const natOnly = (spec: string) => doc("Nat64Gateway", "home", spec);
const DNS_OK = `
listen: ["[2001:db8:1::53]:53", "192.0.2.53"]
prefix: 64:ff9b::/96
upstreams: ["198.51.100.53"]
allowClients: ["2001:db8:1::/64", "192.0.2.0/24"]`;
const dns = (spec: string) => doc("Dns64Resolver", "lan", spec);
const ra = (spec: string) => doc("RouterAdvert", "lan", `interface: lan0\n${spec}`);
const DHCP_OK = `
interface: lan0
subnet: 192.0.2.0/24
ranges: ["192.0.2.100-192.0.2.199"]
router: 192.0.2.1`;
const dhcp = (extra: string, base = DHCP_OK) => doc("DhcpScope", "lan", `${base}\n${extra}`);
const DEV_OK = `
vendor: fortios
endpoint: https://192.0.2.99
credentialsEnv: FGT_TOKEN`;
const dev = (spec: string) => doc("ExternalDevice", "fgt", spec);

const CASES: Case[] = [
  // --- Nat64Gateway: RFC 6052 prefixes
  {
    what: "a PREF64 length RFC 6052 does not allow",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", "fd00:ff9b::/72")),
    at: "home.yaml#1 Nat64Gateway/home spec.prefix",
    says: "/72 is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)",
  },
  {
    what: "a /96 PREF64 with bits 64-71 set",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", "2001:db8:0:0:ff00::/96")),
    at: "home.yaml#1 Nat64Gateway/home spec.prefix",
    says: 'bits 64 to 71 of a NAT64 prefix must be zero (RFC 6052 §2.2, the "u" octet)',
  },
  {
    what: "host bits below the prefix length",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", "64:ff9b::1/96")),
    at: "home.yaml#1 Nat64Gateway/home spec.prefix",
    says: "has host bits set below /96; did you mean 64:ff9b::/96?",
  },
  {
    what: "an IPv4 prefix where a PREF64 belongs",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", "192.0.2.0/24")),
    at: "home.yaml#1 Nat64Gateway/home spec.prefix",
    says: "is an IPv4 address; an IPv6 address is expected here",
  },
  {
    what: "a prefix with no length",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", '"64:ff9b::"')),
    at: "home.yaml#1 Nat64Gateway/home spec.prefix",
    says: "has no prefix length",
  },
  {
    what: "an unquoted IPv6 address ending in :: (YAML reads a key)",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", "64:ff9b::")),
    at: "home.yaml#1",
    says: 'an IPv6 address ending in "::" must be quoted',
  },
  {
    what: "a multicast PREF64",
    text: nat("", NAT64_OK.replace("64:ff9b::/96", "ff0e::/96")),
    at: "home.yaml#1 Nat64Gateway/home spec.prefix",
    says: "is multicast",
  },
  // --- pool4
  {
    what: "overlapping pool4 entries",
    text: nat(
      "",
      NAT64_OK.replace(
        `pool4: ["198.51.100.1-198.51.100.10"]`,
        `pool4: ["198.51.100.1-198.51.100.10", "198.51.100.8/29"]`,
      ),
    ),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4[1]",
    says: "198.51.100.8/29 overlaps 198.51.100.1-198.51.100.10 (pool4[0])",
  },
  {
    what: "a range that ends before it starts",
    text: nat("", NAT64_OK.replace("198.51.100.1-198.51.100.10", "198.51.100.10-198.51.100.1")),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4[0]",
    says: "ends before it starts",
  },
  {
    what: "an octet above 255",
    text: nat("", NAT64_OK.replace("198.51.100.1-198.51.100.10", "198.51.100.300")),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4[0]",
    says: '"198.51.100.300" is not a valid IPv4 address',
  },
  {
    what: "stateful without pool4",
    text: natOnly(`allowedSources: ["2001:db8:1::/64"]`),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4",
    says: "stateful NAT64 needs at least one IPv4 address in pool4",
  },
  {
    what: "loopback in pool4",
    text: nat("", NAT64_OK.replace("198.51.100.1-198.51.100.10", "127.0.0.1")),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4[0]",
    says: "includes loopback",
  },
  {
    what: "multicast in pool4",
    text: nat("", NAT64_OK.replace("198.51.100.1-198.51.100.10", "224.0.0.0/28")),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4[0]",
    says: "multicast or reserved",
  },
  {
    what: "pool4 in stateless mode",
    text: natOnly(`mode: stateless\npool4: ["198.51.100.1"]`),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4",
    says: "pool4 is for stateful mode",
  },
  {
    what: "stateful without allowedSources (never an open relay)",
    text: natOnly(`pool4: ["198.51.100.1"]`),
    at: "home.yaml#1 Nat64Gateway/home spec.allowedSources",
    says: "never translates for everyone",
  },
  {
    what: "allowedSources inside the NAT64 prefix (the seed's CLAT problem)",
    text: nat("", NAT64_OK.replace("2001:db8:1::/64", "64:ff9b::/120")),
    at: "home.yaml#1 Nat64Gateway/home spec.allowedSources[0]",
    says: "overlaps the NAT64 prefix 64:ff9b::/96; sources inside the prefix are not translated",
  },
  // --- EAMT (RFC 7757)
  {
    what: "EAMT blocks of different sizes",
    text: natOnly(`mode: stateless\neamt: [{ ipv6: "2001:db8:64::/120", ipv4: "198.51.100.0/23" }]`),
    at: "home.yaml#1 Nat64Gateway/home spec.eamt[0]",
    says: "an EAMT entry maps blocks of equal size (RFC 7757 §3.2): use /119 with 198.51.100.0/23",
  },
  {
    what: "overlapping EAMT IPv4 sides",
    text: natOnly(
      `mode: stateless\neamt:\n- { ipv6: "2001:db8:64::/120", ipv4: "198.51.100.0/24" }\n- { ipv6: "2001:db8:65::/124", ipv4: "198.51.100.16/28" }`,
    ),
    at: "home.yaml#1 Nat64Gateway/home spec.eamt[1].ipv4",
    says: "198.51.100.16/28 overlaps 198.51.100.0/24 (eamt[0].ipv4)",
  },
  {
    what: "EAMT in stateful mode",
    text: nat(`eamt: [{ ipv6: "2001:db8:64::/120", ipv4: "198.51.100.0/24" }]`),
    at: "home.yaml#1 Nat64Gateway/home spec.eamt",
    says: "eamt is for stateless mode",
  },
  // --- timers (RFC 6146)
  {
    what: "a UDP timeout below 2 minutes",
    text: nat(`timeouts: { udp: 1m }`),
    at: "home.yaml#1 Nat64Gateway/home spec.timeouts.udp",
    says: "60s is below the 2 minutes RFC 6146 §3.5.1 requires for UDP",
  },
  {
    what: "a TCP established timeout below 2h4m",
    text: nat(`timeouts: { tcpEstablished: 1h }`),
    at: "home.yaml#1 Nat64Gateway/home spec.timeouts.tcpEstablished",
    says: "below 2h4m (RFC 6146 §3.5.2.2, TCP_EST)",
  },
  {
    what: "a TCP transitory timeout below 4 minutes",
    text: nat(`timeouts: { tcpTransitory: 3m }`),
    at: "home.yaml#1 Nat64Gateway/home spec.timeouts.tcpTransitory",
    says: "below 4m",
  },
  {
    what: "a duration in words",
    text: nat(`timeouts: { udp: 5 minutes }`),
    at: "home.yaml#1 Nat64Gateway/home spec.timeouts.udp",
    says: '"5 minutes" is not a duration (write 300, 300s, 30m, 2h4m, 30d or 1w)',
  },
  // --- generic field errors, reworded
  {
    what: "a misspelt field",
    text: nat("prefx: 64:ff9b::/96"),
    at: "home.yaml#1 Nat64Gateway/home spec",
    says: 'unknown field "prefx"; did you mean "prefix"?',
  },
  {
    what: "a misspelt field in a nested object",
    text: nat("timeouts: { udpp: 300 }"),
    at: "home.yaml#1 Nat64Gateway/home spec.timeouts",
    says: 'unknown field "udpp"; did you mean "udp"?',
  },
  {
    what: "an enum value that does not exist",
    text: nat("mode: stateles"),
    at: "home.yaml#1 Nat64Gateway/home spec.mode",
    says: 'must be one of "stateful", "stateless", got "stateles"',
  },
  {
    what: "an MTU below IPv6's minimum",
    text: nat("lowestIpv6Mtu: 1000"),
    at: "home.yaml#1 Nat64Gateway/home spec.lowestIpv6Mtu",
    says: "1000 is below the minimum, 1280",
  },
  {
    what: "a list where text belongs",
    text: nat("tunName: [a, b]"),
    at: "home.yaml#1 Nat64Gateway/home spec.tunName",
    says: "expected text, got a list",
  },
  {
    what: "text where a list belongs",
    text: natOnly(`pool4: 198.51.100.1\nallowedSources: ["2001:db8:1::/64"]`),
    at: "home.yaml#1 Nat64Gateway/home spec.pool4",
    says: 'expected a list, got text ("198.51.100.1")',
  },
  {
    what: "an interface name longer than Linux allows",
    text: nat("tunName: a-very-long-tun-name"),
    at: "home.yaml#1 Nat64Gateway/home spec.tunName",
    says: "1 to 15 characters on Linux",
  },
  {
    what: "a missing spec",
    text: "apiVersion: v6mostly.dev/v1alpha1\nkind: Nat64Gateway\nmetadata: { name: home }\n",
    at: "home.yaml#1 Nat64Gateway/home spec",
    says: "is required",
  },
  {
    what: "a name Kubernetes refuses",
    text: doc("Nat64Gateway", "Home_GW", NAT64_OK),
    at: "home.yaml#1 Nat64Gateway/Home_GW metadata.name",
    says: "is not a valid name",
  },
  {
    what: "a device-style interface name on a resource that runs on a node",
    text: ra(`prefixes: []`).replace("interface: lan0", "interface: GigabitEthernet0/0/1.100"),
    at: "home.yaml#1 RouterAdvert/lan spec.interface",
    says: "is not an interface name (1 to 15 characters on Linux); device interface names need a deviceRef",
  },
  {
    what: "a slash in a DHCP interface on a node",
    text: dhcp("", DHCP_OK.replace("interface: lan0", "interface: eth0/1")),
    at: "home.yaml#1 DhcpScope/lan spec.interface",
    says: 'is not an interface name (no spaces, "/" or ":")',
  },
  {
    what: "an uplink interface with a space",
    text: nat("uplinkInterface: eth 0"),
    at: "home.yaml#1 Nat64Gateway/home spec.uplinkInterface",
    says: '"eth 0" is not an interface name (no spaces)',
  },
  // --- Dns64Resolver
  {
    what: "no prefix and no nat64GatewayRef",
    text: dns(DNS_OK.replace("prefix: 64:ff9b::/96", "")),
    at: "home.yaml#1 Dns64Resolver/lan spec.prefix",
    says: "set prefix (the PREF64 to synthesize with) or nat64GatewayRef",
  },
  {
    what: "both prefix and nat64GatewayRef",
    text: dns(`${DNS_OK}\nnat64GatewayRef: { name: home }`),
    at: "home.yaml#1 Dns64Resolver/lan spec.nat64GatewayRef",
    says: "not both",
  },
  {
    what: "no allowClients",
    text: dns(DNS_OK.replace(`allowClients: ["2001:db8:1::/64", "192.0.2.0/24"]`, "")),
    at: "home.yaml#1 Dns64Resolver/lan spec.allowClients",
    says: "is required",
  },
  {
    what: "an open resolver",
    text: dns(DNS_OK.replace(`allowClients: ["2001:db8:1::/64", "192.0.2.0/24"]`, `allowClients: ["::/0"]`)),
    at: "home.yaml#1 Dns64Resolver/lan spec.allowClients[0]",
    says: "v6mostly is never an open resolver",
  },
  {
    what: "an upstream given by name",
    text: dns(DNS_OK.replace(`["198.51.100.53"]`, `["dns.example"]`)),
    at: "home.yaml#1 Dns64Resolver/lan spec.upstreams[0]",
    says: "host names are not resolved here: give an IP address",
  },
  {
    what: "an upstream that is the resolver itself",
    text: dns(DNS_OK.replace(`["198.51.100.53"]`, `["192.0.2.53:53"]`)),
    at: "home.yaml#1 Dns64Resolver/lan spec.upstreams[0]",
    says: "every query would loop back to it",
  },
  {
    what: "brackets around an IPv4 listen address",
    text: dns(DNS_OK.replace(`"192.0.2.53"]`, `"[192.0.2.53]:53"]`)),
    at: "home.yaml#1 Dns64Resolver/lan spec.listen[1]",
    says: "brackets are for IPv6 addresses only",
  },
  {
    what: "a port out of range",
    text: dns(DNS_OK.replace(`"192.0.2.53"]`, `"192.0.2.53:70000"]`)),
    at: "home.yaml#1 Dns64Resolver/lan spec.listen[1]",
    says: "port must be 1 to 65535",
  },
  {
    what: "the same listen address twice",
    text: dns(DNS_OK.replace(`"192.0.2.53"]`, `"192.0.2.53", "192.0.2.53:53"]`)),
    at: "home.yaml#1 Dns64Resolver/lan spec.listen[2]",
    says: "is listed twice (listen[1])",
  },
  {
    what: "a nat64GatewayRef that names nothing",
    text: `${dns(DNS_OK.replace("prefix: 64:ff9b::/96", "nat64GatewayRef: { name: hoem }"))}---\n${nat("")}`,
    at: "home.yaml#1 Dns64Resolver/lan spec.nat64GatewayRef.name",
    says: 'no Nat64Gateway named "hoem" in these files (there is home); did you mean home?',
  },
  // --- RouterAdvert (RFC 4861 §6.2.1, RFC 8106, RFC 8781, RFC 4191)
  {
    what: "MaxRtrAdvInterval above 1800 s",
    text: ra("interval: { max: 1h }"),
    at: "home.yaml#1 RouterAdvert/lan spec.interval.max",
    says: "3600s is outside 4s to 1800s (RFC 4861 §6.2.1, MaxRtrAdvInterval)",
  },
  {
    what: "MinRtrAdvInterval above 0.75 x Max",
    text: ra("interval: { min: 500, max: 600 }"),
    at: "home.yaml#1 RouterAdvert/lan spec.interval.min",
    says: "500s is outside 3s to 0.75 × max = 450s",
  },
  {
    what: "a router lifetime shorter than the interval",
    text: ra("defaultRouter: { lifetime: 100 }"),
    at: "home.yaml#1 RouterAdvert/lan spec.defaultRouter.lifetime",
    says: "must be 0 (not a default router) or between interval.max (10m) and 65535s",
  },
  {
    what: "a preference on a router that is not a default router",
    text: ra("defaultRouter: { lifetime: 0, preference: high }"),
    at: "home.yaml#1 RouterAdvert/lan spec.defaultRouter.preference",
    says: "must be medium when lifetime is 0 (RFC 4191 §2.2)",
  },
  {
    what: "a /48 for SLAAC",
    text: ra(`prefixes: [{ prefix: "2001:db8::/48" }]`),
    at: "home.yaml#1 RouterAdvert/lan spec.prefixes[0].prefix",
    says: "hosts ignore a /48 for SLAAC",
  },
  {
    what: "preferred lifetime longer than valid",
    text: ra(`prefixes: [{ prefix: "2001:db8::/64", validLifetime: 1d, preferredLifetime: 7d }]`),
    at: "home.yaml#1 RouterAdvert/lan spec.prefixes[0].preferredLifetime",
    says: "is longer than validLifetime; hosts ignore such a prefix (RFC 4862 §5.5.3 c)",
  },
  {
    what: "an RDNSS lifetime shorter than the interval",
    text: ra(`rdnss: [{ address: "2001:db8::53", lifetime: 5m }]`),
    at: "home.yaml#1 RouterAdvert/lan spec.rdnss[0].lifetime",
    says: "5m is shorter than interval.max (10m): hosts would drop it between advertisements (RFC 8106 §5.1",
  },
  {
    what: "a multicast RDNSS address",
    text: ra(`rdnss: [{ address: "ff02::1" }]`),
    at: "home.yaml#1 RouterAdvert/lan spec.rdnss[0].address",
    says: "cannot be a DNS server's address",
  },
  {
    what: "a PREF64 lifetime the option cannot carry",
    text: ra(`pref64: { prefix: "64:ff9b::/96", lifetime: 70000 }`),
    at: "home.yaml#1 RouterAdvert/lan spec.pref64.lifetime",
    says: "at most 65528s (RFC 8781 §4, 13 bits in units of 8 s)",
  },
  {
    what: "a PREF64 with neither prefix nor reference",
    text: ra(`pref64: { lifetime: 30m }`),
    at: "home.yaml#1 RouterAdvert/lan spec.pref64.prefix",
    says: "set prefix (the PREF64 to announce) or nat64GatewayRef",
  },
  {
    what: "a PREF64 of a length RFC 8781 cannot encode",
    text: ra(`pref64: { prefix: "64:ff9b::/80" }`),
    at: "home.yaml#1 RouterAdvert/lan spec.pref64.prefix",
    says: "/80 is not a NAT64 prefix length",
  },
  {
    what: "a search domain with a space",
    text: ra(`dnssl: [{ domain: "home arpa" }]`),
    at: "home.yaml#1 RouterAdvert/lan spec.dnssl[0].domain",
    says: "is not a domain name",
  },
  {
    what: "an MTU below 1280",
    text: ra("mtu: 1200"),
    at: "home.yaml#1 RouterAdvert/lan spec.mtu",
    says: "1200 is below the minimum, 1280",
  },
  // --- DhcpScope (RFC 2131/2132, RFC 8925)
  {
    what: "a range outside the subnet",
    text: dhcp("", DHCP_OK.replace("192.0.2.100-192.0.2.199", "198.51.100.100-198.51.100.199")),
    at: "home.yaml#1 DhcpScope/lan spec.ranges[0]",
    says: "is not inside 192.0.2.0/24's usable addresses 192.0.2.1-192.0.2.254",
  },
  {
    what: "a range that takes the network address",
    text: dhcp("", DHCP_OK.replace("192.0.2.100-192.0.2.199", "192.0.2.0-192.0.2.99")),
    at: "home.yaml#1 DhcpScope/lan spec.ranges[0]",
    says: "is not inside 192.0.2.0/24's usable addresses",
  },
  {
    what: "overlapping ranges",
    text: dhcp(
      "",
      DHCP_OK.replace(
        `["192.0.2.100-192.0.2.199"]`,
        `["192.0.2.100-192.0.2.199", "192.0.2.150-192.0.2.160"]`,
      ),
    ),
    at: "home.yaml#1 DhcpScope/lan spec.ranges[1]",
    says: "overlaps 192.0.2.100-192.0.2.199 (ranges[0])",
  },
  {
    what: "a router outside the subnet",
    text: dhcp("", DHCP_OK.replace("router: 192.0.2.1", "router: 198.51.100.1")),
    at: "home.yaml#1 DhcpScope/lan spec.router",
    says: "198.51.100.1 is not inside 192.0.2.0/24's usable addresses",
  },
  {
    what: "a router inside a range",
    text: dhcp("", DHCP_OK.replace("router: 192.0.2.1", "router: 192.0.2.150")),
    at: "home.yaml#1 DhcpScope/lan spec.router",
    says: "lies inside ranges and would be leased to a client: add it to exclude",
  },
  {
    what: "an exclusion outside the subnet",
    text: dhcp(`exclude: ["198.51.100.5"]`),
    at: "home.yaml#1 DhcpScope/lan spec.exclude[0]",
    says: "is not inside 192.0.2.0/24",
  },
  {
    what: "a reservation outside the subnet",
    text: dhcp(`reservations: [{ mac: "02:00:00:00:00:01", address: 203.0.113.5 }]`),
    at: "home.yaml#1 DhcpScope/lan spec.reservations[0].address",
    says: "203.0.113.5 is not inside",
  },
  {
    what: "a reservation with a malformed MAC",
    text: dhcp(`reservations: [{ mac: "02:00:00:00:01", address: 192.0.2.10 }]`),
    at: "home.yaml#1 DhcpScope/lan spec.reservations[0].mac",
    says: "is not a MAC address",
  },
  {
    what: "one MAC reserved twice",
    text: dhcp(
      `reservations:\n- { mac: "02:00:00:00:00:01", address: 192.0.2.10 }\n- { mac: "02-00-00-00-00-01", address: 192.0.2.11 }`,
    ),
    at: "home.yaml#1 DhcpScope/lan spec.reservations[1].mac",
    says: "is reserved twice (reservations[0])",
  },
  {
    what: "a reservation on the router's address",
    text: dhcp(`reservations: [{ mac: "02:00:00:00:00:01", address: 192.0.2.1 }]`),
    at: "home.yaml#1 DhcpScope/lan spec.reservations[0].address",
    says: "is the router's address",
  },
  {
    what: "a server address outside the subnet",
    text: dhcp("serverAddress: 198.51.100.2"),
    at: "home.yaml#1 DhcpScope/lan spec.serverAddress",
    says: "198.51.100.2 is not inside 192.0.2.0/24's usable addresses",
  },
  {
    what: "a server address inside a range",
    text: dhcp("serverAddress: 192.0.2.120"),
    at: "home.yaml#1 DhcpScope/lan spec.serverAddress",
    says: "lies inside ranges and would be leased to a client: add it to exclude",
  },
  {
    what: "a reservation on the server's address",
    text: dhcp(`serverAddress: 192.0.2.2\nreservations: [{ mac: "02:00:00:00:00:01", address: 192.0.2.2 }]`),
    at: "home.yaml#1 DhcpScope/lan spec.reservations[0].address",
    says: "is the server's address",
  },
  {
    what: "a V6ONLY_WAIT below 300 s",
    text: dhcp("ipv6OnlyPreferred: 60"),
    at: "home.yaml#1 DhcpScope/lan spec.ipv6OnlyPreferred",
    says: "60s is below MIN_V6ONLY_WAIT, 300 s (RFC 8925 §3.4)",
  },
  {
    what: "a raw option the server manages",
    text: dhcp(`options: [{ code: 51, hex: "00000e10" }]`),
    at: "home.yaml#1 DhcpScope/lan spec.options[0].code",
    says: "option 51 is lease time (from leaseTime); it cannot be set as a raw option",
  },
  {
    what: "raw option 108 (use ipv6OnlyPreferred)",
    text: dhcp(`options: [{ code: 108, hex: "00000708" }]`),
    at: "home.yaml#1 DhcpScope/lan spec.options[0].code",
    says: "IPv6-Only Preferred (from ipv6OnlyPreferred)",
  },
  {
    what: "an odd number of hex digits",
    text: dhcp(`options: [{ code: 43, hex: "0104c0a8010" }]`),
    at: "home.yaml#1 DhcpScope/lan spec.options[0].hex",
    says: "is not hex bytes",
  },
  {
    what: "an option listed twice",
    text: dhcp(`options:\n- { code: 43, hex: "01" }\n- { code: 43, hex: "02" }`),
    at: "home.yaml#1 DhcpScope/lan spec.options[1].code",
    says: "option 43 is listed twice (options[0])",
  },
  {
    what: "option code 255",
    text: dhcp(`options: [{ code: 255, hex: "01" }]`),
    at: "home.yaml#1 DhcpScope/lan spec.options[0].code",
    says: "255 is above the maximum, 254",
  },
  {
    what: "a too short lease",
    text: dhcp("leaseTime: 30s"),
    at: "home.yaml#1 DhcpScope/lan spec.leaseTime",
    says: "30s is too short a lease",
  },
  {
    what: "a scope without ranges",
    text: doc("DhcpScope", "lan", "interface: lan0\nsubnet: 192.0.2.0/24\nranges: []"),
    at: "home.yaml#1 DhcpScope/lan spec.ranges",
    says: "needs at least one entry",
  },
  // --- ExternalDevice
  {
    what: "plain HTTP to a device",
    text: dev(DEV_OK.replace("https://", "http://")),
    at: "home.yaml#1 ExternalDevice/fgt spec.endpoint",
    says: "http:// would send the credentials in clear text; use https://",
  },
  {
    what: "credentials in the URL",
    text: dev(DEV_OK.replace("https://", "https://admin:secret@")),
    at: "home.yaml#1 ExternalDevice/fgt spec.endpoint",
    says: "credentials never go in the URL",
  },
  {
    what: "no credentials at all",
    text: dev(DEV_OK.replace("credentialsEnv: FGT_TOKEN", "")),
    at: "home.yaml#1 ExternalDevice/fgt spec.credentialsSecretRef",
    says: "name where the credentials are",
  },
  {
    what: "two credential sources",
    text: dev(`${DEV_OK}\ncredentialsFile: /etc/fgt.token`),
    at: "home.yaml#1 ExternalDevice/fgt spec.credentialsSecretRef",
    says: "give one of credentialsSecretRef, credentialsFile, credentialsEnv",
  },
  {
    what: "an IOS-XE device without a user",
    text: dev(DEV_OK.replace("fortios", "iosxe")),
    at: "home.yaml#1 ExternalDevice/fgt spec.username",
    says: "IOS-XE needs a username",
  },
  {
    what: "a VDOM on IOS-XE",
    text: dev(`${DEV_OK.replace("fortios", "iosxe")}\nusername: admin\nvdom: root`),
    at: "home.yaml#1 ExternalDevice/fgt spec.vdom",
    says: "vdom is a FortiOS setting",
  },
  {
    what: "FortiOS over RESTCONF",
    text: dev(`${DEV_OK}\ntransport: restconf`),
    at: "home.yaml#1 ExternalDevice/fgt spec.transport",
    says: "FortiOS is driven through its REST API",
  },
  {
    what: "a version that is not one",
    text: dev(`${DEV_OK}\nversion: latest`),
    at: "home.yaml#1 ExternalDevice/fgt spec.version",
    says: "a version such as 6.2.16 or 17.12.3",
  },
  {
    what: "a deviceRef that names nothing",
    text: nat("deviceRef: { name: isr }"),
    at: "home.yaml#1 Nat64Gateway/home spec.deviceRef.name",
    says: 'no ExternalDevice named "isr" in these files',
  },
  // --- documents
  {
    what: "a document that is not a mapping",
    text: "- a\n- b\n",
    at: "home.yaml#1",
    says: "expected a resource (a mapping with apiVersion, kind, metadata and spec)",
  },
  {
    what: "no apiVersion",
    text: "kind: Nat64Gateway\nmetadata: { name: x }\n",
    at: "home.yaml#1 apiVersion",
    says: "apiVersion is missing; v6mostly resources use v6mostly.dev/v1alpha1",
  },
  {
    what: "an unknown version of our group",
    text: "apiVersion: v6mostly.dev/v1\nkind: Nat64Gateway\nmetadata: { name: x }\nspec: {}\n",
    at: "home.yaml#1 apiVersion",
    says: "v6mostly.dev/v1 is not a version this v6mostly knows; use v6mostly.dev/v1alpha1",
  },
  {
    what: "a misspelt kind",
    text: doc("Nat64Gatway", "home", NAT64_OK),
    at: "home.yaml#1 kind",
    says: '"Nat64Gatway" is not a v6mostly kind (Nat64Gateway, Dns64Resolver, RouterAdvert, DhcpScope, ExternalDevice, EdgeTranslation); did you mean Nat64Gateway?',
  },
  {
    what: "broken YAML",
    text: "apiVersion: v6mostly.dev/v1alpha1\nkind: Nat64Gateway\nmetadata: { name: home\n",
    at: "home.yaml#1",
    says: "not valid YAML (line",
  },
  {
    what: "a key given twice",
    text: "apiVersion: v6mostly.dev/v1alpha1\nkind: Nat64Gateway\nkind: DhcpScope\n",
    at: "home.yaml#1",
    says: "not valid YAML",
  },
  {
    what: "one name used twice",
    text: `${nat("")}---\n${nat("")}`,
    at: "home.yaml#2 Nat64Gateway/home metadata.name",
    says: "Nat64Gateway/home is defined twice (first in home.yaml#1)",
  },
];

describe("validate: every rejection names file#document, kind/name and field", () => {
  for (const c of CASES) {
    it(c.what, () => {
      const { errors } = validateText(c.text);
      const hit = errors.find(
        (l) => l.startsWith(`${c.at}: `) || (c.at.endsWith("#1") && l.startsWith(`${c.at} `)),
      );
      assert.ok(hit, `no line at "${c.at}"; got:\n${errors.join("\n")}`);
      assert.ok(hit.includes(c.says), `line does not say "${c.says}":\n${hit}`);
    });
  }

  it("prints the issue's example line exactly", () => {
    const { errors } = validateText(
      `${nat("")}---\n${nat("", NAT64_OK.replace("64:ff9b::/96", "fd00:ff9b::/72")).replace("name: home", "name: home2")}`,
    );
    assert.deepEqual(errors, [
      "home.yaml#2 Nat64Gateway/home2 spec.prefix: /72 is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)",
    ]);
  });

  it("reports every problem in one run, across documents", () => {
    const text = [
      nat("", NAT64_OK.replace("64:ff9b::/96", "64:ff9b::/72")),
      dhcp("ipv6OnlyPreferred: 10").replace("name: lan", "name: a"),
      ra("interval: { max: 2 }"),
    ].join("---\n");
    const { errors } = validateText(text);
    assert.equal(errors.length, 3, errors.join("\n"));
    assert.match(errors[0]!, /^home\.yaml#1 /);
    assert.match(errors[1]!, /^home\.yaml#2 /);
    assert.match(errors[2]!, /^home\.yaml#3 /);
  });

  it("skips other Kubernetes objects with a warning, not an error", () => {
    const v = validateText(`apiVersion: v1\nkind: Secret\nmetadata: { name: fgt-token }\n---\n${nat("")}`);
    assert.equal(v.errors.length, 0);
    assert.equal(v.resources.length, 1);
    assert.deepEqual(v.lines, [
      "home.yaml#1 Secret/fgt-token warning: skipped: v1 is not a v6mostly resource",
    ]);
  });

  it("accepts durations in every documented form", () => {
    for (const [text, seconds] of [
      ["300", 300],
      ["300s", 300],
      ["30m", 1800],
      ["2h4m", 7440],
      ["30d", 2592000],
      ["1w", 604800],
    ] as const) {
      const v = validateText(nat(`timeouts: { udp: ${text}, tcpEstablished: 30d }`));
      assert.deepEqual(v.errors, [], text);
      const spec = v.resources[0]!.spec as { timeouts: { udp: number } };
      assert.equal(spec.timeouts.udp, seconds, text);
    }
  });

  it("accepts device interface names when the resource runs on a device", () => {
    const device = doc(
      "ExternalDevice",
      "isr",
      "vendor: iosxe\nendpoint: https://192.0.2.9\nusername: admin\ncredentialsEnv: ISR_PASSWORD",
    );
    const v = validateText(
      `${device}---\n${ra("deviceRef: { name: isr }").replace("interface: lan0", "interface: GigabitEthernet0/0/1.100")}`,
    );
    assert.deepEqual(v.errors, []);
  });

  it('accepts "infinity" for prefix lifetimes and nowhere else', () => {
    const ok = validateText(
      ra(`prefixes: [{ prefix: "2001:db8::/64", validLifetime: infinity, preferredLifetime: infinity }]`),
    );
    assert.deepEqual(ok.errors, []);
    const bad = validateText(ra(`pref64: { prefix: "64:ff9b::/96", lifetime: infinity }`));
    assert.equal(bad.errors.length, 1);
    assert.match(bad.errors[0]!, /spec\.pref64\.lifetime: "infinity" is not a duration/);
  });
});
