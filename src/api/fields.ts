// Field schemas shared by the resources: addresses, prefixes, ranges, names and references.
// Addresses are parsed here, once, at the boundary (files, the API, a NodeConfig): a valid
// resource carries Address, Prefix, Range and Endpoint values (util/net.ts) that keep the user's
// text, print as it and serialize as it, so round trips through the API server stay exact and
// nothing downstream parses an address again.
import { z } from "zod";
import {
  type Family,
  type Parsed,
  parseAddress,
  parseEndpoint,
  parsePrefix,
  parseRange,
} from "../util/net.ts";

type Check = (text: string) => string | undefined;

/** A string parsed into T; its error becomes the field's problem. */
function parsed<T>(description: string, parse: (text: string) => Parsed<T>) {
  return z
    .string()
    .describe(description)
    .transform((text, ctx): T => {
      const r = parse(text);
      if (r.ok) return r.value;
      ctx.addIssue({ code: "custom", message: r.error });
      return z.NEVER;
    });
}

function checked(description: string, check: Check) {
  return z
    .string()
    .describe(description)
    .superRefine((value, ctx) => {
      const error = check(value);
      if (error) ctx.addIssue({ code: "custom", message: error });
    });
}

export const ipv4Address = (description = "an IPv4 address") =>
  parsed(description, (t) => parseAddress(t, 4));

export const ipv6Address = (description = "an IPv6 address") =>
  parsed(description, (t) => parseAddress(t, 6));

export const ipAddress = (description = "an IPv4 or IPv6 address") =>
  parsed(description, (t) => parseAddress(t));

export const prefix = (family?: Family, description?: string) =>
  parsed(description ?? `an IPv${family ?? "4 or IPv6"} prefix in CIDR notation`, (t) =>
    parsePrefix(t, family),
  );

/** A range of one family, or of either when `family` is undefined. */
export const range = (family: Family | undefined, description: string) =>
  parsed(description, (t) => parseRange(t, family));

export const endpoint = (defaultPort: number, description: string) =>
  parsed(description, (t) => parseEndpoint(t, defaultPort));

/** Why `t` cannot be a Linux interface name (IFNAMSIZ: 1 to 15 bytes, no slash, colon or white space). */
export function linuxInterfaceProblem(t: string): string | undefined {
  if (t.length === 0 || t.length > 15) return `"${t}" is not an interface name (1 to 15 characters on Linux)`;
  if (/[\s/:]/.test(t) || t === "." || t === "..")
    return `"${t}" is not an interface name (no spaces, "/" or ":")`;
  return undefined;
}

/** An interface that is always a Linux one (a TUN device v6mostly creates). */
export const linuxInterfaceName = (description: string) => checked(description, linuxInterfaceProblem);

/**
 * An interface on a node or on an ExternalDevice (GigabitEthernet0/0/1.100, BDI10, lan1). The
 * Linux rules are checked by the resource, where it knows whether a deviceRef is set
 * (`checkNodeInterface`).
 */
export const interfaceName = (description = "a network interface name on the node or the device") =>
  checked(description, (t) => {
    if (t.length === 0 || t.length > 64) return `"${t}" is not an interface name (1 to 64 characters)`;
    if (/\s/.test(t)) return `"${t}" is not an interface name (no spaces)`;
    return undefined;
  });

/** RFC 1123 subdomain, as Kubernetes object names must be. */
export const objectName = z
  .string()
  .describe("a Kubernetes object name")
  .superRefine((t, ctx) => {
    if (
      t.length === 0 ||
      t.length > 253 ||
      !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(t)
    ) {
      ctx.addIssue({
        code: "custom",
        message: `"${t}" is not a valid name (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)`,
      });
    }
  });

export const localRef = (what: string) =>
  z.strictObject({ name: objectName }).describe(`names the ${what} this refers to`);

export const secretKeyRef = z
  .strictObject({ name: objectName, key: z.string().min(1) })
  .describe("a key of a Kubernetes Secret in the resource's namespace");

/** Pod-style node selector: every label must match. */
export const nodeSelector = z
  .record(z.string(), z.string())
  .describe("labels a node must carry to run this resource (cluster mode); empty = every node");
