#!/usr/bin/env bash
# kubernetes_services.sh - ClusterIP Services through keymesh under a real kubelet and kube-proxy
# (iptables mode), with keymesh's policy and NetworkPolicy applied to the backend pods
# (issue 17, section 4).
#
#   ns km-kubernetes_services-<pid>-node: the one-node cluster of cluster.sh plus kube-proxy
#   (k8s_proxy); keymesh installed as shipped (install.sh) with config.yaml's api_server left
#   out: keymeshd reaches the API server through the "kubernetes" Service, as in a cluster
#   with kube-proxy
#     pod shop/web-1, shop/web-2   busybox httpd :8080, each serving its own name
#     service shop/web             ClusterIP, port 80 -> 8080, selector app=web
#     pod other/client             label role=client: granted by the operator's rule
#     pod other/intruder           not granted
#
# Scenarios:
#  1. keymeshd, its API address left to the in-cluster default, is Ready and names the pods
#     with the service accounts the API server reports (its watch came through the Service).
#  2. client -> the Service's ClusterIP, port 80: answers come from both web-1 and web-2
#     (kube-proxy's DNAT, then the overlay between the pods' identities).
#  3. intruder -> the ClusterIP: nothing comes back, and keymeshd's audit has a packet_denied
#     line from other.intruder to one of the web pods.
#  4. NetworkPolicy on the backends: a default-deny ingress policy in shop stops client's
#     fetches through the Service; a policy allowing tcp/8080 from pods role=client in
#     namespaces team=other lets them through again (both backends answer).
# Skips (77) when the Kubernetes build (with kube-proxy) is absent.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/cluster.sh"
k8s_reexec_private "$@"
KM_DEADLINE=${KM_DEADLINE:-420}
source "$HERE/../netns/lib.sh"
source "$HERE/install.sh"
km_require iptables
if ! k8s_have_proxy; then
  echo "SKIP: no kube-proxy in $K8S_BIN; run 'bash tests/kubernetes/build-k8s.sh' (CI does)" >&2
  exit 77
fi

k8s_private_netns_dir
make_host node 198.18.0.1
trap 'rc=$?; k8s_down; (exit $rc); cleanup' EXIT
k8s_up node
k8s_proxy
log "kube-proxy: rules for the kubernetes Service in place"
KM_IN_CLUSTER_API=1 km_install 'k8s:*,k8s.*,app,role' '      - name: clients-to-web
        from: { labels: { role: client } }
        to: { labels: { app: web } }
        allow: [tcp/8080]
'
HOSTNAME_=$(hostname)

# ------------------------------------------------------------------ 1. the API through its Service
grep -q "api_server" "$M/configmap.yaml" && ! grep -q "^ *api_server:" "$M/configmap.yaml" ||
  fail "1. the installed config names an api_server"
kc -n "$NS" logs "$POD" -c keymeshd | grep -q "kubernetes: watching the pods of node $K8S_NODE.* at https://${K8S_SVC_CIDR%.*}.1:443" ||
  fail "1. keymeshd does not watch through the kubernetes Service: $(kc -n "$NS" logs "$POD" -c keymeshd | grep kubernetes: | head -3)"
log "1. keymeshd watches the API server at https://${K8S_SVC_CIDR%.*}.1:443 (the kubernetes Service)"

for ns in shop other; do kc create namespace "$ns" >/dev/null || fail "kubectl create namespace $ns"; done
kc label namespace other team=other >/dev/null || fail "kubectl label namespace other"
for ns in shop other; do
  wait_for "kc -n $ns get sa default -o jsonpath='{.secrets[0].name}' | grep -q ." 30 0.5 || fail "no service account $ns/default"
done
TOKEN=keymesh-svc-$RANDOM$RANDOM
pod() {  # pod NAMESPACE NAME LABELS COMMAND
  cat <<Y
---
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: $3}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:latest, imagePullPolicy: Never, command: ["sh", "-c", "$4"]}]
Y
}
{
  for w in web-1 web-2; do
    pod shop "$w" '{app: web}' "mkdir -p /www && echo $w $TOKEN > /www/hello.txt && exec httpd -f -p 8080 -h /www"
  done
  pod other client '{role: client}' "exec sleep 3600"
  pod other intruder '{role: other}' "exec sleep 3600"
  cat <<Y
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
Y
} >"$KM_TMP/apps.yaml"
kc apply -f "$KM_TMP/apps.yaml" >/dev/null || fail "kubectl apply of the pods and the Service"
for p in shop/web-1 shop/web-2 other/client other/intruder; do
  kc -n "${p%/*}" wait --for=condition=Ready "pod/${p#*/}" --timeout=90s >/dev/null 2>&1 ||
    fail "$p not Ready: $(kc -n "${p%/*}" describe pod "${p#*/}" | tail -4); keymeshd: $(kc -n "$NS" logs "$POD" -c keymeshd | grep -i kube | tail -12)"
done
VIP=$(kc -n shop get service web -o 'jsonpath={.spec.clusterIP}')
[[ $VIP == "${K8S_SVC_CIDR%.*}".* ]] || fail "service shop/web has ClusterIP '$VIP'"
wait_for "[[ \$(kc -n shop get endpoints web -o 'jsonpath={.subsets[0].addresses[*].ip}' | wc -w) == 2 ]]" 30 0.5 ||
  fail "service shop/web has not two endpoints: $(kc -n shop get endpoints web -o wide)"
wait_for "on node iptables -t nat -S KUBE-SERVICES | grep -q 'shop/web cluster IP'" 30 0.5 ||
  fail "kube-proxy made no rule for shop/web: $(on node iptables -t nat -S KUBE-SERVICES | head)"
ids=$(kc -n "$NS" exec "$POD" -c keymeshd -- keymesh identity list --json)
for p in shop.web-1 shop.web-2 other.client other.intruder; do
  jq -e --arg n "$HOSTNAME_/$p" '.identities[]? | select(.name == $n) | .labels["k8s:spiffe"] | startswith("spiffe://cluster.local/ns/")' \
    <<<"$ids" >/dev/null || fail "1. keymeshd has no API-server identity for $p: $ids"
done
log "1. pods web-1 $(kc -n shop get pod web-1 -o 'jsonpath={.status.podIP}'), web-2 $(kc -n shop get pod web-2 -o 'jsonpath={.status.podIP}') behind shop/web at $VIP:80; identities carry their SPIFFE IDs"

fetch() { km_fetch "$1" "$2" "$VIP" 80 2; }  # fetch NAMESPACE POD : the Service's file ("web-N TOKEN")
both_backends() {  # both_backends NAMESPACE POD : up to 20 fetches until web-1 and web-2 both answered
  local seen="" i got
  for ((i = 0; i < 20; i++)); do
    got=$(fetch "$1" "$2") || true
    [[ $got == "web-"[12]" $TOKEN" ]] || { echo "fetch $((i + 1)): '${got:0:80}'"; return 1; }
    [[ $seen == *"${got%% *}"* ]] || seen="$seen ${got%% *}"
    [[ $seen == *web-1* && $seen == *web-2* ]] && { echo "$((i + 1)) fetches"; return 0; }
  done
  echo "only$seen in 20 fetches"
  return 1
}

# ------------------------------------------------------------------ 2. granted, through the Service
r=$(both_backends other client) || fail "2. client -> $VIP:80: $r"
log "2. client -> shop/web ($VIP:80): both backends answered ($r)"

# ------------------------------------------------------------------ 3. refused, through the Service
got=$(fetch other intruder) || true
[[ -z $got ]] || fail "3. intruder reached shop/web through its ClusterIP: '$got'"
wait_for "kc -n $NS logs $POD -c keymeshd | grep packet_denied | grep other.intruder | grep -q 'shop.web-'" 10 0.5 ||
  fail "3. no packet_denied audit line from other.intruder to a web pod: $(kc -n "$NS" logs "$POD" -c keymeshd | grep packet_denied | tail -3)"
log "3. intruder -> $VIP:80 refused; audit: $(kc -n "$NS" logs "$POD" -c keymeshd | grep packet_denied | grep other.intruder | head -1 | cut -c1-220)"

# ------------------------------------------------------------------ 4. NetworkPolicy on the backends
cat <<Y | kc apply -f - >/dev/null || fail "4. kubectl apply of deny-ingress"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
Y
sleep 2
for i in 1 2 3 4; do
  got=$(fetch other client) || true
  [[ -z $got ]] || fail "4. client reached shop/web under default-deny ingress (try $i): '$got'"
done
log "4. default-deny ingress in shop: client's fetches through $VIP:80 refused (4 tries)"
cat <<Y | kc apply -f - >/dev/null || fail "4. kubectl apply of allow-clients"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-clients, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: "other"}}, podSelector: {matchLabels: {role: "client"}}}]
    ports: [{protocol: TCP, port: 8080}]
Y
sleep 2
r=$(both_backends other client) || fail "4. client -> $VIP:80 with allow-clients: $r"
got=$(fetch other intruder) || true
[[ -z $got ]] || fail "4. intruder reached shop/web with allow-clients: '$got'"
log "4. allow-clients (tcp/8080 from role=client in team=other): both backends answer client again ($r), intruder still refused"
