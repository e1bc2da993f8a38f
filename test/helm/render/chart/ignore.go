package chart

import (
	"bufio"
	"bytes"
	"errors"
	"path/filepath"
	"strings"
)

// ignoreRules are .helmignore's rules (Helm: pkg/ignore). Rules are tried in order and the
// first that decides wins; a negated rule ("!x") decides "keep" by not matching.
type ignoreRules struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	glob    string
	negate  bool
	mustDir bool
	// anchored patterns ("/x") and patterns with a slash match the whole relative path;
	// the others match the base name only.
	wholePath bool
}

func parseIgnore(data []byte) (*ignoreRules, error) {
	r := &ignoreRules{}
	s := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))
	for s.Scan() {
		if err := r.add(s.Text()); err != nil {
			return r, err
		}
	}
	return r, s.Err()
}

func (r *ignoreRules) add(rule string) error {
	rule = strings.TrimSpace(rule)
	if rule == "" || strings.HasPrefix(rule, "#") {
		return nil
	}
	if strings.Contains(rule, "**") {
		return errors.New("double-star (**) syntax is not supported")
	}
	if _, err := filepath.Match(rule, "abc"); err != nil {
		return err
	}
	p := ignorePattern{}
	if strings.HasPrefix(rule, "!") {
		p.negate, rule = true, rule[1:]
	}
	if strings.HasSuffix(rule, "/") {
		p.mustDir, rule = true, strings.TrimSuffix(rule, "/")
	}
	if strings.HasPrefix(rule, "/") {
		p.wholePath, rule = true, strings.TrimPrefix(rule, "/")
	} else if strings.Contains(rule, "/") {
		p.wholePath = true
	}
	p.glob = rule
	r.patterns = append(r.patterns, p)
	return nil
}

func (p ignorePattern) match(path string) bool {
	if !p.wholePath {
		path = filepath.Base(path)
	}
	ok, _ := filepath.Match(p.glob, path)
	return ok
}

// ignore tells whether path (relative, "/"-separated) is left out of the chart.
func (r *ignoreRules) ignore(path string, isDir bool) bool {
	if path == "" || path == "." || path == "./" {
		return false
	}
	for _, p := range r.patterns {
		if p.negate {
			if p.mustDir && !isDir {
				return true
			}
			if !p.match(path) {
				return true
			}
			continue
		}
		if p.mustDir && !isDir {
			continue
		}
		if p.match(path) {
			return true
		}
	}
	return false
}
