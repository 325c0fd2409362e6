# syntax=docker/dockerfile:1
# One image per component, from the same sources:
#   docker build --build-arg COMPONENT=public     -t ghcr.io/podrouter/podrouter-public .
#   docker build --build-arg COMPONENT=private    -t ghcr.io/podrouter/podrouter-private .
#   docker build --build-arg COMPONENT=controller -t ghcr.io/podrouter/podrouter-controller .
# Node 24 runs the TypeScript sources directly (type stripping): there is no compile step.
# The image ships them stripped of their types at build time (scripts/strip-types.ts) and
# loads them as JavaScript (scripts/image-entry.js), so no process loads Node's TypeScript
# parser (≈16 MB of RSS each; docs/benchmarks.md, Kubernetes source).
# `npm run image` (scripts/image.sh) builds all three without a registry, on a Debian base of
# its own (NODE_IMAGE: Node only, no shell; BUILD_IMAGE: the same plus a shell and npm).
ARG NODE_IMAGE=node:24-slim
# The build stage needs a shell and npm; the final stage needs neither.
ARG BUILD_IMAGE=${NODE_IMAGE}

FROM ${BUILD_IMAGE} AS build
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
# Only the chosen component's production dependencies (and the workspaces it links). A build
# behind a TLS-intercepting proxy passes that proxy's CA as the secret "npm-ca" (scripts/image.sh
# does): it is mounted for this step only and never lands in a layer.
RUN --mount=type=secret,id=npm-ca \
  if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
  && NPM_CONFIG_UPDATE_NOTIFIER=false npm install --omit=dev --ignore-scripts --no-audit --no-fund --workspace "packages/${COMPONENT}" \
  && rm -rf /root/.npm \
  && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
       -o -name '*.md' -o -name '*.markdown' \) -delete
COPY packages/core/src packages/core/src
COPY packages/policy/src packages/policy/src
COPY packages/tracing/src packages/tracing/src
COPY packages/${COMPONENT}/bin packages/${COMPONENT}/bin
COPY packages/${COMPONENT}/src packages/${COMPONENT}/src
COPY scripts/strip-types.ts scripts/image-entry.js scripts/
# Tests, bench and the other components' manifests are not shipped; the sources are stripped
# of their types; a fixed entry point for every component, podrouter.js, which loads them as
# JavaScript and imports the component's bin through podrouter-bin.js (node follows the link
# to the real file, so the bin's relative import of ../src/main.ts resolves).
RUN find packages -name '*.test.ts' -delete \
  && for p in public private controller; do \
       [ "$p" = "${COMPONENT}" ] || rm -rf "packages/$p" "node_modules/podrouter-$p"; \
     done \
  && rm -rf bench node_modules/@podrouter/bench package-lock.json .npmrc \
  && node scripts/strip-types.ts packages \
  && mv scripts/image-entry.js /app/podrouter.js && rm -rf scripts \
  && ln -s "packages/${COMPONENT}/bin/podrouter-${COMPONENT}.js" /app/podrouter-bin.js

# No RUN here: the final base needs no shell.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# A 4 MB young generation: a 10 000-Pod router holds ~135-145 MB instead of ~190 MB, at no
# measurable cost per request on a quiet machine (docs/benchmarks.md). NODE_OPTIONS in the
# Pod's environment replaces it.
ENV NODE_OPTIONS=--max-semi-space-size=4
COPY --from=build /app /app
WORKDIR /app
# The chart runs it as uid/gid 1000 (the image's "node" user) with a read-only root file system.
USER 1000:1000
ENTRYPOINT ["node", "/app/podrouter.js"]
