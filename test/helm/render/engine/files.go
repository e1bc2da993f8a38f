package engine

import (
	"encoding/base64"
	"path"
	"strings"

	"github.com/gobwas/glob"

	"helmrender/chart"
)

// files is .Files: the chart's files outside templates/, Chart.yaml, values.yaml,
// values.schema.json and charts/ (crds/ included). Helm: pkg/engine/files.go.
type files map[string][]byte

func newFiles(from []*chart.File) files {
	f := files{}
	for _, file := range from {
		f[file.Name] = file.Data
	}
	return f
}

// GetBytes is the raw file; a missing file is empty.
func (f files) GetBytes(name string) []byte {
	if v, ok := f[name]; ok {
		return v
	}
	return []byte{}
}

// Get is the file as a string; a missing file is "".
func (f files) Get(name string) string { return string(f.GetBytes(name)) }

// Glob is the files whose names match a gobwas/glob pattern with "/" as separator ("**"
// crosses directories). A pattern that does not compile matches everything, as in Helm.
func (f files) Glob(pattern string) files {
	g, err := glob.Compile(pattern, '/')
	if err != nil {
		g, _ = glob.Compile("**")
	}
	out := files{}
	for name, data := range f {
		if g.Match(name) {
			out[name] = data
		}
	}
	return out
}

// AsConfig is the files as a YAML map of base name to content, for a ConfigMap's data.
func (f files) AsConfig() string {
	if f == nil {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

// AsSecrets is the files as a YAML map of base name to base64 content, for a Secret's data.
func (f files) AsSecrets() string {
	if f == nil {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m)
}

// Lines is the file split on "\n", without a final empty line.
func (f files) Lines(name string) []string {
	if f == nil || len(f[name]) == 0 {
		return []string{}
	}
	s := strings.TrimSuffix(string(f[name]), "\n")
	return strings.Split(s, "\n")
}
