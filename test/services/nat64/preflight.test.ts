/**
 * The datapath preflight names exactly what is missing (run inside a fresh
 * network namespace, so the host's own configuration is never read or touched).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { canRun, REPO, sh } from "./lab.ts";

const skip = canRun();

test("preflight: missing uplink, uplink without IPv4, pool4 assigned locally or answered on the segment", (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const ns = `v6m-n64-${process.pid}-pf`;
  sh(["ip", "netns", "add", ns]);
  t.after(() => sh(["ip", "netns", "del", ns]));
  const ipn = (...a: string[]) => sh(["ip", "-n", ns, ...a]);
  ipn("link", "add", "u4", "type", "veth", "peer", "name", "p4");
  ipn("link", "set", "p4", "up");
  ipn("link", "set", "u4", "up");
  ipn("link", "add", "u6", "type", "veth", "peer", "name", "p6");
  ipn("link", "set", "p6", "up");
  ipn("link", "set", "u6", "up");
  ipn("addr", "add", "203.0.113.1/24", "dev", "u4");
  ipn("addr", "add", "203.0.113.129/32", "dev", "u6");
  ipn("neigh", "add", "203.0.113.130", "lladdr", "02:00:00:00:00:01", "dev", "u4", "nud", "permanent");
  const run = (uplink: string) => {
    const code = `import { preflight } from ${JSON.stringify(join(REPO, "src/services/nat64/host.ts"))};
const p = await preflight({ tunName: "x", mtu: 1500, routes6: [], routes4: [], uplink: ${JSON.stringify(uplink)}, proxy4: [] },
  [{ first: 0xcb007180, last: 0xcb007187 }]);
console.log(JSON.stringify(p));`;
    const problems = JSON.parse(
      sh(["ip", "netns", "exec", ns, process.execPath, "--import", "tsx", "--input-type=module", "-e", code]),
    ) as { reason: string; message: string }[];
    // each problem has the reason a status condition shows, and the sentence
    return problems.map((p) => `${p.reason}: ${p.message}`);
  };
  const a = run("nope0");
  assert.ok(a.includes("NoSuchInterface: uplink interface nope0 does not exist"), a.join("\n"));
  assert.ok(
    a.includes("Pool4InUse: pool4 address 203.0.113.129 is assigned to u6 on this host"),
    a.join("\n"),
  );
  const b = run("u6");
  assert.ok(b.includes("NoIPv4Uplink: uplink u6 has no IPv4 address") === false, "u6 has a /32");
  const c = run("u4");
  assert.ok(
    c.includes(
      "Pool4InUse: pool4 address 203.0.113.130 is already in use on u4 (neighbour 02:00:00:00:00:01)",
    ),
    c.join("\n"),
  );
  ipn("addr", "flush", "dev", "u4");
  const d = run("u4");
  assert.ok(d.includes("NoIPv4Uplink: uplink u4 has no IPv4 address"), d.join("\n"));
  assert.ok(!d.some((x) => x.includes("CAP_NET_ADMIN")), "root has CAP_NET_ADMIN");
});
