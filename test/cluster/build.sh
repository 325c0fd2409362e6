#!/usr/bin/env bash
# Builds (once) the binaries of the test cluster from Go modules at pinned releases and
# prints the directory that holds them. `build.sh --real-node` also builds the kubelet and
# kube-scheduler (from the same Kubernetes module) for `up.sh --real-node`. Cached per versions
# under ${PODROUTER_CACHE_DIR:-$HOME/.cache/podrouter}/cluster-bin/<key>/, so a warm run only
# checks that the files are there. Cold build on 2 cores: see README.md.
set -euo pipefail

KUBERNETES_VERSION="v1.36.3"
ETCD_VERSION="v3.6.8"
COREDNS_VERSION="v1.15.0"
# Bump when the way the binaries are built changes, so old caches are not reused.
RECIPE=1

cache_root="${PODROUTER_CACHE_DIR:-$HOME/.cache/podrouter}"
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_coredns-${COREDNS_VERSION}_r${RECIPE}"
out="$cache_root/cluster-bin/$key"
binaries=(kube-apiserver kube-controller-manager kube-proxy kubectl etcd coredns)
k8s_binaries=(kube-apiserver kube-controller-manager kube-proxy kubectl)
case "${1:-}" in
  "") ;;
  --real-node) binaries+=(kubelet kube-scheduler) k8s_binaries+=(kubelet kube-scheduler) ;;
  *) echo "usage: build.sh [--real-node]" >&2; exit 2 ;;
esac

log() { echo "build.sh: $*" >&2; }

complete() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}

if complete; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH; it is needed to build the cluster binaries"; exit 1; }
mkdir -p "$cache_root/cluster-bin"
# One builder at a time: a test run and `npm run cluster:up` may both ask for the binaries.
exec 9>"$cache_root/cluster-bin/.$key.lock"
flock 9
if complete; then
  echo "$out"
  exit 0
fi

work="$cache_root/cluster-build/$key"
mkdir -p "$work" "$out"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
start=$SECONDS

# --- Kubernetes: a wrapper module requiring k8s.io/kubernetes at the release, with every
# staging module (`k8s.io/x => ./staging/src/k8s.io/x` in the release's own go.mod) replaced
# by its published v0.<minor>.<patch> release.
k8s_missing=()
for b in "${k8s_binaries[@]}"; do [[ -x "$out/$b" ]] || k8s_missing+=("$b"); done
if ((${#k8s_missing[@]} > 0)); then
  kmod="$work/kubernetes"
  mkdir -p "$kmod"
  gomod_file="$(cd "$kmod" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod_file" ]] || { log "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"; exit 1; }
  go_directive="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod_file" | head -1)"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  {
    echo "module podrouter.test/cluster-bin/kubernetes"
    echo
    echo "go $go_directive"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*$#\t\1 => \1 '"$staging_version"'#p' "$gomod_file"
    echo ")"
  } >"$kmod/go.mod"
  n_replaced="$(grep -c '=> k8s.io/' "$kmod/go.mod" || true)"
  (( n_replaced > 10 )) || { log "found only $n_replaced staging replaces in $gomod_file"; exit 1; }
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  commit="$(printf '%040d' 0)"
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  log "building Kubernetes $KUBERNETES_VERSION ${k8s_missing[*]} ($n_replaced staging modules replaced) ..."
  (cd "$kmod" && go mod download k8s.io/kubernetes && go build -trimpath -ldflags "$ldflags" -o "$work/bin/" \
    "${k8s_missing[@]/#/k8s.io/kubernetes/cmd/}")
  for b in "${k8s_missing[@]}"; do mv "$work/bin/$b" "$out/$b"; done
  log "Kubernetes done after $((SECONDS - start))s"
fi

# --- etcd: its server module's main package, through a wrapper module as well (the etcd
# modules point at each other with relative replaces, which `go install mod@v` refuses).
if [[ ! -x "$out/etcd" ]]; then
  emod="$work/etcd"
  mkdir -p "$emod"
  printf 'module podrouter.test/cluster-bin/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$emod/go.mod"
  log "building etcd $ETCD_VERSION ..."
  (cd "$emod" && go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3)
  mv "$work/bin/etcd" "$out/etcd"
  log "etcd done after $((SECONDS - start))s"
fi

# --- CoreDNS: `go install` of its own module at the release.
if [[ ! -x "$out/coredns" ]]; then
  log "building CoreDNS $COREDNS_VERSION ..."
  GOBIN="$work/bin" GOFLAGS="-buildvcs=false" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$work/bin/coredns" "$out/coredns"
  log "CoreDNS done after $((SECONDS - start))s"
fi

complete || { log "build finished but binaries are missing in $out"; exit 1; }
log "all cluster binaries built in $((SECONDS - start))s into $out"
echo "$out"
