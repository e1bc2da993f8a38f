// What the edge service checks before it loads anything: forwarding for the families the resource
// translates, and nf_nat in the kernel, from the files a host offers (read through a fake reader).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { forwardingProblems, ownAddressClashes } from "../../../src/services/edge/host.ts";
import { natSupport } from "../../../src/services/edge/nft.ts";
import { edge } from "./lab.ts";

const base = { insideInterfaces: ["l0"], outsideInterface: "w0" };

describe("forwardingProblems", () => {
  const sysctls = (v4: string, v6: string) => (path: string) => (path.includes("ipv4") ? v4 : v6);

  it("names each forwarding sysctl that is off, for the families the spec translates only", () => {
    const only4 = edge({ ...base, snat44: { mode: "overload" } }).spec;
    assert.deepEqual(forwardingProblems(only4, sysctls("0\n", "0\n")), [
      "net.ipv4.ip_forward is 0: this node must forward IPv4 (sysctl -w net.ipv4.ip_forward=1, or a sysctl.d file)",
    ]);
    const only6 = edge({ ...base, snat66: { mode: "interface" } }).spec;
    assert.match(
      forwardingProblems(only6, sysctls("0", "0")).join(),
      /net\.ipv6\.conf\.all\.forwarding is 0/,
    );
    assert.deepEqual(forwardingProblems(only6, sysctls("0", "1")), []);
  });

  it("an unreadable sysctl is a problem, not a pass", () => {
    const spec = edge({ ...base, snat44: { mode: "overload" } }).spec;
    const problems = forwardingProblems(spec, () => {
      throw new Error("EACCES");
    });
    assert.match(problems.join(), /cannot read \/proc\/sys\/net\/ipv4\/ip_forward: EACCES/);
  });
});

describe("ownAddressClashes", () => {
  it("names the node's own outside address in any external range, and passes the others", () => {
    const spec = edge({
      ...base,
      snat44: { pool: ["192.0.2.151-192.0.2.200"] },
      dnat66: [{ external: "2001:db8:1::/120", internal: "fd00:1::/120" }],
      snat66: { mode: "nptv6", nptv6: { inside: "fd00:2::/64", outside: "2001:db8:2::/64" } },
    }).spec;
    assert.deepEqual(ownAddressClashes(spec, ["192.0.2.2", "2001:db8:1::200", "fe80::1"]), []);
    const problems = ownAddressClashes(spec, ["192.0.2.160", "2001:db8:1::2", "2001:db8:2::1"]);
    assert.deepEqual(
      problems.map((p) => /lies in spec\.(\S+):/.exec(p)?.[1]),
      ["snat44.pool[0]", "dnat66[0].external", "snat66.nptv6.outside"],
    );
    assert.match(problems[0]!, /^192\.0\.2\.160 on w0 is this node's own address/);
  });
});

describe("natSupport", () => {
  const host = (files: Record<string, string>) => (path: string) => files[path];
  const K = "6.1.0-test";

  it("finds nf_nat loaded, built in, loadable or configured", () => {
    assert.equal(natSupport(host({ "/proc/modules": "nf_nat 57344 2 nft_chain_nat, Live 0x0\n" }), K), "yes");
    assert.equal(
      natSupport(host({ [`/lib/modules/${K}/modules.builtin`]: "kernel/net/netfilter/nf_nat.ko\n" }), K),
      "yes",
    );
    assert.equal(
      natSupport(
        host({ [`/lib/modules/${K}/modules.dep`]: "kernel/net/netfilter/nf_nat.ko.xz: kernel/x.ko\n" }),
        K,
      ),
      "yes",
    );
    assert.equal(natSupport(host({ "/proc/config.gz": "CONFIG_NF_NAT=m\n" }), K), "yes");
  });

  it("says no when the kernel's own lists leave it out, unknown when there is nothing to read", () => {
    assert.equal(natSupport(host({ "/proc/config.gz": "# CONFIG_NF_NAT is not set\n" }), K), "no");
    assert.equal(
      natSupport(host({ [`/lib/modules/${K}/modules.dep`]: "kernel/net/netfilter/nf_nat_ftp.ko:\n" }), K),
      "no",
    );
    assert.equal(natSupport(host({ "/proc/modules": "veth 40960 0 - Live 0x0\n" }), K), "unknown");
  });

  it("reads this machine (nf_nat is present wherever the namespace tests pass)", () => {
    assert.notEqual(natSupport(), "no");
  });
});
