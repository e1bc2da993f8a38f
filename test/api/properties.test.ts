// Property tests: the loader and validator never throw and never meet an exception of their own
// (validate turns one into an "internal error" problem, so a thrown error would otherwise pass
// unseen), and every object `validate` accepts is stored unchanged by the API server under the
// generated CRD schema (nothing pruned, nothing refused).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { openApiSchema } from "../../src/api/crd.ts";
import { parseDocuments } from "../../src/api/load.ts";
import { isKind, KIND_NAMES } from "../../src/api/resources.ts";
import { validateDocuments } from "../../src/api/validate.ts";
import {
  anyValidResource,
  dhcpScope,
  dns64,
  externalDevice,
  nat64Stateful,
  nat64Stateless,
  routerAdvert,
} from "../support/arbitraries.ts";
import { pruneAndValidate } from "../support/structural.ts";

const RUNS = Number(process.env.V6MOSTLY_FC_RUNS ?? 300);

/** Validates `text`; fails when validate met an exception of its own on the way. */
function validateYaml(text: string) {
  const v = validateDocuments(parseDocuments("fuzz.yaml", text));
  const internal = v.problems.filter((p) => p.message.startsWith("internal error"));
  assert.deepEqual(internal, [], `validate threw inside on:\n${text}`);
  return v;
}

/** The API server's view of an accepted object: pruned and checked against the CRD schema. */
function roundTrip(obj: Record<string, unknown>) {
  const kind = obj.kind;
  assert.ok(isKind(kind));
  const plain = JSON.parse(JSON.stringify(obj)) as Record<string, unknown>;
  const r = pruneAndValidate(openApiSchema(kind), plain);
  return { plain, ...r };
}

describe("validate never throws and never fails inside", () => {
  it("on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        validateYaml(text);
      }),
      { numRuns: RUNS },
    );
  });

  it("on arbitrary YAML values", () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4 }), (value) => {
        validateYaml(stringify(value));
      }),
      { numRuns: RUNS },
    );
  });

  it("on resource-shaped objects with random specs", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KIND_NAMES),
        fc.string({ maxLength: 12 }),
        fc.dictionary(fc.string({ maxLength: 16 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
        (kind, name, spec) => {
          validateYaml(stringify({ apiVersion: "v6mostly.dev/v1alpha1", kind, metadata: { name }, spec }));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("on valid resources with one field mutated; what it still accepts round-trips through the CRD", () => {
    const paths = (o: unknown, prefix: string[] = []): string[][] =>
      typeof o === "object" && o !== null
        ? Object.entries(o).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])])
        : [];
    // Both branches must be taken: a mutation validate still accepts (then the CRD must take it
    // unchanged) and one it refuses; a generator that only yields one of them tests half.
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(
        anyValidResource,
        fc.nat(),
        fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 })),
        (res, pick, value) => {
          const obj = structuredClone(res) as Record<string, unknown>;
          const all = paths(obj.spec).map((p) => ["spec", ...p]);
          assert.ok(all.length > 0, `a valid resource has spec fields: ${JSON.stringify(res)}`);
          const path = all[pick % all.length]!;
          let parent = obj as Record<string, unknown>;
          for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
          if (value === undefined) delete parent[path[path.length - 1]!];
          else parent[path[path.length - 1]!] = value;
          const v = validateYaml(stringify(obj));
          if (v.problems.some((p) => p.severity === "error")) seen.refused++;
          else {
            seen.accepted++;
            const rt = roundTrip(obj);
            assert.deepEqual(
              rt.errors,
              [],
              `API server would refuse what validate accepts: ${JSON.stringify(obj)}`,
            );
            assert.deepEqual(rt.value, rt.plain, `API server would prune fields of: ${JSON.stringify(obj)}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
    assert.ok(seen.accepted >= RUNS / 10, `only ${seen.accepted} of ${RUNS} mutations were accepted`);
    assert.ok(seen.refused >= RUNS / 10, `only ${seen.refused} of ${RUNS} mutations were refused`);
  });
});

describe("every valid resource is accepted and survives the CRD schema unchanged", () => {
  const kinds = { nat64Stateful, nat64Stateless, dns64, routerAdvert, dhcpScope, externalDevice };
  for (const [name, arb] of Object.entries(kinds)) {
    it(name, () => {
      fc.assert(
        fc.property(arb, (res) => {
          const v = validateYaml(stringify(res));
          assert.deepEqual(
            v.problems.filter((p) => p.severity === "error").map((p) => `${p.path}: ${p.message}`),
            [],
            `rejected: ${JSON.stringify(res)}`,
          );
          assert.equal(v.resources.length, 1);
          const rt = roundTrip(res as Record<string, unknown>);
          assert.deepEqual(rt.errors, []);
          assert.deepEqual(rt.value, rt.plain);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
