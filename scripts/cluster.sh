#!/usr/bin/env bash
# A real, local Kubernetes control plane without Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (which plays the nodes and marks pods
# Running without starting containers), all on 127.0.0.1. The binaries, with kubectl and
# helm, are built from the Go module proxy into a cache outside the repository, keyed by
# version, so only the first build is slow (about 10 minutes on 2 cores).
#
#   scripts/cluster.sh build   build (or find) the pinned binaries; prints their folder
#   scripts/cluster.sh up      start a one-node cluster; prints `export KUBECONFIG=...`
#   scripts/cluster.sh env     print the exports for a running cluster (eval "$(... env)")
#   scripts/cluster.sh down    stop everything `up` started and remove its state
#
# Settings (environment): AGENTFLEET_CACHE (default ~/.cache/agentfleet),
# AGENTFLEET_CLUSTER_DIR (state, certificates, logs; default /tmp/agentfleet-cluster),
# AGENTFLEET_CLUSTER_PORT (kube-apiserver's secure port, default 6443; etcd and the other
# components use the ports just above it).
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)

K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0

cache=${AGENTFLEET_CACHE:-$HOME/.cache/agentfleet}
bin=$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION
state=${AGENTFLEET_CLUSTER_DIR:-/tmp/agentfleet-cluster}
port=${AGENTFLEET_CLUSTER_PORT:-6443}
etcd_port=$((port + 1))
etcd_peer_port=$((port + 2))
kcm_port=$((port + 3))
sched_port=$((port + 4))
kwok_port=$((port + 5))
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

# --- build -------------------------------------------------------------------------------

check_proxy() {
  command -v go >/dev/null 2>&1 || die "Go is needed to build the control plane (go.dev/dl)."
  local proxy
  proxy=$(go env GOPROXY | cut -d, -f1)
  [ "$proxy" = off ] && die "GOPROXY is off: the binaries are built from the Go module proxy."
  case $proxy in direct) return ;; esac
  curl -sf -o /dev/null --max-time 20 "$proxy/k8s.io/kubernetes/@v/$K8S_VERSION.info" \
    || die "cannot reach the Go module proxy at $proxy; it is needed once, to build the
binaries into $bin (set GOPROXY, or copy that folder from a machine that built it)."
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local flags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

helm_ldflags() {
  # Without these, helm believes it talks to Kubernetes v1.20 and refuses charts that
  # require a newer one (our chart's kubeVersion).
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" pkg
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  echo "$flags"
}

build() {
  local missing=() b
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
  if [ ${#missing[@]} = 0 ]; then copy_kwok_files; echo "$bin"; return; fi
  check_proxy
  mkdir -p "$bin"
  export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  local started=$SECONDS
  if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kubectl" ] \
    || [ ! -x "$bin/kube-controller-manager" ] || [ ! -x "$bin/kube-scheduler" ]; then
    log "building Kubernetes $K8S_VERSION (about 6 minutes cold on 2 cores)"
    (cd "$here/cluster/kubernetes" && go build -ldflags "$(k8s_ldflags)" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  fi
  if [ ! -x "$bin/etcd" ]; then
    log "building etcd $ETCD_VERSION"
    (cd "$here/cluster/etcd" && go build -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  fi
  if [ ! -x "$bin/kwok" ]; then
    log "building kwok $KWOK_VERSION"
    GOBIN=$bin go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  fi
  if [ ! -x "$bin/helm" ]; then
    log "building helm $HELM_VERSION"
    GOBIN=$bin go install -ldflags "$(helm_ldflags)" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
  copy_kwok_files
  log "built in $((SECONDS - started)) s"
  echo "$bin"
}

# kwok's stage files (what happens to a node, a pod, a volume claim) and its StorageClass
# come from its module; they are kept beside the binaries so `up` needs no module cache.
copy_kwok_files() {
  [ -s "$bin/kwok-stages.yaml" ] && [ -s "$bin/kwok-storageclass.yaml" ] && return
  local dir stage f
  dir=$(cd "$here/cluster/etcd" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  stage=$dir/kustomize/stage
  [ -d "$stage" ] || die "kwok's stage files not found in the module cache ($stage)"
  : > "$bin/kwok-stages.yaml.tmp"
  for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
    pod/fast/pod-complete pod/fast/pod-delete volume/fast/pv-bind volume/fast/pv-delete \
    volume/fast/pvc-provision volume/fast/pvc-delete; do
    { echo "---"; cat "$stage/$f.yaml"; } >> "$bin/kwok-stages.yaml.tmp"
  done
  mv "$bin/kwok-stages.yaml.tmp" "$bin/kwok-stages.yaml"
  cp "$stage/volume/fast/storage-class.yaml" "$bin/kwok-storageclass.yaml"
}

# --- up / down ---------------------------------------------------------------------------

ca() {  # $1 name, $2 common name
  openssl req -x509 -new -newkey rsa:2048 -nodes -days 365 -subj "/CN=$2" \
    -keyout "$state/pki/$1.key" -out "$state/pki/$1.crt" 2>/dev/null
}

cert() {  # $1 name, $2 subject, $3 signing CA, $4 x509 extensions
  local name=$1 subject=$2 signer=$3 ext=$4
  openssl req -new -newkey rsa:2048 -nodes -keyout "$state/pki/$name.key" \
    -subj "$subject" -out "$state/pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$state/pki/$name.ext"
  openssl x509 -req -in "$state/pki/$name.csr" -CA "$state/pki/$signer.crt" \
    -CAkey "$state/pki/$signer.key" -CAcreateserial -days 365 -sha256 \
    -extfile "$state/pki/$name.ext" -out "$state/pki/$name.crt" 2>/dev/null
}

make_pki() {
  mkdir -p "$state/pki"
  ca ca agentfleet-local-ca
  ca front-proxy-ca agentfleet-local-front-proxy-ca
  local client="basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  cert apiserver /CN=kube-apiserver ca "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=agentfleet-admin" ca "$client"
  cert controller-manager /CN=system:kube-controller-manager ca "$client"
  cert scheduler /CN=system:kube-scheduler ca "$client"
  cert front-proxy-client /CN=front-proxy-client front-proxy-ca "$client"
  openssl genrsa -out "$state/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$state/pki/sa.key" -pubout -out "$state/pki/sa.pub" 2>/dev/null
}

kubeconfig() {  # $1 file, $2 client certificate name
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: agentfleet-local
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $state/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $state/pki/$2.crt
    client-key: $state/pki/$2.key
contexts:
- name: agentfleet-local
  context: {cluster: agentfleet-local, user: $2}
current-context: agentfleet-local
EOF
}

start() {  # $1 name, then its command; logs to $state/logs/<name>.log, pid in $state/pids/
  local name=$1
  shift
  "$@" > "$state/logs/$name.log" 2>&1 &
  echo $! > "$state/pids/$name"
}

wait_for() {  # $1 component, $2 seconds, then a command that succeeds once it is ready
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      local tail_of
      tail_of=$(tail -5 "$state/logs/$what.log" 2>/dev/null)
      stop_all
      die "$what was not ready after ${limit} s; the end of its log: $tail_of"
    fi
    sleep 0.3
  done
}

running() {
  [ -f "$state/pids/kube-apiserver" ] && kill -0 "$(cat "$state/pids/kube-apiserver")" 2>/dev/null
}

up() {
  build > /dev/null
  if running; then
    log "already running (state in $state)"
    env_exports
    return
  fi
  stop_all
  rm -rf "$state"
  mkdir -p "$state/logs" "$state/pids" "$state/etcd"
  # Whatever fails from here on, leave nothing running behind.
  trap 'log "start failed; stopping what was started (logs in $state/logs)"; stop_all' ERR
  local started=$SECONDS
  make_pki
  kubeconfig "$state/admin.kubeconfig" admin
  kubeconfig "$state/controller-manager.kubeconfig" controller-manager
  kubeconfig "$state/scheduler.kubeconfig" scheduler
  local pki=$state/pki kc=$state/admin.kubeconfig

  start etcd "$bin/etcd" --data-dir "$state/etcd" --name local \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" \
    --quota-backend-bytes 8589934592 --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  # --endpoint-reconciler-type none: the default reconciler would log every 10 s that a
  # loopback advertise address "may not be in the loopback range".
  # shellcheck disable=SC2086
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --authorization-mode Node,RBAC \
    --service-cluster-ip-range 10.0.0.0/16 \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" \
    --proxy-client-key-file "$pki/front-proxy-client.key" \
    ${AGENTFLEET_APISERVER_FLAGS:-}
  wait_for kube-apiserver 90 "$bin/kubectl" --kubeconfig "$kc" get --raw /readyz

  # Each controller acts as its own ServiceAccount (as in kubeadm clusters): the
  # system:kube-controller-manager identity alone may not create ReplicaSets or Pods.
  # Client rates of the controllers: their defaults (20/s, burst 30) throttle them long
  # before the API server is busy; benchmarks raise them to measure the control plane.
  local rates="--kube-api-qps ${AGENTFLEET_CONTROLLER_QPS:-20} --kube-api-burst ${AGENTFLEET_CONTROLLER_BURST:-30}"
  # shellcheck disable=SC2086
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$state/controller-manager.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port "$kcm_port" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials \
    $rates
  # shellcheck disable=SC2086
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$state/scheduler.kubeconfig" \
    --authentication-kubeconfig "$state/scheduler.kubeconfig" \
    --authorization-kubeconfig "$state/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port "$sched_port" $rates
  start kwok "$bin/kwok" --kubeconfig "$kc" -c "$bin/kwok-stages.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-lease-duration-seconds 40 --cidr 10.1.0.0/16 \
    --server-address "127.0.0.1:$kwok_port"

  "$bin/kubectl" --kubeconfig "$kc" apply -f "$bin/kwok-storageclass.yaml" >/dev/null
  local nodes=${AGENTFLEET_CLUSTER_NODES:-1} i
  for ((i = 0; i < nodes; i++)); do
    "$bin/kubectl" --kubeconfig "$kc" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, type: kwok}
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "1000"}
  capacity: {cpu: "64", memory: 256Gi, pods: "1000"}
EOF
  done
  wait_for kube-controller-manager 60 \
    "$bin/kubectl" --kubeconfig "$kc" -n default get serviceaccount default
  wait_for kwok 60 sh -c "'$bin/kubectl' --kubeconfig '$kc' get nodes \
    -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
  trap - ERR
  log "up in $((SECONDS - started)) s; logs in $state/logs"
  env_exports
}

env_exports() {
  [ -f "$state/admin.kubeconfig" ] \
    || die "no cluster is running (state in $state); start one with: scripts/cluster.sh up"
  echo "export KUBECONFIG=$state/admin.kubeconfig"
  echo "export PATH=$bin:\$PATH"
}

stop_all() {
  local name f pid deadline
  # Nodes and controllers first, the store last.
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f=$state/pids/$name
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f=$state/pids/$name
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

down() {
  stop_all
  rm -rf "$state"
  log "stopped"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  env) env_exports ;;
  down) down ;;
  *) die "usage: scripts/cluster.sh build|up|env|down" ;;
esac
