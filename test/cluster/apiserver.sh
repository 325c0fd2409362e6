#!/usr/bin/env bash
# Stops or starts kube-apiserver alone (etcd and the rest keep running), e.g. to test how
# clients ride out an API server outage: apiserver.sh stop|kill|start|status
#   stop: SIGTERM (it stops listening at once), SIGKILL after 3 s: kube-apiserver otherwise
#         lingers for many seconds after closing its port, keeping open watches alive.
#   kill: SIGKILL at once, a crash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
netns_exists || die "the cluster is not up (netns $NETNS missing); run test/cluster/up.sh"

case "${1:-}" in
  stop)
    stop_component kube-apiserver 3
    log "kube-apiserver stopped"
    ;;
  kill)
    stop_component kube-apiserver 0
    log "kube-apiserver killed"
    ;;
  start)
    if alive kube-apiserver; then
      log "kube-apiserver already running"
    else
      start_apiserver
    fi
    wait_apiserver 120
    log "kube-apiserver ready"
    ;;
  status)
    if alive kube-apiserver && apiserver_ready; then echo ready; else echo down; exit 1; fi
    ;;
  *)
    echo "usage: $0 stop|kill|start|status" >&2
    exit 2
    ;;
esac
