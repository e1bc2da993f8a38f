// Shared by the RA tests: an RaAssignment from RouterAdvert YAML, through the real validation and
// planner (as `v6mostly run` gets it).
import { parseDocuments } from "../../../src/api/load.ts";
import { formatProblem, validateDocuments } from "../../../src/api/validate.ts";
import { plan, type RaAssignment } from "../../../src/planner/plan.ts";

export function assignmentFrom(yaml: string): RaAssignment {
  const { resources, problems } = validateDocuments(parseDocuments("test.yaml", yaml));
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length) throw new Error(errors.map(formatProblem).join("\n"));
  const p = plan(resources, { standaloneNode: "test" });
  const a = p.nodes[0]?.assignments.find((x) => x.kind === "RouterAdvert");
  if (a?.kind !== "RouterAdvert") throw new Error(`no RouterAdvert planned: ${JSON.stringify(p.unplaced)}`);
  return a;
}

/** A RouterAdvert with every option, on `iface`. */
export function fullSpecYaml(iface: string, extra = ""): string {
  return `apiVersion: v6mostly.dev/v1alpha1
kind: RouterAdvert
metadata: { name: lan }
spec:
  interface: ${iface}
  prefixes: [{ prefix: "2001:db8:1::/64", validLifetime: 1d, preferredLifetime: 4h }]
  rdnss: [{ address: "2001:db8:1::53", lifetime: 30m }, { address: "2001:db8:1::54", lifetime: 30m }]
  dnssl: [{ domain: home.arpa, lifetime: 30m }, { domain: example.net, lifetime: 30m }]
  pref64: { prefix: "2001:db8:64::/96", lifetime: 30m }
  routes: [{ prefix: "2001:db8:64::/96", preference: high, lifetime: 30m }]
  defaultRouter: { lifetime: 30m, preference: low }
  mtu: 1400
  hopLimit: 64
  interval: { min: 3s, max: 4s }
${extra}`;
}
