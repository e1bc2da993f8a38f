// Dns64Resolver: RFC 6147 DNS64 with RFC 7050 / RFC 8880 ipv4only.arpa, forward-only.
import { z } from "zod";
import { endpoint, localRef, nodeSelector, prefix } from "./fields.ts";
import { pref64 } from "./nat64gateway.ts";
import { issue } from "./rules.ts";

export const dns64ResolverSpec = z
  .strictObject({
    listen: z
      .array(
        endpoint(
          53,
          "an address to serve on: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53] or [2001:db8::53]:5353",
        ),
      )
      .min(1)
      .describe("addresses (and ports, default 53) the resolver answers on, UDP and TCP"),
    prefix: pref64.optional().describe("the NAT64 prefix to synthesize with; or nat64GatewayRef"),
    nat64GatewayRef: localRef("Nat64Gateway whose prefix to synthesize with").optional(),
    upstreams: z
      .array(endpoint(53, "an upstream resolver: an IP address, optionally with :port ([v6]:port for IPv6)"))
      .min(1)
      .describe("resolvers every query is forwarded to (forward-only), tried in order"),
    alwaysSynthesize: z
      .boolean()
      .default(false)
      .describe("synthesize AAAA even when real AAAA records exist (FortiOS always-synthesize-aaaa-record)"),
    fateSharing: z
      .boolean()
      .default(true)
      .describe(
        "while the Nat64Gateway with this prefix is not running on this host, answer as a plain forwarder (no synthesized AAAA, no ipv4only.arpa answer), so clients are not sent into a black hole; back to DNS64 when it runs again",
      ),
    exclude: z
      .array(prefix(6))
      .prefault(["::ffff:0:0/96"])
      .describe("AAAA records inside these prefixes count as absent (RFC 6147 §5.1.4)"),
    allowClients: z
      .array(prefix())
      .min(1)
      .describe("client networks that may query; everyone else gets REFUSED (never an open resolver)"),
    rateLimit: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(1000)
      .describe(
        "UDP queries per second each client address may send (bursts up to twice that); more are dropped and counted, so a spoofed source cannot use the resolver as a reflector; 0 = no limit",
      ),
    nodeSelector: nodeSelector.default({}),
    deviceRef: localRef("ExternalDevice").optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.prefix === undefined && spec.nat64GatewayRef === undefined) {
      issue(ctx, ["prefix"], "set prefix (the PREF64 to synthesize with) or nat64GatewayRef");
    }
    if (spec.prefix !== undefined && spec.nat64GatewayRef !== undefined) {
      issue(ctx, ["nat64GatewayRef"], "set prefix or nat64GatewayRef, not both");
    }
    spec.allowClients.forEach((t, i) => {
      if (t.length === 0) {
        issue(
          ctx,
          ["allowClients", i],
          `${t} lets the whole internet query: v6mostly is never an open resolver; list your client networks`,
        );
      }
    });
    const seen = new Map<string, number>();
    spec.listen.forEach((l, i) => {
      const before = seen.get(l.socket);
      if (before !== undefined) issue(ctx, ["listen", i], `${l} is listed twice (listen[${before}])`);
      else seen.set(l.socket, i);
    });
    spec.upstreams.forEach((t, i) => {
      if (seen.has(t.socket)) {
        issue(
          ctx,
          ["upstreams", i],
          `${t} is this resolver's own listen address: every query would loop back to it`,
        );
      }
      if (t.address === 0n)
        issue(ctx, ["upstreams", i], `${t} is the unspecified address; name a real resolver`);
    });
  });

export type Dns64ResolverSpec = z.output<typeof dns64ResolverSpec>;
