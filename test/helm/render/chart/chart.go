// Package chart is a chart as Helm 3 sees it once loaded: its Chart.yaml metadata, its default
// values, its schema, its templates and its other files.
//
// Mirrors helm.sh/helm/v3/pkg/chart (v3.21): the field names of Metadata are the ones templates
// see as .Chart.Name, .Chart.AppVersion, ... (Helm's capitalised names).
package chart

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/Masterminds/semver/v3"
)

// APIVersionV1 is the apiVersion Helm assumes when Chart.yaml has none (a Helm 2 chart).
const APIVersionV1 = "v1"

// File is one file of a chart, its name relative to the chart's root with "/" separators.
type File struct {
	Name string
	Data []byte
}

// Chart is a loaded chart. Subcharts are not supported by this renderer (see ../README.md).
type Chart struct {
	Metadata *Metadata
	// Templates are the files under templates/, partials and NOTES.txt included.
	Templates []*File
	// Values are the defaults from values.yaml (nil when the file is absent or empty).
	Values map[string]interface{}
	// Schema is values.schema.json, raw.
	Schema []byte
	// Files are every other file: what templates reach through .Files, crds/ included.
	Files []*File
}

// Name is the chart's name from Chart.yaml (not its directory's name).
func (c *Chart) Name() string { return c.Metadata.Name }

// CRD is one file under crds/ that Helm would install before the templates.
type CRD struct {
	// Filename is the path shown in "# Source:", e.g. mychart/crds/foo.yaml.
	Filename string
	File     *File
}

// CRDObjects are the files under crds/ (any depth) with a manifest extension, in load order.
// Helm: pkg/chart/chart.go CRDObjects and hasManifestExtension.
func (c *Chart) CRDObjects() []CRD {
	var out []CRD
	for _, f := range c.Files {
		if !strings.HasPrefix(f.Name, "crds/") {
			continue
		}
		ext := filepath.Ext(f.Name)
		if strings.EqualFold(ext, ".yaml") || strings.EqualFold(ext, ".yml") || strings.EqualFold(ext, ".json") {
			out = append(out, CRD{Filename: c.Name() + "/" + f.Name, File: f})
		}
	}
	return out
}

// Maintainer is one entry of Chart.yaml's maintainers.
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Dependency is one entry of Chart.yaml's dependencies (parsed so .Chart.Dependencies renders,
// refused at load since subcharts are not rendered here).
type Dependency struct {
	Name         string        `json:"name"`
	Version      string        `json:"version,omitempty"`
	Repository   string        `json:"repository"`
	Condition    string        `json:"condition,omitempty"`
	Tags         []string      `json:"tags,omitempty"`
	Enabled      bool          `json:"enabled,omitempty"`
	ImportValues []interface{} `json:"import-values,omitempty"`
	Alias        string        `json:"alias,omitempty"`
}

// Metadata is Chart.yaml. Field names and JSON tags as Helm's pkg/chart/metadata.go.
type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

// Validate checks Chart.yaml as Helm does at load time, sanitising strings on the way
// (Helm: Metadata.Validate; its messages).
func (md *Metadata) Validate() error {
	md.Name = sanitize(md.Name)
	md.Description = sanitize(md.Description)
	md.Home = sanitize(md.Home)
	md.Icon = sanitize(md.Icon)
	md.Condition = sanitize(md.Condition)
	md.Tags = sanitize(md.Tags)
	md.AppVersion = sanitize(md.AppVersion)
	md.KubeVersion = sanitize(md.KubeVersion)
	for i := range md.Sources {
		md.Sources[i] = sanitize(md.Sources[i])
	}
	for i := range md.Keywords {
		md.Keywords[i] = sanitize(md.Keywords[i])
	}
	switch {
	case md.APIVersion == "":
		return validationError("chart.metadata.apiVersion is required")
	case md.Name == "":
		return validationError("chart.metadata.name is required")
	case md.Name == "." || md.Name == "..":
		return validationError(fmt.Sprintf("chart.metadata.name %q is not allowed", md.Name))
	case md.Name != filepath.Base(md.Name):
		return validationError(fmt.Sprintf("chart.metadata.name %q is invalid", md.Name))
	case md.Version == "":
		return validationError("chart.metadata.version is required")
	}
	if _, err := semver.NewVersion(md.Version); err != nil {
		return validationError(fmt.Sprintf("chart.metadata.version %q is invalid", md.Version))
	}
	switch md.Type {
	case "", "application", "library":
	default:
		return validationError("chart.metadata.type must be application or library")
	}
	for _, m := range md.Maintainers {
		if m == nil {
			return validationError("maintainers must not contain empty or null nodes")
		}
		m.Name, m.Email, m.URL = sanitize(m.Name), sanitize(m.Email), sanitize(m.URL)
	}
	for _, d := range md.Dependencies {
		if d == nil {
			return validationError("dependencies must not contain empty or null nodes")
		}
	}
	return nil
}

// validationError reads as Helm's chart.ValidationError does.
func validationError(msg string) error { return fmt.Errorf("validation: %s", msg) }

// sanitize maps whitespace to a space and drops unprintable runes (Helm: sanitizeString).
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
}
