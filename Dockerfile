# v6mostly: one image for `operator`, `agent` and standalone `run`.
# Build: docker build -t v6mostly .   (not buildable on the development machines: no Docker engine)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# iproute2: host plumbing (routes, proxy ARP, TUN) done by the node runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY crds ./crds
COPY examples ./examples
# No src/ in the image: bin/v6mostly.js runs the compiled dist/.
# Runs as root so that the agent can hold CAP_NET_ADMIN/CAP_NET_RAW; the pod spec drops every
# other capability. The operator's pod runs it as a non-root user.
ENTRYPOINT ["node", "/app/bin/v6mostly.js"]
CMD ["--help"]
