// Fate-sharing through the running services (issue 17): `v6mostly run` with a Nat64Gateway whose
// uplink does not exist yet and a RouterAdvert that announces its PREF64 and a route into it; a
// client namespace runs `v6mostly ra listen`. While the gateway cannot start, the RAs carry neither;
// once the uplink appears (the runtime's retry starts the gateway) they carry both; when a reload
// breaks the gateway again, the RAs withdraw both with lifetime 0 (RFC 8781 §4, RFC 4191 §2.3;
// repeated in up to three RAs, as every removal is) and then leave them out.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { canRun, Lab, POOL4, PREFIX, REPO, waitFor } from "../services/nat64/lab.ts";

const skip = canRun();

interface Option {
  type: string;
  prefix?: string;
  prefixLength?: number;
  lifetime?: number;
}

test("fate-sharing: the RA announces the PREF64 and its route only while the Nat64Gateway runs", {
  skip: skip ?? undefined,
  timeout: 180_000,
}, async (t) => {
  const lab = new Lab("F");
  t.after(() => lab.cleanup());
  lab.setup();
  const ipt = (...a: string[]) => lab.ns(lab.t, ["ip", ...a]);
  // the uplink is missing at first: the gateway fails to start (NoSuchInterface) and is retried
  ipt("link", "set", "u0", "down");
  ipt("link", "set", "u0", "name", "u0x");

  const file = join(lab.dir, "site.yaml");
  const write = (uplink: string) =>
    writeFileSync(
      file,
      `apiVersion: v6mostly.dev/v1alpha1
kind: Nat64Gateway
metadata: { name: lab }
spec:
  prefix: ${PREFIX}
  pool4: ["${POOL4}"]
  allowedSources: ["2001:db8:1::/48"]
  uplinkInterface: ${uplink}
  tunName: ${lab.tun}
---
apiVersion: v6mostly.dev/v1alpha1
kind: RouterAdvert
metadata: { name: lan }
spec:
  interface: t0
  prefixes: [{ prefix: "2001:db8:1::/64" }]
  pref64: { nat64GatewayRef: { name: lab } }
  routes: [{ prefix: "${PREFIX}" }]
  interval: { max: 4s }
`,
    );
  write("u0");
  const run = lab.startRun(file, "off");
  const log = () => (run as unknown as { output: () => string }).output();

  /** The NAT64 parts of the next RA the client hears: the PREF64 option and the route into PREFIX. */
  const next = () => {
    const out = lab.ns(lab.c, [
      process.execPath,
      join(REPO, "bin/v6mostly.js"),
      "ra",
      "listen",
      "-i",
      "c0",
      "--count",
      "1",
      "--timeout",
      "20s",
      "-o",
      "json",
    ]);
    const ra = JSON.parse(out.trim().split("\n").at(-1)!) as { advertisement: { options: Option[] } };
    const opts = ra.advertisement.options;
    const pref64 = opts.find((o) => o.type === "pref64");
    const route = opts.find(
      (o) => o.type === "routeInformation" && `${o.prefix}/${o.prefixLength}` === PREFIX,
    );
    return {
      pref64: pref64
        ? { prefix: `${pref64.prefix}/${pref64.prefixLength}`, lifetime: pref64.lifetime }
        : undefined,
      route: route ? { lifetime: route.lifetime } : undefined,
      types: opts.map((o) => o.type),
    };
  };

  // 1. the gateway cannot start: RAs go out (the RA itself runs) without the NAT64's parts
  await waitFor("the gateway failing and the RA running", () =>
    /could not start; will retry/.test(log()) && /fate-sharing/.test(log()) ? true : undefined,
  );
  const before = next();
  assert.ok(before.types.includes("prefixInformation"), `an RA of the lab: ${before.types}`);
  assert.equal(before.pref64, undefined, "no PREF64 while the gateway is down");
  assert.equal(before.route, undefined, "no route into the NAT64 prefix while the gateway is down");

  // 2. the uplink appears: the retry starts the gateway, and the RA announces both
  ipt("link", "set", "u0x", "name", "u0");
  ipt("link", "set", "u0", "up");
  const restored = await waitFor(
    "PREF64 announced once the gateway runs",
    () => {
      const r = next();
      return r.pref64 ? r : undefined;
    },
    60_000,
  );
  assert.equal(restored.pref64!.prefix, PREFIX);
  assert.ok((restored.pref64!.lifetime ?? 0) > 0);
  assert.ok((restored.route?.lifetime ?? 0) > 0, "the route into the prefix is back");

  // 3. a reload breaks the gateway (its uplink does not exist): one RA withdraws both, then they are gone
  write("u9");
  run.kill("SIGHUP");
  const withdrawal = await waitFor(
    "the withdrawal",
    () => {
      const r = next();
      return r.pref64?.lifetime === 0 ? r : undefined;
    },
    30_000,
  );
  assert.equal(withdrawal.route?.lifetime, 0, "the route withdrawn in the same RA");
  // the withdrawal is repeated in the next few RAs (as every removal is: one lost RA does not
  // leave it standing), always with lifetime 0, then the options are left out
  let repeats = 0;
  await waitFor(
    "the options left out",
    () => {
      const r = next();
      if (r.pref64 === undefined && r.route === undefined) return r;
      assert.equal(r.pref64?.lifetime, 0, "only ever withdrawn again");
      assert.equal(r.route?.lifetime, 0);
      repeats++;
      return undefined;
    },
    60_000,
  );
  assert.ok(repeats <= 3, `withdrawn in ${repeats + 1} RAs`);
  t.diagnostic(`PREF64 and route withdrawn in ${repeats + 1} RAs, then left out`);
  await lab.stop(run);
});
