# v6mostly: one image for the operator, the agent and standalone `run`.
#
#   docker build -t v6mostly .          with Docker: Docker Hub's node:20-bookworm-slim for both stages
#   test/cluster/image.sh               offline with buildah, on bases made from this machine's Node 20
#                                       (BASE and BUILD_BASE set to them; see test/cluster/README.md)
#
# BASE must hold Node.js 20 on glibc (Debian bookworm's); BUILD_BASE Node.js 20 with npm, a POSIX
# shell and coreutils. The runtime has no shell and no package manager: node, iproute2's `ip` (the
# only program the code runs: host routes, proxy ARP, link settings) and the application.
ARG BASE=node:20-bookworm-slim
ARG BUILD_BASE=node:20-bookworm-slim

FROM ${BUILD_BASE} AS build
# Extra flags for `npm ci` and `npm prune`: image.sh passes --offline (the npm cache is mounted).
ARG NPM_FLAGS=
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund ${NPM_FLAGS}
# The rest of the context (.dockerignore lets in only what the image needs).
COPY . .
# Build; keep only the runtime dependencies, without what nothing runs (type declarations, source
# maps, koffi's prebuilt libraries for other platforms: 26 of its 28 MB); then gather the runtime's
# files under /out: the application in /out/app, and `ip` with the libraries it links (except the
# C library, which node brings) under their real directories (Debian's /lib is a symlink to /usr/lib).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund ${NPM_FLAGS} \
 && find node_modules \( -name "*.d.ts" -o -name "*.d.mts" -o -name "*.d.cts" -o -name "*.map" \) -type f -delete \
 && keep="linux_$(node -p process.arch)" && for d in node_modules/koffi/build/koffi/*; do \
      [ "${d##*/}" = "$keep" ] || rm -rf "$d"; \
    done \
 && mkdir -p /out/app && cp -a package.json bin crds dist examples node_modules /out/app/ \
 && { command -v ip >/dev/null || { apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*; }; } \
 && ip=$(command -v ip) && mkdir -p "/out$(readlink -f "${ip%/*}")" && cp -L "$ip" "/out$(readlink -f "${ip%/*}")/ip" \
 && LD_TRACE_LOADED_OBJECTS=1 "$ip" | while read -r name arrow lib rest; do \
      case $name in libc.so.*|linux-vdso*|/*) continue ;; esac; \
      dir=$(readlink -f "${lib%/*}"); mkdir -p "/out$dir"; cp -L "$lib" "/out$dir/${lib##*/}"; \
    done

FROM ${BASE}
LABEL org.opencontainers.image.title="v6mostly" \
      org.opencontainers.image.description="IPv6-mostly networks (NAT64, DNS64, RA with PREF64, DHCPv4 option 108) as Kubernetes resources" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ /
WORKDIR /app
ENV NODE_ENV=production
# Non-root by default: the operator and validate/plan/render need no privilege. The agent (and
# standalone `run`) needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE and runs as uid 0 with
# every other capability dropped (its pod sets runAsUser: 0; docker run --user 0 --cap-drop ALL
# --cap-add NET_ADMIN --cap-add NET_RAW --cap-add NET_BIND_SERVICE). Measured on containerd 1.6 +
# runc 1.1 (test/cluster/README.md): a non-root container gets none of the capabilities it adds
# (Kubernetes sets no ambient capabilities); file capabilities on node would give them, but then
# every container of the image without all three in its bounding set fails to exec node (the
# operator drops ALL), and a non-root agent still could not open a root-owned 0600 /dev/net/tun.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/v6mostly.js"]
CMD ["--help"]
