# syntax=docker/dockerfile:1
# One image per component, from the same sources:
#   docker build --build-arg COMPONENT=public     -t ghcr.io/podrouter/podrouter-public .
#   docker build --build-arg COMPONENT=private    -t ghcr.io/podrouter/podrouter-private .
#   docker build --build-arg COMPONENT=controller -t ghcr.io/podrouter/podrouter-controller .
# Node 24 runs the TypeScript sources directly (type stripping): there is no compile step.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS deps
ARG COMPONENT=public
WORKDIR /app
# The lockfile covers every workspace; npm install needs each workspace's package.json to check it.
COPY package.json package-lock.json .npmrc ./
COPY packages/core/package.json packages/core/
COPY packages/policy/package.json packages/policy/
COPY packages/tracing/package.json packages/tracing/
COPY packages/public/package.json packages/public/
COPY packages/private/package.json packages/private/
COPY packages/controller/package.json packages/controller/
COPY bench/package.json bench/
RUN test -f "packages/${COMPONENT}/package.json" \
  || { echo "COMPONENT must be public, private or controller, not '${COMPONENT}'" >&2; exit 1; }
# Only the chosen component's production dependencies (and the workspaces it links).
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund --workspace "packages/${COMPONENT}"

FROM ${NODE_IMAGE}
ARG COMPONENT=public
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY packages/core/package.json packages/core/
COPY packages/core/src packages/core/src
COPY packages/policy/package.json packages/policy/
COPY packages/policy/src packages/policy/src
COPY packages/tracing/package.json packages/tracing/
COPY packages/tracing/src packages/tracing/src
COPY packages/${COMPONENT}/package.json packages/${COMPONENT}/
COPY packages/${COMPONENT}/bin packages/${COMPONENT}/bin
COPY packages/${COMPONENT}/src packages/${COMPONENT}/src
# Tests are not shipped; a fixed entry point for every component (node follows the link to the
# real file, so the bin's relative import of ../src/main.ts resolves).
RUN find packages -name '*.test.ts' -delete \
  && ln -s "packages/${COMPONENT}/bin/podrouter-${COMPONENT}.js" /app/podrouter.js
# The chart runs it as uid/gid 1000 (the image's "node" user) with a read-only root file system.
USER 1000:1000
ENTRYPOINT ["node", "/app/podrouter.js"]
