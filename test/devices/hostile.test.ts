// A broken or hostile box. Whatever it answers, plan and apply end with a condition, never a throw
// and never the catch-all reason "Error": each kind of wrong answer has its own reason, and the
// message names the request and the field that was wrong.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { applyDevice, type DeviceRun, planDevice } from "../../src/devices/apply.ts";
import { CMDB } from "../../src/devices/fortios/rest.ts";
import { NATIVE } from "../../src/devices/iosxe/render.ts";
import { DATA } from "../../src/devices/iosxe/restconf.ts";
import { boxHarness } from "./support/harness.ts";
import type { BoxRequest } from "./support/https-box.ts";
import {
  type Answer,
  answeringBox,
  deviceAt,
  IFACES,
  json,
  PROBE,
  pathOf,
  soundAnswer,
  type Vendor,
} from "./support/scripted.ts";

const h = boxHarness();
const { skip } = h;
const dir = h.tempDir("v6m-hostile-");

/** Every reason a run against a box may end with; "Error" (an exception nobody expected) is not one. */
const REASONS = new Set([
  "InSync",
  "Pending",
  "Drifted",
  "Applied",
  "VerifyFailed",
  "InvalidForDevice",
  "Unauthorized",
  "DeviceRejected",
  "UnexpectedAnswer",
  "UnknownVersion",
  "Unreachable",
  "Timeout",
]);

/** one attempt per request: the first answer to the probe decides */
const opts = () =>
  h.runOptions(
    { V6M_TEST_FGT_TOKEN: "tok-123456", V6M_TEST_ISR_PASSWORD: "pw-123456" },
    { stateDir: dir, retries: 0, timeoutMs: 2000 },
  ).opts;

const boxWith = (answer: (req: BoxRequest) => Answer) => h.track(answeringBox(h.pki, answer)).start();

/** A sound box of `vendor` except for `path`, which answers `wrong`. */
const scripted =
  (vendor: Vendor, path?: string, wrong?: Answer) =>
  (req: BoxRequest): Answer =>
    pathOf(req) === path && wrong ? wrong : soundAnswer(vendor, req);

test("a sound box: plan reaches the end (so each wrong answer below is what stops it)", {
  skip,
}, async () => {
  for (const vendor of ["fortios", "iosxe"] as const) {
    const r = await planDevice(deviceAt(vendor, await boxWith(scripted(vendor)), h.pki.caFile), opts());
    assert.equal(r.condition.reason, "Pending", `${vendor}: ${r.condition.message}`);
  }
});

const restconfError = (tag: string, status: number) =>
  json({ "ietf-restconf:errors": { error: [{ "error-tag": tag, "error-message": tag }] } }, status);
const bdi = (entry: unknown) => json({ "Cisco-IOS-XE-native:interface": { BDI: [entry] } });

/** Each wrong answer, the reason it must give, and the message that names the request and field. */
const CASES: { vendor: Vendor; path: string; answer: Answer; reason: string; message: RegExp }[] = [
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: json({ status: "error" }, 401),
    reason: "Unauthorized",
    message: /^GET \/api\/v2\/monitor\/system\/status: HTTP 401$/,
  },
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: json({ error: -3 }, 404),
    reason: "DeviceRejected",
    message: /^GET \/api\/v2\/monitor\/system\/status: HTTP 404 error -3 \(object not found\)$/,
  },
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: json({ error: -651, cli_error: "bad value" }, 500),
    reason: "DeviceRejected",
    message: /: HTTP 500 error -651 \(invalid value or reference\): bad value$/,
  },
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: { status: 200, body: "" },
    reason: "UnexpectedAnswer",
    message: /^GET \/api\/v2\/monitor\/system\/status: the answer is absent, expected a JSON object$/,
  },
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: { status: 200, body: "<html>login</html>" },
    reason: "UnexpectedAnswer",
    message: /: the answer is "<html>login<\/html>", expected a JSON object$/,
  },
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: json({ version: 7 }),
    reason: "UnexpectedAnswer",
    message: /^GET \/api\/v2\/monitor\/system\/status: version is 7, expected a string$/,
  },
  {
    vendor: "fortios",
    path: PROBE.fortios,
    answer: json({ version: "banana" }),
    reason: "UnknownVersion",
    message: /^the box reports version "banana" is not a version/,
  },
  {
    vendor: "fortios",
    path: IFACES.fortios,
    answer: json({ results: "x" }),
    reason: "UnexpectedAnswer",
    message: /^GET \/api\/v2\/cmdb\/system\/interface: results is "x", expected a list$/,
  },
  {
    vendor: "fortios",
    path: IFACES.fortios,
    answer: json({ results: [null] }),
    reason: "UnexpectedAnswer",
    message: /: results\[0\] is null, expected a JSON object$/,
  },
  {
    vendor: "fortios",
    path: IFACES.fortios,
    answer: json({ results: [{ name: 5 }] }),
    reason: "UnexpectedAnswer",
    message: /: results\[0\]\.name is 5, expected a string$/,
  },
  {
    vendor: "fortios",
    path: IFACES.fortios,
    answer: json({ results: [{ name: "lan1", ipv6: "x" }] }),
    reason: "UnexpectedAnswer",
    message: /: results\[0\]\.ipv6 is "x", expected a JSON object$/,
  },
  {
    vendor: "fortios",
    path: `${CMDB}firewall/ippool`,
    answer: json({ results: [{ comments: "managed by v6mostly: firewall/ippool/v6m-old", name: {} }] }),
    reason: "UnexpectedAnswer",
    message:
      /^GET \/api\/v2\/cmdb\/firewall\/ippool: results\[0\]\.name is \{\}, expected a name or a number$/,
  },
  {
    vendor: "fortios",
    path: `${CMDB}firewall/vip6`,
    answer: json({ results: [{ name: ["x"] }] }),
    reason: "UnexpectedAnswer",
    message: /^GET \/api\/v2\/cmdb\/firewall\/vip6: results\[0\]\.name is \["x"\], expected a string$/,
  },
  {
    vendor: "iosxe",
    path: PROBE.iosxe,
    answer: restconfError("access-denied", 401),
    reason: "Unauthorized",
    message: /^GET \/restconf\/data\/Cisco-IOS-XE-native:native\/version: HTTP 401 access-denied/,
  },
  {
    vendor: "iosxe",
    path: PROBE.iosxe,
    answer: restconfError("lock-denied", 409),
    reason: "DeviceRejected",
    message: /: HTTP 409 lock-denied: lock-denied$/,
  },
  {
    vendor: "iosxe",
    path: PROBE.iosxe,
    answer: json({ "Cisco-IOS-XE-native:version": 17.12 }),
    reason: "UnexpectedAnswer",
    message:
      /^GET \/restconf\/data\/Cisco-IOS-XE-native:native\/version: version is 17\.12, expected a string$/,
  },
  {
    vendor: "iosxe",
    path: PROBE.iosxe,
    answer: json({ "Cisco-IOS-XE-native:version": "banana" }),
    reason: "UnknownVersion",
    message: /^the box reports version "banana" is not a version/,
  },
  {
    vendor: "iosxe",
    path: PROBE.iosxe,
    answer: json([1]),
    reason: "UnexpectedAnswer",
    message: /native\/version: the answer is \[1\], expected a JSON object$/,
  },
  {
    vendor: "iosxe",
    path: IFACES.iosxe,
    answer: json({ "Cisco-IOS-XE-native:interface": { BDI: { name: 1 } } }),
    reason: "UnexpectedAnswer",
    message: /native\/interface: interface\.BDI is \{"name":1\}, expected a list$/,
  },
  {
    vendor: "iosxe",
    path: IFACES.iosxe,
    answer: bdi({ name: true }),
    reason: "UnexpectedAnswer",
    message: /: interface\.BDI\[0\]\.name is true, expected a name or a number$/,
  },
  {
    vendor: "iosxe",
    path: IFACES.iosxe,
    answer: bdi({ name: 10, ipv6: { address: { "prefix-list": [{ prefix: 5 }] } } }),
    reason: "UnexpectedAnswer",
    message: /: interface\.BDI\[0\]\.ipv6\.address\.prefix-list\[0\]\.prefix is 5, expected a string$/,
  },
  {
    vendor: "iosxe",
    path: `${DATA}${NATIVE}/ipv6/unicast-routing`,
    answer: json([1, 2]),
    reason: "UnexpectedAnswer",
    message:
      /^GET \/restconf\/data\/Cisco-IOS-XE-native:native\/ipv6\/unicast-routing: the answer is \[1,2\]/,
  },
  {
    vendor: "iosxe",
    path: `${DATA}${NATIVE}/ip/dhcp/Cisco-IOS-XE-dhcp:pool`,
    answer: json({ "Cisco-IOS-XE-dhcp:pool": [null] }),
    reason: "UnexpectedAnswer",
    message: /Cisco-IOS-XE-dhcp:pool: Cisco-IOS-XE-dhcp:pool\[0\] is null, expected a JSON object$/,
  },
];

for (const c of CASES) {
  const answered = `${c.answer.status} ${c.answer.body.slice(0, 40) || "(empty)"}`;
  test(`${c.vendor}: ${c.path.split("/").pop()} answering ${answered} -> ${c.reason}`, { skip }, async () => {
    const endpoint = await boxWith(scripted(c.vendor, c.path, c.answer));
    const r = await planDevice(deviceAt(c.vendor, endpoint, h.pki.caFile), opts());
    assert.equal(r.condition.status, "False");
    assert.equal(r.condition.reason, c.reason, r.condition.message);
    assert.match(r.condition.message, c.message);
  });
}

/** The reason the first answer alone decides (the probe), or undefined when the run goes on. */
function reasonOfFirst(vendor: Vendor, a: Answer): string | undefined {
  if (a.status === 401 || a.status === 403) return "Unauthorized";
  if (a.status >= 400 && !(vendor === "iosxe" && a.status === 404)) return "DeviceRejected";
  if (a.status >= 400) return undefined;
  const text = a.status === 204 ? "" : a.body; // a 204 carries no body
  if (text === "") return vendor === "fortios" ? "UnexpectedAnswer" : undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return "UnexpectedAnswer";
  }
  return typeof body === "object" && body !== null && !Array.isArray(body) ? undefined : "UnexpectedAnswer";
}

const randomAnswer = fc.record({
  status: fc.constantFrom(200, 200, 200, 201, 204, 400, 401, 404, 409, 424, 500, 503),
  body: fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.string(),
    fc.constant(""),
    fc.constant('{"results":[{"name":5,"ipv6":"x"}],"version":7}'),
    fc.constant('{"results":{"status":null}}'),
  ),
});

test("random answers from a FortiGate or an ISR: a known reason every time, the one the probe's answer decides", {
  skip,
}, async () => {
  let answers: Answer[] = [];
  let soundProbe = false;
  let vendor: Vendor = "fortios";
  let i = 0;
  // With soundProbe, the box tells its version and interfaces as a sound one does, so that the
  // random answers meet the reads and writes behind the probe too.
  const endpoint = await boxWith((req) => {
    const p = pathOf(req);
    if (soundProbe && (p === PROBE[vendor] || p === IFACES[vendor])) return soundAnswer(vendor, req);
    return answers[i++ % answers.length]!;
  });
  let pastProbe = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(randomAnswer, { minLength: 1, maxLength: 12 }),
      fc.constantFrom<Vendor>("fortios", "iosxe"),
      fc.boolean(),
      fc.boolean(),
      async (script, v, sound, apply) => {
        answers = script;
        vendor = v;
        soundProbe = sound;
        i = 0;
        const d = deviceAt(vendor, endpoint, h.pki.caFile);
        const r: DeviceRun = apply ? await applyDevice(d, opts()) : await planDevice(d, opts());
        if (r.requests > 2) pastProbe++;
        assert.ok(REASONS.has(r.condition.reason), `${r.condition.reason}: ${r.condition.message}`);
        const decided = sound ? undefined : reasonOfFirst(vendor, script[0]!);
        if (decided) assert.equal(r.condition.reason, decided, r.condition.message);
        if (r.condition.reason === "UnexpectedAnswer")
          assert.match(r.condition.message, /^(GET|POST|PUT|DELETE) \/\S+: /);
      },
    ),
    { numRuns: 80 },
  );
  // the random answers met the reads and writes behind the probe, not only the probe
  assert.ok(pastProbe >= 20, `${pastProbe} of 80 runs got past the probe`);
});
