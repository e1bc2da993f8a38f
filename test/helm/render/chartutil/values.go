// Package chartutil holds what Helm 3 computes around a render: the user's values (-f files and
// --set lines), their coalescing with the chart's defaults, the values.schema.json check, the
// release options, the capabilities, and the top-level object templates receive.
//
// Mirrors helm.sh/helm/v3/pkg/chartutil and pkg/cli/values (v3.21).
package chartutil

import (
	"fmt"
	"os"
	"regexp"

	"helmrender/chart"
	"helmrender/strvals"

	"sigs.k8s.io/yaml"
)

// Values is what templates see as .Values (typeOf prints "chartutil.Values", as in Helm).
type Values map[string]interface{}

// ValueOptions are the user's values in the order Helm applies them: -f files first (each
// merged over the previous), then each --set, then each --set-string.
type ValueOptions struct {
	ValueFiles   []string
	Values       []string
	StringValues []string
}

// MergeValues reads and merges the user's values (Helm: cli/values Options.MergeValues).
func (o ValueOptions) MergeValues() (map[string]interface{}, error) {
	base := map[string]interface{}{}
	for _, path := range o.ValueFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(data, &current); err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", path, err)
		}
		base = mergeMaps(base, current)
	}
	for _, line := range o.Values {
		if err := strvals.ParseInto(line, base); err != nil {
			return nil, fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	for _, line := range o.StringValues {
		if err := strvals.ParseIntoString(line, base); err != nil {
			return nil, fmt.Errorf("failed parsing --set-string data: %w", err)
		}
	}
	return base, nil
}

// mergeMaps merges b over a: maps recursively, anything else (null included) replaced.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bt, ok := v.(map[string]interface{}); ok {
			if at, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(at, bt)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// ReleaseOptions are .Release's fields that the caller chooses.
type ReleaseOptions struct {
	Name      string
	Namespace string
	Revision  int
	IsUpgrade bool
	IsInstall bool
}

// ToRenderValues builds the object every template receives before .Chart, .Files and
// .Template are added: .Release, .Capabilities and the coalesced, schema-checked .Values
// (Helm: ToRenderValuesWithSchemaValidation).
func ToRenderValues(c *chart.Chart, user map[string]interface{}, opts ReleaseOptions, caps *Capabilities) (map[string]interface{}, error) {
	top := map[string]interface{}{
		"Capabilities": caps,
		"Release": map[string]interface{}{
			"Name":      opts.Name,
			"Namespace": opts.Namespace,
			"IsUpgrade": opts.IsUpgrade,
			"IsInstall": opts.IsInstall,
			"Revision":  opts.Revision,
			"Service":   "Helm",
		},
	}
	vals, err := CoalesceValues(c.Name(), c.Values, user)
	if err != nil {
		return nil, err
	}
	if c.Schema != nil {
		if err := ValidateAgainstSchema(vals, c.Schema); err != nil {
			return nil, fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s", c.Name(), err)
		}
	}
	top["Values"] = vals
	return top, nil
}

// validReleaseName is Helm's pattern for release names (pkg/chartutil/validate_name.go).
var validReleaseName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// ValidateReleaseName refuses what Helm refuses: empty, longer than 53, or not a DNS name.
func ValidateReleaseName(name string) error {
	if name == "" {
		return fmt.Errorf("release name %q: no name provided", name)
	}
	if len(name) > 53 || !validReleaseName.MatchString(name) {
		return fmt.Errorf("release name %q: invalid release name, must match regex %s and the length must not be longer than 53", name, validReleaseName.String())
	}
	return nil
}
