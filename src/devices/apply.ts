// plan / apply / verify for one ExternalDevice: probe the box (version, interfaces), render what
// the resources need, read what the box holds, diff, apply in dependency order, verify, and
// remember in a ledger what cannot carry a mark. A second apply sends no change.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Condition } from "../api/status.ts";
import type { Logger } from "../util/log.ts";
import { CredentialError, readCredential } from "./credentials.ts";
import { diagnosePolicyOrder, diagnoseVip6, type Vip6 } from "./diagnose.ts";
import { DeviceApiError, type Driver, type Ledger } from "./driver.ts";
import { createFortiDriver } from "./fortios/rest.ts";
import { DeviceHttpError, readCa } from "./http.ts";
import { createIosxeDriver, iosxeSame } from "./iosxe/restconf.ts";
import { type Change, type Diagnostic, defaultSame, diff } from "./model.ts";
import { type Device, type Rendered, renderDevice } from "./targets.ts";

export interface DeviceRun {
  device: string;
  version?: string;
  changes: Change[];
  /** updates of objects we had set: someone changed the box */
  drift: Change[];
  diagnostics: Diagnostic[];
  /** requests sent to the box (reads included) */
  requests: number;
  applied: number;
  condition: Omit<Condition, "lastTransitionTime"> & { lastTransitionTime: string };
}

export interface RunOptions {
  log: Logger;
  stateDir: string;
  /** tests: a driver over a fake; default: built from the spec */
  driver?: Driver;
  env?: NodeJS.ProcessEnv;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
}

export function ledgerPath(stateDir: string, device: string): string {
  return join(stateDir, `device-${device}.ledger.json`);
}

export function loadLedger(stateDir: string, device: string): Ledger {
  try {
    const l = JSON.parse(readFileSync(ledgerPath(stateDir, device), "utf8")) as Ledger;
    if (l && typeof l.entries === "object") return l;
  } catch {
    // none yet
  }
  return { device, entries: {} };
}

function saveLedger(stateDir: string, l: Ledger): void {
  mkdirSync(stateDir, { recursive: true });
  const file = ledgerPath(stateDir, l.device);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(l, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function driverFor(device: Device, o: RunOptions): Driver {
  if (o.driver) return o.driver;
  const spec = device.spec;
  const secret = readCredential(device.name, spec, o.env);
  const tls = { insecureSkipVerify: spec.tls.insecureSkipVerify, ca: readCa(spec.tls.caFile) };
  const common = {
    endpoint: spec.endpoint,
    tls,
    log: o.log,
    retries: o.retries,
    backoffMs: o.backoffMs,
    timeoutMs: o.timeoutMs,
  };
  if (spec.vendor === "fortios")
    return createFortiDriver({ ...common, token: secret, vdom: spec.vdom ?? "root" });
  if (spec.transport === "ssh") {
    throw new Error(
      `ExternalDevice/${device.name}: transport ssh is not driven by v6mostly yet; use \`v6mostly render iosxe\` for the lines and paste them after \`configure terminal revert timer 5\`, then \`configure confirm\``,
    );
  }
  return createIosxeDriver({ ...common, username: spec.username ?? "", password: secret });
}

const now = () => new Date().toISOString();

function condition(status: "True" | "False", reason: string, message: string): DeviceRun["condition"] {
  return { type: "DeviceSynced", status, reason, message, lastTransitionTime: now() };
}

/** Why a run failed, as a condition reason. */
function failureReason(e: unknown): { reason: string; message: string } {
  if (e instanceof DeviceHttpError) {
    const reason =
      e.kind === "tls" ? "TLSVerificationFailed" : e.kind === "timeout" ? "Timeout" : "Unreachable";
    return { reason, message: e.message };
  }
  if (e instanceof DeviceApiError) {
    if (e.status === 401 || e.status === 403) return { reason: "Unauthorized", message: e.message };
    return { reason: "DeviceRejected", message: e.message };
  }
  if (e instanceof CredentialError) return { reason: "CredentialsUnavailable", message: e.message };
  return { reason: "Error", message: (e as Error).message };
}

interface Prepared {
  rendered: Rendered;
  changes: Change[];
  drift: Change[];
  ledger: Ledger;
  diagnostics: Diagnostic[];
}

async function prepare(device: Device, driver: Driver, o: RunOptions): Promise<Prepared> {
  const probe = await driver.probe();
  const diagnostics: Diagnostic[] = [];
  const want = device.spec.version;
  if (want && probe.version && !probe.version.startsWith(want) && !want.startsWith(probe.version)) {
    diagnostics.push({
      severity: "warning",
      subject: `ExternalDevice/${device.name}`,
      message: `spec.version is ${want} but the box reports ${probe.version}; rendering for ${probe.version}`,
    });
  }
  const version = probe.version || want;
  const interfaces = device.spec.interfaces.length > 0 ? device.spec.interfaces : probe.interfaces;
  const rendered = renderDevice(device, version, interfaces);
  diagnostics.push(...rendered.diagnostics);
  const ledger = loadLedger(o.stateDir, device.name);
  const read = await driver.read(rendered.objects, ledger);
  const same = device.spec.vendor === "iosxe" ? iosxeSame : defaultSame;
  const changes = diff(rendered.objects, read.current, read.orphans, same);
  const drift = changes.filter(
    (c) => c.op === "update" && (ledger.entries[c.object.id] || c.object.ownership === "marked"),
  );
  if (device.spec.vendor === "fortios" && driver.vendor === "fortios")
    diagnostics.push(
      ...(await vip6Diagnostics(driver, version ?? "")),
      ...(await policyOrder(driver, rendered)),
    );
  return { rendered, changes, drift, ledger, diagnostics };
}

/** FortiOS: deny policies of the box's own above ours. */
async function policyOrder(driver: Driver, rendered: Rendered): Promise<Diagnostic[]> {
  const d = driver as Driver & { policyTable?: (path: string) => Promise<Record<string, unknown>[]> };
  if (!d.policyTable) return [];
  const out: Diagnostic[] = [];
  for (const path of ["firewall/policy", "firewall/policy64"]) {
    const ours = rendered.objects
      .filter((o) => o.path === path)
      .map((o) => ({ comment: String(o.body.comments), srcintf: o.body.srcintf, dstintf: o.body.dstintf }));
    if (ours.length) out.push(...diagnosePolicyOrder(path, ours, await d.policyTable(path)));
  }
  return out;
}

/** FortiOS: the box's vip6 objects and whether this version answers NDP for them. */
async function vip6Diagnostics(driver: Driver, version: string): Promise<Diagnostic[]> {
  const d = driver as Driver & { vip6?: () => Promise<Vip6[]> };
  if (!d.vip6) return [];
  return diagnoseVip6(version, await d.vip6());
}

/** What a run reports: the prepared view of the box (if reading got that far) and its outcome. */
function report(
  device: Device,
  p: Prepared | undefined,
  driver: Driver | undefined,
  applied: number,
  cond: DeviceRun["condition"],
): DeviceRun {
  return {
    device: device.name,
    version: p?.rendered.version,
    changes: p?.changes ?? [],
    drift: p?.drift ?? [],
    diagnostics: p?.diagnostics ?? [],
    requests: driver?.requests ?? 0,
    applied,
    condition: cond,
  };
}

/** A device refuses a whole run while any diagnostic is an error. */
function invalidForDevice(p: Prepared): DeviceRun["condition"] | undefined {
  const errors = p.diagnostics.filter((x) => x.severity === "error");
  if (errors.length === 0) return undefined;
  return condition("False", "InvalidForDevice", errors.map((e) => `${e.subject}: ${e.message}`).join("; "));
}

/** Read the box and show what apply would change. Sends only GETs. */
export async function planDevice(device: Device, o: RunOptions): Promise<DeviceRun> {
  let driver: Driver | undefined;
  try {
    driver = driverFor(device, o);
    const p = await prepare(device, driver, o);
    const cond =
      invalidForDevice(p) ??
      (p.changes.length === 0
        ? condition("True", "InSync", "the box holds what the resources say")
        : condition(
            "False",
            p.drift.length ? "Drifted" : "Pending",
            `${p.changes.length} change(s) to apply`,
          ));
    return report(device, p, driver, 0, cond);
  } catch (e) {
    const f = failureReason(e);
    o.log.error({ device: device.name, reason: f.reason, error: f.message }, "device plan failed");
    return report(device, undefined, driver, 0, condition("False", f.reason, f.message));
  } finally {
    driver?.close();
  }
}

/** Apply the changes, remember ledger objects, save (IOS-XE), then read again to verify. */
export async function applyDevice(device: Device, o: RunOptions): Promise<DeviceRun> {
  let driver: Driver | undefined;
  let applied = 0;
  let prepared: Prepared | undefined;
  try {
    driver = driverFor(device, o);
    const p = await prepare(device, driver, o);
    prepared = p;
    const invalid = invalidForDevice(p);
    if (invalid) return report(device, p, driver, 0, invalid);
    for (const c of p.changes) {
      o.log.info(
        { device: device.name, op: c.op, object: c.object.id, fields: c.fields.map((f) => f.field) },
        "device change",
      );
      await driver.apply(c, p.ledger);
      applied++;
      // The ledger follows every change at once, so a run cut short resumes where it stopped.
      if (c.op === "delete") delete p.ledger.entries[c.object.id];
      else if (c.object.ownership !== "shared") {
        p.ledger.entries[c.object.id] = {
          id: c.object.id,
          path: c.object.path,
          key: c.object.key,
          removal: c.object.removal,
          body: c.object.path === "cli-rpc" ? c.object.body : undefined,
        };
      }
      saveLedger(o.stateDir, p.ledger);
    }
    await driver.finish(applied > 0);
    // Verify: what the box holds now must be what we rendered.
    const again = await driver.read(p.rendered.objects, p.ledger);
    const left = diff(
      p.rendered.objects,
      again.current,
      again.orphans,
      device.spec.vendor === "iosxe" ? iosxeSame : defaultSame,
    );
    const cond =
      left.length === 0
        ? condition(
            "True",
            applied ? "Applied" : "InSync",
            applied ? `${applied} change(s) applied and verified` : "nothing to change",
          )
        : condition(
            "False",
            "VerifyFailed",
            `after apply the box still differs: ${left.map((c) => `${c.op} ${c.object.id}`).join(", ")}`,
          );
    return report(device, p, driver, applied, cond);
  } catch (e) {
    const f = failureReason(e);
    o.log.error({ device: device.name, reason: f.reason, error: f.message, applied }, "device apply failed");
    return report(device, prepared, driver, applied, condition("False", f.reason, f.message));
  } finally {
    driver?.close();
  }
}
