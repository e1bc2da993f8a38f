#!/bin/sh
# The README's first command. On a fresh Debian or Ubuntu machine with Node.js 20: installs the
# Debian packages the lab uses and the npm packages, builds, then runs `v6mostly lab check` (the
# seed's network in namespaces, checked; see docs/lab.md). As root, or through sudo when there is
# one. Extra arguments go to `lab check` (e.g. --keep).
set -eu
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "scripts/lab.sh: the lab needs root (namespaces, TUN, raw sockets): run it as root, or install sudo" >&2; exit 1
  fi
}

command -v node >/dev/null 2>&1 || { echo "scripts/lab.sh: Node.js 20 or newer is needed first (Debian: nodejs npm)" >&2; exit 1; }

# what src/lab/topology.ts missingCapability() checks for
PACKAGES="iproute2 tayga bind9 bind9-dnsutils isc-dhcp-client curl iputils-ping"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== Debian packages:$missing"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

echo "== npm packages"
npm ci --no-audit --no-fund
echo "== build"
npm run build
echo "== lab check"
as_root node bin/v6mostly.js lab check "$@"
