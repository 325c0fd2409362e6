# Shared settings and helpers of up.sh, down.sh and apiserver.sh (sourced, not run).
# shellcheck shell=bash

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NETNS="${PODROUTER_NETNS:-podrouter-test}"
DIR="${PODROUTER_CLUSTER_DIR:-/tmp/podrouter-cluster}"
NODE_NAME="node-1"
NODE_IP="10.240.0.1"
POD_CIDR="10.244.0.0/16"
SERVICE_CIDR="10.96.0.0/16"
DNS_SERVICE_IP="10.96.0.10"
# 10.244.0.0/24 is kept for the cluster's own Pods; fake-kubelet.ts allocates from the rest.
COREDNS_POD_IP="10.244.0.2"
APISERVER_URL="https://$NODE_IP:6443"
# The real node of `up.sh --real-node` (real-node.sh): its Pods take 10.244.0.128/25.
REAL_NODE_NAME="node-2"
REAL_NODE_IP="10.240.0.2"
REAL_POD_CIDR="10.244.0.128/25"
REAL_POD_GATEWAY="10.244.0.129"
KUBECONFIG_ADMIN="$DIR/admin.kubeconfig"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-proxy coredns)

case "$DIR" in
  /?*) ;;
  *) echo "cluster: PODROUTER_CLUSTER_DIR must be an absolute path other than /" >&2; exit 1 ;;
esac

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: ERROR: $*" >&2; exit 1; }

require_root() {
  [[ "$(id -u)" == 0 ]] || die "must run as root (network namespaces, addresses on lo and nftables need it)"
}

netns_exists() { [[ -e "/run/netns/$NETNS" ]]; }
in_netns() { ip netns exec "$NETNS" "$@"; }

pid_of() { cat "$DIR/pids/$1.pid" 2>/dev/null || true; }
alive() {
  local pid
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Starts one component inside the namespace, detached from the caller's process group and
# terminal, output to logs/<name>.log, pid to pids/<name>.pid.
start_component() {
  local name="$1"
  shift
  mkdir -p "$DIR/logs" "$DIR/pids"
  # fd 8 is up.sh's lock: a component holding it would block every later up.sh.
  setsid ip netns exec "$NETNS" "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 8>&- &
  echo $! >"$DIR/pids/$name.pid"
}

# Stops a pid: TERM, then KILL after a grace period (seconds, default 10); returns when it
# is gone.
stop_pid() {
  local pid="$1" grace="${2:-10}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

# stop_component NAME [GRACE-SECONDS]
stop_component() {
  local pid
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && stop_pid "$pid" "${2:-10}"
  rm -f "$DIR/pids/$1.pid"
}

kubectl_admin() { in_netns "$DIR/bin/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

apiserver_ready() { kubectl_admin get --raw /readyz >/dev/null 2>&1; }

wait_for() {
  local what="$1" seconds="$2" i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "timed out after ${seconds}s waiting for $what (logs: $DIR/logs/)"
}

start_apiserver() {
  start_component kube-apiserver "$DIR/bin/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 \
    --secure-port=6443 \
    --advertise-address="$NODE_IP" \
    --authorization-mode=Node,RBAC \
    --client-ca-file="$DIR/pki/ca.crt" \
    --tls-cert-file="$DIR/pki/apiserver.crt" \
    --tls-private-key-file="$DIR/pki/apiserver.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/pki/sa.pub" \
    --service-account-signing-key-file="$DIR/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --allow-privileged=true \
    --kubelet-preferred-address-types=InternalIP \
    --profiling=false
}

wait_apiserver() { wait_for "kube-apiserver /readyz" "${1:-90}" apiserver_ready; }
