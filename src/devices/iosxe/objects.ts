// How IOS-XE names what v6mostly writes: the native tree's root, interface paths and names, key
// encoding, and the CLI RPC object for interface lines YANG does not model.
import type { DesiredObject } from "../model.ts";

export const NATIVE = "Cisco-IOS-XE-native:native";
/** Name prefix of the pools and ACLs we create. */
export const NAME_PREFIX = "v6m-";

/** RFC 8040 §3.5.3: key values in a path are percent-encoded ("0/0/1" → "0%2F0%2F1"). */
export const encodeKey = (k: string) =>
  encodeURIComponent(k).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** "BDI10" → { type: "BDI", number: "10" }; "GigabitEthernet0/0/1.100" → GigabitEthernet, "0/0/1.100". */
export function splitInterface(name: string): { type: string; number: string } | undefined {
  const m = /^([A-Za-z-]+?)\s*(\d[\d/.:]*)$/.exec(name.trim());
  if (!m) return undefined;
  const canon: Record<string, string> = {
    bdi: "BDI",
    gigabitethernet: "GigabitEthernet",
    gi: "GigabitEthernet",
    tengigabitethernet: "TenGigabitEthernet",
    vlan: "Vlan",
    loopback: "Loopback",
    "port-channel": "Port-channel",
    tunnel: "Tunnel",
  };
  const t = m[1]!.toLowerCase();
  return { type: Object.hasOwn(canon, t) ? canon[t]! : m[1]!, number: m[2]! };
}

export function interfacePath(name: string): string | undefined {
  const i = splitInterface(name);
  return i ? `${NATIVE}/interface/${i.type}=${encodeKey(i.number)}` : undefined;
}

export const canonicalName = (name: string) => {
  const i = splitInterface(name);
  return i ? `${i.type}${i.number}` : name;
};

/** The cli-rpc object for lines under one interface, owned by one resource. */
export function cliObject(
  owner: string,
  ifname: string,
  lines: string[],
  removeLines: string[],
): DesiredObject {
  const parent = `interface ${ifname}`;
  return {
    id: `cli/${ifname}/${owner}`,
    owners: [owner],
    path: "cli-rpc",
    body: { "config-clis": `${parent}\n${lines.map((l) => ` ${l}\n`).join("")}` },
    dependsOn: [],
    ownership: "ledger",
    removal: { kind: "cli", text: `${parent}\n${removeLines.map((l) => ` ${l}\n`).join("")}` },
    cli: { parent, lines },
  };
}
