#!/usr/bin/env bash
# Stops or starts kube-apiserver alone (etcd and the rest keep running), e.g. to test how
# clients ride out an API server outage: apiserver.sh stop|start|status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
netns_exists || die "the cluster is not up (netns $NETNS missing); run test/cluster/up.sh"

case "${1:-}" in
  stop)
    stop_component kube-apiserver
    log "kube-apiserver stopped"
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
    echo "usage: $0 stop|start|status" >&2
    exit 2
    ;;
esac
