// Fate-sharing of a running DNS64 (issue 17): `v6mostly run` with a Nat64Gateway and a
// Dns64Resolver naming it, BIND as the upstream (authoritative for an IPv4-only name) in the
// server namespace, `dig` in the client namespace. While the gateway translates, the AAAA query
// gets a synthesized answer (RFC 6147 §5.1.7); when the gateway's probe fails (the test hook
// V6MOSTLY_TEST_BREAK_PROBE: its translator stops translating correctly, as far as the runtime can
// tell), the same query gets no AAAA within seconds (a plain forwarder's NOERROR/NODATA), the A
// query still works, and the log says why; repaired, synthesis returns.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { canRun, Lab, SERVER4, SERVER6, waitFor } from "../services/nat64/lab.ts";

const skip =
  canRun() ??
  (() => {
    try {
      execFileSync("sh", ["-c", "command -v named && command -v dig"]);
      return null;
    } catch {
      return "BIND (named) and dig are needed: apt-get install bind9 bind9-dnsutils";
    }
  })();

const NAME = "www.v4.example";
const RESOLVER = "2001:db8:1::1";

test("fate-sharing: a running DNS64 stops synthesizing while its Nat64Gateway fails its probe, and resumes", {
  skip: skip ?? undefined,
  timeout: 180_000,
}, async (t) => {
  const lab = new Lab("D");
  t.after(() => lab.cleanup());
  lab.setup();

  // the upstream: BIND, authoritative for an IPv4-only name, on the IPv4-only server
  writeFileSync(
    join(lab.dir, "v4.db"),
    `$TTL 300
@ IN SOA ns.v4.example. hostmaster.v4.example. 1 3600 600 86400 60
@ IN NS ns.v4.example.
ns IN A ${SERVER4}
www IN A ${SERVER4}
`,
  );
  writeFileSync(
    join(lab.dir, "named.conf"),
    `options {
  directory "${lab.dir}";
  pid-file "${lab.dir}/named.pid";
  listen-on port 53 { ${SERVER4}; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
controls { };
zone "v4.example" { type primary; file "${lab.dir}/v4.db"; };
`,
  );
  lab.spawnIn(lab.s, ["named", "-g", "-n", "1", "-c", join(lab.dir, "named.conf")], "named.log");
  await waitFor("BIND answering", () =>
    lab.ns(lab.s, ["dig", `@${SERVER4}`, "A", NAME, "+short", "+time=1", "+tries=1"]).trim() === SERVER4
      ? true
      : undefined,
  );

  const file = lab.writeResource(`---
apiVersion: v6mostly.dev/v1alpha1
kind: Dns64Resolver
metadata: { name: lan }
spec:
  listen: ["[${RESOLVER}]:53"]
  nat64GatewayRef: { name: lab }
  upstreams: ["${SERVER4}"]
  allowClients: ["2001:db8:1::/48"]
`);
  const breakFile = join(lab.dir, "break-probe");
  process.env.V6MOSTLY_TEST_BREAK_PROBE = breakFile;
  const run = lab.startRun(file, "off");
  delete process.env.V6MOSTLY_TEST_BREAK_PROBE;
  const log = () => (run as unknown as { output: () => string }).output();

  /** The client's dig: the answer section's records of `type`, as text. */
  const dig = (type: "AAAA" | "A") =>
    lab
      .ns(lab.c, ["dig", `@${RESOLVER}`, type, NAME, "+short", "+time=2", "+tries=1"])
      .trim()
      .split("\n")
      .filter(Boolean);

  // 1. the gateway translates: a synthesized AAAA (the prefix's image of the A record)
  assert.deepEqual(
    await waitFor("a synthesized AAAA", () => {
      const r = dig("AAAA");
      return r.length > 0 ? r : undefined;
    }),
    [SERVER6],
  );

  // 2. the gateway's translator fails its probe: the DNS64 answers as a plain forwarder
  writeFileSync(breakFile, "");
  const since = Date.now();
  await waitFor("no synthesis", () => (dig("AAAA").length === 0 ? true : undefined), 20_000);
  t.diagnostic(`synthesis withdrawn ${((Date.now() - since) / 1000).toFixed(1)} s after the probe broke`);
  assert.deepEqual(dig("A"), [SERVER4], "still a forwarder for what exists");
  assert.match(
    log(),
    /"why":"packet worker 0 failed its probe: [^"]+".*fate-sharing: Nat64Gateway\/lab is not doing its job here \(packet worker 0 failed its probe: .+?\); withdrawing synthesis with 2001:db8:64::\/96/,
  );

  // 3. repaired: synthesis returns
  rmSync(breakFile);
  assert.deepEqual(
    await waitFor(
      "synthesis back",
      () => {
        const r = dig("AAAA");
        return r.length > 0 ? r : undefined;
      },
      20_000,
    ),
    [SERVER6],
  );
  assert.match(log(), /fate-sharing: the Nat64Gateway runs again; restoring/);
  await lab.stop(run);
});
