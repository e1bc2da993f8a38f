// The lab end to end, through the CLI as a user runs it: `lab up`, `lab check` (the seed's
// matrix), `v6mostly doctor` inside the IPv6-only clients, `lab down`; and `lab down` after an
// `up` that was killed half-way. Needs root, iproute2, tayga, bind9, isc-dhcp-client, curl.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { LAN, SERVERS } from "../../src/lab/addressing.ts";
import type { CheckReport } from "../../src/lab/check.ts";
import { readState } from "../../src/lab/state.ts";
import { missingCapability } from "../../src/lab/topology.ts";

const why = missingCapability();
const bin = join(import.meta.dirname, "..", "..", "bin", "v6mostly.js");
const dir = mkdtempSync(join(tmpdir(), "v6m-lab-test-"));

function v6m(args: string[], ns?: string): { code: number | null; stdout: string; stderr: string } {
  const cmd = ns
    ? ["ip", "netns", "exec", ns, process.execPath, bin, ...args]
    : [process.execPath, bin, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function namespaces(prefix: string): string[] {
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(prefix));
}

let prefix = "";
let report: CheckReport | undefined;
let checkRun: { code: number | null; stdout: string; stderr: string } | undefined;

before(async () => {
  if (why) return;
  const upRun = v6m(["lab", "up", "--dir", dir]);
  process.stderr.write(upRun.stderr);
  prefix = readState(dir)?.prefix ?? "";
  if (upRun.code !== 0) return;
  checkRun = v6m(["lab", "check", "--dir", dir, "-o", "json"]);
  process.stderr.write(checkRun.stderr);
  try {
    report = JSON.parse(checkRun.stdout) as CheckReport;
  } catch {}
});

after(() => {
  if (why) return;
  const d = v6m(["lab", "down", "--dir", dir]);
  process.stderr.write(d.stderr);
  if (prefix) assert.deepEqual(namespaces(prefix), [], "lab down leaves no namespace");
  rmSync(dir, { recursive: true, force: true });
});

test("lab up builds the topology and prints a progress line per step", { skip: why }, () => {
  assert.ok(prefix, "up wrote a state file with the namespace prefix");
  const s = readState(dir)!;
  assert.equal(s.complete, true, "up finished every step");
  assert.equal(namespaces(prefix).length, 6, "router, internet and four clients");
  assert.equal(s.learned.pref64, "fd00:ff9b::/96", "the CLAT learned PREF64 from our RA");
});

/**
 * The seed's matrix (shared/seed/README.md, "Client types and what they reach"), written out here
 * rather than taken from src/lab: four client types (rows) in both DNS64 states, each against an
 * IPv6 and an IPv4 server by name and by literal (columns). 4 × 2 × 4 = 32 cells.
 */
const SEED_ROWS = ["ipv4-only", "dual-stack", "ipv6-only", "ipv6-only+clat"];
const SEED_COLUMNS = ["v6-fqdn", "v6-literal", "v4-fqdn", "v4-literal"];
const SEED_CELLS = SEED_ROWS.flatMap((client) =>
  ["on", "off"].flatMap((dns64) => SEED_COLUMNS.map((column) => `${client} DNS64 ${dns64} ${column}`)),
);
const cellName = (c: CheckReport["cells"][number]) => `${c.client} DNS64 ${c.dns64} ${c.column}`;

/** The cells of these rows, which must be all of the seed's cells for them, once each. */
function cellsOf(kinds: string[]) {
  assert.ok(report, `lab check printed a report: ${checkRun?.stderr.slice(-2000)}`);
  const cells = report.cells.filter((c) => kinds.includes(c.client));
  assert.deepEqual(
    cells.map(cellName).sort(),
    SEED_CELLS.filter((n) => kinds.some((k) => n.startsWith(`${k} `))).sort(),
  );
  return cells;
}

/** The cells that differ from the expected matrix, as lines a reader can act on. */
const differing = (cells: CheckReport["cells"]) =>
  cells
    .filter((c) => !c.ok)
    .map(
      (c) =>
        `${cellName(c)}: expected ${c.expected.path}, got ${c.observed.path} (${c.observed.unavailable ?? c.observed.evidence})`,
    );

test("check measured every cell of the seed's matrix, and nothing else", { skip: why }, () => {
  assert.ok(report, `lab check printed a report: ${checkRun?.stderr.slice(-2000)}`);
  assert.equal(SEED_CELLS.length, 32);
  assert.deepEqual(report.cells.map(cellName).sort(), [...SEED_CELLS].sort());
});

test("check: the IPv6-only rows (no CLAT, and CLAT through TAYGA) match the seed's matrix", {
  skip: why,
}, () => {
  const cells = cellsOf(["ipv6-only", "ipv6-only+clat"]);
  assert.deepEqual(differing(cells), []);
  // the NAT64 cells were confirmed in the translation table
  const viaNat = cells.filter((c) => c.observed.path === "nat64" || c.observed.path === "clat+nat64");
  assert.ok(viaNat.length >= 4);
  for (const c of viaNat) assert.match(c.observed.evidence, /^session tcp /);
});

test("check: the IPv4-only and dual-stack rows match the seed's matrix (needs DHCP)", { skip: why }, () => {
  assert.deepEqual(differing(cellsOf(["ipv4-only", "dual-stack"])), []);
});

test("check: RFC 8925 (the CLAT client gets option 108 and no lease) and every other finding", {
  skip: why,
}, () => {
  assert.ok(report);
  const bad = report.findings.filter((f) => !f.ok).map((f) => `${f.name}: ${f.detail}`);
  assert.deepEqual(bad, []);
});

test("check exits 0 exactly when the whole matrix matches", { skip: why }, () => {
  assert.ok(report && checkRun);
  assert.equal(report.cells.length, SEED_CELLS.length, "an empty or partial matrix is not a match");
  assert.equal(checkRun.code === 0, report.ok);
  assert.equal(report.ok, true, "the whole lab check passes");
});

const doctorArgs = [
  "doctor",
  "--v4-literal",
  `${SERVERS.v4only4}:80`,
  "--v4-name",
  `${SERVERS.v4onlyName}:80`,
  "-o",
  "json",
];
type DoctorOut = { findings: { check: string; severity: string; detail: string; advice?: string }[] };
const finding = (o: DoctorOut, check: string) => o.findings.find((f) => f.check.startsWith(check));

test("doctor in the IPv6-only client: PREF64 from the RA and RFC 7050, DNS64 synthesis, reachability", {
  skip: why,
}, () => {
  const r = v6m([...doctorArgs, "--dns", LAN.router6], `${prefix}c3`);
  const o = JSON.parse(r.stdout) as DoctorOut;
  for (const c of [
    "RA PREF64",
    "DNS64 (ipv4only.arpa)",
    "PREF64 agreement",
    "DNS64 synthesis",
    "reach IPv4 literal",
    "reach IPv4-only name",
  ]) {
    assert.equal(finding(o, c)?.severity, "ok", `${c}: ${JSON.stringify(finding(o, c))}`);
  }
  assert.match(finding(o, "RA PREF64")!.detail, /fd00:ff9b::\/96/);
  assert.equal(finding(o, "CLAT"), undefined, "no CLAT runs in this namespace");
});

test("doctor in the IPv6-only client: DHCP offers option 108 (needs DHCP)", { skip: why }, () => {
  const r = v6m([...doctorArgs, "--dns", LAN.router6], `${prefix}c3`);
  const o = JSON.parse(r.stdout) as DoctorOut;
  assert.equal(
    finding(o, "DHCPv4 option 108")?.severity,
    "ok",
    JSON.stringify(finding(o, "DHCPv4 option 108")),
  );
  assert.equal(r.code, 0);
});

test("doctor in the CLAT client finds the running TAYGA and accepts its sources", { skip: why }, () => {
  const r = v6m([...doctorArgs, "--dns", LAN.router6, "--no-dhcp"], `${prefix}c4`);
  const o = JSON.parse(r.stdout) as DoctorOut;
  const c = finding(o, "CLAT source address");
  assert.equal(c?.severity, "ok", JSON.stringify(c));
  assert.match(c!.detail, /fd00:64:1::c1a7/);
});

test("doctor names the seed's clatd problem and a DNS server without DNS64", { skip: why }, () => {
  const conf = join(dir, "bad-tayga.conf");
  writeFileSync(
    conf,
    "tun-device clat\nipv4-addr 192.0.0.2\nprefix fd00:ff9b::/96\nmap 192.0.0.1 fd00:64:1::c1a7\n",
  );
  const r = v6m([...doctorArgs, "--dns", SERVERS.dns6, "--no-dhcp", "--clat-config", conf], `${prefix}c3`);
  assert.equal(r.code, 1);
  const o = JSON.parse(r.stdout) as DoctorOut;
  assert.match(
    finding(o, "CLAT source address")!.detail,
    /your CLAT's source fd00:ff9b::c000:2 is inside the NAT64 prefix/,
  );
  assert.equal(finding(o, "DNS64 (ipv4only.arpa)")?.severity, "fail");
  assert.match(finding(o, "DNS64 (ipv4only.arpa)")!.advice ?? "", /2001:db8:53::53 .*does not do DNS64/);
});

test("lab down removes what an up killed half-way left behind", { skip: why }, async () => {
  const d2 = mkdtempSync(join(tmpdir(), "v6m-lab-crash-"));
  try {
    const child = spawn(process.execPath, [bin, "lab", "up", "--dir", d2], { stdio: "ignore" });
    const end = Date.now() + 60_000;
    let p = "";
    // kill it once the internet namespace runs its servers (processes to end, namespaces to remove)
    while (Date.now() < end) {
      p = readState(d2)?.prefix ?? "";
      if (
        p &&
        existsSync(join(d2, "http.log")) &&
        spawnSync("ip", ["netns", "pids", `${p}i`], { encoding: "utf8" }).stdout.trim()
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.ok(p, "the state file was written before the namespaces");
    assert.ok(namespaces(p).length > 0);
    const pids = namespaces(p).flatMap((n) =>
      spawnSync("ip", ["netns", "pids", n], { encoding: "utf8" })
        .stdout.split("\n")
        .filter(Boolean)
        .map(Number),
    );
    const d = v6m(["lab", "down", "--dir", d2]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(namespaces(p), []);
    for (const pid of pids)
      assert.equal(spawnSync("kill", ["-0", String(pid)]).status !== 0, true, `PID ${pid} ended`);
    assert.equal(existsSync(join(d2, "lab.json")), false);
  } finally {
    rmSync(d2, { recursive: true, force: true });
  }
});
