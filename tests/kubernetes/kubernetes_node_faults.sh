#!/usr/bin/env bash
# kubernetes_node_faults.sh - pods keep being created, deleted and reachable under a real kubelet
# while the node's keymeshd is away and after the node reboots (issue 17, section 7).
#
#   ns km-kubernetes_node_faults-<pid>-node: the one-node cluster of cluster.sh, keymesh
#   installed as shipped (install.sh) plus one rule that lets pods reach pods
#     pod default/web     busybox httpd :8080
#     pod default/client  deleted while keymeshd is away
#     pod default/late    created while keymeshd is away
#
# Scenarios:
#  1. keymeshd taken away (the DaemonSet's nodeSelector patched to match no node; the kubelet
#     stops keymeshd, leaving the pods' veths in place):
#     a. `kubectl delete pod client` completes: the kubelet's CNI DEL succeeded without keymeshd,
#        client's host veth is gone and its release waits in /var/lib/keymesh/cni-releases;
#     b. a pod created now (late) waits in ContainerCreating, its events saying keymeshd is not
#        up and to try again.
#  2. keymeshd back (nodeSelector removed): keymeshd's log says the queued release was applied,
#     the queue is empty, client's identity is not listed; late starts and fetches web's file.
#  3. The node reboots (cluster.sh's k8s_node_reboot: kill -9 of the kubelet, containerd, its
#     shims and every container, keymeshd included; the pods' network namespaces, the node's
#     links but its underlay, its nftables ruleset, its policy rules and /run/keymesh cleared;
#     disks kept): the kubelet and containerd started again bring keymeshd back Ready, web and
#     late come back in new sandboxes with their identities (same names, addresses from the pod
#     CIDR as the API server reports them), late fetches web's file again, and keymeshd lists
#     exactly the pods that exist, with one host veth each (nothing left of the old sandboxes).
# Skips (77) when the Kubernetes build is absent.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/cluster.sh"
k8s_reexec_private "$@"
KM_DEADLINE=${KM_DEADLINE:-480}
source "$HERE/../netns/lib.sh"
source "$HERE/install.sh"
km_require nft

k8s_private_netns_dir
make_host node 198.18.0.1
trap 'rc=$?; k8s_down; (exit $rc); cleanup' EXIT
k8s_up node
km_install 'k8s:*,k8s.*,app' '      - name: pods
        from: { groups: [k8s] }
        to: { groups: [k8s] }
        allow: [any]
'
CIDR=$(kc get node "$K8S_NODE" -o 'jsonpath={.spec.podCIDR}')
HOSTNAME_=$(hostname)
QUEUE=$K8S_DIR/host/var/lib/keymesh/cni-releases
since() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }

pod_yaml() {  # pod_yaml NAME COMMAND : a busybox pod in default
  cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default, labels: {app: $1}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:latest, imagePullPolicy: Never, command: ["sh", "-c", "$2"]}]
Y
}
wait_for "kc -n default get sa default -o jsonpath='{.secrets[0].name}' | grep -q ." 30 0.5 ||
  fail "no service account default/default"
TOKEN=keymesh-k8s-$RANDOM$RANDOM
{
  pod_yaml web "mkdir -p /www && echo $TOKEN > /www/hello.txt && exec httpd -f -p 8080 -h /www"
  echo ---
  pod_yaml client "exec sleep 3600"
} >"$KM_TMP/pods.yaml"
kc apply -f "$KM_TMP/pods.yaml" >/dev/null || fail "kubectl apply of web and client"
for p in web client; do
  kc wait --for=condition=Ready "pod/$p" --timeout=90s >/dev/null 2>&1 || fail "$p not Ready: $(kc describe pod "$p" | tail -15)"
done

kmpod_ready() {  # the keymesh pod's name once it is Ready
  local p
  p=$(kmpod 2>/dev/null) && [[ -n $p ]] &&
    kc -n "$NS" wait --for=condition=Ready "pod/$p" --timeout=1s >/dev/null 2>&1 && echo "$p"
}
ids() { kc -n "$NS" exec "$POD" -c keymeshd -- keymesh identity list --json; }
names() {  # the pod identities keymeshd lists (all in default), sorted, space-separated
  ids | jq -r --arg p "$HOSTNAME_/default." '.identities[]?.name | select(startswith($p))' | sort | tr '\n' ' '
}
podip() { kc get pod "$1" -o 'jsonpath={.status.podIP}'; }
fetch() { km_fetch default "$1" "$(podip web)" 8080; }  # fetch POD : web's file, from POD
host_veths() { on node ip -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^ul0' | sort; }
[[ $(fetch client) == "$TOKEN" ]] || fail "before the faults: client cannot fetch web's file"
[[ $(names) == "$HOSTNAME_/default.client $HOSTNAME_/default.web " ]] || fail "before the faults: identities $(names)"
veths_before=$(host_veths | wc -l)
log "web $(podip web) and client $(podip client) Running, client fetches web's file; $veths_before host veths"

# ------------------------------------------------------------------ 1. keymeshd away
t0=$EPOCHREALTIME
kc -n "$NS" patch daemonset keymesh --type merge \
  -p '{"spec":{"template":{"spec":{"nodeSelector":{"keymesh.test/away":"yes"}}}}}' >/dev/null ||
  fail "1. kubectl patch daemonset keymesh"
wait_for "[[ -z \$(kc -n $NS get pods -l app.kubernetes.io/name=keymesh -o name) ]]" 60 0.5 ||
  fail "1. the keymesh pod is still there 60 s after the DaemonSet stopped matching the node"
log "1. keymeshd stopped by the kubelet after $(since "$t0") s"

veths_had=$(host_veths | tr '\n' ' ')
t0=$EPOCHREALTIME
kc delete pod client --timeout=90s >/dev/null 2>&1 ||
  fail "1a. kubectl delete pod client did not complete within 90 s with keymeshd down: $(kc get pod client -o wide 2>&1 | tail -1); $(grep -h 'keymesh\|CNI\|network' "$K8S_DIR/logs/containerd.log" | tail -5)"
log "1a. kubectl delete pod client completed in $(since "$t0") s without keymeshd"
(($(host_veths | wc -l) == veths_before - 1)) || fail "1a. host veths after client's DEL: $(host_veths | tr '\n' ' ') (had $veths_had)"
queued=$(ls "$QUEUE" 2>/dev/null | wc -l)
((queued >= 1)) || fail "1a. no release queued in /var/lib/keymesh/cni-releases"
log "1a. client's host veth removed, $queued release(s) queued in /var/lib/keymesh/cni-releases"

pod_yaml late "exec sleep 3600" | kc apply -f - >/dev/null || fail "1b. kubectl apply of late"
events() { kc get events --field-selector involvedObject.name=late -o jsonpath='{.items[*].message}'; }
DOWN_RE='keymeshd is stopped or restarting|is keymeshd running'
wait_for "events | grep -Eq '$DOWN_RE'" 60 1 ||
  fail "1b. late's events do not say keymeshd is not up: $(events | cut -c1-400)"
[[ $(kc get pod late -o 'jsonpath={.status.phase}') == Pending ]] || fail "1b. late is $(kc get pod late -o 'jsonpath={.status.phase}') without keymeshd"
log "1b. late waits in ContainerCreating: ...$(events | grep -Eo ".{0,120}($DOWN_RE)[^;]*" | head -1)"

# ------------------------------------------------------------------ 2. keymeshd back
t0=$EPOCHREALTIME
kc -n "$NS" patch daemonset keymesh --type json -p '[{"op":"remove","path":"/spec/template/spec/nodeSelector/keymesh.test~1away"}]' >/dev/null ||
  fail "2. kubectl patch daemonset keymesh back"
wait_for "kmpod_ready >/dev/null" 120 1 || fail "2. keymeshd not Ready again within 120 s: $(kc -n "$NS" get pods -o wide)"
POD=$(kmpod_ready)
log "2. keymeshd Ready again after $(since "$t0") s"
kc -n "$NS" logs "$POD" -c keymeshd | grep -q "cni release of .* applied (queued by DEL" ||
  fail "2. keymeshd did not apply the queued release: $(kc -n "$NS" logs "$POD" -c keymeshd | grep -i release | tail -5)"
[[ -z $(ls "$QUEUE" 2>/dev/null) ]] || fail "2. the release queue still holds $(ls "$QUEUE")"
kc wait --for=condition=Ready pod/late --timeout=90s >/dev/null 2>&1 || fail "2. late not Ready: $(kc describe pod late | tail -15)"
log "2. late Ready $(since "$t0") s after keymeshd came back"
wait_for "[[ \$(names) == '$HOSTNAME_/default.late $HOSTNAME_/default.web ' ]]" 20 0.5 ||
  fail "2. identities after keymeshd's return: $(names)"
[[ $(fetch late) == "$TOKEN" ]] || fail "2. late cannot fetch web's file"
log "2. queued release applied ($(kc -n "$NS" logs "$POD" -c keymeshd | grep -o 'cni release of [^ ]* applied' | head -1)); identities: $(names); late fetches web's file"

# ------------------------------------------------------------------ 3. node reboot
# The API server shows the pods as they were until the kubelet reports again: "back" means
# Ready in a container that was not there before the reboot.
cid() { kc -n "$1" get pod "$2" -o "jsonpath={.status.containerStatuses[?(@.name==\"$3\")].containerID}"; }
back() {  # back NAMESPACE POD CONTAINER OLD_ID
  local now
  now=$(cid "$1" "$2" "$3") && [[ -n $now && $now != "$4" ]] &&
    kc -n "$1" wait --for=condition=Ready "pod/$2" --timeout=1s >/dev/null 2>&1
}
km_cid=$(cid "$NS" "$POD" keymeshd) web_cid=$(cid default web c) late_cid=$(cid default late c)
[[ -n $km_cid && -n $web_cid && -n $late_cid ]] || fail "3. no container IDs before the reboot"
t0=$EPOCHREALTIME
k8s_node_reboot
log "3. node rebooted (everything killed with -9, runtime state cleared); kubelet and containerd started again"
wait_for "back $NS $POD keymeshd $km_cid" 180 1 ||
  fail "3. keymeshd not Ready in a new container within 180 s of the reboot: $(kc -n "$NS" get pods -o wide)"
log "3. keymeshd Ready $(since "$t0") s after the reboot"
wait_for "back default web c $web_cid && back default late c $late_cid" 180 1 ||
  fail "3. web and late not Ready in new containers within 180 s: $(kc get pods -o wide)"
log "3. web and late Ready again $(since "$t0") s after the reboot"
wait_for "[[ \$(names) == '$HOSTNAME_/default.late $HOSTNAME_/default.web ' ]]" 60 0.5 ||
  fail "3. identities after the reboot: $(names) (want exactly default.late and default.web)"
for p in web late; do
  ip=$(podip "$p")
  [[ ${ip%.*} == "${CIDR%.*/*}" ]] || fail "3. $p has address '$ip', not from $CIDR"
  got=$(ids | jq -r --arg n "$HOSTNAME_/default.$p" '.identities[]? | select(.name == $n) | .networks[0]')
  [[ $got == "$ip/32" ]] || fail "3. keymeshd lists default.$p with '$got', the API server says $ip"
done
wait_for "[[ \$(fetch late) == $TOKEN ]]" 20 1 || fail "3. late cannot fetch web's file after the reboot"
(($(host_veths | wc -l) == 2)) || fail "3. host veths after the reboot: $(host_veths | tr '\n' ' ') (want one per pod: 2)"
log "3. after the reboot: identities $(names)at web $(podip web), late $(podip late); late fetches web's file; 2 host veths"
