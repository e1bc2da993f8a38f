// `v6mostly render` and `v6mostly device plan|apply` as a user runs them: a real process.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FakeFortiGate } from "./support/fake-fortios.ts";
import { FortiSchemaChecker } from "./support/fortios-schema.ts";
import { fortiSchema, haveShared, repoRoot } from "./support/paths.ts";
import { FGT_INTERFACES, fortigateYaml, seedConfig } from "./support/seed.ts";
import { hasOpenssl, makePki } from "./support/tls.ts";

const dir = mkdtempSync(join(tmpdir(), "v6m-dev-cli-"));
const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function v6mostly(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, "bin", "v6mostly.js"), ...args],
      { cwd: dir, encoding: "utf8", timeout: 60_000 },
      (e, out, err) => {
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
      },
    );
  });
}

const seedDir = join(repoRoot, "examples", "seed");

/** A copy of examples/seed whose ExternalDevices do not list their interfaces. */
function seedWithoutInterfaces(): string {
  const copy = mkdtempSync(join(dir, "seed-bare-"));
  cpSync(seedDir, copy, { recursive: true });
  const devices = readFileSync(join(copy, "devices.yaml"), "utf8").replace(
    / {2}interfaces:\n( {4}- .*\n)+/g,
    "",
  );
  assert.doesNotMatch(devices, /interfaces:/);
  writeFileSync(join(copy, "devices.yaml"), devices);
  return copy;
}

test("render iosxe -f examples/seed/ prints the ISR's config", async () => {
  const r = await v6mostly("render", "iosxe", "-f", seedDir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ipv6 unicast-routing\n!\nip dhcp pool v6m-lan\n/);
  assert.match(r.out, / option 108 hex 00000708\n/);
  assert.match(r.out, /^nat64 prefix stateful FD00:FF9B::\/96$/m);
  assert.match(r.out, /!\nend\n$/);
  assert.match(r.out, /^interface BDI1\n nat64 enable\n!\ninterface BDI10\n nat64 enable\n/m);
  assert.doesNotMatch(r.err, /warning/);
  const bare = await v6mostly("render", "iosxe", "-f", seedWithoutInterfaces());
  assert.equal(bare.code, 0, bare.err);
  assert.match(bare.err, /warning: Nat64Gateway\/home: cannot tell the outside interface/);
});

test("render iosxe --format requests names the credential's source and never shows it", async () => {
  const r = await v6mostly("render", "iosxe", "-f", seedDir, "--version", "17.9.1", "--format", "requests");
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /^PUT https:\/\/172\.16\.1\.253\/restconf\/data\/Cisco-IOS-XE-native:native\/ip\/dhcp\/Cisco-IOS-XE-dhcp:pool=v6m-lan$/m,
  );
  assert.match(r.out, /Authorization: Basic <admin:password from \/etc\/v6mostly\/isr\.password>/);
  assert.match(
    r.out,
    /POST https:\/\/172\.16\.1\.253\/restconf\/operations\/Cisco-IOS-XE-cli-rpc:config-ios-cli-rpc/,
  );
  assert.match(
    r.out,
    /POST https:\/\/172\.16\.1\.253\/restconf\/operations\/cisco-ia:save-config\n[^\n]*\n# write memory\n$/,
  );
});

test("render fortios: the seed's stanzas once the FortiGate's interfaces are known", {
  skip: !haveShared() && "../shared is absent",
}, async () => {
  const bare = await v6mostly("render", "fortios", "-f", seedWithoutInterfaces());
  assert.equal(bare.code, 1, "an error: the DNS interface is unknown");
  assert.match(bare.err, /no interface of the FortiGate holds 172\.16\.1\.254/);
  const r = await v6mostly("render", "fortios", "-f", seedDir);
  assert.equal(r.code, 0, r.err);
  const lines = r.out
    .trim()
    .split("\n")
    .map((l) => l.trim());
  const seed = seedConfig("fortigate");
  const at = seed.indexOf("config system nat64");
  assert.deepEqual(lines.slice(0, 5), seed.slice(at, at + 5));
  const dns = seed.indexOf("config system dns-server");
  assert.deepEqual(lines.slice(5, 10), seed.slice(dns, dns + 5));
});

test("device apply then plan against a fake FortiGate: credentials from a file, never printed", {
  skip: (!hasOpenssl() && "openssl is not installed") || (!haveShared() && "../shared is absent"),
}, async () => {
  const pki = makePki();
  cleanups.push(() => pki.cleanup());
  const token = "cli-token-9b8a7c6d5e4f";
  const fake = new FakeFortiGate({
    version: "7.4.7",
    token,
    checker: new FortiSchemaChecker(fortiSchema()),
    key: pki.key,
    cert: pki.cert,
    interfaces: FGT_INTERFACES,
  });
  const endpoint = await fake.start();
  cleanups.push(() => fake.stop());
  const tokenFile = join(dir, "fgt.token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const res = join(dir, "fgt.yaml");
  writeFileSync(
    res,
    fortigateYaml({
      version: "7.4.7",
      endpoint,
      tls: `tls: { caFile: "${pki.caFile}" }`,
      credentials: `credentialsFile: "${tokenFile}"`,
    }),
  );
  const state = join(dir, "state");
  const apply = await v6mostly("device", "apply", "-f", res, "--state-dir", state);
  assert.equal(apply.code, 0, apply.out + apply.err);
  assert.match(apply.out, /ExternalDevice\/fgt \(7\.4\.7\): Applied: \d+ change\(s\) applied and verified/);
  assert.match(apply.out, /\+ firewall\/ippool\/v6m-home/);
  const plan = await v6mostly("device", "plan", "-f", res, "--state-dir", state, "-o", "json");
  assert.equal(plan.code, 0, plan.out + plan.err);
  assert.equal(JSON.parse(plan.out)[0].condition.reason, "InSync");
  for (const t of [apply.out, apply.err, plan.out, plan.err])
    assert.ok(!t.includes(token), "the token is never printed");
  assert.equal(fake.table("firewall/policy").size, 1);
});

test("render iosxe --format ssh: the session with a revert timer, confirmed only after the check", async () => {
  const r = await v6mostly("render", "iosxe", "-f", seedDir, "--format", "ssh");
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split("\n");
  const at = (l: string) => lines.indexOf(l);
  assert.ok(at("configure terminal revert timer 5") > at("terminal length 0"));
  assert.ok(at(" option 108 hex 00000708") > at("configure terminal revert timer 5"));
  assert.ok(at("configure confirm") > at("end"));
  assert.equal(lines.filter((l) => l === "end").length, 1);
  assert.equal(lines[lines.length - 2], "write memory");
  const bad = await v6mostly("render", "fortios", "-f", seedDir, "--format", "ssh");
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--format ssh is for iosxe/);
});

test("render --version: what is not a version is refused before anything is rendered", async () => {
  const r = await v6mostly("render", "iosxe", "-f", seedDir, "--version", "banana");
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.equal(
    r.err,
    'v6mostly: --version "banana" is not a version (expected numbers such as 7.2.4 or 17.12.1)\n',
  );
});

test("render iosxe for a release without the CLI RPC: the CLI text is printed, not refused", async () => {
  // 16.3 cannot take `nat64 enable` on a BDI over RESTCONF; that concerns the API, not typed lines.
  for (const format of ["cli", "ssh"]) {
    const r = await v6mostly("render", "iosxe", "-f", seedDir, "--version", "16.3", "--format", format);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^interface BDI10\n nat64 enable\n/m);
    assert.doesNotMatch(r.err, /error|render iosxe/, `${format}: ${r.err}`);
  }
  const req = await v6mostly("render", "iosxe", "-f", seedDir, "--version", "16.3", "--format", "requests");
  assert.equal(req.code, 1);
  assert.match(
    req.err,
    /^error: ExternalDevice\/isr: IOS-XE 16\.3\.0 has no CLI RPC \(it arrives in 17\.9\.1\), so RESTCONF cannot send nat64 enable; .*--format ssh/m,
  );
});

test("device plan names the device once, and says what is wrong with its credential", async () => {
  const res = join(dir, "no-credentials");
  cpSync(seedDir, res, { recursive: true });
  const missing = join(dir, "no-such.password");
  const devices = join(res, "devices.yaml");
  writeFileSync(
    devices,
    readFileSync(devices, "utf8").replace(/credentialsFile: .*/g, `credentialsFile: "${missing}"`),
  );
  const r = await v6mostly("device", "plan", "-f", res, "--device", "isr", "--state-dir", join(dir, "s"));
  assert.equal(r.code, 1);
  const first = r.out.split("\n")[0]!;
  assert.equal(
    first,
    `ExternalDevice/isr: CredentialsUnavailable: credentialsFile ${missing}: no such file (ENOENT)`,
  );
});
