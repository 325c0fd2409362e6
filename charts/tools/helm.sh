#!/usr/bin/env bash
# Runs Helm 4, built once from its Go module at a pinned release (no prebuilt binaries can be
# downloaded here) and cached under ${PODROUTER_CACHE_DIR:-$HOME/.cache/podrouter}/bin.
# Cold build on 2 cores: about 2 minutes. `charts/tools/helm.sh --build-only` builds and
# prints the binary's path.
set -euo pipefail

HELM_VERSION="v4.3.1"

cache_root="${PODROUTER_CACHE_DIR:-$HOME/.cache/podrouter}"
bin_dir="$cache_root/bin"
helm="$bin_dir/helm-$HELM_VERSION"

log() { echo "helm.sh: $*" >&2; }

if [[ ! -x "$helm" ]]; then
  command -v go >/dev/null || { log "go is not on PATH; it is needed to build Helm $HELM_VERSION"; exit 1; }
  mkdir -p "$bin_dir"
  # One builder at a time: parallel test files may all ask for Helm.
  exec 9>"$bin_dir/.helm-$HELM_VERSION.lock"
  flock 9
  if [[ ! -x "$helm" ]]; then
    log "building Helm $HELM_VERSION (go install, about 2 minutes on 2 cores) ..."
    start=$SECONDS
    gobin="$(mktemp -d "$bin_dir/.helm-build.XXXXXX")"
    # Helm's Makefile stamps the full version with ldflags; built this way `helm version`
    # reports the release's minor (v4.3), which is all the chart tests rely on.
    if ! CGO_ENABLED=0 GOBIN="$gobin" GOFLAGS="-mod=mod -buildvcs=false" \
      go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"; then
      rm -rf "$gobin"
      log "go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION failed"
      exit 1
    fi
    mv "$gobin/helm" "$helm"
    rm -rf "$gobin"
    log "built $helm in $((SECONDS - start)) s"
  fi
  exec 9>&-
fi

if [[ "${1:-}" == "--build-only" ]]; then
  echo "$helm"
  exit 0
fi
exec "$helm" "$@"
