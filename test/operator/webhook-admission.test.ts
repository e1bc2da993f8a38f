// The admission handler: AdmissionReview v1 in, validate's verdict out, for every kind; malformed
// reviews answered, never thrown; DELETE always allowed; references between resources left to
// the operator's status.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseAllDocuments } from "yaml";
import { parseDocuments } from "../../src/api/load.ts";
import { KIND_NAMES, KINDS } from "../../src/api/resources.ts";
import { formatProblem, type Problem, validateDocument } from "../../src/api/validate.ts";
import {
  ADMISSION_API_VERSION,
  type Answer,
  answerReview,
  DENIED_CODE,
} from "../../src/operator/webhook/admission.ts";

const ROOT = join(import.meta.dirname, "..", "..");
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
};

/** Every object of the examples, by kind: one valid object of each kind at least. */
const examples: Obj[] = [
  "examples/single-host.yaml",
  "examples/seed/devices.yaml",
  "examples/seed/edge.yaml",
].flatMap((f) => parseAllDocuments(readFileSync(join(ROOT, f), "utf8")).map((d) => d.toJS() as Obj));
const example = (kind: string) => structuredClone(examples.find((o) => o.kind === kind)!);

function review(
  object: unknown,
  operation = "CREATE",
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const o = object as Obj | null;
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "v6mostly.dev", version: "v1alpha1", kind: o?.kind ?? "Nat64Gateway" },
      resource: { group: "v6mostly.dev", version: "v1alpha1", resource: "x" },
      name: o?.metadata?.name ?? "home",
      namespace: "default",
      operation,
      userInfo: { username: "admin" },
      object: operation === "DELETE" ? null : object,
      oldObject: null,
      dryRun: false,
      ...extra,
    },
  };
}
const answer = (r: unknown): Answer => answerReview(JSON.stringify(r));

/**
 * What `v6mostly validate` prints for the object alone in a file (its checks of one object:
 * references to other resources aside), less the file part that kubectl supplies.
 */
function validateLines(o: Obj): { errors: string[]; warnings: string[] } {
  const { problems } = validateDocument(parseDocuments("x.json", JSON.stringify(o))[0]!);
  const line = (p: Problem) =>
    formatProblem(p)
      .replace(/^x\.json#1 /, "")
      .replace(/ warning: /, " ");
  return {
    errors: problems.filter((p) => p.severity === "error").map(line),
    warnings: problems.filter((p) => p.severity === "warning").map(line),
  };
}

/** One invalid variant per kind, each breaking a rule of its own kind. */
const BREAK: Record<string, (spec: Record<string, unknown>) => void> = {
  Nat64Gateway: (s) => {
    s.prefix = "fd00:ff9b::/72";
  },
  Dns64Resolver: (s) => {
    s.listen = ["[fd00::1]:99999"];
  },
  RouterAdvert: (s) => {
    s.interval = { max: 2 };
  },
  DhcpScope: (s) => {
    s.ipv6OnlyPreferred = 10;
  },
  ExternalDevice: (s) => {
    s.vendor = "junos";
  },
  EdgeTranslation: (s) => {
    s.insideInterfaces = [s.outsideInterface];
  },
};

describe("admission: every kind", () => {
  for (const kind of KIND_NAMES) {
    it(`${kind}: a valid object is allowed, an invalid one refused with validate's lines`, () => {
      const good = example(kind);
      assert.ok(good, `an example ${kind}`);
      const ok = answer(review(good));
      assert.equal(ok.outcome, "allowed", JSON.stringify(ok.body.response));
      assert.deepEqual(ok.body.response, { uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true });
      assert.equal(ok.body.apiVersion, ADMISSION_API_VERSION);
      assert.equal(ok.body.kind, "AdmissionReview");

      const bad = example(kind);
      BREAK[kind]!(bad.spec);
      const want = validateLines(bad);
      assert.ok(want.errors.length > 0, `validate refuses the broken ${kind}`);
      const no = answer(review(bad));
      assert.equal(no.outcome, "denied");
      assert.equal(no.httpStatus, 200);
      assert.equal(no.body.response.allowed, false);
      assert.equal(no.body.response.status?.code, DENIED_CODE);
      assert.equal(no.body.response.status?.message, want.errors.join("\n"));
      assert.equal(no.body.response.status?.details?.kind, kind);
      assert.ok(no.body.response.status?.details?.causes.every((c) => c.field.startsWith("spec")));
      // an update to the same broken spec is refused too
      assert.equal(answer(review(bad, "UPDATE", { oldObject: good })).outcome, "denied");
    });
  }

  it("prints the line of the issue: Nat64Gateway/home spec.prefix: /72 ...", () => {
    const o = example("Nat64Gateway");
    o.metadata.name = "home";
    o.spec.prefix = "fd00:ff9b::/72";
    assert.equal(
      answer(review(o)).body.response.status?.message,
      "Nat64Gateway/home spec.prefix: /72 is not a NAT64 prefix length (RFC 6052 allows /32, /40, /48, /56, /64, /96)",
    );
  });

  it("names the namespace outside the default one, as the operator's status does", () => {
    const o = example("Nat64Gateway");
    o.metadata = { name: "home", namespace: "lab" };
    o.spec.prefix = "fd00:ff9b::/72";
    assert.match(answer(review(o)).body.response.status!.message, /^lab\/Nat64Gateway\/home spec\.prefix: /);
  });

  it("allows with warnings what validate warns about", () => {
    const o = example("RouterAdvert");
    o.spec.interval = { max: 600 };
    o.spec.rdnss = [{ address: "fd00:64:1::1", lifetime: "15m" }];
    const want = validateLines(o);
    assert.equal(want.errors.length, 0);
    assert.equal(want.warnings.length, 1);
    const a = answer(review(o));
    assert.equal(a.outcome, "warned");
    assert.equal(a.body.response.allowed, true);
    assert.deepEqual(a.body.response.warnings, want.warnings);
    assert.match(
      a.body.response.warnings![0]!,
      /^RouterAdvert\/host-lan spec\.rdnss\[0\]\.lifetime: 15m is less than 3 × interval\.max/,
    );
  });

  it("leaves references between resources to the operator: a Dns64Resolver naming a gateway not there is allowed", () => {
    const o = example("Dns64Resolver");
    assert.deepEqual(o.spec.nat64GatewayRef, { name: "host" });
    (o.spec.nat64GatewayRef as { name: string }).name = "nowhere";
    assert.equal(answer(review(o)).outcome, "allowed");
  });

  it("ignores status (the operator's) and the API server's metadata", () => {
    const o = {
      ...example("Nat64Gateway"),
      status: { conditions: [{ type: "Ready", status: "True", whatever: 1 }], anything: "x" },
    };
    o.metadata = {
      name: "host",
      namespace: "default",
      uid: "u",
      resourceVersion: "7",
      generation: 3,
      managedFields: [{ manager: "kubectl", operation: "Apply" }],
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
    } as Obj["metadata"];
    assert.equal(answer(review(o)).outcome, "allowed");
  });
});

describe("admission: operations", () => {
  it("DELETE is always allowed, even without an object", () => {
    const a = answer(review(null, "DELETE", { oldObject: example("Nat64Gateway") }));
    assert.equal(a.outcome, "allowed");
    assert.equal(a.body.response.allowed, true);
  });

  it("an UPDATE that keeps an invalid spec (a label, a finalizer removed) is allowed, its errors as warnings", () => {
    const bad = example("Nat64Gateway");
    bad.spec.prefix = "fd00:ff9b::/72";
    const relabelled = { ...structuredClone(bad), metadata: { ...bad.metadata, labels: { a: "b" } } };
    const a = answer(review(relabelled, "UPDATE", { oldObject: bad }));
    assert.equal(a.outcome, "warned");
    assert.equal(a.body.response.allowed, true);
    assert.match(
      a.body.response.warnings![0]!,
      /spec\.prefix: \/72 is not a NAT64 prefix length .*\(unchanged/,
    );
    // being deleted: the finalizer's removal must pass whatever the spec says
    const deleting = {
      ...structuredClone(bad),
      metadata: { ...bad.metadata, deletionTimestamp: "2025-01-01T00:00:00Z" },
    };
    const other = structuredClone(bad);
    other.spec.mtu = 1400;
    assert.equal(answer(review(deleting, "UPDATE", { oldObject: other })).body.response.allowed, true);
  });

  it("another group's object (a configuration mistake) is let through, counted as skipped", () => {
    const a = answer(
      review({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }, "CREATE", {
        kind: { group: "", version: "v1", kind: "ConfigMap" },
      }),
    );
    assert.equal(a.outcome, "skipped");
    assert.equal(a.body.response.allowed, true);
  });
});

describe("admission: malformed reviews", () => {
  const cases: [string, string, RegExp, number][] = [
    ["not JSON", "{", /not JSON/, 400],
    ["a JSON array", "[]", /not an AdmissionReview object/, 400],
    ["null", "null", /not an AdmissionReview object/, 400],
    [
      "v1beta1",
      JSON.stringify({ ...review(example("Nat64Gateway")), apiVersion: "admission.k8s.io/v1beta1" }),
      /expected kind AdmissionReview of admission\.k8s\.io\/v1/,
      200,
    ],
    [
      "no request",
      JSON.stringify({ apiVersion: ADMISSION_API_VERSION, kind: "AdmissionReview" }),
      /request is missing/,
      400,
    ],
    [
      "no uid",
      JSON.stringify({
        apiVersion: ADMISSION_API_VERSION,
        kind: "AdmissionReview",
        request: { operation: "CREATE" },
      }),
      /request\.uid is missing/,
      400,
    ],
    [
      "an unknown operation",
      JSON.stringify(review(example("Nat64Gateway"), "PATCH")),
      /request\.operation "PATCH"/,
      200,
    ],
    ["CREATE without an object", JSON.stringify(review(null)), /request\.object is missing for CREATE/, 200],
    ["an object that is a list", JSON.stringify(review([1, 2])), /request\.object is missing/, 200],
  ];
  for (const [what, body, message, status] of cases) {
    it(`${what}: refused with a clear message`, () => {
      const a = answerReview(body);
      assert.equal(a.outcome, "malformed");
      assert.equal(a.httpStatus, status);
      assert.equal(a.body.response.allowed, false);
      assert.match(a.body.response.status!.message, /^malformed AdmissionReview: /);
      assert.match(a.body.response.status!.message, message);
    });
  }

  it("keeps the uid when it can read one, so the API server can match the answer", () => {
    const a = answer(review(example("Nat64Gateway"), "PATCH"));
    assert.equal(a.body.response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  });

  it("never throws, whatever the body (fast-check)", () => {
    const base = review(example("Nat64Gateway"));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .anything()
            .map(
              (x) => JSON.stringify({ ...base, request: { ...(base.request as object), object: x } }) ?? "x",
            ),
          fc.anything().map((x) => JSON.stringify({ ...base, request: x }) ?? "x"),
          fc
            .record({
              spec: fc.dictionary(
                fc.constantFrom(...Object.keys(KINDS.Nat64Gateway.spec.shape)),
                fc.jsonValue(),
              ),
            })
            .map((x) =>
              JSON.stringify({
                ...base,
                request: {
                  ...(base.request as object),
                  object: { ...(base.request as { object: object }).object, spec: x.spec },
                },
              }),
            ),
        ),
        (body) => {
          const a = answerReview(body);
          assert.equal(typeof a.body.response.allowed, "boolean");
          assert.ok(["allowed", "warned", "denied", "skipped", "malformed"].includes(a.outcome));
          if (!a.body.response.allowed) assert.ok(a.body.response.status!.message.length > 0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
