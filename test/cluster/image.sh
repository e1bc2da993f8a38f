#!/usr/bin/env bash
# Builds the project's Dockerfile with buildah, offline, into localhost/v6mostly:dev, and exports it
# as an OCI archive for `ctr -n k8s.io images import`:
#
#   BASE, BUILD_BASE  the images image-base.sh makes from the machine's Node 20 (no registry)
#   npm ci --offline  from the machine's npm cache, mounted into the build (`npm ci` on the
#                     machine fills it; .ci/run runs that first); the build has no network
#   --timestamp 0     the same inputs give the same layers
#
# Rebuilt only when an input changed: the files .dockerignore lets in, the Dockerfile, the base
# images' IDs and these scripts, digested into the image label dev.v6mostly.inputs. Prints one
# JSON line: ref, archive, inputs, sizes (bytes), seconds, cached. As root. See test/cluster/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=image-lib.sh
. "$here/image-lib.sh"
REF=${V6MOSTLY_IMAGE:-localhost/v6mostly:dev}
ARCHIVE=$IMAGES/$(echo "${REF#localhost/}" | tr ':/' '--').oci.tar
META=${ARCHIVE%.oci.tar}.json

mapfile -t bases < <("$here/image-base.sh")
runtime=${bases[0]} build=${bases[1]} pause=${bases[2]}
npm_cache=$(npm config get cache)

cd "$repo"
mapfile -t context < <(sed -n 's/^!//p' .dockerignore)
inputs=$(
  {
    find Dockerfile .dockerignore "${context[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    for b in "$runtime" "$build"; do bah inspect --type image --format '{{.FromImageID}}' "$b"; done
    cat "$0" "$here/image-lib.sh"
  } | sha256sum | cut -c1-64
)

mkdir -p "$IMAGES"
exec 9>"$CACHE/image.lock"
flock 9
if [ "$(image_label "$REF" dev.v6mostly.inputs)" = "$inputs" ] && [ -f "$ARCHIVE" ] && [ -f "$META" ]; then
  log "cached: $REF ($ARCHIVE)"
  sed 's/"cached":false/"cached":true/' "$META"
  exit 0
fi

log "building $REF from $runtime (build stage on $build)"
t0=$(date +%s)
# No --layers: with vfs every kept step is a full copy of the tree, and a build from scratch
# (~1.5 min) is not much slower than one that reuses the npm ci step.
bah bud --quiet --network none --timestamp 0 \
  --build-arg BASE="$runtime" --build-arg BUILD_BASE="$build" --build-arg NPM_FLAGS=--offline \
  --volume "$npm_cache:/root/.npm" --runtime-flag root=/run/v6mostly-buildah/runc \
  --label dev.v6mostly.inputs="$inputs" \
  -f Dockerfile -t "$REF" . >/dev/null
built=$(date +%s)
rm -f "$ARCHIVE.tmp"
bah push --quiet "$REF" "oci-archive:$ARCHIVE.tmp:$REF"
mv "$ARCHIVE.tmp" "$ARCHIVE"
bah rmi --prune >/dev/null 2>&1 || true   # earlier builds' dangling images (vfs: full copies)
# Sizes as a registry would count them: the gzip layers (compressed), and what they unpack to.
stdin_json() { node -p "const j = JSON.parse(require('fs').readFileSync(0, 'utf8')); $1"; }
manifest=$(tar -xOf "$ARCHIVE" index.json | stdin_json 'j.manifests[0].digest.slice(7)')
compressed=0 uncompressed=0
for layer in $(tar -xOf "$ARCHIVE" "blobs/sha256/$manifest" | stdin_json 'j.layers.map((l) => l.digest.slice(7)).join(" ")'); do
  compressed=$((compressed + $(tar -xOf "$ARCHIVE" "blobs/sha256/$layer" | wc -c)))
  uncompressed=$((uncompressed + $(tar -xOf "$ARCHIVE" "blobs/sha256/$layer" | gzip -dc | wc -c)))
done
printf '{"ref":"%s","archive":"%s","pauseRef":"%s","pauseArchive":"%s","inputs":"%s","compressedBytes":%d,"uncompressedBytes":%d,"buildSeconds":%d,"exportSeconds":%d,"cached":false}\n' \
  "$REF" "$ARCHIVE" "$pause" "$PAUSE_ARCHIVE" "$inputs" "$compressed" "$uncompressed" $((built - t0)) $(($(date +%s) - built)) | tee "$META"
log "built $REF in $((built - t0)) s, exported in $(($(date +%s) - built)) s"
