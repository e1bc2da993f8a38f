// Command helm-render renders a Helm chart directory the way `helm template` (Helm 3.21) does,
// for tests on machines without a helm binary. See ../README.md for what differs from Helm.
//
//	helm-render template RELEASE CHARTDIR [-n NS] [-f values.yaml]... [--set k=v]...
//	    [--set-string k=v]... [--include-crds] [--kube-version v1.30.0] [-a group/version]...
//	    [--is-upgrade] [--skip-tests] [--show-notes] [--output json] [--debug]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"helmrender/chart"
	"helmrender/chartutil"
	"helmrender/engine"
	"helmrender/releaseutil"
)

const usage = `usage: helm-render template RELEASE CHARTDIR [-n NS] [-f values.yaml]... [--set k=v]...
    [--set-string k=v]... [--include-crds] [--kube-version v1.30.0] [-a group/version]...
    [--is-upgrade] [--skip-tests] [--show-notes] [--output json] [--debug]`

// options are the command line's choices.
type options struct {
	release, chartDir, namespace, kubeVersion, output string
	values                                            chartutil.ValueOptions
	apiVersions                                       []string
	includeCRDs, isUpgrade, skipTests, showNotes      bool
	debug                                             bool
}

func main() {
	log.SetFlags(0)
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n%s\n", err, usage)
		os.Exit(1)
	}
	out, err := run(opts)
	os.Stdout.WriteString(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}

func parseArgs(args []string) (options, error) {
	o := options{namespace: "default", output: "text"}
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := arg, "", false
		if strings.HasPrefix(arg, "--") {
			if eq := strings.IndexByte(arg, '='); eq > 0 {
				name, value, hasValue = arg[:eq], arg[eq+1:], true
			}
		}
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag needs an argument: %s", name)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch name {
		case "-n", "--namespace":
			o.namespace, err = takeValue()
		case "-f", "--values":
			v, err = takeValue()
			o.values.ValueFiles = append(o.values.ValueFiles, v)
		case "--set":
			v, err = takeValue()
			o.values.Values = append(o.values.Values, v)
		case "--set-string":
			v, err = takeValue()
			o.values.StringValues = append(o.values.StringValues, v)
		case "--kube-version":
			o.kubeVersion, err = takeValue()
		case "-a", "--api-versions":
			v, err = takeValue()
			o.apiVersions = append(o.apiVersions, strings.Split(v, ",")...)
		case "--output":
			o.output, err = takeValue()
		case "--include-crds":
			o.includeCRDs = true
		case "--is-upgrade":
			o.isUpgrade = true
		case "--skip-tests":
			o.skipTests = true
		case "--show-notes":
			o.showNotes = true
		case "--debug":
			o.debug = true
		default:
			if strings.HasPrefix(arg, "-") {
				return o, fmt.Errorf("unknown flag: %s", arg)
			}
			positional = append(positional, arg)
		}
		if err != nil {
			return o, err
		}
	}
	if len(positional) != 3 || positional[0] != "template" {
		return o, errors.New("expected: template RELEASE CHARTDIR")
	}
	if o.output != "text" && o.output != "json" {
		return o, fmt.Errorf("--output must be text or json, not %q", o.output)
	}
	o.release, o.chartDir = positional[1], positional[2]
	return o, nil
}

// run does what `helm template` does (cmd/helm/template.go, action/install.go and
// action/action.go renderResources, v3.21) and returns what it prints on stdout.
func run(o options) (string, error) {
	kube, err := chartutil.ParseKubeVersion(chartutil.DefaultKubeVersion)
	if err != nil {
		return "", err
	}
	if o.kubeVersion != "" {
		if kube, err = chartutil.ParseKubeVersion(o.kubeVersion); err != nil {
			return "", fmt.Errorf("invalid kube version '%s': %s", o.kubeVersion, err)
		}
	}
	vals, err := o.values.MergeValues()
	if err != nil {
		return "", err
	}
	c, err := chart.LoadDir(o.chartDir)
	if err != nil {
		return "", err
	}
	if c.Metadata.Type != "" && c.Metadata.Type != "application" {
		return "", fmt.Errorf("%s charts are not installable", c.Metadata.Type)
	}
	if c.Metadata.Deprecated {
		fmt.Fprintln(os.Stderr, "WARNING: This chart is deprecated")
	}
	if err := chartutil.ValidateReleaseName(o.release); err != nil {
		return "", err
	}
	caps := chartutil.NewCapabilities(kube, o.apiVersions)
	top, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name:      o.release,
		Namespace: o.namespace,
		Revision:  1,
		IsInstall: !o.isUpgrade,
		IsUpgrade: o.isUpgrade,
	}, caps)
	if err != nil {
		return "", err
	}

	// From here on Helm has a release to show, so its errors say how to see the output.
	manifest, hooks, notes, err := renderResources(c, top, caps, o.includeCRDs)
	if err != nil {
		if o.debug {
			return strings.TrimSpace(manifest) + "\n", err
		}
		return "", fmt.Errorf("%w\n\nUse --debug flag to render out invalid YAML", err)
	}
	var b strings.Builder
	b.WriteString(strings.TrimSpace(manifest) + "\n")
	for _, h := range hooks {
		if o.skipTests && h.IsTest() {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Name, h.Content)
	}
	if o.output == "json" {
		data, err := json.Marshal(map[string]string{"manifest": b.String(), "notes": notes})
		return string(data) + "\n", err
	}
	if o.showNotes && notes != "" {
		// as `helm install` prints them after the release
		fmt.Fprintf(&b, "NOTES:\n%s\n", strings.TrimSpace(notes))
	}
	return b.String(), nil
}

// renderResources renders the templates, pulls NOTES.txt out, and joins CRDs (when asked) and
// the sorted manifests; hooks come back apart (Helm: Configuration.renderResources).
func renderResources(c *chart.Chart, top map[string]interface{}, caps *chartutil.Capabilities, includeCRDs bool) (string, []*releaseutil.Hook, string, error) {
	if c.Metadata.KubeVersion != "" && !compatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.Version) {
		return "", nil, "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	files, err := engine.Render(c, top)
	if err != nil {
		return "", nil, "", err
	}

	// Every rendered file whose name ends in NOTES.txt is taken out; only the chart's own
	// templates/NOTES.txt is kept as the notes.
	var notes string
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			if name == c.Name()+"/templates/NOTES.txt" {
				notes = content
			}
			delete(files, name)
		}
	}

	var b bytes.Buffer
	hooks, manifests, err := releaseutil.SortManifests(files)
	if err != nil {
		// Helm hands back every non-blank file so --debug shows the invalid YAML.
		names := make([]string, 0, len(files))
		for name := range files {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if strings.TrimSpace(files[name]) != "" {
				fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, files[name])
			}
		}
		return b.String(), nil, "", err
	}
	if includeCRDs {
		for _, crd := range c.CRDObjects() {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, crd.File.Data)
		}
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.String(), hooks, notes, nil
}

// compatibleRange is Helm's chartutil.IsCompatibleRange: a semver constraint on the version.
func compatibleRange(constraint, version string) bool {
	v, err := semver.NewVersion(version)
	if err != nil {
		return false
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return false
	}
	return c.Check(v)
}
