// How FortiOS names and marks the CMDB objects v6mostly creates, per path: their mkey field,
// the comment field that carries our mark, and which ones the box numbers itself (so that a
// later run finds them by that comment, not by a key).
import { MARKER } from "../model.ts";

/** Name prefix of the objects we create (ippools, vips, policy names). */
export const NAME_PREFIX = "v6m-";

/** The comment that marks an object as ours; `id` makes it findable again. */
export function markerComment(id: string): string {
  return `${MARKER}: ${id}`;
}

/** Tables the box numbers itself (policyid, seq-num): we POST without a key and find ours by comment. */
export const NUMBERED = [
  "firewall/policy",
  "firewall/policy6",
  "firewall/policy64",
  "router/static",
  "router/static6",
] as const;

export const isNumbered = (path: string) => (NUMBERED as readonly string[]).includes(path);

/** Tables where our objects carry the mark and are found by listing. */
export const MARKED_PATHS = [
  "firewall/ippool",
  "firewall/ippool6",
  "firewall/vip",
  "firewall/vip6",
  ...NUMBERED,
] as const;

export function keyField(path: string): string {
  if (path.startsWith("firewall/policy")) return "policyid";
  if (path.startsWith("router/static")) return "seq-num";
  return "name";
}

/** vip, vip6 and static routes call their free text `comment`; the others `comments`. */
export function commentField(path: string): "comment" | "comments" {
  return path === "firewall/vip" || path === "firewall/vip6" || path.startsWith("router/static")
    ? "comment"
    : "comments";
}
