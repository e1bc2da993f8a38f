// Human-readable text of a decoded Router Advertisement, for `v6mostly ra listen` (pure).
//
// Everything in an RA comes from whoever sent it. What it can carry as text reaches a terminal
// only escaped: the captive portal URI through `visible()`; DNSSL names are already in DNS
// presentation form (wire.ts: every octet outside letters, digits, - and _ as \DDD, RFC 4343
// §2.1, as dig prints them); the rest is numbers and hex.
import { formatDuration } from "../../api/duration.ts";
import type { NdOption, RouterAdvertisement } from "./wire.ts";

/**
 * Characters a terminal acts on or that hide or reorder text: C0 and C1 controls and DEL
 * (Unicode Cc: ESC starts the escape sequences, U+009B is CSI on its own), format characters (Cf:
 * bidi overrides, zero-width marks), line and paragraph separators.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * `text` with every unsafe character written as an escape an engineer reads at once, the way
 * JavaScript writes it: \x1b up to U+00FF, \u{202e} beyond; a backslash as \\, so that the text
 * shown is unambiguous.
 */
export function visible(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(UNSAFE, (c) => {
    const n = c.codePointAt(0)!;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u{${n.toString(16)}}`;
  });
}

/**
 * JSON for a terminal: JSON.stringify escapes C0 controls only; C1 controls, DEL, format
 * characters and separators are written as \uXXXX too (the same JSON value once parsed).
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => {
    let out = "";
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return out;
  });
}

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
      return `captive portal ${visible(o.uri)}`;
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
