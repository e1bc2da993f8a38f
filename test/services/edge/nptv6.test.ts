// NPTv6 on a Linux node (snat66 mode nptv6) through the kernel: the LAN's ULA /64 leaves as a
// routed /64 with the interface identifier kept (the netmap, not RFC 6296 §3.2's checksum-neutral
// word: docs/edge.md), and the mapping works inbound too (RFC 6296 §3.1). Here the gateway routes
// the outside /64 to the box, as an upstream that delegates a prefix would; the seed's cannot.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ADDR, canRun, EdgeLab } from "./lab.ts";

const skip = canRun(["python3"]);

test("NPTv6: fd00:1::/64 <-> 2001:db8:2::/64 both ways, interface identifiers kept", {
  skip: skip ?? undefined,
  timeout: 120_000,
}, async (t) => {
  const lab = new EdgeLab("N");
  t.after(() => lab.cleanup());
  lab.setup();
  lab.ip(lab.gw, "-6", "route", "add", "2001:db8:2::/64", "via", ADDR.box6);
  await lab.startPeers();
  const ask = (from: string, host: string) => lab.ask(from, host);
  const run = await lab.runWithTable(
    lab.write(
      "edge.yaml",
      `apiVersion: v6mostly.dev/v1alpha1
kind: EdgeTranslation
metadata: { name: home }
spec:
  insideInterfaces: [l0]
  outsideInterface: w0
  snat66: { mode: nptv6, nptv6: { inside: "fd00:1::/64", outside: "2001:db8:2::/64" } }
`,
    ),
  );
  assert.equal(
    ask(lab.lan, ADDR.out6),
    "2001:db8:2::10",
    "outbound: the prefix is replaced, fd00:1::10's IID kept",
  );
  assert.equal(ask(lab.out, "2001:db8:2::10"), ADDR.out6, "inbound: 2001:db8:2::10 reaches fd00:1::10");
  await lab.stop(run);
  assert.equal(ask(lab.out, "2001:db8:2::10"), undefined, "stopped: nothing maps the outside prefix");
});
