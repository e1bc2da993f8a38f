// renderChart: a Helm chart rendered as `helm template` renders it, for tests, through
// helm-render (test/helm/render, Go text/template + sprig from Debian; see test/helm/README.md).
// The binary is built on first use by test/helm/build.sh (cached by source hash); where Go or
// its Debian libraries are absent, helmRender() says why so the test can skip.
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseDocument } from "yaml";

const here = import.meta.dirname;

export interface RenderOptions {
  /** .Release.Name */
  release: string;
  /** .Release.Namespace; Helm's default is "default". */
  namespace?: string;
  /** Values files in order (-f), each later one merged over the earlier ones. */
  values?: object[];
  /** --set lines, after the values files. */
  set?: string[];
  /** --set-string lines, after --set. */
  setString?: string[];
  /** --include-crds: the chart's crds/ files, unrendered, before the templates. */
  includeCrds?: boolean;
  /** .Capabilities.KubeVersion (helm-render's default is v1.20.2). */
  kubeVersion?: string;
  /** Extra .Capabilities.APIVersions (-a). */
  apiVersions?: string[];
  /** .Release.IsUpgrade instead of .Release.IsInstall. */
  isUpgrade?: boolean;
  /** --skip-tests: leave out helm.sh/hook: test documents. */
  skipTests?: boolean;
}

export interface RenderedDocument {
  /** The "# Source:" path, e.g. "mychart/templates/deployment.yaml". */
  source: string;
  /** The document parsed as YAML (null for a document of comments only). */
  object: unknown;
}

export interface RenderResult {
  /** Manifests (CRDs first when asked, then by kind in install order), then hooks. */
  documents: RenderedDocument[];
  /** templates/NOTES.txt, rendered. */
  notes: string;
  /** The exact text `helm template` would print. */
  manifest: string;
}

/** helm-render failed: a template's `required` or `fail`, a schema violation, a bad chart. */
export class HelmRenderError extends Error {
  constructor(
    /** Helm's message, e.g. "execution error at (c/templates/x.yaml:3:4): msg". */
    readonly helmMessage: string,
    readonly exitCode: number | null,
  ) {
    super(helmMessage);
    this.name = "HelmRenderError";
  }
}

let built: { path: string } | { skip: string } | undefined;
let peer: { path: string } | { skip: string } | undefined;

function script(name: string, env: Record<string, string>): { path: string } | { skip: string } {
  const r = spawnSync("bash", [join(here, name)], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  const path = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status === 0 && path) return { path };
  return { skip: `${name}: ${r.stderr.trim() || r.error?.message}` };
}

/** The helm-render binary, built if needed (never installing packages); or why it cannot be had. */
export function helmRender(): { path: string } | { skip: string } {
  built ??= script("build.sh", { HELM_RENDER_NO_INSTALL: "1" });
  return built;
}

/** The real Helm 3 (v3.17.2) that helm-render is compared with (see peer.sh); or why not. */
export function helmPeer(): { path: string } | { skip: string } {
  peer ??= script("peer.sh", {});
  return peer;
}

/**
 * The `template` command line for opts, valid for helm-render and for Helm alike; values
 * files are written into dir.
 */
export function templateArgs(chartDir: string, opts: RenderOptions, dir: string): string[] {
  const args = ["template", opts.release, chartDir];
  if (opts.namespace) args.push("--namespace", opts.namespace);
  (opts.values ?? []).forEach((v, i) => {
    const file = join(dir, `values-${i}.yaml`);
    writeFileSync(file, JSON.stringify(v)); // JSON is YAML
    args.push("-f", file);
  });
  for (const s of opts.set ?? []) args.push("--set", s);
  for (const s of opts.setString ?? []) args.push("--set-string", s);
  for (const a of opts.apiVersions ?? []) args.push("--api-versions", a);
  if (opts.kubeVersion) args.push("--kube-version", opts.kubeVersion);
  if (opts.includeCrds) args.push("--include-crds");
  if (opts.isUpgrade) args.push("--is-upgrade");
  if (opts.skipTests) args.push("--skip-tests");
  return args;
}

/** Splits `helm template` output at its "---\n# Source: PATH" headers. */
export function splitManifest(text: string): { source: string; content: string }[] {
  const heads = [...text.matchAll(/^---\n# Source: (.*)\n/gm)];
  return heads.map((m, i) => ({
    source: m[1]!,
    content: text.slice(m.index! + m[0].length, heads[i + 1]?.index ?? text.length).replace(/\n$/, ""),
  }));
}

/** The message of Helm's "Error: " line and what follows it (warnings before it left out). */
export function helmErrorMessage(stderr: string): string {
  const at = stderr.search(/^Error: /m);
  return (at < 0 ? stderr : stderr.slice(at + "Error: ".length)).trim();
}

/**
 * Renders chartDir as `helm template RELEASE chartDir ...` would. Documents are parsed as YAML
 * 1.1, as the Kubernetes API server's decoder reads them ("yes" and "on" are booleans).
 */
export async function renderChart(chartDir: string, opts: RenderOptions): Promise<RenderResult> {
  const bin = helmRender();
  if ("skip" in bin) throw new Error(bin.skip);
  const dir = mkdtempSync(join(tmpdir(), "helm-render-"));
  try {
    const args = [...templateArgs(chartDir, opts, dir), "--output", "json"];
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(bin.path, args, { maxBuffer: 64 << 20 }));
    } catch (e) {
      const err = e as { stderr?: string; code?: number | null };
      throw new HelmRenderError(helmErrorMessage(err.stderr ?? String(e)), err.code ?? null);
    }
    const out = JSON.parse(stdout) as { manifest: string; notes: string };
    const documents = splitManifest(out.manifest).map(({ source, content }) => {
      const doc = parseDocument(content, { version: "1.1" });
      if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
      return { source, object: doc.toJS() as unknown };
    });
    return { documents, notes: out.notes, manifest: out.manifest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
