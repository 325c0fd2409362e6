#!/usr/bin/env bash
# A real node in the test cluster, for the suites that run images (`up.sh --real-node`):
# containerd (Debian) and a kubelet built with the other Kubernetes binaries (build.sh
# --real-node), both in the cluster's network namespace, Pods on a bridge CNI network, a pause
# image built here, and kube-scheduler so that Deployments' Pods get a node. The fake node
# (node-1) is tainted NoSchedule meanwhile: the fake kubelet binds its Pods itself.
#
#   real-node.sh up        start it (the cluster must be up); idempotent
#   real-node.sh healthy   exit 0 when containerd, kubelet and scheduler run and the Node is Ready
#   real-node.sh import TAR...   load image archives (docker-archive/OCI) into its containerd
#   real-node.sh down      remove it: Pods, processes, shims, mounts, CNI namespaces, cgroups,
#                          /var/log/containers links, and the kernel settings the kubelet
#                          changed; safe when nothing (or half of it) is there. down.sh runs it.
#
# Facts it rests on (seen on this machine kind, Debian 12, cgroup v1 hybrid, root without
# CAP_SYS_RESOURCE): see README.md, "A real node".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

RN="$DIR/real-node"
SOCK="$RN/containerd/containerd.sock"
CGROUP_ROOT="/$NETNS"
PAUSE_IMAGE="localhost/podrouter-pause:r1"
PAUSE_TAR="${PODROUTER_CACHE_DIR:-$HOME/.cache/podrouter}/real-node/pause-r1.tar"
# Kernel settings the kubelet sets at start (protectKernelDefaults off); down puts them back.
KUBELET_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }
# The cluster's network namespace but the host's mount namespace: `ip netns exec` would give
# containerd and the kubelet mount namespaces of their own, and the kubelet's volume mounts
# would not be seen by the containers containerd starts.
start_in_net() { # NAME CMD...
  local name="$1"
  shift
  mkdir -p "$DIR/logs" "$DIR/pids"
  setsid nsenter --net="/run/netns/$NETNS" "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 8>&- 9>&- &
  echo $! >"$DIR/pids/$name.pid"
}

node_ready() {
  [[ "$(kubectl_admin get node "$REAL_NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

healthy() {
  netns_exists && alive containerd && alive kubelet && alive kube-scheduler && node_ready
}

require_tools() {
  local missing=() t
  for t in containerd ctr runc nsenter openssl; do command -v "$t" >/dev/null || missing+=("$t"); done
  for t in bridge host-local loopback portmap; do [[ -x "/usr/lib/cni/$t" ]] || missing+=("cni:$t"); done
  [[ -s "$PAUSE_TAR" ]] || for t in go buildah; do command -v "$t" >/dev/null || missing+=("$t"); done
  ((${#missing[@]} == 0)) ||
    die "the real node needs ${missing[*]} (Debian: apt-get install containerd runc containernetworking-plugins buildah; Go for the pause image)"
  [[ -x "$DIR/bin/kubelet" && -x "$DIR/bin/kube-scheduler" ]] || die "no kubelet/kube-scheduler in $DIR/bin: run build.sh --real-node"
}

# The sandbox image: no registry is reachable, so it is built from pause/main.go.
pause_tar() {
  [[ -s "$PAUSE_TAR" ]] && return 0
  local work c
  work="$(mktemp -d)"
  log "building the pause image $PAUSE_IMAGE ..."
  (cd "$CLUSTER_SCRIPTS/pause" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/pause" .)
  c="$(buildah from scratch)"
  buildah copy -q "$c" "$work/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit -q "$c" "$PAUSE_IMAGE" >/dev/null
  buildah rm "$c" >/dev/null
  mkdir -p "$(dirname "$PAUSE_TAR")"
  buildah push -q "$PAUSE_IMAGE" "docker-archive:$PAUSE_TAR.tmp:$PAUSE_IMAGE" >/dev/null
  buildah rmi "$PAUSE_IMAGE" >/dev/null
  mv "$PAUSE_TAR.tmp" "$PAUSE_TAR"
  rm -rf "$work"
}

import_images() {
  local tar
  for tar in "$@"; do
    [[ -s "$tar" ]] || die "no image archive at $tar"
    ctr_ images import "$tar" >/dev/null || die "ctr could not import $tar"
  done
}

start_containerd() {
  mkdir -p "$RN/containerd" "$RN/cni/net.d" "$RN/cni/ipam"
  [[ -d /run/containerd ]] || touch "$RN/created-run-containerd"
  cat >"$RN/containerd/config.toml" <<EOT
version = 2
root = "$RN/containerd/root"
state = "$RN/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which root lacks here (sandboxes ask -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RN/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RN/cni/net.d"
EOT
  # The node's Pods get a bridge in the cluster namespace and addresses from part of the Pod
  # range (test/cluster keeps 10.244.0.0/24 for its own Pods and uses only .2 of it).
  cat >"$RN/cni/net.d/10-podrouter.conflist" <<EOT
{
  "cniVersion": "1.0.0",
  "name": "podrouter-$NETNS",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$RN/cni/ipam",
              "ranges": [[{"subnet": "$REAL_POD_CIDR", "gateway": "$REAL_POD_GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOT
  start_in_net containerd containerd --config "$RN/containerd/config.toml"
  wait_for "containerd" 30 ctr_ version
  alive containerd || die "containerd exited; see $DIR/logs/containerd.log"
}

start_kubelet() {
  local k="$RN/kubelet" pki="$DIR/pki" s d
  mkdir -p "$k/pki" "$k/root" "$k/pod-logs"
  # Recorded once: a second `up` after a crash must not take the kubelet's values for the
  # machine's.
  if [[ ! -f "$RN/sysctl-before" ]]; then
    for s in "${KUBELET_SYSCTLS[@]}"; do echo "$s $(cat "/proc/sys/$s")"; done >"$RN/sysctl-before"
  fi
  [[ -d /var/log/containers || -f "$RN/created-var-log-containers" ]] || touch "$RN/created-var-log-containers"
  # Pod cgroups under a root of this cluster's own (kubepods inside it), so two clusters'
  # kubelets never share one; cpuset children need the parent's cpus and mems.
  for d in /sys/fs/cgroup/*/; do
    [[ -d "$d" && "$d" != */unified/ ]] || continue
    mkdir -p "$d${CGROUP_ROOT#/}"
    if [[ -f "$d/cpuset.cpus" ]]; then
      cat "$d/cpuset.cpus" >"$d${CGROUP_ROOT#/}/cpuset.cpus"
      cat "$d/cpuset.mems" >"$d${CGROUP_ROOT#/}/cpuset.mems"
    fi
  done
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$k/pki/client.key" 2>/dev/null
  openssl req -new -key "$k/pki/client.key" -subj "/O=system:nodes/CN=system:node:$REAL_NODE_NAME" \
    -out "$k/pki/client.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$k/pki/client.ext"
  openssl x509 -req -in "$k/pki/client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$k/pki/client.ext" -out "$k/pki/client.crt" 2>/dev/null
  cat >"$k/kubeconfig" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: podrouter-test
  cluster: {server: "$APISERVER_URL", certificate-authority: "$pki/ca.crt"}
users:
- name: $REAL_NODE_NAME
  user: {client-certificate: "$k/pki/client.crt", client-key: "$k/pki/client.key"}
contexts:
- name: podrouter-test
  context: {cluster: podrouter-test, user: $REAL_NODE_NAME}
current-context: podrouter-test
EOT
  chmod 600 "$k/kubeconfig"
  # Pods resolve through clusterDNS; the node's own resolv.conf only adds nothing.
  printf 'nameserver %s\n' "$DNS_SERVICE_IP" >"$k/resolv.conf"
  cat >"$k/config.yaml" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 (hybrid) here, and swap is not our concern.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
containerRuntimeEndpoint: unix://$SOCK
address: $REAL_NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: AlwaysAllow}
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $k/resolv.conf
podLogsDir: $k/pod-logs
# The disk is shared with everything else on the machine: never evict or collect images.
evictionHard: {}
imageGCHighThresholdPercent: 100
EOT
  in_netns ip addr replace "$REAL_NODE_IP/32" dev lo
  start_in_net kubelet "$DIR/bin/kubelet" --config="$k/config.yaml" --kubeconfig="$k/kubeconfig" \
    --root-dir="$k/root" --cert-dir="$k/pki" --hostname-override="$REAL_NODE_NAME" \
    --node-ip="$REAL_NODE_IP" --v=1
  wait_for "Node $REAL_NODE_NAME Ready (kubelet)" 90 node_ready
  # The kubelet registers the Node with this taint and the node lifecycle controller lifts it
  # once Ready; that controller is off here (it would fail the fake node-1, which sends no
  # heartbeats).
  kubectl_admin taint node "$REAL_NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
}

start_scheduler() {
  local pki="$DIR/pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/scheduler.key" 2>/dev/null
  openssl req -new -key "$pki/scheduler.key" -subj "/CN=system:kube-scheduler" -out "$pki/scheduler.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$pki/scheduler.ext"
  openssl x509 -req -in "$pki/scheduler.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$pki/scheduler.ext" -out "$pki/scheduler.crt" 2>/dev/null
  cat >"$DIR/scheduler.kubeconfig" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: podrouter-test
  cluster: {server: "$APISERVER_URL", certificate-authority: "$pki/ca.crt"}
users:
- name: system:kube-scheduler
  user: {client-certificate: "$pki/scheduler.crt", client-key: "$pki/scheduler.key"}
contexts:
- name: podrouter-test
  context: {cluster: podrouter-test, user: system:kube-scheduler}
current-context: podrouter-test
EOT
  chmod 600 "$DIR/scheduler.kubeconfig"
  # Only the real node takes scheduled Pods; the fake kubelet binds its own (nodeName).
  kubectl_admin taint node "$NODE_NAME" podrouter.dev/fake-kubelet=true:NoSchedule --overwrite >/dev/null
  start_component kube-scheduler "$DIR/bin/kube-scheduler" \
    --kubeconfig="$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 \
    --leader-elect=false
  wait_for "kube-scheduler /healthz" 60 in_netns curl -skf https://127.0.0.1:10259/healthz
}

up() {
  require_tools
  netns_exists && apiserver_ready || die "the cluster is not up (run up.sh --real-node)"
  if healthy; then return 0; fi
  pause_tar
  down >/dev/null 2>&1 || true
  trap 'echo "real-node: start failed; removing what was started" >&2; down >/dev/null 2>&1 || true' ERR
  mkdir -p "$RN"
  # Pods on the bridge reach Services whose endpoints sit on the same bridge: the bridged
  # answer must pass kube-proxy's conntrack to be un-NATed (per namespace on this kernel).
  in_netns sh -c 'echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables && echo 1 >/proc/sys/net/ipv4/ip_forward'
  start_containerd
  import_images "$PAUSE_TAR"
  start_kubelet
  start_scheduler
  trap - ERR
  log "real node $REAL_NODE_NAME ($REAL_NODE_IP) Ready: containerd $SOCK, Pods $REAL_POD_CIDR on bridge cni0"
}

down() {
  local pid f d s v i id
  stop_component kube-scheduler 5
  # Pods first, while the kubelet can still stop them properly (sandbox network teardown).
  if alive kubelet && apiserver_ready; then
    kubectl_admin delete pods --all-namespaces --field-selector "spec.nodeName=$REAL_NODE_NAME" \
      --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    for ((i = 0; i < 150; i++)); do
      [[ -z "$(ctr_ tasks ls -q 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
  stop_component kubelet 10
  if alive containerd; then
    for pid in $(ctr_ tasks ls -q 2>/dev/null); do
      ctr_ tasks kill --all --signal SIGKILL "$pid" >/dev/null 2>&1 || true
    done
    for ((i = 0; i < 50; i++)); do
      [[ -z "$(ctr_ tasks ls -q 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
  # The Pods' network namespaces (the kubelet removes them when it stops a Pod; these are
  # the ones it could not), read from the sandboxes' specs.
  if alive containerd; then
    for id in $(ctr_ containers ls -q 2>/dev/null); do
      ctr_ containers info "$id" 2>/dev/null | sed -n 's#^ *"path": "/var/run/netns/\(cni-[0-9a-f-]*\)".*#\1#p'
    done >>"$RN/netns-left" || true
  fi
  stop_component containerd 10
  # Sandboxes' network namespaces named in the OCI bundles left behind (containerd died).
  sed -n 's#.*"path": *"/var/run/netns/\(cni-[0-9a-f-]*\)".*#\1#p' \
    "$RN"/containerd/state/io.containerd.runtime.v2.task/*/*/config.json 2>/dev/null >>"$RN/netns-left" || true
  # Whatever is left of containers and their shims when containerd could not stop them.
  for f in "$RN"/containerd/state/io.containerd.runtime.v2.task/*/*/init.pid \
    "$RN"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [[ -f "$f" ]] && stop_pid "$(cat "$f")" 2
  done
  findmnt -rn -o TARGET | grep -F "$RN/" | sort -r | while read -r d; do umount -l "$d" || true; done
  if [[ -f "$RN/netns-left" ]]; then
    sort -u "$RN/netns-left" | while read -r d; do ip netns delete "$d" 2>/dev/null || true; done
  fi
  if [[ -f "$RN/sysctl-before" ]]; then
    while read -r s v; do echo "$v" >"/proc/sys/$s"; done <"$RN/sysctl-before"
    rm -f "$RN/sysctl-before"
  fi
  for d in /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"; do
    [[ -d "$d" ]] && { find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
  done
  if [[ -d /var/log/containers ]]; then
    find /var/log/containers -maxdepth 1 -lname "$RN/*" -delete
    [[ -f "$RN/created-var-log-containers" ]] && { rmdir /var/log/containers 2>/dev/null || true; }
  fi
  [[ -f "$RN/created-run-containerd" ]] && rm -rf /run/containerd
  if netns_exists && [[ -n "$(kubectl_admin get node "$NODE_NAME" -o name 2>/dev/null)" ]]; then
    kubectl_admin taint node "$NODE_NAME" podrouter.dev/fake-kubelet- >/dev/null 2>&1 || true
    kubectl_admin delete node "$REAL_NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  if findmnt -rn -o TARGET | grep -qF "$RN/"; then
    die "mounts are left under $RN; not removing it"
  fi
  rm -rf "$RN"
  true
}

case "${1:-}" in
  up) up ;;
  healthy) healthy ;;
  import)
    shift
    alive containerd || die "the real node is not running"
    import_images "$@"
    ;;
  down) down ;;
  *)
    echo "usage: real-node.sh up|healthy|import TAR...|down" >&2
    exit 2
    ;;
esac
