// Two `v6mostly run` on one host (issue 19 item 5), in the NAT64 lab's namespaces
// (test/services/nat64/lab.ts): a Nat64Gateway with proxy ARP on the uplink, RA and DHCP on the
// client link. A second start on the same state directory is refused before it touches anything;
// a second instance with its own state directory runs its other services but not RA or DHCP on
// the first one's interface; after kill -9 of the first, a new start works.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { canRun, Lab, REPO, SERVER6, waitFor } from "../services/nat64/lab.ts";
import { doc } from "../support/validate.ts";

const skip = canRun();

const RA = doc("RouterAdvert", "lan", `interface: t0\nprefixes: [{ prefix: "2001:db8:1::/64" }]`);
const DHCP = doc(
  "DhcpScope",
  "lan",
  `interface: t0\nsubnet: 192.0.2.0/24\nranges: ["192.0.2.100-192.0.2.149"]\nrouter: 192.0.2.1`,
);
const DNS64 = doc(
  "Dns64Resolver",
  "lo",
  `listen: ["127.0.0.1:15353"]\nprefix: "2001:db8:64::/96"\nupstreams: ["127.0.0.1:9"]\nallowClients: ["127.0.0.0/8"]`,
);

interface Readiness {
  ready: boolean;
  detail: { resource: string; running: boolean; reason?: string; message?: string }[];
}

test("a second run on the same state directory is refused; one on another shares no RA or DHCP interface; kill -9 frees both", {
  skip: skip ?? undefined,
  timeout: 180_000,
}, async () => {
  const lab = new Lab("L");
  try {
    lab.setup();
    lab.ns(lab.t, ["ip", "addr", "add", "192.0.2.1/24", "dev", "t0"]);
    const all = join(lab.dir, "all.yaml");
    writeFileSync(all, [readFileSync(lab.writeResource(), "utf8"), RA, DHCP].join("---\n"));
    const others = join(lab.dir, "others.yaml");
    writeFileSync(others, [RA, DHCP, DNS64].join("---\n"));
    const stateA = join(lab.dir, "state-a");
    const start = (file: string, state: string, status: string, tag: string) =>
      lab.spawnIn(
        lab.t,
        [
          process.execPath,
          join(REPO, "bin/v6mostly.js"),
          "run",
          "-f",
          file,
          "--state-dir",
          state,
          "--status-address",
          status,
        ],
        `run-${tag}.log`,
      );
    const output = (p: ChildProcess) => (p as ChildProcess & { output: () => string }).output();
    const readyz = (status: string): Readiness | undefined => {
      const out = lab.ns(lab.t, ["curl", "-s", "--max-time", "3", `http://${status}/readyz`]);
      return out ? (JSON.parse(out) as Readiness) : undefined;
    };
    const proxies = () =>
      lab.ns(lab.t, ["ip", "neigh", "show", "proxy"]).trim().split("\n").filter(Boolean).sort();
    /** the exit code, or "running" after 30 s (every wait is bounded, so that cleanup always runs) */
    const exited = (p: ChildProcess): Promise<number | null | "running"> =>
      p.exitCode !== null
        ? Promise.resolve(p.exitCode)
        : Promise.race([
            new Promise<number | null>((r) => p.once("exit", (c) => r(c))),
            new Promise<"running">((r) => setTimeout(() => r("running"), 30_000)),
          ]);

    // A: NAT64, RA and DHCP, all running
    const a = start(all, stateA, "127.0.0.1:19464", "a");
    await waitFor("A ready", () => readyz("127.0.0.1:19464")?.ready, 60_000).catch((e) => {
      throw new Error(`${e.message}\n${output(a)}`);
    });
    const entries = proxies();
    assert.equal(entries.length, 8, "proxy ARP for the 8 addresses of pool4");

    // B: the same state directory: refused before it touches anything
    const b = start(all, stateA, "127.0.0.1:19465", "b");
    assert.equal(await exited(b), 1, output(b));
    assert.match(
      output(b),
      new RegExp(
        `nothing started: state directory ${stateA} is in use by another v6mostly \\(PID ${a.pid}, v6mostly run, `,
      ),
    );
    assert.deepEqual(proxies(), entries, "A's proxy ARP entries survive");
    assert.equal(a.exitCode, null, "A still runs");
    assert.equal(readyz("127.0.0.1:19464")?.ready, true);
    // and A still translates (its proxy ARP answers for pool4 on the uplink) and serves DHCP
    assert.match(lab.ns(lab.c, ["ping", "-c", "1", "-W", "3", SERVER6]), /1 received/);
    assert.match(
      lab.ns(lab.c, ["sh", "-c", "udhcpc -q -n -t 3 -T 1 -i c0 -s /bin/true 2>&1"]),
      /lease of 192\.0\.2\.1\d\d obtained/,
    );

    // C: its own state directory: DNS64 runs, RA and DHCP on A's interface do not
    const c = start(others, join(lab.dir, "state-c"), "127.0.0.1:19466", "c");
    const seen = await waitFor(
      "C's readiness",
      () => {
        const r = readyz("127.0.0.1:19466");
        const settled =
          r?.detail.length === 3 && r.detail.every((d) => d.running || d.reason === "InterfaceInUse");
        return settled ? r : undefined;
      },
      60_000,
    ).catch((e) => {
      throw new Error(`${e.message}\n${output(c)}`);
    });
    const byResource = Object.fromEntries(seen.detail.map((d) => [d.resource, d]));
    assert.equal(seen.ready, false);
    assert.equal(byResource["Dns64Resolver/lo"]?.running, true);
    assert.match(
      byResource["RouterAdvert/lan"]?.message ?? "",
      new RegExp(
        `^another v6mostly already sends Router Advertisements on t0 \\(PID ${a.pid}, RouterAdvert/lan, `,
      ),
    );
    assert.match(
      byResource["DhcpScope/lan"]?.message ?? "",
      new RegExp(`^another v6mostly already serves DHCPv4 on t0 \\(PID ${a.pid}, DhcpScope/lan, `),
    );
    c.kill("SIGTERM");
    assert.equal(await exited(c), 0, output(c));
    assert.deepEqual(proxies(), entries);

    // kill -9 of A: its locks die with it; D on the same state directory starts and takes over
    a.kill("SIGKILL");
    await exited(a);
    const d = start(all, stateA, "127.0.0.1:19464", "d");
    await waitFor("D ready", () => readyz("127.0.0.1:19464")?.ready, 60_000).catch((e) => {
      throw new Error(`${e.message}\n${output(d)}`);
    });
    assert.match(output(d), /cleaning state left by a previous run/);
    assert.deepEqual(proxies(), entries);
    assert.match(lab.ns(lab.c, ["ping", "-c", "1", "-W", "3", SERVER6]), /1 received/);
    d.kill("SIGTERM");
    assert.equal(await exited(d), 0, output(d));
    assert.deepEqual(proxies(), [], "D cleaned up after itself");
  } finally {
    await lab.cleanup();
  }
});
