package chartutil

import (
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// HelmVersion is the Helm release whose semantics this renderer follows.
const HelmVersion = "v3.21.4"

// DefaultKubeVersion is .Capabilities.KubeVersion when --kube-version is not given. Helm's
// source says v1.20.0, and a released binary says the minor of the client-go it was built with
// (v1.36.0 for v3.21.4): this renderer follows its brief's choice, see ../../README.md.
const DefaultKubeVersion = "v1.20.2"

// Capabilities is .Capabilities (Helm: pkg/chartutil/capabilities.go).
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion BuildInfo
}

// KubeVersion is .Capabilities.KubeVersion; it prints as its Version.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv *KubeVersion) String() string { return kv.Version }

// GitVersion is the deprecated alias of Version that Helm still offers.
func (kv *KubeVersion) GitVersion() string { return kv.Version }

// BuildInfo is .Capabilities.HelmVersion.
type BuildInfo struct {
	Version      string `json:"version,omitempty"`
	GitCommit    string `json:"git_commit,omitempty"`
	GitTreeState string `json:"git_tree_state,omitempty"`
	GoVersion    string `json:"go_version,omitempty"`
}

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has tells whether an API version ("apps/v1", or "group/version/Kind" given with
// --api-versions) is in the set.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// builtinGroupVersions is Helm's DefaultVersionSet: the group/versions client-go registers
// (k8s.io/client-go v0.36 kubernetes/scheme, Helm 3.21.4's) plus apiextensions v1 and v1beta1,
// which Helm adds. Sorted here; Helm lists them in the scheme's priority order.
var builtinGroupVersions = func() VersionSet {
	vs := VersionSet{
		"v1",
		"admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1alpha1", "admissionregistration.k8s.io/v1beta1",
		"apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1",
		"apps/v1", "apps/v1beta1", "apps/v1beta2",
		"authentication.k8s.io/v1", "authentication.k8s.io/v1alpha1", "authentication.k8s.io/v1beta1",
		"authorization.k8s.io/v1", "authorization.k8s.io/v1beta1",
		"autoscaling/v1", "autoscaling/v2",
		"batch/v1", "batch/v1beta1",
		"certificates.k8s.io/v1", "certificates.k8s.io/v1alpha1", "certificates.k8s.io/v1beta1",
		"coordination.k8s.io/v1", "coordination.k8s.io/v1alpha2", "coordination.k8s.io/v1beta1",
		"discovery.k8s.io/v1", "discovery.k8s.io/v1beta1",
		"events.k8s.io/v1", "events.k8s.io/v1beta1",
		"extensions/v1beta1",
		"flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta1",
		"flowcontrol.apiserver.k8s.io/v1beta2", "flowcontrol.apiserver.k8s.io/v1beta3",
		"internal.apiserver.k8s.io/v1alpha1",
		"networking.k8s.io/v1", "networking.k8s.io/v1beta1",
		"node.k8s.io/v1", "node.k8s.io/v1alpha1", "node.k8s.io/v1beta1",
		"policy/v1", "policy/v1beta1",
		"rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1beta1",
		"resource.k8s.io/v1", "resource.k8s.io/v1alpha3", "resource.k8s.io/v1beta1", "resource.k8s.io/v1beta2",
		"scheduling.k8s.io/v1", "scheduling.k8s.io/v1alpha2", "scheduling.k8s.io/v1beta1",
		"storage.k8s.io/v1", "storage.k8s.io/v1alpha1", "storage.k8s.io/v1beta1",
		"storagemigration.k8s.io/v1beta1",
	}
	sort.Strings(vs)
	return vs
}()

// NewCapabilities is what `helm template` uses: the default set plus --api-versions, and the
// given Kubernetes version.
func NewCapabilities(kube KubeVersion, extraAPIVersions []string) *Capabilities {
	apis := append(VersionSet{}, builtinGroupVersions...)
	apis = append(apis, extraAPIVersions...)
	return &Capabilities{
		KubeVersion: kube,
		APIVersions: apis,
		HelmVersion: BuildInfo{Version: HelmVersion, GoVersion: runtime.Version()},
	}
}

// genericVersion is k8s.io/apimachinery's "generic" version: two or more dot-separated
// numbers after an optional "v", anything after them ignored.
var genericVersion = regexp.MustCompile(`^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)*$`)

// ParseKubeVersion reads --kube-version as Helm does (chartutil.ParseKubeVersion over
// apimachinery's ParseGeneric): "1.30", "v1.30.0" and "1.30.0-rc.1" give v1.30 / v1.30.0.
func ParseKubeVersion(s string) (KubeVersion, error) {
	m := genericVersion.FindStringSubmatch(s)
	if m == nil {
		return KubeVersion{}, fmt.Errorf("could not parse %q as version", s)
	}
	parts := strings.Split(m[1], ".")
	if len(parts) < 2 {
		return KubeVersion{}, fmt.Errorf("illegal version string %q", s)
	}
	nums := make([]string, len(parts))
	for i, p := range parts {
		if i == 0 && strings.HasPrefix(p, "0") && p != "0" {
			return KubeVersion{}, fmt.Errorf("illegal zero-prefixed version component %q in %q", p, s)
		}
		n, err := strconv.ParseUint(p, 10, 0)
		if err != nil {
			return KubeVersion{}, fmt.Errorf("illegal non-numeric version component %q in %q: %v", p, s, err)
		}
		nums[i] = strconv.FormatUint(n, 10)
	}
	return KubeVersion{Version: "v" + strings.Join(nums, "."), Major: nums[0], Minor: nums[1]}, nil
}
