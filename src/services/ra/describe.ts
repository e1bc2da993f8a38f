// Human-readable text of a decoded Router Advertisement, for `v6mostly ra listen` (pure).
import { formatDuration } from "../../api/duration.ts";
import type { NdOption, RouterAdvertisement } from "./wire.ts";

const INFINITY = 0xffffffff;

function life(seconds: number): string {
  if (seconds === INFINITY) return "infinity";
  return seconds === 0
    ? "0 (withdrawn)"
    : `${seconds}s${seconds >= 60 ? ` (${formatDuration(seconds)})` : ""}`;
}

export function describeOption(o: NdOption): string {
  switch (o.type) {
    case "sourceLinkAddress":
      return `source link-layer address ${o.address}`;
    case "mtu":
      return `MTU ${o.mtu}`;
    case "prefixInformation": {
      const flags = [
        o.onLink ? "on-link" : "",
        o.autonomous ? "autonomous" : "",
        o.routerAddress ? "router-address" : "",
      ].filter(Boolean);
      return `prefix ${o.prefix}/${o.prefixLength} ${flags.join(" ") || "(no flags)"}, valid ${life(o.validLifetime)}, preferred ${life(o.preferredLifetime)}`;
    }
    case "routeInformation":
      return `route ${o.prefix}/${o.prefixLength} preference ${o.preference}, lifetime ${life(o.lifetime)}`;
    case "rdnss":
      return `RDNSS ${o.servers.join(" ")}, lifetime ${life(o.lifetime)}`;
    case "dnssl":
      return `DNSSL ${o.domains.join(" ")}, lifetime ${life(o.lifetime)}`;
    case "pref64":
      return `PREF64 ${o.prefix}/${o.prefixLength}, lifetime ${life(o.lifetime)}`;
    case "captivePortal":
      return `captive portal ${o.uri}`;
    case "unknown":
      return `option ${o.code}: ${o.data}`;
    case "invalid":
      return `option ${o.code} INVALID (ignored by hosts): ${o.reason}; bytes ${o.data}`;
  }
}

export function describeAdvertisement(ra: RouterAdvertisement): string[] {
  const flags = [
    ra.managed ? "M" : "",
    ra.otherConfig ? "O" : "",
    ra.homeAgent ? "H" : "",
    ra.proxy ? "P" : "",
  ].filter(Boolean);
  const lines = [
    `hop limit ${ra.curHopLimit === 0 ? "unspecified" : ra.curHopLimit}, flags ${flags.join("") || "none"}, ` +
      `router lifetime ${ra.routerLifetime === 0 ? "0 (not a default router)" : life(ra.routerLifetime)}, preference ${ra.preference}, ` +
      `reachable ${ra.reachableTime} ms, retransmit ${ra.retransTimer} ms`,
  ];
  for (const o of ra.options) lines.push(describeOption(o));
  return lines;
}
