// Boxes scripted by the test, for the hostile and redaction tests: what a sound FortiGate or ISR
// answers (its version and interfaces; no object of ours exists yet), into which a test puts wrong
// or echoing answers. The devices' credentials come from V6M_TEST_FGT_TOKEN / V6M_TEST_ISR_PASSWORD.
import { CMDB, STATUS } from "../../../src/devices/fortios/rest.ts";
import { NATIVE } from "../../../src/devices/iosxe/render.ts";
import { DATA } from "../../../src/devices/iosxe/restconf.ts";
import type { Device } from "../../../src/devices/targets.ts";
import { ISR_INTERFACES } from "./fake-iosxe.ts";
import { type BoxRequest, HttpsBox } from "./https-box.ts";
import { device, FGT_INTERFACES, fortigateYaml, fromYaml, seedIsrAt } from "./seed.ts";

export type Vendor = "fortios" | "iosxe";

/** What the box answers: a status and the body's raw text. */
export interface Answer {
  status: number;
  body: string;
}

export const json = (v: unknown, status = 200): Answer => ({ status, body: JSON.stringify(v) });

/** The request that probes the box's version, and the one that reads its interfaces. */
export const PROBE: Record<Vendor, string> = { fortios: STATUS, iosxe: `${DATA}${NATIVE}/version` };
export const IFACES: Record<Vendor, string> = {
  fortios: `${CMDB}system/interface`,
  iosxe: `${DATA}${NATIVE}/interface`,
};

const SOUND: Record<Vendor, { paths: Record<string, Answer>; absent: Answer }> = {
  fortios: {
    paths: {
      [PROBE.fortios]: json({ status: "success", version: "v7.2.4" }),
      [IFACES.fortios]: json({ status: "success", results: FGT_INTERFACES }),
    },
    absent: json({ status: "error", error: -3 }, 404),
  },
  iosxe: {
    paths: {
      [PROBE.iosxe]: json({ "Cisco-IOS-XE-native:version": "17.12" }),
      [IFACES.iosxe]: json({ "Cisco-IOS-XE-native:interface": ISR_INTERFACES }),
    },
    absent: json(
      { "ietf-restconf:errors": { error: [{ "error-tag": "invalid-value", "error-message": "no such" }] } },
      404,
    ),
  },
};

export const pathOf = (req: BoxRequest) => new URL(req.url, "https://box").pathname;

/** What a sound box of `vendor` answers to `req`. */
export function soundAnswer(vendor: Vendor, req: BoxRequest): Answer {
  return SOUND[vendor].paths[pathOf(req)] ?? SOUND[vendor].absent;
}

/** An HTTPS box (the test PKI's certificate) answering each request with `answer(req)`. */
export function answeringBox(
  tls: { key: string; cert: string },
  answer: (req: BoxRequest) => Answer,
): HttpsBox {
  return new HttpsBox(tls, (req, res) => {
    const a = answer(req);
    res.writeHead(a.status, { "Content-Type": "application/json" });
    res.end(a.body);
  });
}

/** The test's FortiGate (fortigateYaml, 7.2.4) or the seed's ISR, pointed at `endpoint`. */
export function deviceAt(vendor: Vendor, endpoint: string, caFile: string): Device {
  if (vendor === "iosxe") return device(seedIsrAt(endpoint, caFile), "isr");
  const yaml = fortigateYaml({ version: "7.2.4", endpoint, tls: `tls: { caFile: "${caFile}" }` });
  return device(fromYaml(yaml), "fgt");
}
