#!/usr/bin/env bash
# Removes the test cluster: the real node if one was started (real-node.sh down), every
# process in its network namespace, kube-proxy's nftables tables, the namespace,
# /etc/netns/<netns>/ and the state directory. Safe to run when nothing (or only half of it)
# is there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

real_node_ok=1
if [[ -d "$DIR/real-node" ]]; then
  bash "$CLUSTER_SCRIPTS/real-node.sh" down || real_node_ok=0
fi

# Never kill the caller: a test runner may itself run inside the namespace.
ancestors=" "
p=$$
while [[ -n "$p" && "$p" != 0 ]]; do
  ancestors+="$p "
  p="$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)"
done

pids=()
for f in "$DIR"/pids/*.pid; do
  [[ -f "$f" ]] && pids+=("$(cat "$f")")
done
if netns_exists; then
  mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$NETNS" 2>/dev/null || true)
fi
for pid in "${pids[@]}"; do
  [[ -n "$pid" && "$ancestors" != *" $pid "* ]] || continue
  kill -TERM "$pid" 2>/dev/null || true
done
for pid in "${pids[@]}"; do
  [[ -n "$pid" && "$ancestors" != *" $pid "* ]] || continue
  stop_pid "$pid"
done

if netns_exists; then
  for family in ip ip6; do
    in_netns nft delete table "$family" kube-proxy 2>/dev/null || true
  done
  ip netns delete "$NETNS"
fi
rm -rf "/etc/netns/$NETNS"
# Never remove a directory something is still mounted in (a Pod's volume, a container's root).
if ((real_node_ok == 0)) || findmnt -rn -o TARGET | grep -qF "$DIR/"; then
  die "the real node left mounts under $DIR: not removing it (findmnt | grep $DIR)"
fi
if [[ "${PODROUTER_CLUSTER_KEEP_STATE:-}" == 1 ]]; then
  rm -rf "$DIR/pids"
else
  rm -rf "$DIR"
fi
log "down: netns $NETNS and $DIR removed"
