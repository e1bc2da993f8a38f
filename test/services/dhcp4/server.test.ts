// The server's receive path without sockets: hostile datagrams are counted drops, decisions are
// batched with REQUESTs before DISCOVERs, and leases reach the store before replies would leave.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Dhcp4Server } from "../../../src/services/dhcp4/server.ts";
import { MemoryLeaseStore } from "../../../src/services/dhcp4/store.ts";
import { DHCPDISCOVER, DHCPREQUEST, parseAddr } from "../../../src/services/dhcp4/wire.ts";
import { createLogger } from "../../../src/util/log.ts";
import { build, mac, scopeOf } from "./helpers.ts";

const log = createLogger("dhcp4-test", { level: "silent" });
const tick = () => new Promise((r) => setImmediate(r));

test("fuzz: any datagram is a counted drop or a decision; the receive path never throws", async () => {
  const store = new MemoryLeaseStore();
  const srv = new Dhcp4Server(scopeOf({ maxLeasesPerMinute: 5 }), store, log);
  const base = build({ type: DHCPDISCOVER, prl: [1, 3, 108] });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 9000 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }).map((edits) => {
          const b = Uint8Array.from(base);
          for (const [at, v] of edits) b[at % b.length] = v;
          return b;
        }),
      ),
      (bytes) => {
        srv.receive(bytes, "192.0.2.9");
      },
    ),
    { numRuns: 2000 },
  );
  await tick();
  const st = srv.stats();
  assert.equal(st.internalErrors, 0);
  assert.equal(st.received, 2000);
  assert.ok(st.malformed! > 0);
});

test("under a backlog, REQUESTs are decided before DISCOVERs and stale DISCOVERs are shed", async () => {
  const store = new MemoryLeaseStore();
  const scope = scopeOf({ ranges: ["192.0.2.10-192.0.2.250"], maxLeasesPerMinute: 100000 });
  const srv = new Dhcp4Server(scope, store, log);
  for (let i = 0; i < 700; i++) srv.receive(build({ type: DHCPDISCOVER, mac: mac(i) }), "");
  // an INIT-REBOOT REQUEST arriving last is decided first: it gets the address it asks for,
  // although the DISCOVERs before it would otherwise have been offered it
  srv.receive(build({ type: DHCPREQUEST, mac: mac(5000), requested: "192.0.2.10" }), "");
  await tick();
  await tick();
  const st = srv.stats();
  assert.equal(st.shedDiscovers, 700 - 512);
  assert.equal(st.lease_bound, 1);
  assert.equal([...store.records.values()][0]!.address, parseAddr("192.0.2.10"));
});

test("startDhcpScope on an interface without an address in the subnet fails with a clear error", async () => {
  const { startDhcpScope } = await import("../../../src/services/dhcp4/index.ts");
  const { assignment } = await import("./helpers.ts");
  const os = await import("node:os");
  await assert.rejects(
    startDhcpScope(assignment({ interface: "v6mnope0" }), { log, stateDir: os.tmpdir() }),
    /interface v6mnope0 has no IPv4 address in 192\.0\.2\.0\/24/,
  );
});
