#!/usr/bin/env bash
# The README's test command (`npm test`): static checks, then every test suite with the real
# services they need. Suites that need a component this machine lacks fail loudly; none skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Go builds the test cluster's binaries and Helm; the machine image keeps it here.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="$PATH:/usr/local/go/bin"; fi

# Debian packages the suites run for real: Redis (policy), nftables/conntrack/iproute2/openssl
# (the kubelet-less test cluster), podman/buildah/mmdebstrap/runc/binutils (the images,
# scripts/image.sh), containerd and the CNI plugins (the cluster's real node).
needed=()
command -v redis-server >/dev/null || needed+=(redis-server)
command -v nft >/dev/null || needed+=(nftables)
command -v conntrack >/dev/null || needed+=(conntrack)
command -v ip >/dev/null || needed+=(iproute2)
command -v openssl >/dev/null || needed+=(openssl)
command -v podman >/dev/null || needed+=(podman)
command -v buildah >/dev/null || needed+=(buildah)
command -v mmdebstrap >/dev/null || needed+=(mmdebstrap)
command -v runc >/dev/null || needed+=(runc)
command -v strip >/dev/null || needed+=(binutils)
command -v containerd >/dev/null || needed+=(containerd)
[[ -x /usr/lib/cni/bridge ]] || needed+=(containernetworking-plugins)
if ((${#needed[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${needed[*]} (Debian packages the tests run for real)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}" >/dev/null
  else
    echo "missing ${needed[*]}: install them (Debian: apt-get install ${needed[*]}) and run again" >&2
    exit 1
  fi
fi

echo "== typecheck and lint"
npx turbo run typecheck lint --output-logs=errors-only
npx tsc -p tsconfig.json
npx biome check test examples scripts bench

# Suites that need the kubelet-less cluster (root, network namespaces) run after the others,
# one file at a time: they share one API server, and the outage suite stops it. The installed
# product (test/installed/: images, a real node, helm install) comes last.
cluster_dirs='^test/(cluster|kube|controller|chart)/'
mapfile -t all_tests < <(find packages test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
local_tests=() cluster_tests=() last_tests=() installed_tests=()
for file in "${all_tests[@]}"; do
  if [[ $file == test/kube/outage.test.ts ]]; then last_tests+=("$file")
  elif [[ $file == test/installed/* ]]; then installed_tests+=("$file")
  elif [[ $file =~ $cluster_dirs ]]; then cluster_tests+=("$file")
  else local_tests+=("$file"); fi
done

logs="$(mktemp -d)"
status=0
run_tests() {
  local name=$1 concurrency=$2
  shift 2
  (($# > 0)) || return 0
  echo "== tests: $name ($# files)"
  scripts/node.sh --test --test-concurrency="$concurrency" "$@" 2>&1 | tee "$logs/$name.log" || status=1
}

run_tests local "${TEST_CONCURRENCY:-3}" "${local_tests[@]}"
# The conformance suite once more with node:http serving the clients (SERVER_ENGINE=node);
# the run above used the default (podrouter's own server on raw sockets).
mapfile -t conformance_tests < <(find test/conformance -name '*.test.ts' | sort)
SERVER_ENGINE=node run_tests conformance-node-server "${TEST_CONCURRENCY:-3}" "${conformance_tests[@]}"

if ((${#cluster_tests[@]} + ${#last_tests[@]} + ${#installed_tests[@]} > 0)); then
  echo "== test cluster (binaries are built once and cached; a cold build takes about 15 minutes)"
  # down.sh also removes the real node (containers, mounts, cgroups, kernel settings).
  trap 'bash test/cluster/down.sh >/dev/null 2>&1 || bash test/cluster/down.sh || { echo "test cluster teardown failed" >&2; exit 1; }' EXIT
  bash test/cluster/up.sh
  run_tests cluster 1 "${cluster_tests[@]}"
  run_tests outage 1 "${last_tests[@]}"
  if ((${#installed_tests[@]} > 0)); then
    echo "== installed: images (scripts/image.sh), a real node (up.sh --real-node), helm install"
    run_tests installed 1 "${installed_tests[@]}"
  fi
fi

# One closing line for the whole run, whatever the number of runner invocations.
passed=0 failed=0
for log in "$logs"/*.log; do
  p=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-1}))
done
rm -rf "$logs"
echo "podrouter: $passed passed, $failed failed"
exit "$status"
