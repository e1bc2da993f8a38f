package chart

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxFileSize is the largest file Helm loads from a chart (pkg/chart/loader: MaxDecompressedFileSize).
const maxFileSize = 5 * 1024 * 1024

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// LoadDir loads a chart directory as Helm's loader.LoadDir does: .helmignore rules plus the
// default rule that ignores dotfiles under templates/, files walked in lexical order with
// symlinks followed, a UTF-8 BOM stripped from each file.
func LoadDir(dir string) (*Chart, error) {
	top, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	rules := &ignoreRules{}
	if data, err := os.ReadFile(filepath.Join(top, ".helmignore")); err == nil {
		if rules, err = parseIgnore(data); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if err := rules.add("templates/.?*"); err != nil {
		return nil, err
	}

	var files []*File
	var walk func(abs, rel string) error
	walk = func(abs, rel string) error {
		entries, err := os.ReadDir(abs)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, name := range names {
			path, n := filepath.Join(abs, name), name
			if rel != "" {
				n = rel + "/" + name
			}
			fi, err := os.Stat(path) // follows symlinks, as Helm's sympath.Walk does
			if err != nil {
				return err
			}
			if rules.ignore(n, fi.IsDir()) {
				continue
			}
			if fi.IsDir() {
				if err := walk(path, n); err != nil {
					return err
				}
				continue
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("cannot load irregular file %s as it has file mode type bits set", path)
			}
			if fi.Size() > maxFileSize {
				return fmt.Errorf("chart file %q is larger than the maximum file size %d", fi.Name(), maxFileSize)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("error reading %s: %w", n, err)
			}
			files = append(files, &File{Name: n, Data: bytes.TrimPrefix(data, utf8BOM)})
		}
		return nil
	}
	if err := walk(top, ""); err != nil {
		return nil, err
	}
	return loadFiles(files)
}

// loadFiles sorts a chart's files into Chart.yaml, values.yaml, values.schema.json, templates/
// and the rest, as Helm's loader.LoadFiles does.
func loadFiles(files []*File) (*Chart, error) {
	c := &Chart{}
	for _, f := range files {
		if f.Name != "Chart.yaml" {
			continue
		}
		c.Metadata = &Metadata{}
		if err := yaml.Unmarshal(f.Data, c.Metadata); err != nil {
			return nil, fmt.Errorf("cannot load Chart.yaml: %w", err)
		}
		if c.Metadata.APIVersion == "" {
			c.Metadata.APIVersion = APIVersionV1
		}
	}
	hasSubcharts := false
	for _, f := range files {
		switch {
		case f.Name == "Chart.yaml", f.Name == "Chart.lock":
		case f.Name == "values.yaml":
			c.Values = map[string]interface{}{}
			if err := yaml.Unmarshal(f.Data, &c.Values); err != nil {
				return nil, fmt.Errorf("cannot load values.yaml: %w", err)
			}
		case f.Name == "values.schema.json":
			c.Schema = f.Data
		case strings.HasPrefix(f.Name, "templates/"):
			c.Templates = append(c.Templates, f)
		case strings.HasPrefix(f.Name, "charts/"):
			if filepath.Ext(f.Name) == ".prov" {
				c.Files = append(c.Files, f)
				continue
			}
			// Helm skips entries under charts/ whose name starts with "_" or ".".
			sub := strings.SplitN(strings.TrimPrefix(f.Name, "charts/"), "/", 2)[0]
			if strings.IndexAny(sub, "_.") != 0 {
				hasSubcharts = true
			}
		default:
			c.Files = append(c.Files, f)
		}
	}
	if c.Metadata == nil {
		return nil, errors.New("Chart.yaml file is missing")
	}
	if err := c.Metadata.Validate(); err != nil {
		return nil, err
	}
	if hasSubcharts || len(c.Metadata.Dependencies) > 0 {
		return nil, fmt.Errorf("chart %s has subcharts or dependencies: helm-render does not render them (see test/helm/README.md)", c.Name())
	}
	return c, nil
}
