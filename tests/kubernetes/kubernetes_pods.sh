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
# Install (install.sh), as docs/kubernetes.md says: the image from scripts/image.sh imported into
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
# Identity from the API server (config.yaml's kubernetes:, the only per-cluster value besides
# the root: api_server, as the node has no kube-proxy):
#  6. web's certificate carries what the API server says: SPIFFE ID
#     spiffe://cluster.local/ns/default/sa/default, its label app=web, group sa-default.default;
#     other/payer (service account payments) has spiffe://cluster.local/ns/other/sa/payments.
#  7. Policy by service account: payer reaches web (rule "payments-to-web": serviceAccount
#     other/payments -> app=web); intruder (service account default) still does not.
#  8. Policy by pod label: `kubectl label pod intruder role=probe` grants it (rule
#     "probes-to-web") within about a second (measured: label -> re-issued certificate ->
#     first byte through); `kubectl label pod intruder role-` takes it away again.
#  9. A namespace label (kubectl label namespace other team=blue) reaches the certificates of
#     its pods as k8s:ns:team=blue.
# 10. The node CA bounds the labels (--labels): a pod labelled forbidden=yes is refused at
#     CNI ADD, and the pod's events name the constraint.
# 11. kubectl delete --force of payer: the watch's DELETED ends its identity (keymeshd's log
#     says so), before the kubelet's DEL.
# Skips (77) when the Kubernetes build is absent and the cache cannot be filled.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/cluster.sh"
k8s_reexec_private "$@"
KM_DEADLINE=${KM_DEADLINE:-420}
source "$HERE/../netns/lib.sh"
source "$HERE/install.sh"
km_require

k8s_private_netns_dir
make_host node 198.18.0.1
trap 'rc=$?; k8s_down; (exit $rc); cleanup' EXIT
k8s_up node

# ------------------------------------------------------------------ install keymesh
t0=$EPOCHREALTIME
km_install_image
# The operator's own rules, beside the shipped ones (policy.yaml is theirs to write).
km_install_apply '      - name: payments-to-web
        from: { serviceAccount: other/payments }
        to: { labels: { app: web } }
        allow: [tcp/8080]
      - name: probes-to-web
        from: { labels: { role: probe } }
        to: { labels: { app: web } }
        allow: [tcp/8080]
'

# ------------------------------------------------------------------ 1. per-node node CA
KM_INSTALL_STEP="1. "
km_install_wait_request
[[ $(kc -n "$NS" get pod "$POD" -o 'jsonpath={.status.phase}') == Pending ]] ||
  fail "1. the keymesh pod runs before its node CA is signed"
km_install_sign 'k8s:*,k8s.*,app,role'
km_install_wait_ready
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
kc -n other create serviceaccount payments >/dev/null || fail "2. kubectl create serviceaccount payments"
wait_for "kc -n other get sa payments -o jsonpath='{.secrets[0].name}' | grep -q ." 30 0.5 ||
  fail "2. no token for service account other/payments"
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
---
apiVersion: v1
kind: Pod
metadata: {name: payer, namespace: other}
spec:
  serviceAccountName: payments
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:latest, imagePullPolicy: Never, command: ["sleep", "3600"]}]
Y
t0=$EPOCHREALTIME
kc apply -f "$KM_TMP/pods.yaml" >/dev/null || fail "2. kubectl apply of the pods"
for p in default/web default/client other/intruder other/payer; do
  kc -n "${p%/*}" wait --for=condition=Ready "pod/${p#*/}" --timeout=90s >/dev/null 2>&1 ||
    fail "2. $p not Ready: $(kc -n "${p%/*}" describe pod "${p#*/}" | tail -15)"
done
log "2. pods Running after $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
ids() { kc -n "$NS" exec "$POD" -c keymeshd -- keymesh identity list --json; }
declare -A IP
for p in default/web default/client other/intruder other/payer; do
  IP[$p]=$(kc -n "${p%/*}" get pod "${p#*/}" -o 'jsonpath={.status.podIP}')
  [[ ${IP[$p]%.*} == "${CIDR%.*/*}" ]] || fail "2. $p has address '${IP[$p]}', not from $CIDR"
  name="$HOSTNAME_/${p%/*}.${p#*/}"
  got=$(ids | jq -r --arg n "$name" '.identities[]? | select(.name == $n) | .networks[0]')
  [[ $got == "${IP[$p]}/32" ]] || fail "2. keymeshd lists $name with '$got', want ${IP[$p]}/32: $(ids)"
done
log "2. identities: web ${IP[default/web]}, client ${IP[default/client]}, intruder ${IP[other/intruder]}"

# ------------------------------------------------------------------ 3. granted
fetch() { km_fetch "$1" "$2" "${IP[default/web]}" 8080; }  # fetch NAMESPACE POD : web's file
got=$(fetch default client) || true
[[ $got == "$TOKEN" ]] || fail "3. client -> web: got '$got', want '$TOKEN'"
log "3. client -> web tcp/8080: file delivered"

# ------------------------------------------------------------------ 4. refused
got=$(fetch other intruder) || true
[[ -z $got ]] || fail "4. intruder reached web: '$got'"
wait_for "kc -n $NS logs $POD -c keymeshd | grep packet_denied | grep -q 'other.intruder'" 10 0.5 ||
  fail "4. no packet_denied audit line for the intruder: $(kc -n "$NS" logs "$POD" -c keymeshd --tail=15)"
log "4. intruder -> web refused; audit: $(kc -n "$NS" logs "$POD" -c keymeshd | grep packet_denied | grep other.intruder | head -1 | cut -c1-200)"

# ------------------------------------------------------------------ 6. identity from the API
idof() {  # idof NAMESPACE.POD : keymeshd's identity of that pod (JSON)
  ids | jq -c --arg n "$HOSTNAME_/$1" '.identities[]? | select(.name == $n)'
}
web=$(idof default.web)
[[ $(jq -r '.labels["k8s:spiffe"]' <<<"$web") == spiffe://cluster.local/ns/default/sa/default ]] ||
  fail "6. web's certificate has no SPIFFE ID from the API server: $web"
[[ $(jq -r '.labels.app' <<<"$web") == web ]] || fail "6. web's certificate lacks its pod label app=web: $web"
jq -e '.groups | index("sa-default.default")' <<<"$web" >/dev/null || fail "6. web's groups: $web"
payer=$(idof other.payer)
[[ $(jq -r '.labels["k8s:spiffe"]' <<<"$payer") == spiffe://cluster.local/ns/other/sa/payments ]] ||
  fail "6. payer's SPIFFE ID: $payer"
log "6. web: $(jq -r '.labels["k8s:spiffe"]' <<<"$web"), app=web; payer: $(jq -r '.labels["k8s:spiffe"]' <<<"$payer")"

# ------------------------------------------------------------------ 7. by service account
got=$(fetch other payer) || true
[[ $got == "$TOKEN" ]] || fail "7. payer (service account payments) -> web: got '$got', want '$TOKEN'"
got=$(fetch other intruder) || true
[[ -z $got ]] || fail "7. intruder (service account default) reached web: '$got'"
log "7. payer (sa other/payments) -> web granted, intruder (sa default) refused"

# ------------------------------------------------------------------ 8. by pod label, live
# How long from `kubectl label` to keymeshd's re-issued certificate (its log), and to the
# first fetch that gets through (each try is one kubectl exec, itself ~0.2-0.5 s).
reissued() { { kc -n "$NS" logs "$POD" -c keymeshd | grep -c "pod other/intruder: labels changed, identity .* re-issued"; } || true; }
flip() {  # flip WANT LABEL-ARGS... : label intruder, wait until fetch gives WANT ('' or the token)
  local want=$1 before t0 t1 got=x
  shift
  before=$(reissued)
  t0=$EPOCHREALTIME
  kc -n other label pod intruder "$@" --overwrite >/dev/null || fail "8. kubectl label pod intruder $*"
  wait_for "(( \$(reissued) > $before ))" 10 0.05 || fail "8. no re-issued certificate for intruder 10 s after kubectl label $*"
  t1=$EPOCHREALTIME
  for _ in $(seq 1 40); do
    got=$(kc -n other exec intruder -- sh -c "printf 'GET /hello.txt HTTP/1.0\r\n\r\n' | nc -w 1 ${IP[default/web]} 8080" 2>&1 |
      tr -d '\r' | sed '1,/^$/d') || true
    [[ $got == "$want" ]] && break
  done
  [[ $got == "$want" ]] || fail "8. intruder after kubectl label $*: got '$got', want '${want:-nothing}'"
  FLIP="re-issued $(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.2f", a-b}') s, traffic as expected $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.2f", a-b}') s after kubectl label"
}
flip "$TOKEN" role=probe
log "8. kubectl label pod intruder role=probe: granted; $FLIP"
[[ $(idof other.intruder | jq -r .labels.role) == probe ]] || fail "8. intruder's certificate lacks role=probe: $(idof other.intruder)"
flip "" role-
log "8. kubectl label pod intruder role-: refused again; $FLIP"

# ------------------------------------------------------------------ 9. namespace labels
kc label namespace other team=blue >/dev/null || fail "9. kubectl label namespace other team=blue"
wait_for "[[ \$(idof other.payer | jq -r '.labels[\"k8s:ns:team\"]') == blue ]]" 10 0.2 ||
  fail "9. payer's certificate lacks k8s:ns:team=blue: $(idof other.payer)"
log "9. kubectl label namespace other team=blue: payer's certificate has k8s:ns:team=blue"

# ------------------------------------------------------------------ 10. bounded by the node CA
kc apply -f - >/dev/null <<Y || fail "10. kubectl apply of pod stray"
apiVersion: v1
kind: Pod
metadata: {name: stray, namespace: default, labels: {forbidden: "yes"}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:latest, imagePullPolicy: Never, command: ["sleep", "3600"]}]
Y
wait_for "kc -n default get events --field-selector involvedObject.name=stray -o json | jq -r '.items[].message' | grep -q 'label forbidden=yes not allowed by CA'" 60 1 ||
  fail "10. no refusal naming the node CA's label constraint for pod stray: $(kc -n default get events --field-selector involvedObject.name=stray -o json | jq -r '.items[].message' | tail -3)"
[[ $(kc -n default get pod stray -o 'jsonpath={.status.phase}') == Pending ]] || fail "10. pod stray runs"
log "10. pod stray (forbidden=yes) refused: $(kc -n default get events --field-selector involvedObject.name=stray -o json | jq -r '.items[].message' | grep -o 'label forbidden=yes not allowed by CA[^)]*)' | head -1)"
kc -n default delete pod stray --wait=false >/dev/null 2>&1 || true

# ------------------------------------------------------------------ 11. deleted in the API
t0=$EPOCHREALTIME
kc -n other delete pod payer --grace-period=0 --force >/dev/null 2>&1 || fail "11. kubectl delete --force pod payer"
wait_for "[[ -z \$(idof other.payer) ]]" 20 0.1 || fail "11. payer's identity still listed 20 s after kubectl delete --force"
log "11. kubectl delete --force pod payer: identity ended after $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.2f", a-b}') s"
kc -n "$NS" logs "$POD" -c keymeshd | grep -q "pod other/payer was deleted in the API server: identity .* ended" ||
  fail "11. keymeshd did not end payer's identity from the watch: $(kc -n "$NS" logs "$POD" -c keymeshd | grep payer | tail -5)"

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
