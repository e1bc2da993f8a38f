// Assignments on the wire: the form the operator writes into a node's NodeConfig and the agent
// reads back. JSON only (the API stores JSON): the spec as the resource's schema reads it, the
// planner's derived fields beside it. Decoding parses both with the same zod schemas that check
// resources, so the agent trusts nothing it did not parse itself, and a NodeConfig written by
// another version of the operator is refused field by field instead of crashing the agent.
import { z } from "zod";
import { duration } from "../api/duration.ts";
import { ipAddress, ipv6Address, prefix, range } from "../api/fields.ts";
import { pref64 } from "../api/nat64gateway.ts";
import { KINDS, objectLabel } from "../api/resources.ts";
import { formatPath } from "../api/rules.ts";
import { describeIssue } from "../api/validate.ts";
import type { Assignment, NodeKind } from "./plan.ts";

export interface WireAssignment {
  kind: NodeKind;
  namespace: string;
  name: string;
  uid?: string;
  generation?: number;
  spec: unknown;
  /** what the planner derived: pool4 share, resolved prefix, RA defaults, DHCP timers, owner */
  derived: unknown;
}

const identity = {
  namespace: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
};

/** Ownership (plan.ts): the Lease to hold and what moves with it. */
const owner = z.strictObject({
  lease: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "a Lease name (RFC 1123 subdomain)"),
  interface: z.string().min(1).max(15).optional(),
  addresses: z.array(ipAddress("an address that moves with the active node")),
});

const derived = {
  Nat64Gateway: z.strictObject({
    pool4: z.array(range(4, "this node's share of pool4")),
    pool4Count: z.number().int().min(0),
    pool4Total: z.number().int().min(0),
  }),
  // forwardOnly: set by the runtime (fate-sharing), crosses to the DNS64's worker threads
  Dns64Resolver: z.strictObject({
    prefix: pref64,
    owner: owner.optional(),
    forwardOnly: z.boolean().optional(),
  }),
  RouterAdvert: z.strictObject({
    resolved: z.strictObject({
      interval: z.strictObject({ min: z.number().int().min(0), max: z.number().int().min(1) }),
      rdnss: z.array(z.strictObject({ address: ipv6Address(), lifetime: duration({ infinity: true }) })),
      dnssl: z.array(z.strictObject({ domain: z.string(), lifetime: duration({ infinity: true }) })),
      pref64: z.strictObject({ prefix: pref64, lifetime: z.number().int().min(0) }).optional(),
      routes: z.array(
        z.strictObject({
          prefix: prefix(6),
          preference: z.enum(["high", "medium", "low"]),
          lifetime: duration({ infinity: true }),
        }),
      ),
    }),
  }),
  DhcpScope: z.strictObject({
    renewalTime: z.number().int().min(0),
    rebindingTime: z.number().int().min(0),
    owner: owner.optional(),
  }),
  EdgeTranslation: z.strictObject({}),
} satisfies Record<NodeKind, z.ZodType>;

/** The wire form of an assignment. */
export function encodeAssignment(a: Assignment): WireAssignment {
  const { kind, namespace, name, uid, generation, spec, ...rest } = a;
  return JSON.parse(
    JSON.stringify({ kind, namespace, name, uid, generation, spec, derived: rest }),
  ) as WireAssignment;
}

export type Decoded = { ok: true; value: Assignment } | { ok: false; error: string };

/** An assignment from its wire form; every problem named with its field. */
export function decodeAssignment(w: unknown): Decoded {
  const head = z
    .looseObject({
      kind: z.enum(["Nat64Gateway", "Dns64Resolver", "RouterAdvert", "DhcpScope", "EdgeTranslation"]),
      ...identity,
    })
    .safeParse(w);
  if (!head.success) return { ok: false, error: issues(head.error, w) };
  return decodeKind(head.data.kind, w as Record<string, unknown>);
}

function decodeKind(kind: NodeKind, w: Record<string, unknown>): Decoded {
  const id = {
    namespace: String(w.namespace),
    name: String(w.name),
    ...(w.uid === undefined ? {} : { uid: String(w.uid) }),
    ...(w.generation === undefined ? {} : { generation: Number(w.generation) }),
  };
  const label = objectLabel({ kind, ...id });
  /** The spec and the derived fields, each parsed by its own schema. */
  const parts = <S extends z.ZodType, D extends z.ZodType>(specSchema: S, derivedSchema: D) => {
    const spec = specSchema.safeParse(w.spec);
    if (!spec.success) return { ok: false, error: `${label} spec: ${issues(spec.error, w.spec)}` } as const;
    const extra = derivedSchema.safeParse(w.derived);
    if (!extra.success)
      return { ok: false, error: `${label} derived: ${issues(extra.error, w.derived)}` } as const;
    return { ok: true, spec: spec.data, extra: extra.data } as const;
  };
  switch (kind) {
    case "Nat64Gateway": {
      const p = parts(KINDS.Nat64Gateway.spec, derived.Nat64Gateway);
      return !p.ok
        ? { ok: false, error: p.error }
        : { ok: true, value: { kind, ...id, spec: p.spec, ...p.extra } };
    }
    case "Dns64Resolver": {
      const p = parts(KINDS.Dns64Resolver.spec, derived.Dns64Resolver);
      return !p.ok
        ? { ok: false, error: p.error }
        : { ok: true, value: { kind, ...id, spec: p.spec, ...p.extra } };
    }
    case "RouterAdvert": {
      const p = parts(KINDS.RouterAdvert.spec, derived.RouterAdvert);
      return !p.ok
        ? { ok: false, error: p.error }
        : { ok: true, value: { kind, ...id, spec: p.spec, ...p.extra } };
    }
    case "DhcpScope": {
      const p = parts(KINDS.DhcpScope.spec, derived.DhcpScope);
      return !p.ok
        ? { ok: false, error: p.error }
        : { ok: true, value: { kind, ...id, spec: p.spec, ...p.extra } };
    }
    case "EdgeTranslation": {
      const p = parts(KINDS.EdgeTranslation.spec, derived.EdgeTranslation);
      return !p.ok
        ? { ok: false, error: p.error }
        : { ok: true, value: { kind, ...id, spec: p.spec, ...p.extra } };
    }
  }
}

function issues(e: z.ZodError, root: unknown): string {
  return e.issues.map((i) => `${formatPath(i.path) || "(whole)"}: ${describeIssue(i, root)}`).join("; ");
}
