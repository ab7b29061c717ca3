#!/usr/bin/env bash
# cni_containerd.sh - containerd 1.6's CRI plugin attaches a pod sandbox with keymesh-cni and
# tears it down, against the real keymeshd. Debian has no crictl or kubelet, so the CRI
# calls come from our own client, tests/runtimes/cri.py; containerd's private config and
# the busybox/pause images come from tests/runtimes/containerd-cri.sh.
#
#   CRI netns (cni-<uuid>, made by containerd)
#   eth0 100.64.1.x  "a/default.kmpod-<pid>"
#        \ veth
#   ns ...-a: keymeshd (km0 100.64.1.1/10, node CA 100.64.1.0/24, names "a*") and a private
#             containerd (config, root, state and socket under the test's scratch dir; run
#             with nsenter --net, so its CNI plugins and shims live in this namespace)
#
# The conflist's "keymesh" is a small wrapper that logs each call (command, CNI_NETNS, exit
# status) and runs keymesh-cni.
#
# Scenarios:
#  1. RunPodSandbox: CNI ADD; the sandbox's IP (PodSandboxStatus) is an overlay address from
#     the node CA's pool; keymeshd lists the workload identity with that address; the host
#     veth for the sandbox exists; eth0 in the sandbox's namespace holds the address.
#  2. StopPodSandbox: CNI DEL (with the netns); identity and veth are gone.
#  3. RemovePodSandbox: containerd's second DEL (CNI_NETNS empty) succeeds too.
# containerd is stopped by its PID (after its pods are removed, so the shims exit).
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need jq nsenter containerd runc ctr protoc

RUNTIMES=${KM_RUNTIMES_DIR:-$KM_REPO/tests/runtimes}
[[ -f $RUNTIMES/cri.py && -f $RUNTIMES/containerd-cri.sh ]] || fail "no runtime recipes in $RUNTIMES"
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null ||
  fail "python3-grpcio or python3-protobuf is missing (run scripts/install-deps.sh)"
PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
NET=kmcri$KM_RUN
POD=kmpod-$KM_RUN

make_host a 198.18.0.1
pki_root "$KM_TMP"
pki_host "$KM_TMP" a 1
printf 'rules: []\n' >"$KM_TMP/policy.yaml"
km_cert_config "$KM_TMP/a.yaml" a 1
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"

# ------------------------------------------------------------------ containerd, privately
C=$KM_TMP/ctrd
bash "$RUNTIMES/containerd-cri.sh" conf "$C" || fail "containerd-cri.sh conf failed"
CALLS=$KM_TMP/cni-calls.log
cat >"$C/cni-bin/keymesh" <<EOF
#!/bin/sh
# Logs the call, then runs keymesh-cni with the same environment and stdin.
"$PLUGIN" 2>>"$KM_TMP/plugin.log"
rc=\$?
echo "\$CNI_COMMAND netns=[\$CNI_NETNS] rc=\$rc" >>"$CALLS"
exit \$rc
EOF
chmod 0755 "$C/cni-bin/keymesh"
cat >"$C/net.d/10-$NET.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    { "type": "keymesh", "socket": "$KM_TMP/a.sock", "logLevel": "info",
      "release_dir": "$KM_TMP/a-state/cni-releases",
      "identity": "a/\${K8S_POD_NAMESPACE}.\${K8S_POD_NAME}", "groups": ["pods"] }
  ]
}
EOF
cri() { timeout 60 /usr/bin/python3 "$RUNTIMES/cri.py" --socket "$C/containerd.sock" "$@"; }

# nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup hierarchies runc needs.
nsenter --net="/run/netns/$(nsname a)" containerd --config "$C/config.toml" \
  >"$C/containerd.log" 2>&1 </dev/null &
CTRD_PID=$!
record_pid "$CTRD_PID" "containerd" "$C/containerd.log"

containerd_cleanup() {
  local p m
  if pid_alive "$CTRD_PID"; then
    for p in $(cri list-pods 2>/dev/null); do
      cri stop-pod "$p" >/dev/null 2>&1 || true
      cri remove-pod "$p" >/dev/null 2>&1 || true
    done
    stop_pid "$CTRD_PID" TERM || true
  fi
  # Mounts of a pod that could not be removed: never leave them under the scratch dir.
  for m in $(grep -o " $C/[^ ]*" /proc/self/mounts | sort -r); do umount "$m" 2>/dev/null || true; done
}
trap 'rc=$?; containerd_cleanup; (exit $rc); cleanup' EXIT

wait_for "cri version" 30 0.3 || fail "containerd's CRI did not answer within 30 s"
bash "$RUNTIMES/containerd-cri.sh" images "$C/containerd.sock" >"$KM_TMP/image.log" 2>&1 ||
  fail "images: $(tail -5 "$KM_TMP/image.log")"
log "containerd up (pid $CTRD_PID), pause image imported"

identity_json() {  # identity_json NAME : keymeshd's IdentityInfo for NAME, or nothing
  km_cli identity list --json --socket "$KM_TMP/a.sock" | jq -c --arg n "$1" '.identities[]? | select(.name == $n)'
}
NAME="a/default.$POD"

# ------------------------------------------------------------------ 1. RunPodSandbox
t0=$EPOCHREALTIME
SANDBOX=$(cri run-pod "$POD" 2>"$KM_TMP/runp.err") || fail "1. RunPodSandbox: $(cat "$KM_TMP/runp.err")"
t1=$EPOCHREALTIME
[[ $SANDBOX =~ ^[0-9a-f]{64}$ ]] || fail "1. RunPodSandbox printed '$SANDBOX'"
STATUS=$(cri pod-status "$SANDBOX") || fail "1. PodSandboxStatus failed"
IP=$(jq -r .ip <<<"$STATUS")
[[ $(jq -r .state <<<"$STATUS") == READY ]] || fail "1. sandbox not ready: $STATUS"
[[ $IP == 100.64.1.* ]] || fail "1. sandbox IP '$IP' is not from 100.64.1.0/24: $STATUS"
id=$(identity_json "$NAME")
[[ -n $id ]] || fail "1. keymeshd lists no $NAME"
[[ $(jq -r '.networks[0]' <<<"$id") == "$IP/32" ]] || fail "1. $NAME networks: $id"
[[ $(jq -r '.groups[0]' <<<"$id") == pods ]] || fail "1. $NAME groups: $id"
grep -qx "ADD netns=\[/var/run/netns/cni-.*\] rc=0\|ADD netns=\[/run/netns/cni-.*\] rc=0" "$CALLS" ||
  fail "1. no successful ADD in the call log: $(cat "$CALLS")"
SANDBOX_NS=$(sed -n 's/^ADD netns=\[\(.*\)\] rc=0$/\1/p' "$CALLS" | head -1)
nsenter --net="$SANDBOX_NS" ip -4 -o addr show eth0 | grep -q "inet $IP/32" ||
  fail "1. eth0 in $SANDBOX_NS lacks $IP/32"
VETH=$(on a ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/$SANDBOX/eth0" '.[] | select(.ifalias == $t) | .ifname')
[[ -n $VETH ]] || fail "1. no host veth tagged for the sandbox"
log "1. RunPodSandbox ($(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s): $IP, identity $NAME, veth $VETH"

# ------------------------------------------------------------------ 2. StopPodSandbox
cri stop-pod "$SANDBOX" >/dev/null || fail "2. StopPodSandbox failed"
[[ $(grep -c '^DEL ' "$CALLS") -ge 1 ]] || fail "2. no DEL after StopPodSandbox: $(cat "$CALLS")"
grep '^DEL ' "$CALLS" | grep -qv 'rc=0' && fail "2. a DEL failed: $(cat "$CALLS")"
[[ -z $(identity_json "$NAME") ]] || fail "2. $NAME still listed after StopPodSandbox"
on a ip link show "$VETH" >/dev/null 2>&1 && fail "2. host veth $VETH still there"
log "2. StopPodSandbox: DEL ($(grep '^DEL ' "$CALLS" | head -1)); identity and veth gone"

# ------------------------------------------------------------------ 3. RemovePodSandbox
cri remove-pod "$SANDBOX" >/dev/null || fail "3. RemovePodSandbox failed"
dels=$(grep -c '^DEL ' "$CALLS") || true
((dels >= 2)) || fail "3. containerd sent $dels DEL(s), expected 2: $(cat "$CALLS")"
grep -qx 'DEL netns=\[\] rc=0' "$CALLS" || fail "3. no successful DEL with an empty CNI_NETNS: $(cat "$CALLS")"
grep '^DEL ' "$CALLS" | grep -qv 'rc=0' && fail "3. a DEL failed: $(cat "$CALLS")"
[[ -z $(cri list-pods) ]] || fail "3. pods left: $(cri list-pods)"
log "3. RemovePodSandbox: second DEL with CNI_NETNS=\"\" succeeded ($dels DELs in all)"
