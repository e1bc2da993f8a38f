// ExternalDevice: a FortiGate or Cisco IOS-XE box that v6mostly configures through its API.
import { z } from "zod";
import { secretKeyRef } from "./fields.ts";
import { issue } from "./rules.ts";

export const externalDeviceSpec = z
  .strictObject({
    vendor: z.enum(["fortios", "iosxe"]).describe("fortios (FortiGate) or iosxe (Cisco ISR, Catalyst 8000)"),
    endpoint: z.string().describe("the management URL, https://192.0.2.99 or https://[2001:db8::99]:8443"),
    version: z
      .string()
      .regex(/^\d+\.\d+(\.\d+)*[a-z]?$/i, { message: "a version such as 6.2.16 or 17.12.3" })
      .optional()
      .describe("software version; probed when absent"),
    credentialsSecretRef: secretKeyRef.optional().describe("cluster mode: the API token (FortiOS) or password (IOS-XE)"),
    credentialsFile: z.string().min(1).optional().describe("standalone mode: a file holding the token or password"),
    credentialsEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "an environment variable name" })
      .optional()
      .describe("standalone mode: an environment variable holding the token or password"),
    username: z.string().min(1).optional().describe("iosxe: the user for RESTCONF or SSH"),
    vdom: z.string().min(1).optional().describe("fortios: the VDOM, default root"),
    transport: z.enum(["rest", "restconf", "ssh"]).optional().describe("fortios: rest; iosxe: restconf (default) or ssh"),
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
    if (url && url.protocol !== "https:" && !(spec.vendor === "iosxe" && spec.transport === "ssh" && url.protocol === "ssh:")) {
      issue(ctx, ["endpoint"], `${url.protocol}// would send the credentials in clear text; use https://`);
    }
    if (url && (url.username || url.password)) issue(ctx, ["endpoint"], "credentials never go in the URL; use credentialsSecretRef, credentialsFile or credentialsEnv");
    const creds = [spec.credentialsSecretRef, spec.credentialsFile, spec.credentialsEnv].filter((c) => c !== undefined);
    if (creds.length === 0) {
      issue(ctx, ["credentialsSecretRef"], "name where the credentials are: credentialsSecretRef (cluster), credentialsFile or credentialsEnv (standalone)");
    }
    if (creds.length > 1) issue(ctx, ["credentialsSecretRef"], "give one of credentialsSecretRef, credentialsFile, credentialsEnv");
    if (spec.vendor === "fortios") {
      if (spec.transport && spec.transport !== "rest") issue(ctx, ["transport"], "FortiOS is driven through its REST API: transport rest");
      if (spec.username) issue(ctx, ["username"], "FortiOS REST uses an API token alone; remove username");
    } else {
      if (spec.transport === "rest") issue(ctx, ["transport"], "IOS-XE uses restconf or ssh");
      if (spec.vdom !== undefined) issue(ctx, ["vdom"], "vdom is a FortiOS setting");
      if (!spec.username) issue(ctx, ["username"], "IOS-XE needs a username for RESTCONF or SSH");
    }
    if (spec.tls.caSecretRef && spec.tls.caFile) issue(ctx, ["tls", "caFile"], "give caSecretRef or caFile, not both");
  });

export type ExternalDeviceSpec = z.output<typeof externalDeviceSpec>;
