#!/usr/bin/env bash
# The base images the project's Dockerfile is built on here, made offline from the machine's own
# Node.js 20 (no registry, no Docker engine; bookworm's `nodejs` is v18, so it is not used):
#
#   localhost/v6mostly-node:VERSION        the runtime: /usr/bin/node and exactly the libraries
#                                          ldd lists for it, the CA bundle, /etc/passwd with root
#                                          and nonroot (65532), /tmp. No shell, no package manager.
#   localhost/v6mostly-node-build:VERSION  the build stage: the same plus npm, sh (dash), the few
#                                          coreutils and findutils the Dockerfile's build stage
#                                          calls, and iproute2's `ip` (which it copies out).
#   k8s.gcr.io/pause:3.2                   the pod sandbox image of the test nodes: the static
#                                          pause that build-k8s.sh compiles, also exported to
#                                          ${V6MOSTLY_CACHE:-/var/cache/v6mostly}/images/pause-3.2.oci.tar
#
# Stored in buildah's vfs storage under ${V6MOSTLY_CACHE:-/var/cache/v6mostly}/buildah; rebuilt
# only when an input changed (a digest of the assembled file trees and this script, kept as the
# image label dev.v6mostly.inputs). Prints the three image names, one a line. As root. See test/cluster/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image-lib.sh
. "$here/image-lib.sh"

NODE=${V6MOSTLY_NODE:-/usr/bin/node}
version=$("$NODE" --version | sed 's/^v//')
case $version in
20.*) ;;
*) echo "image-base: $NODE is Node.js $version; the image is built on Node.js 20" >&2; exit 1 ;;
esac
RUNTIME=localhost/v6mostly-node:$version
BUILD=localhost/v6mostly-node-build:$version
PAUSE=k8s.gcr.io/pause:3.2
PAUSE_BIN=$CACHE/k8s/1.20.2/bin/pause
[ -x "$PAUSE_BIN" ] || { echo "image-base: $PAUSE_BIN is missing (run test/cluster/build-k8s.sh)" >&2; exit 1; }
for cmd in buildah ldd install; do
  command -v "$cmd" >/dev/null || { echo "image-base: $cmd is missing (test/cluster/build-k8s.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/v6m-image-base-XXXXXX")
trap 'rm -rf "$work"' EXIT

runtime_rootfs() {
  local r=$1
  usrmerge_links "$r"
  copy_elf "$r" "$NODE"
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$r/etc/group"
  printf '%s\n' 'hosts: files dns' >"$r/etc/nsswitch.conf"
  install -d -m 0700 "$r/root"
  install -d -m 0755 -o 65532 -g 65532 "$r/home/nonroot"
  install -d -m 1777 "$r/tmp"
}

build_rootfs() {
  local r=$1 npm cmd
  runtime_rootfs "$r"
  npm=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")   # …/node_modules/npm
  mkdir -p "$r$npm"
  cp -a "$npm/." "$r$npm/"
  ln -s "$npm/bin/npm-cli.js" "$r/usr/bin/npm"
  ln -s "$npm/bin/npx-cli.js" "$r/usr/bin/npx"
  copy_elf "$r" /bin/dash
  ln -s dash "$r/usr/bin/sh"
  # What the Dockerfile's build stage runs besides node and npm: npm's scripts run under sh and
  # reach node through `#!/usr/bin/env node`; the rest is in its RUN lines.
  for cmd in env cp mkdir readlink rm find ip; do copy_elf "$r" "$(command -v "$cmd")"; done
}

pause_rootfs() {
  install -D -m 0755 "$PAUSE_BIN" "$1/pause"
}

# make_image NAME ROOTFS-FUNCTION [buildah config flags]: build the tree, compare its digest with
# the image's label, commit when they differ.
make_image() {
  local name=$1 fill=$2 r="$work/$2" inputs c
  shift 2
  mkdir -p "$r"
  "$fill" "$r"
  inputs=$( (tree_digest "$r"; cat "$0" "$here/image-lib.sh") | sha256sum | cut -c1-64)
  if [ "$(image_label "$name" dev.v6mostly.inputs)" = "$inputs" ]; then
    log "cached: $name"
  else
    log "building $name"
    c=$(bah from scratch)
    cp -a "$r/." "$(bah mount "$c")/"   # cp -a keeps owners and modes (buildah copy would not)
    bah umount "$c" >/dev/null
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --label dev.v6mostly.inputs="$inputs" \
      --os linux --arch "$(dpkg --print-architecture)" "$@" "$c"
    bah commit --quiet --rm --timestamp 0 "$c" "$name" >/dev/null
    built=$name
  fi
  echo "$name"
}

built=
mkdir -p "$CACHE"
exec 9>"$CACHE/image-base.lock"
flock 9
make_image "$RUNTIME" runtime_rootfs --label dev.v6mostly.node-version="$version"
make_image "$BUILD" build_rootfs --label dev.v6mostly.node-version="$version"
make_image "$PAUSE" pause_rootfs --entrypoint '["/pause"]'
if [ ! -f "$PAUSE_ARCHIVE" ] || [ "$built" = "$PAUSE" ]; then
  mkdir -p "$IMAGES"
  bah push --quiet "$PAUSE" "oci-archive:$PAUSE_ARCHIVE.tmp:$PAUSE"
  mv "$PAUSE_ARCHIVE.tmp" "$PAUSE_ARCHIVE"
fi
bah rmi --prune >/dev/null 2>&1 || true   # images replaced by a rebuild (vfs keeps full copies)
