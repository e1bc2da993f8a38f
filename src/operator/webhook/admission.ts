// AdmissionReview (admission.k8s.io/v1) in, the answer out: a pure function. For CREATE and UPDATE
// of the five v6mostly kinds it runs the checks `v6mostly validate` runs, one object on its own
// (references between resources and conflicts are the operator's status conditions, not
// admission errors). Errors refuse the request with validate's lines; warnings are returned as
// AdmissionResponse warnings, which kubectl prints as "Warning: ...". Never throws: a review it
// cannot read gets an answer that says why.
import { isDeepStrictEqual } from "node:util";
import { DEFAULT_NAMESPACE, GROUP, isKind, objectLabel } from "../../api/resources.ts";
import { formatProblem, type Problem, validateDocument } from "../../api/validate.ts";

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";

/** What happened to one review (a metric label). */
export type Outcome = "allowed" | "warned" | "denied" | "skipped" | "malformed";

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: {
    code: number;
    message: string;
    details?: {
      group: string;
      kind: string;
      name: string;
      causes: { field: string; message: string }[];
    };
  };
  warnings?: string[];
}

export interface Answer {
  /** 200 for every review with a uid (the answer is in the body); 400 for one without */
  httpStatus: number;
  body: { apiVersion: string; kind: "AdmissionReview"; response: AdmissionResponse };
  outcome: Outcome;
  /** the object's kind, operation and label when the review named them (logs and metrics) */
  kind?: string;
  operation?: string;
  object?: string;
}

/**
 * The HTTP status inside a refusal: 422 Unprocessable Entity, as the API server's own validation
 * answers, with no `reason`. The API server wraps the message as `admission webhook "NAME" denied
 * the request: MESSAGE`, and kubectl prints that after `Error from server: error when creating
 * "FILE": `. With reason Invalid (controller-runtime's way for field errors) kubectl prints only
 * `The Nat64Gateway "home" is invalid:` and the details' causes, and validate's line is lost.
 * Measured with kubectl 1.20 and 1.32 against kube-apiserver 1.20: 400, 403 and 422 without a
 * reason all print the line (test/operator/webhook-cluster.test.ts checks it).
 */
export const DENIED_CODE = 422;

type Json = Record<string, unknown>;
const isMapping = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The answer to a request body (the raw text the API server posted). */
export function answerReview(text: string): Answer {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch (e) {
    return malformed("", `the body is not JSON: ${(e as Error).message}`);
  }
  if (!isMapping(review)) return malformed("", "the body is not an AdmissionReview object");
  const request = review.request;
  const uid = isMapping(request) && typeof request.uid === "string" ? request.uid : "";
  if (review.kind !== "AdmissionReview" || review.apiVersion !== ADMISSION_API_VERSION) {
    return malformed(
      uid,
      `expected kind AdmissionReview of ${ADMISSION_API_VERSION}, got ${JSON.stringify(review.kind ?? null)} of ${JSON.stringify(review.apiVersion ?? null)}`,
    );
  }
  if (!isMapping(request)) return malformed(uid, "request is missing");
  if (!uid) return malformed(uid, "request.uid is missing");
  try {
    return answerRequest(uid, request);
  } catch (e) {
    // validateDocument never throws; this guards the reading of an odd request
    return malformed(uid, `cannot read the request: ${(e as Error).message}`);
  }
}

function answerRequest(uid: string, request: Json): Answer {
  const operation = typeof request.operation === "string" ? request.operation : "";
  const requestKind = isMapping(request.kind) ? request.kind : {};
  const kind = typeof requestKind.kind === "string" ? requestKind.kind : "";
  // metric labels: only values from the closed sets (a hostile poster must not mint new series)
  const base = {
    kind: isKind(kind) ? kind : "",
    operation: ["CREATE", "UPDATE", "DELETE", "CONNECT"].includes(operation) ? operation : "",
  };
  // DELETE (and CONNECT) are always allowed: deletion must work even for objects that are invalid.
  if (operation !== "CREATE" && operation !== "UPDATE") {
    if (!["DELETE", "CONNECT"].includes(operation))
      return malformed(
        uid,
        `request.operation ${JSON.stringify(request.operation ?? null)} is not one of CREATE, UPDATE, DELETE, CONNECT`,
      );
    return { ...reply(uid, { allowed: true }), outcome: "allowed", ...base };
  }
  // Only the five kinds are ours; another kind here is a configuration mistake, not the user's.
  if (requestKind.group !== GROUP || !isKind(kind))
    return { ...reply(uid, { allowed: true }), outcome: "skipped", ...base };
  const object = request.object;
  if (!isMapping(object)) return malformed(uid, `request.object is missing for ${operation}`);
  const metadata = isMapping(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === "string" ? metadata.name : String(request.name ?? "");
  const namespace =
    typeof metadata.namespace === "string"
      ? metadata.namespace
      : typeof request.namespace === "string"
        ? request.namespace
        : DEFAULT_NAMESPACE;
  const label = objectLabel({ kind, namespace, name });
  const { problems } = validateDocument({
    source: { file: `${namespace}/${kind}/${name}`, doc: 0 },
    // status is the operator's (written through /status); the user's part is checked
    value: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: { ...metadata, name, namespace },
      spec: object.spec,
    },
  });
  const line = (p: Problem) =>
    formatProblem({ ...p, severity: "error", object: label, source: { file: "", doc: 0 } });
  const errors = problems.filter((p) => p.severity === "error");
  const warnings = problems.filter((p) => p.severity === "warning").map(line);
  const out = { ...base, object: label };
  if (errors.length === 0) {
    return warnings.length
      ? { ...reply(uid, { allowed: true, warnings }), outcome: "warned", ...out }
      : { ...reply(uid, { allowed: true }), outcome: "allowed", ...out };
  }
  // An update that leaves the spec as it was (a label, a finalizer removed by the operator, an
  // object being deleted) is let through even when the stored spec is invalid (stored while the
  // webhook was down): refusing it would leave such an object stuck. Its errors become warnings.
  const old = isMapping(request.oldObject) ? request.oldObject : undefined;
  if (
    operation === "UPDATE" &&
    (metadata.deletionTimestamp !== undefined ||
      (old !== undefined && isDeepStrictEqual(old.spec, object.spec)))
  ) {
    const kept = errors.map((p) => `${line(p)} (unchanged: fix it in the next spec change)`);
    return { ...reply(uid, { allowed: true, warnings: [...kept, ...warnings] }), outcome: "warned", ...out };
  }
  return {
    ...reply(uid, {
      allowed: false,
      status: {
        code: DENIED_CODE,
        message: errors.map(line).join("\n"),
        details: {
          group: GROUP,
          kind,
          name,
          causes: errors.map((p) => ({ field: p.path, message: p.message })),
        },
      },
      ...(warnings.length ? { warnings } : {}),
    }),
    outcome: "denied",
    ...out,
  };
}

function reply(uid: string, response: Omit<AdmissionResponse, "uid">): Pick<Answer, "httpStatus" | "body"> {
  return {
    httpStatus: 200,
    body: { apiVersion: ADMISSION_API_VERSION, kind: "AdmissionReview", response: { uid, ...response } },
  };
}

/** A review this webhook cannot judge: refused, saying why (the API server shows the message). */
export function malformed(uid: string, why: string): Answer {
  return {
    httpStatus: uid ? 200 : 400,
    body: {
      apiVersion: ADMISSION_API_VERSION,
      kind: "AdmissionReview",
      response: { uid, allowed: false, status: { code: 400, message: `malformed AdmissionReview: ${why}` } },
    },
    outcome: "malformed",
  };
}
