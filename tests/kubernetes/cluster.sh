# cluster.sh - a real one-node Kubernetes (v1.20, from tests/kubernetes/build-k8s.sh) inside a
# network namespace, for the kubernetes tests. Source it after tests/netns/lib.sh, from a
# script that runs in a private mount namespace (k8s_reexec_private does that):
#
#   k8s_reexec_private "$@"       re-run the calling script under `unshare -m` (once)
#   k8s_private_netns_dir         after lib.sh: /run/netns private to the test too
#   k8s_up HOST                   start etcd, kube-apiserver, kube-controller-manager,
#                                 kube-scheduler, containerd (CRI) and kubelet in HOST's
#                                 namespace; returns when the node is Ready
#   k8s_proxy                     after k8s_up: kube-proxy (iptables mode) in HOST's namespace,
#                                 so ClusterIP Services work, for pods and for the host network;
#                                 returns when its first rules are in
#   kc ARGS...                    kubectl as cluster admin
#   k8s_import_oci FILE REF       load scripts/image.sh's OCI archive into the node's containerd
#   k8s_node_reboot               what a node reboot does to the node: kill -9 of the kubelet,
#                                 containerd, its shims and every container; the pods' network
#                                 namespaces, the node's links but ul0, its nftables ruleset and
#                                 policy rules, containerd's state, the kubelet's volume mounts
#                                 and /run/keymesh gone; containerd and the kubelet started again
#                                 (disks kept: etcd, containerd's root, /var/lib/kubelet and
#                                 /var/lib/keymesh)
#   k8s_down                      delete pods (so the CNI plugin sees DEL), stop what k8s_up
#                                 started by PID, kill what is left in the pods' cgroups and
#                                 remove those cgroups
#
# Layout: everything listens on the node's own addresses inside its namespace: the underlay
# address 198.18.0.1 on ul0 (a veth pair kept inside the namespace) (the node's InternalIP; kubelet v1.20 refuses a loopback
# node IP) and 127.0.0.1. Nothing listens outside the namespace. State is under $K8S_DIR
# (default $KM_TMP/k8s). The mount namespace is private, and in it /opt/cni/bin,
# /etc/cni/net.d, /var/lib/keymesh, /run/keymesh, /var/lib/kubelet and /var/log/pods are
# bind mounts of directories under $K8S_DIR: the shipped DaemonSet's hostPath volumes then
# land in the test's scratch space, not on the machine.
#
# Machine facts this handles (Debian 12, no systemd, cgroup v1 hybrid, no CAP_SYS_RESOURCE):
# cgroupfs everywhere; the sysctls the kubelet changes machine-wide restored; kubelet oomScoreAdj 0 and maxOpenFiles under the hard limit;
# containerd restrict_oom_score_adj; processes started with nsenter --net (not
# `ip netns exec`, which remounts /sys and hides the cgroup hierarchies runc needs).

K8S_VERSION=v1.20.2
K8S_BIN=${KEYMESH_K8S_BIN:-${KEYMESH_K8S_CACHE:-/var/cache/keymesh}/k8s-$K8S_VERSION/bin}
K8S_NODE_IP=198.18.0.1
K8S_NODE=km-node-1
K8S_CLUSTER_CIDR=100.64.0.0/16      # the controller-manager gives each Node a /24 of it
K8S_SVC_CIDR=198.18.250.0/24
K8S_PAUSE=localhost/keymesh-pause:latest
K8S_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

k8s_reexec_private() {
  if [[ ${KM_K8S_PRIVATE_MNT:-} != 1 ]]; then
    KM_K8S_PRIVATE_MNT=1 exec unshare -m --propagation private bash "$0" "$@"
  fi
}

# After lib.sh, before make_host: /run/netns becomes a scratch directory too. The files that
# name network namespaces (ours and the pods' that containerd makes) live on /run's tmpfs,
# which this mount namespace shares with the machine; without this they would stay behind
# there as empty files.
k8s_private_netns_dir() {
  mkdir -p "$KM_TMP/run-netns"
  mount --bind "$KM_TMP/run-netns" /run/netns || fail "bind mount over /run/netns"
}

k8s_have_proxy() { [[ -x $K8S_BIN/kube-proxy ]]; }

k8s_have_binaries() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [[ -x $K8S_BIN/$b ]] || return 1
  done
}

# kubectl as cluster admin, from inside the node's namespace (the API server listens there).
k8s_kubectl() { echo "nsenter --net=/run/netns/$(nsname "$K8S_HOST") $K8S_BIN/kubectl --kubeconfig $K8S_DIR/admin.kubeconfig"; }
kc() { timeout 60 $(k8s_kubectl) "$@"; }

k8s_spawn() {  # k8s_spawn NAME CMD... : CMD in the node's namespace, logs in $K8S_DIR/logs
  local name=$1
  shift
  nsenter --net="/run/netns/$(nsname "$K8S_HOST")" "$@" >"$K8S_DIR/logs/$name.log" 2>&1 </dev/null &
  record_pid $! "$name" "$K8S_DIR/logs/$name.log"
  K8S_PIDS+=("$!")
  K8S_PID_OF[$name]=$!
}

# ------------------------------------------------------------------ PKI (openssl, P-256)
k8s_cert() {  # k8s_cert NAME SUBJECT serverAuth|clientAuth [SANS]
  local p=$K8S_DIR/pki n=$1 subj=$2 use=$3 san=${4:-}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p/$n.key" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$use"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$p/$n.ext"
  openssl req -new -key "$p/$n.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 2 -sha256 \
      -extfile "$p/$n.ext" -out "$p/$n.crt" 2>/dev/null || fail "openssl: certificate $n"
}
k8s_kubeconfig() {  # k8s_kubeconfig FILE CERTNAME
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters: [{name: km, cluster: {server: "https://$K8S_NODE_IP:6443", certificate-authority: "$K8S_DIR/pki/ca.crt"}}]
users: [{name: u, user: {client-certificate: "$K8S_DIR/pki/$2.crt", client-key: "$K8S_DIR/pki/$2.key"}}]
contexts: [{name: c, context: {cluster: km, user: u}}]
current-context: c
KC
}
k8s_pki() {
  local p=$K8S_DIR/pki
  mkdir -p "$p" && chmod 700 "$p"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=keymesh-test-k8s-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -days 2 -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null || fail "openssl: cluster CA"
  k8s_cert apiserver /CN=kube-apiserver serverAuth \
    "IP:$K8S_NODE_IP,IP:127.0.0.1,IP:${K8S_SVC_CIDR%.*}.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  k8s_cert apiserver-kubelet /O=system:masters/CN=kube-apiserver-kubelet-client clientAuth
  k8s_cert admin /O=system:masters/CN=admin clientAuth
  k8s_cert kubelet "/O=system:nodes/CN=system:node:$K8S_NODE" clientAuth
  k8s_cert kubelet-serving "/CN=$K8S_NODE" serverAuth "IP:$K8S_NODE_IP,IP:127.0.0.1"
  k8s_cert kcm /CN=system:kube-controller-manager clientAuth
  k8s_cert scheduler /CN=system:kube-scheduler clientAuth
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$p/sa.key" 2>/dev/null
  openssl pkey -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  k8s_kubeconfig "$K8S_DIR/admin.kubeconfig" admin
  k8s_kubeconfig "$K8S_DIR/kubelet.kubeconfig" kubelet
  k8s_kubeconfig "$K8S_DIR/kcm.kubeconfig" kcm
  k8s_kubeconfig "$K8S_DIR/scheduler.kubeconfig" scheduler
}

# ------------------------------------------------------------------ host paths, privately
k8s_bind_host_paths() {
  local d
  for d in /opt/cni/bin /etc/cni/net.d /var/lib/keymesh /run/keymesh /var/lib/kubelet /var/log/pods /var/log/containers; do
    mkdir -p "$K8S_DIR/host$d"
    if [[ ! -d $d ]]; then mkdir -p "$d" && K8S_CREATED_DIRS+=("$d"); fi
    mount --bind "$K8S_DIR/host$d" "$d" || fail "bind mount over $d"
  done
  # The runtime's standard plugins (portmap, loopback, ...) beside the one the DaemonSet installs.
  for d in /usr/lib/cni/*; do ln -sf "$d" "$K8S_DIR/host/opt/cni/bin/"; done
}

k8s_containerd() {
  local c=$K8S_DIR/containerd
  bash "$KM_REPO/tests/runtimes/containerd-cri.sh" conf "$c" || fail "containerd-cri.sh conf"
  # The kubelet's runtime reads CNI where a cluster's does, so the DaemonSet installs there.
  sed -i -e "s|bin_dir = .*|bin_dir = \"/opt/cni/bin\"|" -e "s|conf_dir = .*|conf_dir = \"/etc/cni/net.d\"|" \
    "$c/config.toml"
  k8s_spawn containerd containerd --config "$c/config.toml"
  wait_for "ctr --address $c/containerd.sock version" 30 0.3 || fail "containerd did not start"
  bash "$KM_REPO/tests/runtimes/containerd-cri.sh" images "$c/containerd.sock" >"$K8S_DIR/logs/images.log" 2>&1 ||
    fail "busybox/pause images: $(tail -5 "$K8S_DIR/logs/images.log")"
}
k8s_import_oci() {  # k8s_import_oci FILE REF : scripts/image.sh's archive -> docker.io/library/REF
  # ctr names an OCI archive's image after its index annotation only when that is a bare tag;
  # image.sh writes "keymesh:<version>" (for podman), so the import gives a digest name and
  # the tag the kubelet asks for is added here.
  local sock=$K8S_DIR/containerd/containerd.sock digest
  timeout 120 ctr --address "$sock" -n k8s.io images import --base-name docker.io/library/keymesh --digests "$1" \
    >"$K8S_DIR/logs/import.log" 2>&1 || fail "ctr images import $1: $(tail -3 "$K8S_DIR/logs/import.log")"
  digest=$(sed -n 's/^unpacking \(docker.io[^ ]*@sha256:[0-9a-f]*\) .*/\1/p' "$K8S_DIR/logs/import.log" | head -1)
  [[ -n $digest ]] || fail "ctr images import printed no image: $(cat "$K8S_DIR/logs/import.log")"
  timeout 30 ctr --address "$sock" -n k8s.io images tag --force "$digest" "docker.io/library/$2" >/dev/null ||
    fail "ctr images tag $digest docker.io/library/$2"
}

k8s_kubelet() {
  mkdir -p "$K8S_DIR/kubelet-plugins"
  echo "nameserver 127.0.0.1" >"$K8S_DIR/resolv.conf"
  cat >"$K8S_DIR/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $K8S_NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $K8S_DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $K8S_DIR/pki/kubelet-serving.key
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $K8S_DIR/pki/ca.crt}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
oomScoreAdj: 0
maxOpenFiles: 8192
resolvConf: $K8S_DIR/resolv.conf
clusterDomain: cluster.local
volumePluginDir: $K8S_DIR/kubelet-plugins
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
syncFrequency: 10s
KL
  # oomScoreAdj 0 / maxOpenFiles: no CAP_SYS_RESOURCE here (no negative oom_score_adj, no
  # rlimit above the hard limit). syncFrequency 10 s: ConfigMap edits reach pods sooner.
  k8s_spawn kubelet "$K8S_BIN/kubelet" --config="$K8S_DIR/kubelet.yaml" \
    --kubeconfig="$K8S_DIR/kubelet.kubeconfig" --container-runtime=remote \
    --container-runtime-endpoint="unix://$K8S_DIR/containerd/containerd.sock" \
    --pod-infra-container-image="$K8S_PAUSE" --hostname-override="$K8S_NODE" \
    --node-ip="$K8S_NODE_IP" --v=1
}

# conntrack sizes and timeouts 0: kube-proxy leaves them as they are (nf_conntrack_max is
# machine-wide). clusterCIDR: traffic from pods to Services is not masqueraded, so keymesh
# sees the pod's own address.
k8s_proxy() {
  k8s_cert kube-proxy /CN=system:kube-proxy clientAuth
  k8s_kubeconfig "$K8S_DIR/kube-proxy.kubeconfig" kube-proxy
  cat >"$K8S_DIR/kube-proxy.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $K8S_DIR/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $K8S_CLUSTER_CIDR
hostnameOverride: $K8S_NODE
bindAddress: $K8S_NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
KP
  # A node has a route (its default one) towards Service addresses, which kube-proxy's OUTPUT
  # rules then rewrite; this namespace has none.
  ip -n "$(nsname "$K8S_HOST")" route add "$K8S_SVC_CIDR" dev ul0 src "$K8S_NODE_IP"
  k8s_spawn kube-proxy "$K8S_BIN/kube-proxy" --config="$K8S_DIR/kube-proxy.yaml" --v=1
  wait_for "nsenter --net=/run/netns/$(nsname "$K8S_HOST") iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q default/kubernetes" 60 0.5 ||
    fail "kube-proxy made no rules for the kubernetes Service within 60 s: $(tail -5 "$K8S_DIR/logs/kube-proxy.log")"
}

# Machine-wide sysctls the kubelet sets at start (it does so even with protectKernelDefaults
# off): saved before, put back by k8s_down.
K8S_SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"
declare -gA K8S_SYSCTL_SAVED=()
declare -gA K8S_PID_OF=()

k8s_up() {  # k8s_up HOST
  K8S_HOST=$1
  K8S_DIR=${K8S_DIR:-$KM_TMP/k8s}
  K8S_PIDS=()
  K8S_CREATED_DIRS=()
  mkdir -p "$K8S_DIR/logs"
  k8s_have_binaries || fail "no Kubernetes binaries in $K8S_BIN (bash tests/kubernetes/build-k8s.sh)"
  # No dummy driver in this kernel: a veth pair whose both ends stay in the namespace.
  ip -n "$(nsname "$K8S_HOST")" link add ul0 type veth peer name ul0-peer
  ip -n "$(nsname "$K8S_HOST")" link set ul0-peer up
  ip -n "$(nsname "$K8S_HOST")" addr add "$K8S_NODE_IP/24" dev ul0
  ip -n "$(nsname "$K8S_HOST")" link set ul0 up
  local s
  for s in $K8S_SYSCTLS; do K8S_SYSCTL_SAVED[$s]=$(cat "/proc/sys/$s"); done
  k8s_bind_host_paths
  k8s_pki
  local t0=$EPOCHREALTIME p=$K8S_DIR/pki
  k8s_spawn etcd etcd --name km --data-dir "$K8S_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster km=http://127.0.0.1:2380
  k8s_spawn kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$K8S_NODE_IP" --advertise-address="$K8S_NODE_IP" --secure-port=6443 --insecure-port=0 \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --kubelet-client-certificate="$p/apiserver-kubelet.crt" --kubelet-client-key="$p/apiserver-kubelet.key" \
    --kubelet-certificate-authority="$p/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-signing-key-file="$p/sa.key" --service-account-key-file="$p/sa.pub" \
    --service-cluster-ip-range="$K8S_SVC_CIDR" --authorization-mode=Node,RBAC --allow-privileged=true \
    --profiling=false --v=1
  wait_for "kc get --raw /readyz" 90 0.5 || fail "kube-apiserver not ready within 90 s"
  # --allocate-node-cidrs: each Node gets spec.podCIDR, which its node CA is constrained to.
  k8s_spawn kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$K8S_DIR/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --port=0 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
    --allocate-node-cidrs=true --cluster-cidr="$K8S_CLUSTER_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$K8S_SVC_CIDR" --v=1
  k8s_spawn kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig="$K8S_DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --port=0 --leader-elect=false --v=1
  k8s_containerd
  k8s_kubelet
  wait_for "[[ \$(kc get node $K8S_NODE -o 'jsonpath={.spec.podCIDR}') == 100.64.* ]]" 120 0.5 ||
    fail "node $K8S_NODE not registered with a pod CIDR within 120 s"
  log "k8s: node $K8S_NODE registered ($(kc get node "$K8S_NODE" -o 'jsonpath={.spec.podCIDR}')) after $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
}

# The processes of the node's containers: they live in the kubepods cgroups this kubelet made
# (one kubelet per machine here: the tests run serially), and containerd's shims outlive it by
# design (they re-parent to init): ours are the ones that name this run's socket.
k8s_kill_containers() {
  local cg pid
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] || continue
    for pid in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $K8S_DIR/containerd/containerd.sock" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
}

k8s_node_reboot() {
  local ns pid m l pref
  ns=$(nsname "$K8S_HOST")
  for pid in "${K8S_PID_OF[kubelet]}" "${K8S_PID_OF[containerd]}"; do kill -KILL "$pid" 2>/dev/null; done
  k8s_kill_containers
  for pid in "${K8S_PID_OF[kubelet]}" "${K8S_PID_OF[containerd]}"; do
    for ((m = 0; m < 50; m++)); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && fail "reboot: PID $pid survived kill -9"
  done
  sleep 0.5
  # tmpfs and mounts do not survive a reboot: sandbox shm, container rootfs, secret volumes,
  # the pods' network namespaces.
  for m in $(awk '{print $2}' /proc/self/mounts | grep -E "^($K8S_DIR/containerd/state/|/var/lib/kubelet/pods/|/run/netns/cni-)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  rm -rf "${K8S_DIR:?}/containerd/state" /run/netns/cni-* /run/keymesh/*
  mkdir -p "$K8S_DIR/containerd/state"
  for l in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
    # A host veth also goes by itself once its pod's namespace is gone: a failed del is fine.
    [[ $l == lo || $l == ul0 || $l == ul0-peer ]] || ip -n "$ns" link del "$l" 2>/dev/null || true
  done
  nsenter --net="/run/netns/$ns" nft flush ruleset || true
  for pref in $(ip -n "$ns" rule show | awk -F: '$1 != 0 && $1 != 32766 && $1 != 32767 {print $1}'); do
    ip -n "$ns" rule del pref "$pref" 2>/dev/null || true
  done
  ip -n "$ns" route flush table 7300 2>/dev/null || true
  k8s_spawn containerd containerd --config "$K8S_DIR/containerd/config.toml"
  wait_for "ctr --address $K8S_DIR/containerd/containerd.sock version" 30 0.3 || fail "reboot: containerd did not start"
  k8s_kubelet
}

k8s_down() {
  [[ -n ${K8S_DIR:-} && -d ${K8S_DIR:-/nonexistent} ]] || return 0
  # Runs from the EXIT trap: every step is best effort, and lib.sh's cleanup must still follow.
  set +e
  local i pid cg m
  if [[ ${#K8S_PIDS[@]} -gt 0 ]] && pid_alive "${K8S_PIDS[-1]}"; then
    kc delete pods --all --all-namespaces --grace-period=1 --wait=true --timeout=40s >/dev/null 2>&1 || true
  fi
  # Newest first (kubelet before containerd before the API server before etcd). Not
  # lib.sh's stop_pid: its `wait` has been seen to block for good on a daemon bash had
  # already reaped here; these PIDs are taken off lib.sh's list instead.
  for ((i = ${#K8S_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${K8S_PIDS[i]}
    pid_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null
    for ((m = 0; m < 100; m++)); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  local keep=() k
  for k in "${KM_PIDS[@]}"; do [[ " ${K8S_PIDS[*]} " == *" $k "* ]] || keep+=("$k"); done
  KM_PIDS=("${keep[@]}")
  # Containers of pods not deleted in time.
  k8s_kill_containers
  sleep 0.3
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for m in $(awk '{print $2}' /proc/self/mounts | grep "^$K8S_DIR/" | sort -r); do umount -l "$m" 2>/dev/null; done
  # The pods' namespaces containerd pinned under /run/netns (our scratch copy of it).
  for m in /run/netns/cni-*; do
    [[ -e $m ]] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    rm -f "$m"
  done
  # The kubelet bind-mounts its root onto itself (to make it rshared): unmount until bare.
  for m in /var/log/containers /var/log/pods /var/lib/kubelet /run/keymesh /var/lib/keymesh /etc/cni/net.d /opt/cni/bin; do
    for i in 1 2 3 4; do mountpoint -q "$m" || break; umount -l "$m" 2>/dev/null; done
  done
  for m in "${K8S_CREATED_DIRS[@]}"; do rmdir "$m" 2>/dev/null; done
  for m in "${!K8S_SYSCTL_SAVED[@]}"; do
    [[ $(cat "/proc/sys/$m") == "${K8S_SYSCTL_SAVED[$m]}" ]] || echo "${K8S_SYSCTL_SAVED[$m]}" >"/proc/sys/$m"
  done
  return 0
}
