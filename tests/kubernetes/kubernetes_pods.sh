#!/usr/bin/env bash
# kubernetes_pods.sh - keymesh installed in a real Kubernetes the way a user installs it, and
# pods that kubectl creates attached, identified, granted, refused and released by it.
#
#   ns km-kubernetes_pods-<pid>-node  (ul0 198.18.0.1/24, veth pair inside it; lo)
#     etcd, kube-apiserver, kube-controller-manager, kube-scheduler  (v1.20.2, build-k8s.sh)
#     containerd 1.6 (CRI) + kubelet: node km-node-1, spec.podCIDR 100.64.0.0/24
#     DaemonSet keymesh (hostNetwork): keymeshd, km0; keymesh-cni in /opt/cni/bin
#       pod default/web     100.64.0.x  busybox httpd :8080
#       pod default/client  100.64.0.y  granted by the shipped policy (same namespace)
#       pod other/intruder  100.64.0.z  not granted
#
# Install, as docs/kubernetes.md says: the image from scripts/image.sh imported into
# containerd (no registry); the root CA made with `keymesh ca init`; deploy/kubernetes/ with its
# one per-cluster value (trust.yaml's root.crt) filled in, `kubectl apply -f`; the node's own
# node CA signed by deploy/kubernetes/keymesh-sign-node.sh for the Node's spec.podCIDR.
#
# Scenarios:
#  1. The DaemonSet pod waits in its node-ca init container until the node CA is signed, then
#     keymeshd becomes Ready; the node CA is constrained to the Node's podCIDR and "<host>/*".
#  2. kubectl apply of three busybox pods: all Running with addresses from the node's podCIDR,
#     and keymeshd lists "<host>/<namespace>.<pod>" identities with those addresses.
#  3. client -> web (granted): `kubectl exec client -- nc` gets web's file, byte for byte.
#  4. intruder -> web (not granted): nothing comes back, and keymeshd's audit (kubectl logs) has a
#     packet_denied line naming the intruder.
#  5. kubectl delete pod web: its identity is gone from keymeshd within 90 s (the kubelet's
#     sandbox cleanup), the other pods' stay.
# Skips (77) when the Kubernetes build is absent and the cache cannot be filled.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/cluster.sh"
k8s_reexec_private "$@"
KM_DEADLINE=${KM_DEADLINE:-420}
source "$HERE/../netns/lib.sh"
if ! k8s_have_binaries; then
  echo "SKIP: no Kubernetes $K8S_VERSION build in $K8S_BIN; run 'bash tests/kubernetes/build-k8s.sh' (CI does)" >&2
  exit 77
fi
need jq nsenter containerd runc ctr openssl etcd umoci unshare
KM=$(binary keymesh) || fail "keymesh is not built"
binary keymeshd >/dev/null && binary cni/keymesh-cni >/dev/null || fail "keymeshd/keymesh-cni are not built"
NS=keymesh-system

k8s_private_netns_dir
make_host node 198.18.0.1
trap 'rc=$?; k8s_down; (exit $rc); cleanup' EXIT
k8s_up node

# ------------------------------------------------------------------ install keymesh
t0=$EPOCHREALTIME
bash "$KM_REPO/scripts/image.sh" --build-dir "$KM_BUILD_DIR" --out "$KM_TMP/keymesh.oci.tar" >"$KM_TMP/image.log" 2>&1 ||
  fail "scripts/image.sh: $(tail -3 "$KM_TMP/image.log")"
REF=$(sed -n 's/.*: \(keymesh:[^ ]*\) .*/\1/p' "$KM_TMP/image.log")
[[ -n $REF ]] || fail "image.sh printed no image name: $(cat "$KM_TMP/image.log")"
k8s_import_oci "$KM_TMP/keymesh.oci.tar" "$REF"
log "image $REF imported into the node's containerd"

"$KM" ca init --name cluster-root --out "$KM_TMP/root.crt" --key-out "$KM_TMP/root.key" >/dev/null || fail "ca init"
M=$KM_TMP/manifests
cp -r "$KM_REPO/deploy/kubernetes" "$M"
# The documented per-cluster values: trust.yaml's root.crt; the image name when ours differs.
awk -v f="$KM_TMP/root.crt" '/REPLACE with the contents of root.crt/ { while ((getline l < f) > 0) print "    " l; next } { print }' \
  "$M/trust.yaml" >"$M/trust.yaml.new" && mv "$M/trust.yaml.new" "$M/trust.yaml"
[[ $REF == keymesh:0.1.0 ]] || sed -i "s|image: keymesh:0.1.0|image: $REF|" "$M/daemonset.yaml"
kc apply -f "$M/" >"$KM_TMP/apply.log" 2>&1 || fail "kubectl apply -f deploy/kubernetes/: $(cat "$KM_TMP/apply.log")"

# ------------------------------------------------------------------ 1. per-node node CA
kmpod() { kc -n "$NS" get pods -l app.kubernetes.io/name=keymesh -o 'jsonpath={.items[0].metadata.name}'; }
wait_for "kc -n $NS exec \$(kmpod) -c node-ca -- test -s /var/lib/keymesh/ca/request.crt" 120 1 ||
  fail "1. no node CA request from the keymesh pod: $(kc -n "$NS" describe pods 2>&1 | tail -30)"
POD=$(kmpod)
[[ $(kc -n "$NS" get pod "$POD" -o 'jsonpath={.status.phase}') == Pending ]] ||
  fail "1. the keymesh pod runs before its node CA is signed"
KUBECTL="$(k8s_kubectl)" \
  bash "$KM_REPO/deploy/kubernetes/keymesh-sign-node.sh" --root-crt "$KM_TMP/root.crt" --root-key "$KM_TMP/root.key" \
  --keymesh "$KM" "$K8S_NODE" >"$KM_TMP/sign.log" 2>&1 || fail "1. keymesh-sign-node.sh: $(cat "$KM_TMP/sign.log")"
kc -n "$NS" wait --for=condition=Ready "pod/$POD" --timeout=120s >/dev/null 2>&1 ||
  fail "1. keymeshd not Ready: $(kc -n "$NS" describe pod "$POD" | tail -25; kc -n "$NS" logs "$POD" -c keymeshd --tail=20)"
CIDR=$(kc get node "$K8S_NODE" -o 'jsonpath={.spec.podCIDR}')
HOSTNAME_=$(hostname)
ca=$(kc -n "$NS" exec "$POD" -c keymeshd -- keymesh cert show /var/lib/keymesh/ca/node-ca.crt --json)
[[ $(jq -r '.constraints.allowed_networks | join(",")' <<<"$ca") == "$CIDR" ]] || fail "1. node CA networks: $ca"
[[ $(jq -r .constraints.name_pattern <<<"$ca") == "$HOSTNAME_/*" ]] || fail "1. node CA name pattern: $ca"
log "1. $(cat "$KM_TMP/sign.log"); keymeshd Ready after $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"

# ------------------------------------------------------------------ 2. pods
TOKEN=keymesh-k8s-$RANDOM$RANDOM
# The namespace first: pods are admitted only once its "default" service account (and its
# token) exist, which the controller-manager makes a moment later.
kc create namespace other >/dev/null || fail "2. kubectl create namespace other"
wait_for "kc -n other get sa default -o jsonpath='{.secrets[0].name}' | grep -q ." 30 0.5 ||
  fail "2. no service account other/default"
wait_for "kc -n default get sa default -o jsonpath='{.secrets[0].name}' | grep -q ." 30 0.5 ||
  fail "2. no service account default/default"
cat >"$KM_TMP/pods.yaml" <<Y
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: localhost/busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo $TOKEN > /www/hello.txt && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:latest, imagePullPolicy: Never, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: intruder, namespace: other}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:latest, imagePullPolicy: Never, command: ["sleep", "3600"]}]
Y
t0=$EPOCHREALTIME
kc apply -f "$KM_TMP/pods.yaml" >/dev/null || fail "2. kubectl apply of the pods"
for p in default/web default/client other/intruder; do
  kc -n "${p%/*}" wait --for=condition=Ready "pod/${p#*/}" --timeout=90s >/dev/null 2>&1 ||
    fail "2. $p not Ready: $(kc -n "${p%/*}" describe pod "${p#*/}" | tail -15)"
done
log "2. pods Running after $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
ids() { kc -n "$NS" exec "$POD" -c keymeshd -- keymesh identity list --json; }
declare -A IP
for p in default/web default/client other/intruder; do
  IP[$p]=$(kc -n "${p%/*}" get pod "${p#*/}" -o 'jsonpath={.status.podIP}')
  [[ ${IP[$p]%.*} == "${CIDR%.*/*}" ]] || fail "2. $p has address '${IP[$p]}', not from $CIDR"
  name="$HOSTNAME_/${p%/*}.${p#*/}"
  got=$(ids | jq -r --arg n "$name" '.identities[]? | select(.name == $n) | .networks[0]')
  [[ $got == "${IP[$p]}/32" ]] || fail "2. keymeshd lists $name with '$got', want ${IP[$p]}/32: $(ids)"
done
log "2. identities: web ${IP[default/web]}, client ${IP[default/client]}, intruder ${IP[other/intruder]}"

# ------------------------------------------------------------------ 3. granted
# busybox's nc, not its wget: the static wget of Debian 12's busybox crashes (SIGSEGV).
fetch() {  # fetch NAMESPACE POD : GET web's file over HTTP/1.0; the body on stdout
  kc -n "$1" exec "$2" -- sh -c "printf 'GET /hello.txt HTTP/1.0\r\n\r\n' | nc -w 5 ${IP[default/web]} 8080" 2>&1 |
    tr -d '\r' | sed '1,/^$/d'
}
got=$(fetch default client) || true
[[ $got == "$TOKEN" ]] || fail "3. client -> web: got '$got', want '$TOKEN'"
log "3. client -> web tcp/8080: file delivered"

# ------------------------------------------------------------------ 4. refused
got=$(fetch other intruder) || true
[[ -z $got ]] || fail "4. intruder reached web: '$got'"
wait_for "kc -n $NS logs $POD -c keymeshd | grep packet_denied | grep -q 'other.intruder'" 10 0.5 ||
  fail "4. no packet_denied audit line for the intruder: $(kc -n "$NS" logs "$POD" -c keymeshd --tail=15)"
log "4. intruder -> web refused; audit: $(kc -n "$NS" logs "$POD" -c keymeshd | grep packet_denied | grep other.intruder | head -1 | cut -c1-200)"

# ------------------------------------------------------------------ 5. released
# The identity ends when the kubelet stops the sandbox (CNI DEL), before the API object goes;
# the kubelet takes 5-50 s to get there (v1.20's pod cleanup), longer on a busy machine.
t0=$EPOCHREALTIME
kc delete pod web --wait=false >/dev/null || fail "5. kubectl delete pod web"
wait_for "! ids | jq -e --arg n '$HOSTNAME_/default.web' '.identities[]? | select(.name == \$n)' >/dev/null" 90 0.5 ||
  fail "5. identity $HOSTNAME_/default.web still listed 90 s after kubectl delete pod web"
ids | jq -e --arg n "$HOSTNAME_/default.client" '.identities[]? | select(.name == $n)' >/dev/null ||
  fail "5. client's identity went too"
log "5. pod web deleted: identity ended after $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s, client's kept"
