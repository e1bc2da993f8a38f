// plan / apply / verify for one ExternalDevice: probe the box (version, interfaces), render what
// the resources need, read what the box holds, diff, apply in dependency order, verify, and
// remember in a ledger what cannot carry a mark. A second apply sends no change.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Condition } from "../api/status.ts";
import type { Logger } from "../util/log.ts";
import { DeviceAnswerError } from "./answer.ts";
import { CredentialError, type Credentials, readCredential } from "./credentials.ts";
import { diagnosePolicyOrder, diagnoseVip6, type Vip6 } from "./diagnose.ts";
import { DeviceApiError, type Driver, type Ledger } from "./driver.ts";
import { createFortiDriver } from "./fortios/rest.ts";
import { DeviceHttpError, readCa } from "./http.ts";
import { createIosxeDriver, iosxeSame } from "./iosxe/restconf.ts";
import { type Change, type Diagnostic, defaultSame, diff } from "./model.ts";
import { type Redact, redactDeep, redactingLogger, redactor } from "./redact.ts";
import { type Device, type Rendered, renderDevice } from "./targets.ts";
import { parseVersion, sameRelease, type Version, VersionError } from "./version.ts";

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
  /** objects the resources need on the box (what is in sync when the run succeeds) */
  objects: number;
  condition: Omit<Condition, "lastTransitionTime"> & { lastTransitionTime: string };
}

export interface RunOptions {
  log: Logger;
  /** where the ledger file is kept (standalone); not needed with `ledger` */
  stateDir?: string;
  /** another place for the ledger (cluster mode: the API); default: the file under stateDir */
  ledger?: LedgerStore;
  /** where the credential and the CA come from (cluster mode: Secrets); default: the spec's file or env */
  credentials?: () => Promise<Credentials>;
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

/** Where a device's ledger lives between runs; saved after every change, so a run cut short resumes. */
export interface LedgerStore {
  load(): Promise<Ledger>;
  save(l: Ledger): Promise<void>;
}

function fileLedger(stateDir: string | undefined, device: string): LedgerStore {
  if (!stateDir) throw new Error("a state directory (or another ledger store) is needed");
  return {
    load: async () => loadLedger(stateDir, device),
    save: async (l) => saveLedger(stateDir, l),
  };
}

function saveLedger(stateDir: string, l: Ledger): void {
  mkdirSync(stateDir, { recursive: true });
  const file = ledgerPath(stateDir, l.device);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(l, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** A driver for one run, the redaction of its credential, and the log both use. */
interface Connection {
  driver: Driver;
  redact: Redact;
  /** o.log, with the credential redacted from every field */
  log: Logger;
}

async function connect(device: Device, o: RunOptions): Promise<Connection> {
  if (o.driver) return { driver: o.driver, redact: (t) => t, log: o.log };
  const spec = device.spec;
  if (spec.vendor === "iosxe" && spec.transport === "ssh") {
    throw new Error(
      "transport ssh is not driven by v6mostly yet; `v6mostly render iosxe --format ssh` prints the session to type (with a revert timer)",
    );
  }
  const { secret, ca } = o.credentials
    ? await o.credentials()
    : { secret: readCredential(device.name, spec, o.env, o.log), ca: readCa(spec.tls.caFile) };
  const username = spec.username ?? "";
  // What the transport puts on the wire: the token (Bearer), or user:password in base64 (Basic).
  const redact = redactor(
    spec.vendor === "fortios" ? [secret] : [secret, Buffer.from(`${username}:${secret}`).toString("base64")],
  );
  const log = redactingLogger(o.log, redact);
  const tls = { insecureSkipVerify: spec.tls.insecureSkipVerify, ca };
  const common = {
    endpoint: spec.endpoint,
    tls,
    log,
    retries: o.retries,
    backoffMs: o.backoffMs,
    timeoutMs: o.timeoutMs,
  };
  const driver =
    spec.vendor === "fortios"
      ? createFortiDriver({ ...common, token: secret, vdom: spec.vdom ?? "root" })
      : createIosxeDriver({ ...common, username, password: secret });
  return { driver, redact, log };
}

const now = () => new Date().toISOString();

function condition(status: "True" | "False", reason: string, message: string): DeviceRun["condition"] {
  return { type: "DeviceSynced", status, reason, message, lastTransitionTime: now() };
}

/** Why a run failed, as a condition reason. */
function failureReason(e: unknown): { reason: string; message: string } {
  if (e instanceof DeviceHttpError) {
    const reason = {
      tls: "TLSVerificationFailed",
      timeout: "Timeout",
      unreachable: "Unreachable",
      http: "UnexpectedAnswer", // a reply larger than any configuration
    }[e.kind];
    return { reason, message: e.message };
  }
  if (e instanceof DeviceApiError) {
    if (e.status === 401 || e.status === 403) return { reason: "Unauthorized", message: e.message };
    return { reason: "DeviceRejected", message: e.message };
  }
  if (e instanceof CredentialError) return { reason: "CredentialsUnavailable", message: e.message };
  if (e instanceof VersionError) return { reason: "UnknownVersion", message: e.message };
  if (e instanceof DeviceAnswerError) return { reason: "UnexpectedAnswer", message: e.message };
  return { reason: "Error", message: (e as Error).message };
}

interface Prepared {
  rendered: Rendered;
  changes: Change[];
  drift: Change[];
  ledger: Ledger;
  store: LedgerStore;
  diagnostics: Diagnostic[];
}

async function prepare(device: Device, { driver }: Connection, o: RunOptions): Promise<Prepared> {
  const probe = await driver.probe();
  const diagnostics: Diagnostic[] = [];
  const want = device.spec.version;
  // The box's word on its version wins over the resource's; an answer that is not a version is
  // refused (VersionError), never rendered for as if it were the default.
  const reported = probe.version || undefined;
  if (reported !== undefined) parseVersion(reported, "the box reports version");
  if (want && reported && !sameRelease(want, reported)) {
    diagnostics.push({
      severity: "warning",
      subject: `ExternalDevice/${device.name}`,
      message: `spec.version is ${want} but the box reports ${reported}; rendering for ${reported}`,
    });
  }
  const version = reported ?? want;
  const interfaces = device.spec.interfaces.length > 0 ? device.spec.interfaces : probe.interfaces;
  const rendered = renderDevice(device, version, interfaces);
  diagnostics.push(...rendered.diagnostics);
  const store = o.ledger ?? fileLedger(o.stateDir, device.name);
  const ledger = await store.load();
  const read = await driver.read(rendered.objects, ledger);
  const same = device.spec.vendor === "iosxe" ? iosxeSame : defaultSame;
  const changes = diff(rendered.objects, read.current, read.orphans, same);
  const drift = changes.filter(
    (c) => c.op === "update" && (ledger.entries[c.object.id] || c.object.ownership === "marked"),
  );
  if (device.spec.vendor === "fortios" && driver.vendor === "fortios")
    diagnostics.push(
      ...(await vip6Diagnostics(driver, rendered.parsedVersion)),
      ...(await policyOrder(driver, rendered)),
    );
  return { rendered, changes, drift, ledger, store, diagnostics };
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
async function vip6Diagnostics(driver: Driver, version: Version): Promise<Diagnostic[]> {
  const d = driver as Driver & { vip6?: () => Promise<Vip6[]> };
  if (!d.vip6) return [];
  return diagnoseVip6(version, await d.vip6());
}

/** What a run reports: the prepared view of the box (if reading got that far) and its outcome. */
function report(
  device: Device,
  p: Prepared | undefined,
  c: Connection | undefined,
  applied: number,
  cond: DeviceRun["condition"],
): DeviceRun {
  const run: DeviceRun = {
    device: device.name,
    version: p?.rendered.version,
    changes: p?.changes ?? [],
    drift: p?.drift ?? [],
    diagnostics: p?.diagnostics ?? [],
    requests: c?.driver.requests ?? 0,
    applied,
    objects: p?.rendered.objects.length ?? 0,
    condition: cond,
  };
  // The box's values (changes, diagnostics) and its error texts may echo the credential.
  return c ? redactDeep(run, c.redact) : run;
}

/** A device refuses a whole run while any diagnostic is an error. */
function invalidForDevice(device: Device, p: Prepared): DeviceRun["condition"] | undefined {
  const errors = p.diagnostics.filter((x) => x.severity === "error");
  if (errors.length === 0) return undefined;
  // the condition is the device's own: its subject is not said again
  const text = (e: Diagnostic) =>
    e.subject === `ExternalDevice/${device.name}` ? e.message : `${e.subject}: ${e.message}`;
  return condition("False", "InvalidForDevice", errors.map(text).join("; "));
}

/** What a run has got to when it fails: the box as read, and the changes already applied. */
interface Progress {
  prepared?: Prepared;
  applied: number;
}

/** One run against the box: a failure anywhere ends as a condition with its reason, never a throw. */
async function withDevice(
  device: Device,
  o: RunOptions,
  verb: "plan" | "apply",
  body: (c: Connection, progress: Progress) => Promise<DeviceRun>,
): Promise<DeviceRun> {
  let c: Connection | undefined;
  const progress: Progress = { applied: 0 };
  try {
    c = await connect(device, o);
    return await body(c, progress);
  } catch (e) {
    const f = failureReason(e);
    (c?.log ?? o.log).error(
      { device: device.name, reason: f.reason, error: f.message, applied: progress.applied },
      `device ${verb} failed`,
    );
    return report(device, progress.prepared, c, progress.applied, condition("False", f.reason, f.message));
  } finally {
    c?.driver.close();
  }
}

/** Read the box and show what apply would change. Sends only GETs. */
export function planDevice(device: Device, o: RunOptions): Promise<DeviceRun> {
  return withDevice(device, o, "plan", async (c) => {
    const p = await prepare(device, c, o);
    const cond =
      invalidForDevice(device, p) ??
      (p.changes.length === 0
        ? condition("True", "InSync", "the box holds what the resources say")
        : condition(
            "False",
            p.drift.length ? "Drifted" : "Pending",
            `${p.changes.length} change(s) to apply`,
          ));
    return report(device, p, c, 0, cond);
  });
}

/** Apply the changes, remember ledger objects, save (IOS-XE), then read again to verify. */
export function applyDevice(device: Device, o: RunOptions): Promise<DeviceRun> {
  return withDevice(device, o, "apply", async (c, progress) => {
    const { driver } = c;
    const p = await prepare(device, c, o);
    progress.prepared = p;
    const invalid = invalidForDevice(device, p);
    if (invalid) return report(device, p, c, 0, invalid);
    for (const ch of p.changes) {
      c.log.info(
        { device: device.name, op: ch.op, object: ch.object.id, fields: ch.fields.map((f) => f.field) },
        "device change",
      );
      await driver.apply(ch, p.ledger);
      progress.applied++;
      // The ledger follows every change at once, so a run cut short resumes where it stopped.
      if (ch.op === "delete") delete p.ledger.entries[ch.object.id];
      else if (ch.object.ownership !== "shared") {
        p.ledger.entries[ch.object.id] = {
          id: ch.object.id,
          path: ch.object.path,
          key: ch.object.key,
          removal: ch.object.removal,
          body: ch.object.path === "cli-rpc" ? ch.object.body : undefined,
        };
      }
      await p.store.save(p.ledger);
    }
    const applied = progress.applied;
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
            `after apply the box still differs: ${left.map((x) => `${x.op} ${x.object.id}`).join(", ")}`,
          );
    return report(device, p, c, applied, cond);
  });
}
