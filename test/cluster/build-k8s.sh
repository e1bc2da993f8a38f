#!/usr/bin/env bash
# Builds the Kubernetes 1.20.2 binaries the cluster tests run (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kubectl and the static pause binary) from Debian's source package
# `kubernetes`, with Debian's Go, and caches them outside the repository:
#
#   ${V6MOSTLY_CACHE:-/var/cache/v6mostly}/k8s/1.20.2/bin/   the binaries
#   ${V6MOSTLY_CACHE:-/var/cache/v6mostly}/k8s/1.20.2/stamp  written when all of them are there
#   ${V6MOSTLY_CACHE:-/var/cache/v6mostly}/src/              the unpacked source (scratch)
#
# It also installs the Debian packages the cluster tests run (this script is the one place that
# lists them). Idempotent and non-interactive; as root. When everything is there it prints
# "cached" and exits at once; otherwise it builds only the binaries that are missing (a cold
# build takes ~10 minutes on 2 cores, the apiserver most of it). See test/cluster/README.md.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

VERSION=1.20.2
CACHE=${V6MOSTLY_CACHE:-/var/cache/v6mostly}
OUT=$CACHE/k8s/$VERSION
BIN=$OUT/bin
STAMP=$OUT/stamp
SRC=$CACHE/src
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
# Build: golang-go, rsync (the Makefile's tree copies), dpkg-dev (apt-get source), the fixed
# reflect2, gcc + libc6-dev (pause). Run: etcd, openssl (the tests' PKI), containerd + runc + CNI
# plugins (the test nodes, node.ts), iproute2 and util-linux (ip netns, nsenter, unshare). buildah:
# the project's image without a Docker engine (image.sh).
PACKAGES=(golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev gcc libc6-dev
  etcd-server openssl containerd runc containernetworking-plugins iproute2 util-linux buildah)

log() { echo "[build-k8s $(date -u +%H:%M:%S)] $*"; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || echo "$p"
  done
}

missing_binaries() {
  local c
  for c in "${COMMANDS[@]}" pause; do [ -x "$BIN/$c" ] || echo "$c"; done
}

mapfile -t need_pkgs < <(missing_packages)
mapfile -t need_bins < <(missing_binaries)
if [ -f "$STAMP" ] && [ ${#need_bins[@]} -eq 0 ] && [ ${#need_pkgs[@]} -eq 0 ]; then
  echo "cached: Kubernetes $VERSION in $BIN ($(cat "$STAMP"))"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "build-k8s: needs root (apt-get, $CACHE)" >&2
  exit 1
fi

# `apt-get source` needs a source index; when none lists kubernetes, a deb-src stanza for bookworm
# in a file of its own (the machine's sources stay as they are).
DEB_SRC=/etc/apt/sources.list.d/v6mostly-deb-src.sources
ensure_source_index() {
  if apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes$'; then return; fi
  if [ ! -f "$DEB_SRC" ]; then
    log "adding a deb-src stanza for bookworm ($DEB_SRC)"
    cat >"$DEB_SRC" <<'EOF'
# Added by v6mostly's test/cluster/build-k8s.sh: `apt-get source kubernetes` needs a source index.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  apt-get update -q
}

if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi

if [ ${#need_bins[@]} -gt 0 ]; then
  started=$(date +%s)
  log "building ${need_bins[*]} (Kubernetes $VERSION, Go $(go env GOVERSION))"
  tree=$(find "$SRC" -maxdepth 1 -type d -name "kubernetes-*" 2>/dev/null | head -n1 || true)
  if [ -z "$tree" ] || [ ! -f "$tree/.v6mostly-prepared" ]; then
    ensure_source_index
    rm -rf "$SRC"
    mkdir -p "$SRC"
    log "apt-get source kubernetes into $SRC"
    # bookworm's version string is 1.20.5+really1.20.2: the code is 1.20.2, as its version.sh says.
    (cd "$SRC" && apt-get source -q kubernetes)
    tree=$(find "$SRC" -maxdepth 1 -type d -name "kubernetes-*" | head -n1)
    if ! grep -q "tag: v$VERSION'" "$tree/hack/lib/version.sh"; then
      echo "build-k8s: $tree is not Kubernetes $VERSION (Debian's source package changed?)" >&2
      exit 1
    fi
    # The vendored reflect2 1.0.1 is broken on Go >= 1.18 (the apiserver crashes serving custom
    # resources); Debian's 1.0.2 works.
    log "replacing vendor/github.com/modern-go/reflect2 with Debian's copy"
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -a /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
    touch "$tree/.v6mostly-prepared"
  fi
  # The GOPATH layout of debian/rules: .go/src/k8s.io/kubernetes -> the tree.
  mkdir -p "$tree/.go/src/k8s.io"
  [ -L "$tree/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "$tree/.go/src/k8s.io/kubernetes"
  mkdir -p "$BIN"
  for c in "${need_bins[@]}"; do
    t0=$(date +%s)
    if [ "$c" = pause ]; then
      log "compiling pause (static) from build/pause/linux/pause.c"
      gcc -Os -Wall -Werror -static -DVERSION="v$VERSION-v6mostly" -o "$BIN/pause.tmp" \
        "$tree/build/pause/linux/pause.c"
      mv "$BIN/pause.tmp" "$BIN/pause"
    else
      log "make WHAT=cmd/$c"
      (cd "$tree" && GOPATH=$tree/.go CGO_ENABLED=0 GOCACHE=$SRC/gocache HOME=$SRC make WHAT="cmd/$c")
      install -m 0755 "$tree/_output/bin/$c" "$BIN/$c"
    fi
    log "$c done in $(($(date +%s) - t0))s"
  done
  log "built in $(($(date +%s) - started))s"
fi

mapfile -t still < <(missing_binaries)
if [ ${#still[@]} -gt 0 ]; then
  echo "build-k8s: still missing: ${still[*]}" >&2
  exit 1
fi
echo "Kubernetes $VERSION, built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go env GOVERSION)" >"$STAMP"
log "ready: $BIN"
