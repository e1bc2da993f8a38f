// The EdgeTranslation's table in a real kernel: loaded into a namespace and read back with
// `nft -j list table`; through `v6mostly run`: replaced atomically on reload (a poller never sees
// it missing), removed on stop with the default route it replaced restored, another table left
// alone; refusals when forwarding is off and when nft is missing.
import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { edgeRuleset } from "../../../src/services/edge/ruleset.ts";
import { canRun, EdgeLab, edge, sh, waitFor } from "./lab.ts";

const skip = canRun();
const TABLE = "v6mostly-edge-home";

interface Nft {
  chain?: { name: string; type: string; hook: string; prio: number; policy: string };
  rule?: { chain: string; expr: Record<string, unknown>[] };
}

/** The table as the kernel holds it: its chains and, per chain, its rules' statements (no handles). */
function readBack(
  lab: EdgeLab,
  table = TABLE,
): { chains: Nft["chain"][]; rules: Record<string, Record<string, unknown>[][]> } | undefined {
  let out: string;
  try {
    out = lab.ns(lab.box, ["nft", "-j", "list", "table", "inet", table]);
  } catch {
    return undefined;
  }
  const objects = (JSON.parse(out) as { nftables: Nft[] }).nftables;
  const rules: Record<string, Record<string, unknown>[][]> = {};
  for (const o of objects) {
    if (!o.rule) continue;
    rules[o.rule.chain] ??= [];
    rules[o.rule.chain]!.push(o.rule.expr);
  }
  const chains = objects
    .filter((o) => o.chain)
    .map((o) => {
      const { name, type, hook, prio, policy } = o.chain!;
      return { name, type, hook, prio, policy };
    });
  return { chains, rules };
}

/** The statement of a rule that is not a match or a counter: the NAT or verdict it applies. */
const action = (expr: Record<string, unknown>[]) =>
  expr.find((x) => !("match" in x) && !("counter" in x) && !("log" in x));

const SEED = {
  insideInterfaces: ["l0"],
  outsideInterface: "w0",
  snat44: { pool: ["192.0.2.151-192.0.2.200"], mode: "oneToOne" },
  dnat44: [{ external: "192.0.2.101-192.0.2.151", internal: "198.18.0.1-198.18.0.51" }],
  snat66: { mode: "interface" },
  dnat66: [{ external: "2001:db8:1:0:ffff:ffff::/96", internal: "fd00:1::be24:11ff:0:0/96" }],
  inboundSnat66: { pool: ["fd00:1::ffff:0:0/96"] },
};

describe("the EdgeTranslation table in a kernel", { skip: skip ?? undefined, timeout: 120_000 }, () => {
  it("loads and reads back with the chains, maps and statements the spec asks for", async (t) => {
    const lab = new EdgeLab("R");
    t.after(() => lab.cleanup());
    lab.boxOnly();
    const r = edgeRuleset(edge(SEED));
    lab.ns(lab.box, ["nft", "-f", "-"], r.text);
    const got = readBack(lab)!;
    assert.deepEqual(got.chains, [
      { name: "prerouting", type: "nat", hook: "prerouting", prio: -100, policy: "accept" },
      { name: "postrouting", type: "nat", hook: "postrouting", prio: 100, policy: "accept" },
      { name: "forward", type: "filter", hook: "forward", prio: 0, policy: "accept" },
    ]);
    // DNAT44: 192.0.2.101-151 -> 198.18.0.1-51 as netmap elements; each maps at its own offset
    const dnat44 = action(got.rules.prerouting![0]!) as {
      dnat: { family: string; flags: string; addr: { map: { data: { set: unknown[][] } } } };
    };
    assert.equal(dnat44.dnat.family, "ip");
    assert.equal(dnat44.dnat.flags, "netmap");
    const elements = dnat44.dnat.addr.map.data.set.map(([k, v]) => [k, v] as const);
    const asPrefix = (x: unknown) =>
      typeof x === "string" ? { addr: x, len: 32 } : (x as { prefix: { addr: string; len: number } }).prefix;
    const last = (a: string) => Number(a.split(".")[3]);
    let covered = 0;
    for (const [k, v] of elements) {
      const ext = asPrefix(k);
      const int = asPrefix(v);
      assert.equal(ext.len, int.len);
      assert.equal(last(int.addr) - last(ext.addr), -100, `${ext.addr} -> ${int.addr}`);
      covered += 2 ** (32 - ext.len);
    }
    assert.equal(covered, 51);
    const dnat66 = action(got.rules.prerouting![1]!) as { dnat: { family: string } };
    assert.equal(dnat66.dnat.family, "ip6");
    const post = got.rules.postrouting!.map(action);
    assert.deepEqual(post[0], {
      snat: { family: "ip6", addr: { prefix: { addr: "fd00:1::ffff:0:0", len: 96 } } },
    });
    assert.deepEqual(post[1], {
      snat: { family: "ip", addr: { range: ["192.0.2.151", "192.0.2.200"] }, flags: "persistent" },
    });
    assert.deepEqual(post[2], { masquerade: null });
    assert.deepEqual(got.rules.forward!.map(action), [{ accept: null }, { accept: null }, { drop: null }]);
  });

  it("run: replaced atomically on reload, removed on stop, another table and the old default route kept", async (t) => {
    const lab = new EdgeLab("U");
    t.after(() => lab.cleanup());
    lab.boxOnly();
    for (const dev of ["w0", "l0"]) {
      lab.ip(lab.box, "link", "add", dev, "type", "veth", "peer", "name", `${dev}p`);
      lab.ip(lab.box, "link", "set", dev, "up");
      lab.ip(lab.box, "link", "set", `${dev}p`, "up");
    }
    lab.ip(lab.box, "addr", "add", "192.0.2.2/24", "dev", "w0");
    lab.ip(lab.box, "route", "add", "default", "via", "192.0.2.254", "dev", "w0");
    // somebody else's table, which must survive everything we do
    lab.ns(
      lab.box,
      ["nft", "-f", "-"],
      "table inet keep {\n\tchain c {\n\t\ttype filter hook forward priority 10; policy accept;\n\t}\n}\n",
    );
    const yaml = (external: string) => `apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: home }
spec:
  insideInterfaces: [l0]
  outsideInterface: w0
  snat44: { mode: overload }
  dnat44: [{ external: "${external}", internal: "198.18.0.10" }]
  defaultRoute: { ipv4: 192.0.2.1 }
`;
    const file = lab.write("edge.yaml", yaml("192.0.2.101"));
    const run = lab.startRun(file);
    const dnatKey = () => {
      const rules = readBack(lab)?.rules.prerouting;
      const d = rules && (action(rules[0]!) as { dnat: { addr: { map: { data: { set: unknown[][] } } } } });
      return d ? JSON.stringify(d.dnat.addr.map.data.set[0]![0]) : undefined;
    };
    // the table is loaded before the default route is set: wait for both, then check the route
    const ourRoute = () =>
      /default via 192\.0\.2\.1 dev w0/.test(lab.ip(lab.box, "route", "show", "default"));
    await lab.until(
      run,
      "the table and the default route",
      () => dnatKey() === '"192.0.2.101"' && ourRoute(),
    );
    assert.match(lab.ip(lab.box, "route", "show", "default"), /^default via 192\.0\.2\.1 dev w0 *\n?$/);

    // a poller lists the table as fast as it can while the reload replaces it
    const poller = lab.spawnIn(lab.box, [
      "sh",
      "-c",
      `while :; do nft list table inet ${TABLE} >/dev/null 2>&1 && echo present || echo MISSING; done`,
    ]);
    await waitFor("the poller", () => poller.output().includes("present"));
    lab.write("edge.yaml", yaml("192.0.2.102"));
    run.kill("SIGHUP");
    await lab.until(run, "the replaced table", () => dnatKey() === '"192.0.2.102"');
    await new Promise((r) => setTimeout(r, 300));
    await lab.stop(poller);
    const seen = poller.output().split("\n");
    assert.ok(seen.filter((l) => l === "present").length > 20, `${seen.length} polls`);
    assert.equal(seen.filter((l) => l === "MISSING").length, 0, "the table was missing during the reload");

    await lab.stop(run);
    assert.equal(readBack(lab), undefined, "our table is removed on stop");
    assert.ok(readBack(lab, "keep"), "another table survives");
    assert.match(lab.ip(lab.box, "route", "show", "default"), /default via 192\.0\.2\.254 dev w0/);
    assert.doesNotMatch(lab.ip(lab.box, "route", "show", "default"), /192\.0\.2\.1 /);
  });

  it("run refuses with the resource and the reason: forwarding off, nft missing, its own address translated", async (t) => {
    const lab = new EdgeLab("F");
    t.after(() => lab.cleanup());
    lab.boxOnly(false);
    const file = lab.write(
      "edge.yaml",
      `apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: home }
spec: { insideInterfaces: [l0], outsideInterface: w0, snat44: { mode: overload } }
`,
    );
    const off = lab.startRun(file);
    await lab.until(off, "the refusal", () =>
      /EdgeTranslation\/home: net\.ipv4\.ip_forward is 0: this node must forward IPv4/.test(off.output()),
    );
    assert.doesNotMatch(off.output(), /net\.ipv6/, "IPv6 forwarding is not needed by an IPv4-only spec");
    await lab.stop(off);

    lab.ns(lab.box, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    const bin = join(lab.dir, "bin"); // a PATH with `ip` and without `nft`
    mkdirSync(bin);
    symlinkSync(sh(["sh", "-c", "command -v ip"]).trim(), join(bin, "ip"));
    const noNft = lab.startRun(file, { ...process.env, PATH: bin });
    await lab.until(noNft, "the refusal", () =>
      /EdgeTranslation\/home: nft is not installed \(Debian package nftables\)/.test(noNft.output()),
    );
    await lab.stop(noNft);

    // the node's own outside address inside the SNAT44 pool
    lab.ip(lab.box, "link", "add", "w0", "type", "veth", "peer", "name", "w0p");
    lab.ip(lab.box, "addr", "add", "192.0.2.152/24", "dev", "w0");
    const own = lab.startRun(
      lab.write(
        "own.yaml",
        `apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: home }
spec: { insideInterfaces: [l0], outsideInterface: w0, snat44: { pool: ["192.0.2.151-192.0.2.154"] } }
`,
      ),
    );
    await lab.until(own, "the refusal", () =>
      /EdgeTranslation\/home: 192\.0\.2\.152 on w0 is this node's own address and lies in spec\.snat44\.pool\[0\]/.test(
        own.output(),
      ),
    );
    assert.equal(readBack(lab), undefined, "nothing was loaded");
  });
});
