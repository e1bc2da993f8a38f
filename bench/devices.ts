// `npm run bench:devices`: the read side of `device plan` (our HTTPS client, keep-alive, JSON
// parsing, diff) against curl fetching the same URLs over one keep-alive connection, both talking
// to the same fake FortiGate over HTTPS in this process. Prints both figures and the ratio.
// Bounded: a few seconds. The machine is shared (2 cores): read the ratio, not the absolute times.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { applyDevice, planDevice } from "../src/devices/apply.ts";
import { createLogger } from "../src/util/log.ts";
import { haveShared } from "../test/devices/support/paths.ts";
import { device, fortigateYaml, fromYaml } from "../test/devices/support/seed.ts";
import { hasOpenssl, makePki } from "../test/devices/support/tls.ts";

const run = promisify(execFile);
const POOLS = 200;
const ROUNDS = 5;

async function main() {
  if (!hasOpenssl() || !haveShared()) {
    console.log("bench:devices needs openssl and ../shared/devices; skipped");
    return;
  }
  const pki = makePki();
  const dir = mkdtempSync(join(tmpdir(), "v6m-bench-dev-"));
  const token = "bench-token-0a1b2c3d";
  // The fake runs in its own process, like a real box: it does not share our thread.
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "devices-fake.ts")], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin.write(`${JSON.stringify({ key: pki.key, cert: pki.cert, token, version: "7.2.4" })}\n`);
  const port = await new Promise<string>((resolve) =>
    child.stdout.once("data", (b: Buffer) => resolve(b.toString().trim())),
  );
  const endpoint = `https://127.0.0.1:${port}`;
  try {
    // pool4 as POOLS single addresses: POOLS ippools for one policy.
    const pool4 = Array.from({ length: POOLS }, (_, i) => `"198.51.100.${i + 1}"`).join(", ");
    const yaml = fortigateYaml({
      version: "7.2.4",
      endpoint,
      tls: `tls: { caFile: "${pki.caFile}" }`,
    }).replace('["198.51.100.10-198.51.100.20"]', `[${pool4}]`);
    const dev = device(fromYaml(yaml), "fgt");
    const opts = {
      log: createLogger("bench", { level: "silent" }),
      stateDir: dir,
      env: { V6M_TEST_FGT_TOKEN: token },
    };
    const applied = await applyDevice(dev, opts);
    if (applied.condition.status !== "True") throw new Error(applied.condition.message);

    // ours: a full plan (probe + one GET per object + listings + diff)
    let ours = Number.POSITIVE_INFINITY;
    let urls: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = process.hrtime.bigint();
      const p = await planDevice(dev, opts);
      const t = Number(process.hrtime.bigint() - t0) / 1e6;
      if (p.condition.reason !== "InSync") throw new Error(p.condition.message);
      ours = Math.min(ours, t);
    }
    // The same GETs plan sends: status, interfaces, one per object, the marked listings, vip6.
    const q = "?vdom=root";
    const cmdb = `${endpoint}/api/v2/cmdb/`;
    urls = [
      `${endpoint}/api/v2/monitor/system/status${q}`,
      `${cmdb}system/interface${q}`,
      `${cmdb}system/dns64${q}`,
      `${cmdb}system/dns-server/lan1${q}`,
      ...Array.from({ length: POOLS }, (_, i) => `${cmdb}firewall/ippool/v6m-home-${i + 1}${q}`),
      `${cmdb}firewall/policy${q}`,
      `${cmdb}system/interface/lan1${q}`,
      `${cmdb}firewall/ippool${q}`,
      `${cmdb}firewall/policy64${q}`,
      `${cmdb}firewall/vip6${q}`,
    ];
    // peer: curl GETs the same URLs on one keep-alive connection (header from a file: no token on the command line)
    const hdr = join(dir, "auth.hdr");
    writeFileSync(hdr, `Authorization: Bearer ${token}\n`, { mode: 0o600 });
    const cfg = join(dir, "curl.cfg");
    writeFileSync(cfg, urls.map((u) => `url = "${u}"\noutput = "/dev/null"`).join("\n"));
    let peer = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = process.hrtime.bigint();
      await run("curl", ["-s", "--cacert", pki.caFile, "-H", `@${hdr}`, "-K", cfg]);
      peer = Math.min(peer, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(
      `device plan read side, ${urls.length} HTTPS requests to a fake FortiGate (${POOLS} ippools), best of ${ROUNDS}; 2 shared cores, other work running`,
    );
    console.log(
      `  v6mostly planDevice (requests + JSON + diff): ${ours.toFixed(1)} ms  (${(ours / urls.length).toFixed(2)} ms/request)`,
    );
    console.log(
      `  curl, same URLs, one keep-alive connection:  ${peer.toFixed(1)} ms  (${(peer / urls.length).toFixed(2)} ms/request)`,
    );
    console.log(`  ratio v6mostly/curl: ${(ours / peer).toFixed(2)}`);
  } finally {
    child.stdin.end();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  }
}

await main();
