#!/usr/bin/env bash
# Proxy benchmark: the whole matrix against nginx, in one run (see bench/README.md).
# Installs nginx, wrk and redis-server from Debian's packages when they are missing, then runs
# run.ts with the arguments given here (--reps, --duration, --loads, --cells, --base, --profile,
# --serve, --report).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 2
  fi
  echo "installing ${missing[*]}…" >&2
  apt-get update -qq
  # RUNLEVEL=1: the nginx package must not start (and keep) a system nginx on port 80.
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if (($(nproc) < 2)); then
  echo "needs 2 cores: the proxy under test on core 0, wrk and the upstream on core 1" >&2
  exit 2
fi
exec "$root/scripts/node.sh" "$root/bench/proxy/run.ts" "$@"
