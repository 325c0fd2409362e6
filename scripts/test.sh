#!/usr/bin/env bash
# The README's test command (`npm test`): static checks, then every test suite with the real
# services they need. Suites that need a component this machine lacks fail loudly; none skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Debian packages the suites run for real: Redis (policy), nftables/conntrack/iproute2/openssl
# (the kubelet-less test cluster).
needed=()
command -v redis-server >/dev/null || needed+=(redis-server)
command -v nft >/dev/null || needed+=(nftables)
command -v conntrack >/dev/null || needed+=(conntrack)
command -v ip >/dev/null || needed+=(iproute2)
command -v openssl >/dev/null || needed+=(openssl)
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

if [[ -f test/cluster/up.sh ]]; then
  echo "== test cluster (binaries are built once and cached)"
  bash test/cluster/up.sh
  trap 'bash test/cluster/down.sh >/dev/null 2>&1 || true' EXIT
fi

echo "== tests"
scripts/node.sh --test --test-concurrency="${TEST_CONCURRENCY:-3}" \
  'packages/*/src/**/*.test.ts' 'test/**/*.test.ts'
