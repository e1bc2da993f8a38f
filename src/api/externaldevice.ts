// ExternalDevice: a FortiGate or Cisco IOS-XE box that v6mostly configures through its API.
import { z } from "zod";
import { parsePrefix } from "../util/net.ts";
import { secretKeyRef } from "./fields.ts";
import { issue } from "./rules.ts";

/** An address with its prefix length as configured on an interface: 192.0.2.254/24, 2001:db8::1/64. */
const interfaceAddress = z
  .string()
  .describe("an interface address with its length, as the box has it: 192.0.2.254/24 or 2001:db8::1/64")
  .superRefine((t, ctx) => {
    const p = parsePrefix(t, undefined, false);
    if (!p.ok)
      ctx.addIssue({
        code: "custom",
        message: `${p.error} (an interface address is written address/length, e.g. 192.0.2.254/24)`,
      });
  });

export const externalDeviceSpec = z
  .strictObject({
    vendor: z.enum(["fortios", "iosxe"]).describe("fortios (FortiGate) or iosxe (Cisco ISR, Catalyst 8000)"),
    endpoint: z.string().describe("the management URL, https://192.0.2.99 or https://[2001:db8::99]:8443"),
    version: z
      .string()
      .regex(/^\d+\.\d+(\.\d+)*[a-z]?$/i, { message: "a version such as 6.2.16 or 17.12.3" })
      .optional()
      .describe("software version; probed when absent"),
    credentialsSecretRef: secretKeyRef
      .optional()
      .describe("cluster mode: the API token (FortiOS) or password (IOS-XE)"),
    credentialsFile: z
      .string()
      .min(1)
      .optional()
      .describe("standalone mode: a file holding the token or password"),
    credentialsEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "an environment variable name" })
      .optional()
      .describe("standalone mode: an environment variable holding the token or password"),
    username: z.string().min(1).optional().describe("iosxe: the user for RESTCONF or SSH"),
    vdom: z.string().min(1).optional().describe("fortios: the VDOM, default root"),
    transport: z
      .enum(["rest", "restconf", "ssh"])
      .optional()
      .describe("fortios: rest; iosxe: restconf (default) or ssh"),
    interfaces: z
      .array(
        z.strictObject({
          name: z
            .string()
            .min(1)
            .describe("the interface as the box names it: lan1, BDI10, GigabitEthernet0/0/1"),
          addresses: z.array(interfaceAddress).default([]),
        }),
      )
      .default([])
      .describe(
        "the box's own interfaces and their addresses (v6mostly does not manage them): they tell which interface serves a DNS64 listen address, where NAT64 clients and pool4 live; `device plan|apply` reads them from the box when absent",
      ),
    tls: z
      .strictObject({
        caSecretRef: secretKeyRef.optional(),
        caFile: z.string().min(1).optional(),
        insecureSkipVerify: z.boolean().default(false).describe("turn certificate checks off, by name only"),
      })
      .default({ insecureSkipVerify: false }),
  })
  .superRefine((spec, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(spec.endpoint);
    } catch {
      issue(ctx, ["endpoint"], `"${spec.endpoint}" is not a URL (write https://192.0.2.99)`);
    }
    if (
      url &&
      url.protocol !== "https:" &&
      !(spec.vendor === "iosxe" && spec.transport === "ssh" && url.protocol === "ssh:")
    ) {
      issue(ctx, ["endpoint"], `${url.protocol}// would send the credentials in clear text; use https://`);
    }
    if (url && (url.username || url.password))
      issue(
        ctx,
        ["endpoint"],
        "credentials never go in the URL; use credentialsSecretRef, credentialsFile or credentialsEnv",
      );
    const creds = [spec.credentialsSecretRef, spec.credentialsFile, spec.credentialsEnv].filter(
      (c) => c !== undefined,
    );
    if (creds.length === 0) {
      issue(
        ctx,
        ["credentialsSecretRef"],
        "name where the credentials are: credentialsSecretRef (cluster), credentialsFile or credentialsEnv (standalone)",
      );
    }
    if (creds.length > 1)
      issue(
        ctx,
        ["credentialsSecretRef"],
        "give one of credentialsSecretRef, credentialsFile, credentialsEnv",
      );
    if (spec.vendor === "fortios") {
      if (spec.transport && spec.transport !== "rest")
        issue(ctx, ["transport"], "FortiOS is driven through its REST API: transport rest");
      if (spec.username) issue(ctx, ["username"], "FortiOS REST uses an API token alone; remove username");
    } else {
      if (spec.transport === "rest") issue(ctx, ["transport"], "IOS-XE uses restconf or ssh");
      if (spec.vdom !== undefined) issue(ctx, ["vdom"], "vdom is a FortiOS setting");
      if (!spec.username) issue(ctx, ["username"], "IOS-XE needs a username for RESTCONF or SSH");
    }
    const seen = new Set<string>();
    spec.interfaces.forEach((i, n) => {
      if (seen.has(i.name)) issue(ctx, ["interfaces", n, "name"], `interface ${i.name} is listed twice`);
      seen.add(i.name);
    });
    if (spec.tls.caSecretRef && spec.tls.caFile)
      issue(ctx, ["tls", "caFile"], "give caSecretRef or caFile, not both");
  });

export type ExternalDeviceSpec = z.output<typeof externalDeviceSpec>;
