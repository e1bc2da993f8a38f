// Client messages and scopes for the unit tests.
import { dhcpScopeSpec } from "../../../src/api/dhcpscope.ts";
import type { DhcpAssignment } from "../../../src/planner/plan.ts";
import { compileScope, type Scope } from "../../../src/services/dhcp4/scope.ts";
import {
  addrBytes,
  type DhcpMessage,
  decode,
  encodeRequest,
  OPT,
  type OptionOut,
  parseAddr,
  u8Bytes,
} from "../../../src/services/dhcp4/wire.ts";

export function assignment(spec: Record<string, unknown>, name = "lan"): DhcpAssignment {
  const parsed = dhcpScopeSpec.parse({
    interface: "eth0",
    subnet: "192.0.2.0/24",
    ranges: ["192.0.2.100-192.0.2.199"],
    ...spec,
  });
  return {
    kind: "DhcpScope",
    namespace: "default",
    name,
    spec: parsed as DhcpAssignment["spec"],
    renewalTime: Math.floor(parsed.leaseTime * 0.5),
    rebindingTime: Math.floor(parsed.leaseTime * 0.875),
  };
}

export const SERVER_ID = parseAddr("192.0.2.1");

export function scopeOf(spec: Record<string, unknown> = {}): Scope {
  return compileScope(assignment(spec), SERVER_ID);
}

export function mac(n: number): Uint8Array {
  return new Uint8Array([0x02, 0x00, 0x5e, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

export interface ClientMsg {
  type: number;
  mac?: Uint8Array;
  xid?: number;
  ciaddr?: string;
  giaddr?: string;
  flags?: number;
  requested?: string;
  serverId?: string;
  prl?: number[];
  clientId?: Uint8Array;
  extra?: OptionOut[];
}

export function build(c: ClientMsg): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set(c.mac ?? mac(1));
  const options: OptionOut[] = [[OPT.messageType, u8Bytes(c.type)]];
  if (c.clientId) options.push([OPT.clientId, c.clientId]);
  if (c.requested) options.push([OPT.requestedAddress, addrBytes(parseAddr(c.requested))]);
  if (c.serverId) options.push([OPT.serverId, addrBytes(parseAddr(c.serverId))]);
  if (c.prl) options.push([OPT.parameterRequestList, Uint8Array.from(c.prl)]);
  options.push(...(c.extra ?? []));
  return encodeRequest(
    {
      htype: 1,
      hlen: 6,
      xid: c.xid ?? 0x1234,
      flags: c.flags ?? 0,
      ciaddr: c.ciaddr ? parseAddr(c.ciaddr) : 0,
      yiaddr: 0,
      siaddr: 0,
      giaddr: c.giaddr ? parseAddr(c.giaddr) : 0,
      chaddr,
    },
    options,
  );
}

export function msg(c: ClientMsg): DhcpMessage {
  const d = decode(build(c));
  if (!d.ok) throw new Error(d.reason);
  return d.msg;
}
