# Shared by image-base.sh and image.sh (sourced, not run): buildah on storage of our own under the
# cache, and copying an ELF binary with exactly the libraries its loader resolves.
#
#   ${V6MOSTLY_CACHE:-/var/cache/v6mostly}/buildah/   buildah's storage (vfs driver: no overlay, no fuse)
#   /run/v6mostly-buildah/                            buildah's run state (locks; gone at reboot)
#
# The machine's own /var/lib/containers is never touched. See test/cluster/README.md.

CACHE=${V6MOSTLY_CACHE:-/var/cache/v6mostly}
IMAGES=$CACHE/images
PAUSE_ARCHIVE=$IMAGES/pause-3.2.oci.tar   # image.ts pauseArchive() names it too

bah() {
  buildah --root "$CACHE/buildah" --runroot /run/v6mostly-buildah --storage-driver vfs "$@"
}

log() { echo "[$(basename "$0" .sh) $(date -u +%H:%M:%S)] $*" >&2; }

# The value of label $2 on image $1, or nothing when the image is absent.
image_label() {
  bah inspect --type image --format "{{index .OCIv1.Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}

# copy_elf ROOTFS PATH: PATH (dereferenced) into ROOTFS at the same place, with every library the
# dynamic loader resolves for it (ldd's list), each under its soname in the real (not symlinked)
# directory, so the result works under Debian's merged /usr (/lib -> usr/lib).
copy_elf() {
  local root=$1 bin=$2 lib dir
  install -D -m 0755 "$(readlink -f "$bin")" "$root$(readlink -f "$(dirname "$bin")")/$(basename "$bin")"
  while read -r lib; do
    dir=$(readlink -f "$(dirname "$lib")")
    # the mode of the machine's file: the loader itself must be executable
    [ -e "$root$dir/$(basename "$lib")" ] ||
      install -D -m "$(stat -c %a "$(readlink -f "$lib")")" "$(readlink -f "$lib")" "$root$dir/$(basename "$lib")"
  done < <(ldd "$bin" | grep -o '/[^ ]*' | grep -v '^/.*:$')
}

# Debian's merged-/usr symlinks (bin -> usr/bin, lib -> usr/lib, lib64 -> usr/lib64, sbin ->
# usr/sbin), as on the machine, so that paths such as /lib64/ld-linux-x86-64.so.2 resolve.
usrmerge_links() {
  local root=$1 d
  for d in bin lib lib64 sbin; do
    if [ -L "/$d" ]; then
      mkdir -p "$root/$(readlink "/$d")"
      ln -sfn "$(readlink "/$d")" "$root/$d"
    fi
  done
}

# A stable digest of a directory tree: paths, modes, symlink targets and file contents.
tree_digest() {
  (cd "$1" && find . -printf '%p %y %m %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -c1-64
}
