package engine

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/sprig/v3"
	goyaml "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"
)

// funcMap is sprig's text functions without env and expandenv, plus Helm's own
// (pkg/engine/funcs.go, v3.21). include, tpl, required and fail are bound per render in
// engine.go; lookup is the placeholder `helm template` keeps (an empty map, no cluster).
func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	// Helm returns "" unless --enable-dns; this renderer never resolves names.
	f["getHostByName"] = func(string) string { return "" }
	// sprig 3.3.0 (Helm 3.21's) added sha512sum; Debian packages sprig 3.2.3.
	if _, ok := f["sha512sum"]; !ok {
		f["sha512sum"] = func(input string) string {
			sum := sha512.Sum512([]byte(input))
			return hex.EncodeToString(sum[:])
		}
	}
	extra := template.FuncMap{
		"toToml":        toTOML,
		"fromToml":      fromTOML,
		"toYaml":        toYAML,
		"toYamlPretty":  toYAMLPretty,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// toYAML is sigs.k8s.io/yaml (through JSON: keys sorted, JSON tags honoured) without the
// final newline; "" when the value does not marshal.
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

// toYAMLPretty is yaml.v3 with a 2-space indent (lists indented under their key).
func toYAMLPretty(v interface{}) string {
	var b bytes.Buffer
	enc := goyaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// fromYAML puts a parse error in the map's "Error" key instead of failing the render.
func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// fromYAMLArray returns the parse error as the list's only item.
func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// toTOML returns the encoder's error text rather than failing.
func toTOML(v interface{}) string {
	b := bytes.NewBuffer(nil)
	if err := toml.NewEncoder(b).Encode(v); err != nil {
		return err.Error()
	}
	return b.String()
}

func fromTOML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := toml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}
