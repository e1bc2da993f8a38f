#!/usr/bin/env bash
# Builds test/helm/render (helm-render) offline from Debian's Go packages, in GOPATH mode over
# /usr/share/gocode. The binary goes to $HELM_RENDER_CACHE/<hash>/helm-render (default cache
# /var/cache/v6mostly/helm-render), the hash covering the Go sources, the Go version and the
# Debian library versions: it is rebuilt only when one of them changes.
#
# stdout: the binary's path, alone on the last line. stderr: "cached" or "built in Ns".
# As root, installs the Debian packages below when missing (this is the one place that lists
# them); HELM_RENDER_NO_INSTALL=1 forbids that. Exit 3: Go or a library is missing and may not
# be installed (the reason is on stderr).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/render"

packages=(
  golang-go                             # the compiler (Go 1.19 on bookworm)
  golang-github-masterminds-sprig-dev   # sprig v3: Helm's template functions (and semver v3)
  golang-k8s-sigs-yaml-dev              # sigs.k8s.io/yaml: toYaml, fromYaml, values files, Chart.yaml
  golang-gopkg-yaml.v3-dev              # yaml.v3: toYamlPretty
  golang-github-xeipuuv-gojsonschema-dev # values.schema.json (the library Helm 3.0-3.17 used)
  golang-github-burntsushi-toml-dev     # toToml, fromToml
  golang-github-gobwas-glob-dev         # .Files.Glob
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || [ "${HELM_RENDER_NO_INSTALL:-}" = 1 ]; then
    echo "helm-render: missing Debian packages: ${missing[*]} (run test/helm/build.sh as root to install them)" >&2
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
fi

cache="${HELM_RENDER_CACHE:-/var/cache/v6mostly/helm-render}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/v6mostly/helm-render"
  mkdir -p "$cache"
fi

hash=$(
  {
    (cd "$src" && find . -type f \( -name '*.go' -o -name go.mod \) | LC_ALL=C sort | xargs sha256sum)
    go version
    dpkg-query -W "${packages[@]}"
  } | sha256sum | cut -c1-16
)
out="$cache/$hash/helm-render"

exec 9>"$cache/.lock"
flock 9
if [ -x "$out" ]; then
  echo "cached" >&2
  echo "$out"
  exit 0
fi

start=$(date +%s.%N)
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src" "$cache/$hash"
cp -r "$src" "$gopath/src/helmrender"
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= CGO_ENABLED=0 GOCACHE="$cache/gocache" \
  go build -trimpath -o "$out.tmp" helmrender
mv "$out.tmp" "$out"
echo "built in $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")s" >&2
echo "$out"
