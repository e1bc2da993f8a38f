// Package engine renders a chart's templates as Helm 3's engine does (helm.sh/helm/v3/pkg/engine,
// v3.21): every file under templates/ is parsed into one text/template set (so any file's
// `define` is visible to every other), missingkey=zero with "<no value>" removed from the
// output, partials (base name starting with "_") parsed but not rendered, and errors reported
// in Helm's "execution error at (file:line:col): message" shape.
package engine

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"helmrender/chart"
	"helmrender/chartutil"
)

// Helm wraps `required` and `fail` messages in these so the error shown is the message alone.
const (
	warnStart = "HELM_ERR_START"
	warnEnd   = "HELM_ERR_END"
	// maxIncludeDepth bounds a template including itself.
	maxIncludeDepth = 1000
)

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func warnWrap(msg string) string { return warnStart + msg + warnEnd }

// renderable is one template file, the values it sees and its chart's templates/ path.
type renderable struct {
	tpl      string
	vals     map[string]interface{}
	basePath string
}

// Render renders every template of the chart with top (from chartutil.ToRenderValues) and
// returns each file's output keyed "CHART/templates/NAME", partials left out.
func Render(c *chart.Chart, top map[string]interface{}) (rendered map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	tpls := allTemplates(c, top)

	t := template.New("gotpl")
	t.Option("missingkey=zero")
	initFuncMap(t)

	keys := sortTemplates(tpls)
	for _, name := range keys {
		if _, err := t.New(name).Parse(tpls[name].tpl); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}

	rendered = make(map[string]string, len(keys))
	for _, name := range keys {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		r := tpls[name]
		r.vals["Template"] = chartutil.Values{"Name": name, "BasePath": r.basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, r.vals); err != nil {
			return nil, cleanupExecError(name, err)
		}
		// missingkey=zero still prints "<no value>" for a missing map key; Helm removes it.
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return rendered, nil
}

// allTemplates pairs each template with the object it is rendered with: .Chart (Chart.yaml's
// fields plus IsRoot), .Files, .Release, .Capabilities, .Values and .Subcharts.
func allTemplates(c *chart.Chart, top map[string]interface{}) map[string]renderable {
	next := map[string]interface{}{
		"Chart": struct {
			chart.Metadata
			IsRoot bool
		}{*c.Metadata, true},
		"Files":        newFiles(c.Files),
		"Release":      top["Release"],
		"Capabilities": top["Capabilities"],
		"Values":       top["Values"],
		"Subcharts":    map[string]interface{}{},
	}
	out := map[string]renderable{}
	for _, t := range c.Templates {
		out[c.Name()+"/"+t.Name] = renderable{tpl: string(t.Data), vals: next, basePath: c.Name() + "/templates"}
	}
	return out
}

// sortTemplates is Helm's parse and execution order: deepest paths first, then reverse
// lexical order. It decides which of two `define`s of one name wins (the one parsed last) and
// which failing template is reported.
func sortTemplates(tpls map[string]renderable) []string {
	keys := make([]string, 0, len(tpls))
	for k := range tpls {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca == cb {
			return a > b
		}
		return ca > cb
	})
	return keys
}

// initFuncMap binds the functions that need the template set: include, tpl, required, fail.
func initFuncMap(t *template.Template) {
	f := funcMap()
	included := map[string]int{}
	f["include"] = includeFun(t, included)
	f["tpl"] = tplFun(t, included)
	f["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warnWrap(msg))
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warnWrap(msg))
		}
		return val, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(warnWrap(msg)) }
	t.Funcs(f)
}

// includeFun is `include NAME DATA`: a named template's output as a string, so it can be piped
// (`include "x" . | nindent 4`), which `template` cannot.
func includeFun(t *template.Template, included map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if included[name] > maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		included[name]++
		defer func() { included[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
}

// tplFun is `tpl STRING DATA`: a string rendered as a template, inside a clone of the set so
// it sees (and may add) named templates.
func tplFun(parent *template.Template, included map[string]int) func(string, interface{}) (string, error) {
	return func(text string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %w", err)
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{
			"include": includeFun(t, included),
			"tpl":     tplFun(t, included),
		})
		t, err = t.New(parent.Name()).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// cleanupParseError: "template: NAME:LINE: msg" becomes "parse error at (NAME:LINE): msg".
func cleanupParseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

// cleanupExecError: a `required` or `fail` message becomes
// "execution error at (NAME:LINE:COL): message", located at the top-level template being
// rendered even when the call sits in an included partial; other errors pass through.
func cleanupExecError(name string, err error) error {
	if _, ok := err.(template.ExecError); !ok {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if parts := warnRegex.FindStringSubmatch(tokens[2]); len(parts) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}
