// The command line as a user runs it: a real process, its output and exit status.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { repoRoot } from "../../src/api/gen.ts";
import { doc, NAT64_OK } from "../support/validate.ts";

const dir = mkdtempSync(join(tmpdir(), "v6m-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function v6mostly(...args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot, "bin", "v6mostly.js"), ...args], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("v6mostly CLI", () => {
  it("validate passes each example site (single-host, the lab, the seed); together they overlap", () => {
    const seen: string[] = [];
    for (const site of ["examples/single-host.yaml", "examples/lab", "examples/seed"]) {
      const r = v6mostly("validate", "-f", join(repoRoot, site));
      assert.equal(r.code, 0, `${site}: ${r.out}${r.err}`);
      assert.match(r.out, /^valid: \d+ \w+(, \d+ \w+)*\n$/);
      seen.push(r.out);
    }
    for (const kind of [
      "ExternalDevice",
      "DhcpScope",
      "Dns64Resolver",
      "Nat64Gateway",
      "RouterAdvert",
      "EdgeTranslation",
    ]) {
      assert.ok(seen.join("").includes(kind), `${kind} missing from ${seen.join("")}`);
    }
    // the examples are alternatives: their pool4 and DHCP ranges overlap, and validate says so
    const all = v6mostly(
      "validate",
      "-f",
      join(repoRoot, "examples/single-host.yaml"),
      "-f",
      join(repoRoot, "examples/lab"),
    );
    assert.equal(all.code, 1);
    assert.match(
      all.out,
      /spec\.pool4: its pool4 overlaps the pool4 of Nat64Gateway\/\w+: one address cannot serve both/,
    );
  });

  it("validate prints one line per problem and exits 1", () => {
    writeFileSync(
      join(dir, "home.yaml"),
      `${doc("Nat64Gateway", "home", NAT64_OK.replace("64:ff9b::/96", "fd00:ff9b::/72"))}---\n${doc("DhcpScope", "lan", "interface: lan0\nsubnet: 192.0.2.0/24\nranges: [192.0.2.10]\nipv6OnlyPreferred: 1m")}`,
    );
    const r = v6mostly("validate", "-f", "home.yaml");
    assert.equal(r.code, 1);
    assert.equal(
      r.out,
      "home.yaml#1 Nat64Gateway/home spec.prefix: /72 is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)\n" +
        "home.yaml#2 DhcpScope/lan spec.ipv6OnlyPreferred: 60s is below MIN_V6ONLY_WAIT, 300 s (RFC 8925 §3.4); clients would wait 300 s anyway\n",
    );
    assert.equal(r.err, "2 problems found\n");
  });

  it("plan --nodes reads a one-node JSON list, nodes without labels, and says when the file is missing", () => {
    writeFileSync(join(dir, "one.json"), JSON.stringify([{ name: "a" }]));
    writeFileSync(join(dir, "nodes-two.yaml"), "nodes:\n  - name: b\n");
    const one = v6mostly("plan", "-f", join(repoRoot, "examples", "single-host.yaml"), "--nodes", "one.json");
    assert.equal(one.code, 0, one.err);
    assert.match(one.out, /^cluster plan\n/);
    assert.match(one.out, /^node a +Nat64Gateway\//m);
    const two = v6mostly(
      "plan",
      "-f",
      join(repoRoot, "examples", "single-host.yaml"),
      "--nodes",
      "nodes-two.yaml",
    );
    assert.equal(two.code, 0, two.err);
    assert.match(two.out, /^node b +/m);
    const missing = v6mostly(
      "plan",
      "-f",
      join(repoRoot, "examples", "single-host.yaml"),
      "--nodes",
      "nope.yaml",
    );
    assert.equal(missing.code, 1);
    assert.equal(missing.err, "nope.yaml: no such file or folder\n");
  });

  it("plan prints a table, and JSON with -o json", () => {
    const t = v6mostly("plan", "-f", join(repoRoot, "examples", "seed"));
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /^standalone plan\n\nWHERE +RESOURCE +WHAT\n/);
    assert.match(
      t.out,
      /device isr \(iosxe 17\.12\.3\) +Nat64Gateway\/home +NAT64 fd00:ff9b::\/96 -> pool4 192\.168\.1\.201-192\.168\.1\.250 \(50 addresses\)\n/,
    );
    assert.doesNotMatch(t.out, /device .*tun /, "no TUN device on an ExternalDevice");
    assert.match(
      t.out,
      /device fortigate \(fortios 6\.2\.16\) +Dns64Resolver\/lan +DNS64 fd00:ff9b::\/96 on \[fc00::1\]:53, 172\.16\.1\.254:53/,
    );
    assert.match(
      t.out,
      /device fortigate \(fortios 6\.2\.16\) +EdgeTranslation\/home +lan1 -> wan1: SNAT44 pool 192\.168\.1\.151-192\.168\.1\.200 one-to-one, DNAT44 192\.168\.1\.101-192\.168\.1\.151 -> 172\.16\.1\.1-172\.16\.1\.51, SNAT66 wan1's address/,
    );
    const j = v6mostly("plan", "-f", join(repoRoot, "examples", "seed"), "-o", "json");
    assert.equal(j.code, 0);
    const p = JSON.parse(j.out) as { mode: string; devices: { name: string; assignments: unknown[] }[] };
    assert.equal(p.mode, "standalone");
    assert.deepEqual(p.devices.map((d) => [d.name, d.assignments.length]).sort(), [
      ["fortigate", 2],
      ["isr", 3],
    ]);
  });

  it("plan --nodes splits pool4 and exits 1 on conflicts", () => {
    writeFileSync(
      join(dir, "nodes.yaml"),
      "- { name: a, labels: { role: edge } }\n- { name: b, labels: { role: edge } }\n",
    );
    writeFileSync(
      join(dir, "two.yaml"),
      [
        doc("RouterAdvert", "x", "interface: lan0"),
        doc("RouterAdvert", "y", "interface: lan0"),
        doc("Nat64Gateway", "gw", NAT64_OK),
      ].join("---\n"),
    );
    const r = v6mostly("plan", "-f", "two.yaml", "--nodes", "nodes.yaml");
    assert.equal(r.code, 1);
    assert.match(r.out, /^cluster plan/);
    assert.match(r.out, /node a +Nat64Gateway\/gw +NAT64 64:ff9b::\/96 -> pool4 .* \(\d+ of 10 addresses\)/);
    assert.match(r.out, /two\.yaml#2 RouterAdvert\/y on node a: interface lan0 already has RouterAdvert\/x/);
  });

  it("plan --nodes shows a DhcpScope on every selected node as a candidate, and what moves", () => {
    writeFileSync(
      join(dir, "scope.yaml"),
      doc(
        "DhcpScope",
        "lan",
        "interface: lan0\nsubnet: 192.0.2.0/24\nranges: [192.0.2.10]\nserverAddress: 192.0.2.2",
      ),
    );
    const r = v6mostly("plan", "-f", "scope.yaml", "--nodes", "nodes.yaml");
    assert.equal(r.code, 0, r.out + r.err);
    for (const node of ["a", "b"]) {
      assert.match(
        r.out,
        new RegExp(
          `node ${node} +DhcpScope/lan +DHCPv4 on lan0 .*; candidate: the holder of Lease v6mostly-owner-default-dhcpscope-lan serves, 192\\.0\\.2\\.2 moves with it`,
        ),
      );
    }
  });

  it("plan refuses invalid resources and unreadable node lists", () => {
    writeFileSync(join(dir, "bad.yaml"), doc("Nat64Gateway", "gw", "pool4: []"));
    const bad = v6mostly("plan", "-f", "bad.yaml");
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no plan made/);
    writeFileSync(join(dir, "ok.yaml"), doc("Nat64Gateway", "gw", NAT64_OK));
    writeFileSync(join(dir, "nodes.bad"), "just: text");
    const n = v6mostly("plan", "-f", "ok.yaml", "--nodes", "nodes.bad");
    assert.equal(n.code, 1);
    assert.match(n.err, /nodes\.bad: expected a list of nodes/);
    const o = v6mostly("plan", "-f", "ok.yaml", "-o", "xml");
    assert.equal(o.code, 2);
    assert.match(o.err, /--output must be table or json/);
  });

  it("--help teaches: commands, examples, exit status", () => {
    const top = v6mostly("--help");
    assert.equal(top.code, 0);
    assert.match(top.out, /validate \[options\]/);
    assert.match(top.out, /plan \[options\]/);
    const v = v6mostly("validate", "--help");
    assert.match(v.out, /Exit status: 0 when every resource is valid/);
    assert.match(v.out, /v6mostly validate -f examples\//);
    const p = v6mostly("plan", "--help");
    assert.match(p.out, /split between them/);
  });

  it("a missing -f is a usage error, not a crash", () => {
    const r = v6mostly("validate");
    assert.equal(r.code, 1);
    assert.match(r.err, /required option '-f, --filename <path\.\.\.>' not specified/);
  });
});
