#!/usr/bin/env bash
# Starts the kubelet-less test cluster inside network namespace $PODROUTER_NETNS
# (default podrouter-test); state under $PODROUTER_CLUSTER_DIR (default
# /tmp/podrouter-cluster). Idempotent: a healthy cluster is left as it is; anything left by
# a run that died is removed first. Returns once the API server is ready, the default
# ServiceAccount exists and DNS answers inside the namespace. See README.md.
# `up.sh --real-node` (or PODROUTER_REAL_NODE=1) also starts a real node that runs images
# (real-node.sh), on a new or an already healthy cluster.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
build_args=()
for arg in "$@"; do
  case "$arg" in
    --real-node) build_args=(--real-node) ;;
    *) die "usage: up.sh [--real-node]" ;;
  esac
done
[[ "${PODROUTER_REAL_NODE:-}" != 1 ]] || build_args=(--real-node)
start=$SECONDS
# Test files run in parallel processes and may all call up.sh: one at a time, the rest then
# find the cluster healthy. The lock lives outside $DIR, which down.sh removes.
exec 8>"/run/lock/podrouter-cluster-$NETNS.lock"
flock 8

healthy() {
  netns_exists || return 1
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  apiserver_ready && in_netns getent hosts kubernetes.default >/dev/null 2>&1
}

report() {
  cat <<EOT
cluster: up in $1s: netns $NETNS, node $NODE_NAME ($NODE_IP), Pods $POD_CIDR, Services $SERVICE_CIDR, DNS $DNS_SERVICE_IP
cluster: admin kubeconfig $KUBECONFIG_ADMIN (server $APISERVER_URL, reachable only inside the namespace)
cluster: e.g. ip netns exec $NETNS $DIR/bin/kubectl --kubeconfig $KUBECONFIG_ADMIN get pods -A
export KUBECONFIG=$KUBECONFIG_ADMIN PODROUTER_NETNS=$NETNS PODROUTER_CLUSTER_DIR=$DIR
EOT
}

if healthy; then
  if ((${#build_args[@]} > 0)); then
    bash "$CLUSTER_SCRIPTS/build.sh" "${build_args[@]}" >/dev/null
    bash "$CLUSTER_SCRIPTS/real-node.sh" up
  fi
  report "$((SECONDS - start))"
  exit 0
fi

command -v nft >/dev/null && command -v conntrack >/dev/null || {
  log "installing nftables and conntrack (kube-proxy needs them)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables conntrack >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables conntrack >/dev/null
  }
}
command -v openssl >/dev/null || die "openssl is needed for the cluster's certificates"

bin="$(bash "$CLUSTER_SCRIPTS/build.sh" "${build_args[@]}")"
bash "$CLUSTER_SCRIPTS/down.sh" >/dev/null 2>&1
mkdir -p "$DIR/pki" "$DIR/logs" "$DIR/pids" "$DIR/etcd"
chmod 700 "$DIR"
ln -sfn "$bin" "$DIR/bin"

# --- network: everything on lo; no route leaves the namespace.
ip netns add "$NETNS"
in_netns ip link set lo up
in_netns ip addr add "$NODE_IP/32" dev lo
in_netns ip addr add "$COREDNS_POD_IP/32" dev lo
in_netns ip route add "$SERVICE_CIDR" dev lo src "$NODE_IP"
mkdir -p "/etc/netns/$NETNS"
cat >"/etc/netns/$NETNS/resolv.conf" <<EOT
nameserver $DNS_SERVICE_IP
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5
EOT

# --- certificates: one CA for serving and client certs; service-account keys.
pki="$DIR/pki"
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ec_key "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=podrouter-test-ca" -days 3650 -out "$pki/ca.crt" 2>/dev/null
# issue NAME SUBJECT [SAN]
issue() {
  local ext="$pki/$1.ext"
  ec_key "$pki/$1.key"
  openssl req -new -key "$pki/$1.key" -subj "$2" -out "$pki/$1.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "${3:-}" ]] && echo "subjectAltName=$3"
  } >"$ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$pki/$1.crt" 2>/dev/null
  rm -f "$pki/$1.csr" "$ext"
}
issue apiserver "/CN=kube-apiserver" \
  "IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
issue admin "/O=system:masters/CN=podrouter-admin"
issue controller-manager "/CN=system:kube-controller-manager"
issue kube-proxy "/CN=system:kube-proxy"
issue coredns "/CN=podrouter:coredns"
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# kubeconfig FILE USER CERT-NAME: a self-contained kubeconfig with a client certificate.
kubeconfig() {
  cat >"$1" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: podrouter-test
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$pki/$3.crt")
    client-key-data: $(base64 -w0 "$pki/$3.key")
contexts:
- name: podrouter-test
  context:
    cluster: podrouter-test
    user: $2
current-context: podrouter-test
EOT
  chmod 600 "$1"
}
kubeconfig "$KUBECONFIG_ADMIN" admin admin
kubeconfig "$DIR/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
kubeconfig "$DIR/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
kubeconfig "$DIR/coredns.kubeconfig" podrouter:coredns coredns

# --- control plane.
start_component etcd "$DIR/bin/etcd" \
  --name=default \
  --data-dir="$DIR/etcd" \
  --listen-client-urls=http://127.0.0.1:2379 \
  --advertise-client-urls=http://127.0.0.1:2379 \
  --listen-peer-urls=http://127.0.0.1:2380 \
  --initial-advertise-peer-urls=http://127.0.0.1:2380 \
  --initial-cluster=default=http://127.0.0.1:2380 \
  --listen-metrics-urls=http://127.0.0.1:2381 \
  --unsafe-no-fsync
start_apiserver
wait_apiserver 120

start_component kube-controller-manager "$DIR/bin/kube-controller-manager" \
  --kubeconfig="$DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 \
  --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle'

# --- the Node (status is only writable through the status subresource).
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kubectl_admin apply -f - >/dev/null <<EOT
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  labels:
    kubernetes.io/hostname: $NODE_NAME
    kubernetes.io/os: linux
spec:
  podCIDR: $POD_CIDR
  podCIDRs: ["$POD_CIDR"]
EOT
kubectl_admin patch node "$NODE_NAME" --subresource=status --type=merge -p "$(cat <<EOT
{"status":{
  "addresses":[{"type":"InternalIP","address":"$NODE_IP"},{"type":"Hostname","address":"$NODE_NAME"}],
  "capacity":{"cpu":"2","memory":"24Gi","pods":"110000"},
  "allocatable":{"cpu":"2","memory":"24Gi","pods":"110000"},
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"played by test/cluster","lastHeartbeatTime":"$now","lastTransitionTime":"$now"}]
}}
EOT
)" >/dev/null

start_component kube-proxy "$DIR/bin/kube-proxy" \
  --kubeconfig="$DIR/kube-proxy.kubeconfig" \
  --proxy-mode=nftables \
  --conntrack-max-per-core=0 \
  --hostname-override="$NODE_NAME" \
  --cluster-cidr="$POD_CIDR" \
  --metrics-bind-address=127.0.0.1:10249 \
  --healthz-bind-address=127.0.0.1:10256

# --- DNS: CoreDNS on a Pod IP, behind Service kube-dns with a hand-made EndpointSlice.
kubectl_admin apply -f - >/dev/null <<EOT
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: podrouter:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: podrouter:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: podrouter:coredns
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: podrouter:coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-coredns
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: podrouter-test-cluster
addressType: IPv4
endpoints:
- addresses: ["$COREDNS_POD_IP"]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: $NODE_NAME
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOT
cat >"$DIR/Corefile" <<EOT
.:53 {
    bind $COREDNS_POD_IP
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $DIR/coredns.kubeconfig podrouter-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
EOT
start_component coredns "$DIR/bin/coredns" -conf "$DIR/Corefile"

wait_for "ServiceAccount default/default" 60 kubectl_admin -n default get serviceaccount default
wait_for "DNS (kubernetes.default) inside the namespace" 60 in_netns getent hosts kubernetes.default
for c in "${COMPONENTS[@]}"; do alive "$c" || die "$c exited; see $DIR/logs/$c.log"; done
((${#build_args[@]} == 0)) || bash "$CLUSTER_SCRIPTS/real-node.sh" up
report "$((SECONDS - start))"
