// helm-render against Helm 3: (1) the fixture chart rendered by helm-render and by the real
// helm v3.17.2 binary (peer.sh) with the same command lines, byte for byte; (2) each Helm
// semantic the v6mostly chart leans on, with the expected result derived from Helm's source
// (helm/helm v3.21.4 unless said otherwise) or documentation, cited where it is not obvious.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type HelmRenderError,
  helmErrorMessage,
  helmPeer,
  helmRender,
  type RenderOptions,
  type RenderResult,
  renderChart,
  templateArgs,
} from "./render.ts";

const fixtures = join(import.meta.dirname, "fixtures");
const chart = join(fixtures, "demo");
const work = mkdtempSync(join(tmpdir(), "helm-render-test-"));
after(() => rmSync(work, { recursive: true, force: true }));

const renderer = helmRender();
const peer = helmPeer();
const noRenderer = "skip" in renderer ? renderer.skip : undefined;
const noPeer = noRenderer ?? ("skip" in peer ? peer.skip : undefined);
if (noRenderer) console.log(`# skipping helm-render tests: ${noRenderer}`);
else if (noPeer) console.log(`# skipping the comparison with Helm: ${noPeer}`);

// Helm's own default is the client-go minor it was built with; the comparison pins it.
const KUBE = "1.30.0";

interface Run {
  code: number | null;
  stdout: string;
  /** stderr lines sorted (warnings come in Go map order), Helm's log prefix "file.go:N: " removed. */
  stderr: string[];
}

function run(bin: string, args: string[]): Run {
  const r = spawnSync(bin, args, {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: work,
      HELM_CACHE_HOME: join(work, "cache"),
      HELM_CONFIG_HOME: join(work, "config"),
      HELM_DATA_HOME: join(work, "data"),
      KUBECONFIG: join(work, "no-kubeconfig"),
    },
  });
  const stderr = r.stderr
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/^[a-z_]+\.go:\d+: /, ""))
    .sort();
  return { code: r.status, stdout: r.stdout, stderr };
}

describe("helm-render and helm v3.17.2 print the same for the same command line", { skip: noPeer }, () => {
  // [name, options, exit code both must give]: a case where both fail by accident proves nothing.
  const cases: [string, RenderOptions, number][] = [
    ["defaults", { release: "rel", kubeVersion: KUBE }, 0],
    [
      "namespace, CRDs, tests skipped",
      { release: "rel", namespace: "prod", includeCrds: true, skipTests: true, kubeVersion: KUBE },
      0,
    ],
    [
      "upgrade, an extra API version",
      { release: "rel", isUpgrade: true, apiVersions: ["demo.example/v1"], kubeVersion: KUBE },
      0,
    ],
    [
      "values files with nulls, then --set",
      {
        release: "rel",
        kubeVersion: KUBE,
        values: [
          {
            replicaCount: 2,
            nested: { drop: null, deeper: { b: null, c: "added" }, newNull: null },
            image: { tag: "2.0" },
            podAnnotations: { "prometheus.io/scrape": "true" },
            tolerations: [{ key: "k", operator: "Exists" }],
            nullDefault: "now set",
          },
          { nested: { keep: "overridden" }, resources: { limits: null }, nodeSelector: { disk: "ssd" } },
        ],
        set: ["image.repository=other.example/demo,service.port=8443", "ports[1].port=9999,ports[0].port=1"],
      },
      0,
    ],
    [
      "--set lists, indexes, escapes, types",
      {
        release: "rel",
        kubeVersion: KUBE,
        set: [
          "tolerations={a,b}",
          "extraLabels.team=a\\,b,podAnnotations.x\\.y/z=007",
          "ports[0].name=web,ports[1].name=extra,ports[1].port=1",
          "nodeSelector.on=TRUE,nodeSelector.n=0,nodeSelector.nil=null",
        ],
        setString: ["extraLabels.version=1"],
      },
      0,
    ],
    [
      "a table over a scalar and a scalar over a table (warnings)",
      { release: "rel", kubeVersion: KUBE, values: [{ big: { a: 1 }, resources: { requests: "small" } }] },
      0,
    ],
    [
      "tpl over a value with include and a missing key",
      {
        release: "r2",
        kubeVersion: KUBE,
        values: [{ greeting: '{{ include "demo.who" . }}/{{ .Values.nope }}/{{ .Template.Name }}' }],
      },
      0,
    ],
    ["--set into a null default", { release: "rel", kubeVersion: KUBE, set: ["nullDefault.x=1"] }, 0],
    ["required fails (empty string)", { release: "rel", set: ["token="] }, 1],
    ["required fails inside an included partial", { release: "rel", set: ["image.repository=null"] }, 1],
    ["fail", { release: "rel", set: ["fail.enabled=true"] }, 1],
    ["the schema refuses", { release: "rel", set: ["replicaCount=abc,image.pullPolicy=Sometimes"] }, 1],
    ["--set-string against an integer schema", { release: "rel", setString: ["replicaCount=3"] }, 1],
    ["a kubeVersion the chart refuses", { release: "rel", kubeVersion: "1.18.0" }, 1],
    ["an invalid release name", { release: "Bad_Name" }, 1],
    ["a malformed --set", { release: "rel", set: ["a[0]b=1"] }, 1],
    ["a nil list item under range", { release: "rel", set: ["ports[1].port=1"] }, 1],
    ["invalid YAML out of a template", { release: "rel", set: ["extraData.x=a: b"] }, 1],
    ["a values file that is a list", { release: "rel", values: [["a"]] }, 1],
  ];
  /** Both tools, same arguments: same stdout, same stderr lines, the exit code expected. */
  const same = (args: string[], code: number) => {
    const want = run((peer as { path: string }).path, args);
    const got = run((renderer as { path: string }).path, args);
    assert.equal(got.stdout, want.stdout);
    assert.deepEqual(got.stderr, want.stderr);
    assert.equal(want.code, code, `helm exited ${want.code}: ${want.stderr.join("\n")}`);
    assert.equal(got.code, code);
  };
  for (const [name, opts, code] of cases) {
    test(name, () => same(templateArgs(chart, opts, mkdtempSync(join(work, "case-"))), code));
  }

  // fixtures/functions: sprig and Helm functions (toYaml's wrapping at 80 columns, toYamlPretty,
  // toToml, merge, dig, tpl defining a template, typeOf of .Values, .Files, .Capabilities), and
  // execution errors chosen by .Values.mode.
  const functions = join(fixtures, "functions");
  for (const [mode, code] of [
    ["", 0],
    ["include-missing", 1],
    ["template-missing", 1],
    ["nil-pointer", 1],
    ["dig-values", 1], // dig wants map[string]interface{}; .Values is chartutil.Values
    ["recursion", 1],
  ] as const) {
    test(`functions chart, mode=${mode || "(none)"}`, () =>
      same(["template", "r", functions, "--kube-version", KUBE, "--set", `mode=${mode}`], code));
  }
  test("a template that does not parse", () => same(["template", "r", join(fixtures, "parse-error")], 1));

  test("the chart `helm create` writes, with its defaults and with everything switched on", () => {
    const created = join(work, "created");
    assert.equal(run((peer as { path: string }).path, ["create", created]).code, 0);
    for (const set of [
      [],
      ["ingress.enabled=true,autoscaling.enabled=true,serviceAccount.create=false,podLabels.a=b"],
    ]) {
      const args = ["template", "web", created, "--kube-version", KUBE, ...set.flatMap((s) => ["--set", s])];
      const want = run((peer as { path: string }).path, args);
      assert.equal(want.code, 0, want.stderr.join("\n"));
      assert.deepEqual(run((renderer as { path: string }).path, args), want);
    }
  });
  test("--debug: the rendered files despite invalid YAML, the error without the hint", () => {
    const args = ["template", "rel", chart, "--set", "extraData.x=a: b", "--debug", "--kube-version", KUBE];
    const want = run((peer as { path: string }).path, args);
    const got = run((renderer as { path: string }).path, args);
    assert.equal(want.code, 1);
    assert.equal(got.code, 1);
    // Helm prints the files in Go map order (action.go ranges over a map); helm-render sorts them.
    const blocks = (out: string) =>
      out
        .split(/^(?=---\n# Source: )/m)
        .map((b) => b.trim())
        .sort();
    assert.deepEqual(blocks(got.stdout), blocks(want.stdout));
    assert.ok(blocks(got.stdout).some((b) => b.includes("x: a: b")));
    const lastError = (r: Run) => r.stderr.filter((l) => l.startsWith("Error: ")).pop();
    assert.equal(lastError(got), lastError(want));
  });
});

describe("helm-render: Helm's semantics, expectations from Helm's source", { skip: noRenderer }, () => {
  let base: RenderResult;
  const find = (r: RenderResult, source: string, name?: string) => {
    const d = r.documents.find(
      (d) => d.source === source && (name === undefined || (d.object as Obj)?.metadata?.name === name),
    );
    assert.ok(d, `no document from ${source}${name ? ` named ${name}` : ""}`);
    return d.object as Obj;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered documents are walked freely in assertions
  type Obj = any;
  const data = (r: RenderResult) => find(r, "demo/templates/configmap.yaml")!.data as Record<string, string>;

  test("render the fixture with defaults", async () => {
    base = await renderChart(chart, { release: "rel" });
  });

  test("documents: a '# Source:' header each, kinds in install order, blank files dropped", () => {
    // action.go renderResources prints "---\n# Source: %s\n%s\n"; releaseutil.SortManifests
    // drops blank files and sorts by kind_sorter.go InstallOrder, stably over file name then
    // position; unknown kinds ("" for a comment-only document) come last, alphabetically.
    assert.match(base.manifest, /^---\n# Source: demo\/templates\/serviceaccount\.yaml\napiVersion: v1\n/);
    assert.deepEqual(
      base.documents.map((d) => `${d.source} ${(d.object as Obj)?.kind ?? "-"}`),
      [
        "demo/templates/serviceaccount.yaml ServiceAccount",
        "demo/templates/secret.yaml Secret",
        "demo/templates/configmap.yaml ConfigMap",
        "demo/templates/files-configmap.yaml ConfigMap",
        "demo/templates/per-port.yaml ConfigMap",
        "demo/templates/per-port.yaml ConfigMap",
        "demo/templates/service.yaml Service",
        "demo/templates/deployment.yaml Deployment",
        "demo/templates/per-port.yaml -", // the comment-only document: kept, kind ""
        "demo/templates/tests/test-connection.yaml Pod", // hooks after the manifests (template.go)
      ],
    );
    // ingress.yaml, fail.yaml and widget.yaml render to blank text; unknown-hook.yaml names an
    // unknown hook event, which manifest_sorter.go drops with an "info: skipping" log line.
    for (const f of ["ingress", "fail", "widget", "unknown-hook", "_helpers", "NOTES"]) {
      assert.ok(!base.manifest.includes(`# Source: demo/templates/${f}.`), f);
    }
    assert.ok(base.manifest.endsWith("restartPolicy: Never\n"));
  });

  test("include piped to nindent, and `define` precedence between partials", () => {
    const deploy = find(base, "demo/templates/deployment.yaml")!;
    assert.deepEqual(deploy.metadata.labels, {
      "helm.sh/chart": "demo-0.3.0",
      "app.kubernetes.io/name": "demo",
      "app.kubernetes.io/instance": "rel",
      "app.kubernetes.io/version": "1.16.0",
      "app.kubernetes.io/managed-by": "Helm",
    });
    assert.deepEqual(deploy.spec.selector.matchLabels, {
      "app.kubernetes.io/name": "demo",
      "app.kubernetes.io/instance": "rel",
    });
    // engine.go sortTemplates parses deeper paths first, then names in reverse lexical order;
    // text/template keeps the definition parsed last: _a_who.tpl's.
    assert.equal(data(base).who, "from _a_who.tpl");
  });

  test("default, range and with", () => {
    const deploy = find(base, "demo/templates/deployment.yaml")!;
    const c = deploy.spec.template.spec.containers[0];
    assert.equal(c.image, "registry.example/demo:1.16.0"); // image.tag "" → default .Chart.AppVersion
    assert.deepEqual(c.ports, [
      { name: "http", containerPort: 8080 },
      { name: "metrics", containerPort: 9090 },
    ]);
    assert.equal(deploy.spec.template.metadata.annotations, undefined); // `with` over {} renders nothing
    assert.equal(deploy.spec.template.spec.tolerations, undefined);
  });

  test("tpl, missing keys, numbers from values.yaml, lookup, .Release, .Chart, .Template", () => {
    const d = data(base);
    assert.equal(d.greeting, "hello from rel in default"); // namespace defaults to "default"
    // missingkey=zero prints "<no value>", which engine.go removes from the output
    assert.equal(d.missing, "");
    assert.equal(d.missingNested, "");
    // values.yaml goes through sigs.k8s.io/yaml into float64: 1000000 prints as 1e+06
    // (Helm 3.18.0 alone kept integers, with json.Number; 3.18.1 reverted it).
    assert.equal(d.big, "1e+06");
    assert.equal(d.bigInt, "1000000");
    assert.equal(d.replicasType, "float64");
    assert.equal(d.lookup, "{}"); // funcs.go: lookup without a cluster is an empty map
    assert.equal(d.chart, "demo 0.3.0 1.16.0 v2");
    assert.equal(d.chartMeta, ">=1.19.0-0|tests|true|fixture,test");
    assert.equal(d.release, "rel default Helm 1 true false"); // Revision 1, IsInstall
    assert.equal(d.template, "demo/templates/configmap.yaml demo/templates");
    assert.equal(d.coalesced, "fallback");
    assert.equal(d.fromJsonError, "true"); // fromJson puts a parse error under "Error"
    assert.equal(d.toToml, 'name = "demo"\nport = 80\n');
  });

  test(".Files: Get, Lines, Glob, AsConfig, AsSecrets; .helmignore; crds/ is a file too", () => {
    const d = data(base);
    assert.equal(d["app.conf"], "listen 8080\nworkers 2\n");
    assert.equal(d.lines, "first,second,third");
    assert.equal(d.ignoredFile, ""); // files/ignored/ is in .helmignore
    assert.equal(d.globbed, "files/conf/app.conf files/conf/log.yaml files/lines.txt files/secret/key.txt ");
    assert.equal(d.crdVisibleInFiles, "true"); // loader puts crds/ among the chart's Files
    assert.deepEqual(find(base, "demo/templates/files-configmap.yaml")!.data, {
      "app.conf": "listen 8080\nworkers 2\n",
      "log.yaml": "level: info\n",
    });
    const secret = find(base, "demo/templates/secret.yaml")!;
    assert.equal(Buffer.from(secret.data["key.txt"], "base64").toString(), "s3cr3t");
    assert.equal(Buffer.from(secret.data.token, "base64").toString(), "fixture-token");
  });

  test(".Capabilities: KubeVersion settable (default v1.20.2), APIVersions.Has, --api-versions", async () => {
    const d = data(base);
    assert.equal(d.kubeMajorMinor, "1.20");
    assert.equal(d.kubeAtLeast125, "false");
    assert.equal(d.hasAppsV1, "true");
    assert.equal(d.hasWidgets, "false");
    const r = await renderChart(chart, {
      release: "rel",
      kubeVersion: "v1.30.1",
      apiVersions: ["demo.example/v1"],
    });
    assert.equal(data(r).kubeMajorMinor, "1.30");
    assert.equal(data(r).kubeAtLeast125, "true");
    assert.equal(data(r).hasWidgets, "true");
    // an unknown kind: after the known ones, alphabetically after the comment-only document's ""
    assert.equal(find(r, "demo/templates/widget.yaml")!.kind, "Widget");
    assert.deepEqual(
      r.documents.slice(-4).map((d) => d.source),
      [
        "demo/templates/deployment.yaml",
        "demo/templates/per-port.yaml",
        "demo/templates/widget.yaml",
        "demo/templates/tests/test-connection.yaml",
      ],
    );
  });

  test("values: chart defaults, then -f files in order, then --set; a null deletes a default", async () => {
    const r = await renderChart(chart, {
      release: "rel",
      values: [
        { nested: { drop: null, deeper: { a: 5 } }, replicaCount: 3, image: { tag: "1.0" } },
        { nested: { keep: "second file" }, image: { tag: "2.0" } },
      ],
      set: ["image.tag=3.0", "nullDefault=set"],
    });
    // coalesce.go: maps merge, the user's side wins; a null removes the chart's key
    assert.deepEqual(JSON.parse(data(r).nested!), { keep: "second file", deeper: { a: 5, b: "two" } });
    assert.equal(data(r).replicas, "3");
    assert.equal(data(r).hasNullDefault, "true");
    assert.equal(
      find(r, "demo/templates/deployment.yaml")!.spec.template.spec.containers[0].image,
      "registry.example/demo:3.0",
    );
    // a null chart default stays a present, nil key (coalesce.go keeps src nils)
    assert.equal(data(base).nullNestedHasInner, "true");
    assert.equal(data(base).hasNullDefault, "true");
    assert.equal(data(base).nullDefaultIsNil, "true");
  });

  test("--set: lists {a,b}, list indexes, escaped dots and commas, typed values", async () => {
    const r = await renderChart(chart, {
      release: "rel",
      set: ["tolerations={a,b}", "podAnnotations.a\\.b/c=x\\,y", "nodeSelector.n=10,nodeSelector.z=010"],
    });
    const spec = find(r, "demo/templates/deployment.yaml")!.spec.template;
    assert.deepEqual(spec.spec.tolerations, ["a", "b"]);
    assert.deepEqual(spec.metadata.annotations, { "a.b/c": "x,y" });
    // strvals typedVal: no leading zero → int64; "010" stays a string (toYaml quotes it)
    assert.deepEqual(spec.spec.nodeSelector, { n: 10, z: "010" });
  });

  test("required fails with Helm's message and location, including from a partial", async () => {
    // engine.go cleanupExecError: "execution error at (FILE:LINE:COL): message"; template.go adds
    // the hint about --debug once a release exists.
    await assert.rejects(renderChart(chart, { release: "rel", set: ["token="] }), (e: HelmRenderError) => {
      assert.equal(
        e.helmMessage,
        "execution error at (demo/templates/secret.yaml:8:12): token is required: set it with --set token=...\n\n" +
          "Use --debug flag to render out invalid YAML",
      );
      assert.equal(e.exitCode, 1);
      return true;
    });
    // the location is the including template's, not the partial's
    await assert.rejects(
      renderChart(chart, { release: "rel", set: ["image.repository=null"] }),
      /^HelmRenderError: execution error at \(demo\/templates\/deployment\.yaml:24:20\): image\.repository is required/,
    );
    await assert.rejects(
      renderChart(chart, { release: "rel", set: ["fail.enabled=true"] }),
      /execution error at \(demo\/templates\/fail\.yaml:2:4\): fail\.enabled is set: this chart refuses to render/,
    );
  });

  test("values.schema.json refuses a bad value (gojsonschema's wording, as Helm <= 3.18.4)", async () => {
    await assert.rejects(
      renderChart(chart, { release: "rel", values: [{ service: { port: 70000 } }] }),
      (e: HelmRenderError) => {
        assert.equal(
          e.helmMessage,
          "values don't meet the specifications of the schema(s) in the following chart(s):\n" +
            "demo:\n- service.port: Must be less than or equal to 65535",
        );
        return true;
      },
    );
  });

  test("a chart kubeVersion constraint against .Capabilities.KubeVersion", async () => {
    await assert.rejects(
      renderChart(chart, { release: "rel", kubeVersion: "1.18.3" }),
      /chart requires kubeVersion: >=1\.19\.0-0 which is incompatible with Kubernetes v1\.18\.3/,
    );
  });

  test("NOTES.txt is rendered apart from the manifests", () => {
    assert.equal(
      base.notes,
      "demo 0.3.0 is installed as rel in default.\nNext: kubectl apply -f examples/seed/\n",
    );
    assert.ok(!base.manifest.includes("Next: kubectl"));
  });

  test("crds/ is passed through unrendered, first, and only with includeCrds", async () => {
    const r = await renderChart(chart, { release: "rel", includeCrds: true, skipTests: true });
    assert.equal(r.documents[0]!.source, "demo/crds/widgets.yaml");
    assert.match(
      r.manifest,
      /^---\n# Source: demo\/crds\/widgets\.yaml\n# Passed through unrendered: \{\{ \.Values\.never \}\}/,
    );
    assert.equal((r.documents[0]!.object as Obj)!.kind, "CustomResourceDefinition");
    assert.ok(!r.manifest.includes("README.txt")); // crds/ installs .yaml, .yml and .json only
    assert.ok(!base.manifest.includes("crds/"));
    assert.ok(!r.manifest.includes("test-connection")); // skipTests drops the test hook
  });
});

test("helmErrorMessage takes Helm's 'Error: ' line and what follows", () => {
  assert.equal(helmErrorMessage("warning: x\nError: boom\n\nUse --debug\n"), "boom\n\nUse --debug");
});

describe("helm-render's own command line", { skip: noRenderer }, () => {
  const bin = (renderer as { path: string }).path;
  test("--show-notes prints NOTES.txt after the manifests, as `helm install` prints them", () => {
    const text = run(bin, ["template", "rel", chart]);
    const withNotes = run(bin, ["template", "rel", chart, "--show-notes"]);
    assert.equal(
      withNotes.stdout,
      `${text.stdout}NOTES:\ndemo 0.3.0 is installed as rel in default.\nNext: kubectl apply -f examples/seed/\n`,
    );
  });

  test("--output json carries the text output and the notes", () => {
    const text = run(bin, ["template", "rel", chart, "-n", "ns1"]);
    const json = JSON.parse(run(bin, ["template", "rel", chart, "-n", "ns1", "--output", "json"]).stdout);
    assert.equal(json.manifest, text.stdout);
    assert.equal(
      json.notes,
      "demo 0.3.0 is installed as rel in ns1.\nNext: kubectl apply -f examples/seed/\n",
    );
  });

  test("a usage error names the problem", () => {
    const r = run(bin, ["template", "rel"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.join("\n"), /Error: expected: template RELEASE CHARTDIR/);
    assert.match(
      run(bin, ["template", "rel", chart, "--frobnicate"]).stderr.join("\n"),
      /unknown flag: --frobnicate/,
    );
  });
});

test("a user's null over a nested null default: kept since Helm 3.21 (3.17 deleted it)", {
  skip: noRenderer,
}, async () => {
  // coalesce.go coalesceTablesFullKey, v3.21 (srcOriginalNonNil): the key is deleted only when
  // the chart's default is not null; Helm 3.17 (the peer above) deleted it either way, and 3.20
  // deleted even a user's null for a key the chart does not have.
  const r = await renderChart(chart, { release: "rel", values: [{ nullNested: { inner: null } }] });
  const cm = r.documents.find((d) => d.source === "demo/templates/configmap.yaml")!.object as {
    data: Record<string, string>;
  };
  assert.equal(cm.data.nullNestedHasInner, "true");
});
