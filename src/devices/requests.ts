// The HTTP requests a first apply would send, as text (`v6mostly render … --format requests`).
// The credential is named, never shown.
import type { ExternalDeviceSpec } from "../api/externaldevice.ts";
import { isNumbered, keyField } from "./fortios/objects.ts";
import { cliOrder } from "./fortios/render.ts";
import { CMDB } from "./fortios/rest.ts";
import { cliRpcBody } from "./iosxe/render.ts";
import { CLI_RPC, DATA, SAVE_CONFIG } from "./iosxe/restconf.ts";
import { type DesiredObject, order } from "./model.ts";

export interface RequestText {
  method: string;
  path: string;
  body?: unknown;
  note?: string;
}

function credentialSource(spec: ExternalDeviceSpec): string {
  if (spec.credentialsFile) return `from ${spec.credentialsFile}`;
  if (spec.credentialsEnv) return `from $${spec.credentialsEnv}`;
  return "from the Secret";
}

export function fortiRequests(objects: readonly DesiredObject[], vdom: string): RequestText[] {
  const q = `?vdom=${encodeURIComponent(vdom)}`;
  return cliOrder(order(objects)).map((o) => {
    const singleton = o.key === undefined && !isNumbered(o.path);
    if (singleton) return { method: "PUT", path: `${CMDB}${o.path}${q}`, body: o.body };
    if (o.key === undefined) {
      return {
        method: "POST",
        path: `${CMDB}${o.path}${q}`,
        body: o.body,
        note: `found again by comments; updated with PUT ${CMDB}${o.path}/<${keyField(o.path)}>`,
      };
    }
    return {
      method: "POST",
      path: `${CMDB}${o.path}${q}`,
      body: o.body,
      note: `PUT ${CMDB}${o.path}/${encodeURIComponent(o.key)}${q} when it exists (error -5 on POST)`,
    };
  });
}

export function iosxeRequests(objects: readonly DesiredObject[]): RequestText[] {
  const out: RequestText[] = order(objects).map((o) =>
    o.path === "cli-rpc"
      ? {
          method: "POST",
          path: CLI_RPC,
          body: cliRpcBody(String(o.body["config-clis"])),
          note: "not modelled in YANG",
        }
      : { method: "PUT", path: `${DATA}${o.path}`, body: o.body },
  );
  out.push({ method: "POST", path: SAVE_CONFIG, note: "write memory" });
  return out;
}

export function formatRequests(reqs: readonly RequestText[], spec: ExternalDeviceSpec): string {
  const auth =
    spec.vendor === "fortios"
      ? `Authorization: Bearer <token ${credentialSource(spec)}>`
      : `Authorization: Basic <${spec.username ?? "user"}:password ${credentialSource(spec)}>`;
  const type = spec.vendor === "fortios" ? "application/json" : "application/yang-data+json";
  const base = spec.endpoint.replace(/\/$/, "");
  return reqs
    .map((r) =>
      [
        `${r.method} ${base}${r.path}`,
        auth,
        ...(r.body === undefined ? [] : [`Content-Type: ${type}`]),
        ...(r.note ? [`# ${r.note}`] : []),
        ...(r.body === undefined ? [] : ["", JSON.stringify(r.body, null, 2)]),
      ].join("\n"),
    )
    .join("\n\n");
}

/**
 * IOS-XE over SSH (transport: ssh, or a release without the CLI RPC): the session to type, with a
 * revert timer so that a change that cuts the session off rolls back by itself
 * (`configure terminal revert timer` needs `archive` / `path bootflash:archive` configured).
 * v6mostly does not drive SSH itself yet; this is the documented plan.
 */
export function iosxeSshSession(cliText: string, revertMinutes = 5): string {
  const body = cliText
    .split("\n")
    .filter((l) => l !== "end" && l !== "")
    .join("\n");
  return [
    "! Prerequisite once: archive / path bootflash:archive (for the revert timer)",
    "terminal length 0",
    `configure terminal revert timer ${revertMinutes}`,
    body,
    "end",
    "! Stop here and let the timer roll back if any line answered % Invalid, % Incomplete or % Ambiguous.",
    "show running-config | section ^ip dhcp|^ipv6 access-list|^nat64|^interface BDI",
    "configure confirm",
    "write memory",
    "",
  ].join("\n");
}
