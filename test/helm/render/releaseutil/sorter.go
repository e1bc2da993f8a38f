// Package releaseutil turns rendered template files into the ordered manifests and hooks that
// `helm template` prints (helm.sh/helm/v3/pkg/releaseutil, v3.21).
package releaseutil

import (
	"fmt"
	"log"
	"path"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Head is what Helm reads of each document to sort it (releaseutil.SimpleHead). A document
// whose head does not decode (say, a numeric annotation value) is a YAML parse error in Helm too.
type Head struct {
	Version  string `json:"apiVersion"`
	Kind     string `json:"kind,omitempty"`
	Metadata *struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata,omitempty"`
}

// Manifest is one document and the template file it came from ("CHART/templates/x.yaml").
type Manifest struct {
	Name    string
	Content string
	Head    *Head
}

// separator is Helm's document separator: "---" at the start or after a newline, with the
// whitespace around it (so "--- # c" and "---x" split too, as in Helm).
var separator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// SplitManifests splits one rendered file into its non-empty documents, trimmed, in order.
func SplitManifests(file string) []string {
	var docs []string
	for _, d := range separator.Split(strings.TrimSpace(file), -1) {
		if d == "" {
			continue
		}
		docs = append(docs, strings.TrimSpace(d))
	}
	return docs
}

// hookEvents are the helm.sh/hook values Helm knows; a document naming any other is dropped.
var hookEvents = map[string]bool{
	"pre-install": true, "post-install": true, "pre-delete": true, "post-delete": true,
	"pre-upgrade": true, "post-upgrade": true, "pre-rollback": true, "post-rollback": true,
	"test": true, "test-success": true,
}

// Hook is a document with a helm.sh/hook annotation.
type Hook struct {
	Manifest
	Events []string
}

// IsTest tells whether the hook runs on `helm test` (left out by --skip-tests).
func (h *Hook) IsTest() bool {
	for _, e := range h.Events {
		if e == "test" || e == "test-success" {
			return true
		}
	}
	return false
}

// SortManifests splits every rendered file (partials and blank files skipped) into documents,
// separates hooks from plain manifests, and sorts both by kind in install order, stably over
// file name then position in the file (Helm: SortManifests with InstallOrder).
func SortManifests(files map[string]string) ([]*Hook, []Manifest, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var hooks []*Hook
	var generic []Manifest
	for _, name := range names {
		content := files[name]
		if strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range SplitManifests(content) {
			var head Head
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return nil, nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			m := Manifest{Name: name, Content: doc, Head: &head}
			var hookTypes string
			isHook := false
			if head.Metadata != nil {
				hookTypes, isHook = head.Metadata.Annotations["helm.sh/hook"]
			}
			if !isHook {
				generic = append(generic, m)
				continue
			}
			h := &Hook{Manifest: m}
			known := true
			for _, t := range strings.Split(hookTypes, ",") {
				t = strings.ToLower(strings.TrimSpace(t))
				if !hookEvents[t] {
					known = false
					break
				}
				h.Events = append(h.Events, t)
			}
			if !known {
				log.Printf("info: skipping unknown hook: %q", hookTypes)
				continue
			}
			hooks = append(hooks, h)
		}
	}
	sort.SliceStable(generic, func(i, j int) bool { return lessByKind(generic[i].Head.Kind, generic[j].Head.Kind) })
	sort.SliceStable(hooks, func(i, j int) bool { return lessByKind(hooks[i].Head.Kind, hooks[j].Head.Kind) })
	return hooks, generic, nil
}

// installOrder is Helm's InstallOrder: kinds earlier in the list come first.
var installOrder = func() map[string]int {
	kinds := []string{
		"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
		"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
		"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
		"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
		"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
		"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
		"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
		"APIService",
	}
	m := make(map[string]int, len(kinds))
	for i, k := range kinds {
		m[k] = i
	}
	return m
}()

// lessByKind: known kinds in install order, then unknown kinds alphabetically.
func lessByKind(a, b string) bool {
	ia, aok := installOrder[a]
	ib, bok := installOrder[b]
	switch {
	case !aok && !bok:
		return a < b
	case !aok:
		return false
	case !bok:
		return true
	}
	return ia < ib
}
