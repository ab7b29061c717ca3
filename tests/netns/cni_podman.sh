#!/usr/bin/env bash
# cni_podman.sh - podman 4.3 (CNI backend, runc, cgroupfs) runs two busybox containers on a
# keymesh network; keymesh-cni asks the real keymeshd for their identities and policy lets
# one direction and one port through.
#
#   podman netns (kmcli-<pid>)     podman netns (kmsrv-<pid>)
#   eth0 100.64.1.x "a/kmcli-.."   eth0 100.64.1.y "a/kmsrv-.."   nc servers on 8080, 8081
#            \ veth                   / veth
#   ns ...-a: keymeshd (km0 100.64.1.1/10, node CA 100.64.1.0/24, names "a*"), podman's
#             CNI plugins (every podman command runs here, with nsenter --net: the host ends
#             of the veths and the plugin's socket are in this namespace), conmon
#
# podman reads a private configuration written by tests/runtimes/podman-cni.sh: runc,
# cgroupfs, file events and locks, vfs storage under the test's scratch dir, CNI backend with
# this test's plugin dir and network config dir, so nothing under /etc or podman's default
# storage is read or written. The image localhost/busybox:latest is built from busybox-static
# and loaded into that storage by tests/runtimes/busybox-image.sh on every run.
# Policy: names "a/kmcli-*" may reach names "a/kmsrv-*" on tcp/8080; nothing else.
#
# Scenarios:
#  1. Both containers get an overlay address from keymeshd; `keymesh identity list` shows
#     "a/<container name>" for each.
#  2. cli -> srv tcp/8080 answers "pong".
#  3. cli -> srv tcp/8081 (port not granted) and srv -> cli tcp/8080 (direction not granted)
#     get no answer; both are audited as packet_denied.
#  4. `podman rm -f` of cli: its identity leaves keymeshd and its host veth is gone.
# Cleanup removes both containers (so CNI DEL runs while keymeshd is up) and stops their
# conmon processes by PID.
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need jq nsenter podman runc

RUNTIMES=${KM_RUNTIMES_DIR:-$KM_REPO/tests/runtimes}
[[ -f $RUNTIMES/busybox-image.sh && -f $RUNTIMES/podman-cni.sh ]] || fail "no runtime recipes in $RUNTIMES"
PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
NET=kmpod$KM_RUN
SRV=kmsrv-$KM_RUN
CLI=kmcli-$KM_RUN
IMAGE=localhost/busybox:latest

make_host a 198.18.0.1
pki_root "$KM_TMP"
pki_host "$KM_TMP" a 1
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: cli-to-srv
    from: { name: "a/kmcli-*" }
    to: { name: "a/kmsrv-*" }
    allow: [tcp/8080]
POLICY
km_cert_config "$KM_TMP/a.yaml" a 1
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"

# ------------------------------------------------------------------ podman, privately
mkdir -p "$KM_TMP/cni-bin" "$KM_TMP/net.d"
ln -s "$PLUGIN" "$KM_TMP/cni-bin/keymesh"
PODMAN_ENV=$(bash "$RUNTIMES/podman-cni.sh" "$KM_TMP/podman" --net-dir "$KM_TMP/net.d" \
  --plugin-dir "$KM_TMP/cni-bin") || fail "podman-cni.sh failed"
cat >"$KM_TMP/net.d/$NET.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    { "type": "keymesh", "socket": "$KM_TMP/a.sock", "logLevel": "info",
      "release_dir": "$KM_TMP/a-state/cni-releases",
      "identity": "a/\${K8S_POD_NAME}", "groups": ["podman"] }
  ]
}
EOF
# podman in a's network namespace only (nsenter keeps the mount namespace, so /sys/fs/cgroup
# stays what runc needs); bounded, its stderr kept for failures.
pm() {
  env $PODMAN_ENV timeout 60 \
    nsenter --net="/run/netns/$(nsname a)" podman "$@" 2>>"$KM_TMP/podman.err"
}
KM_LOGS+=("$KM_TMP/podman.err")

declare -a CONMONS=()
podman_cleanup() {
  local c pid
  for c in "$CLI" "$SRV"; do pm rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  for pid in "${CONMONS[@]}"; do
    # Only while it is still that container's conmon (its command line names the container).
    if grep -qa -- "$KM_RUN" "/proc/$pid/cmdline" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  # A container that could not be removed may leave its /dev/shm mount in the private storage.
  for m in $(grep -o " $KM_TMP/podman/[^ ]*" /proc/self/mounts | sort -r); do umount "$m" 2>/dev/null || true; done
}
trap 'rc=$?; podman_cleanup; (exit $rc); cleanup' EXIT

env $PODMAN_ENV bash "$RUNTIMES/busybox-image.sh" --ref "$IMAGE" podman >"$KM_TMP/image.log" 2>&1 ||
  fail "busybox image: $(tail -5 "$KM_TMP/image.log")"
pm network ls --format '{{.Name}}' | grep -qx "$NET" || fail "podman does not see network $NET"

run_ctr() {  # run_ctr NAME CMD... : detached container on the keymesh network
  local name=$1 pid
  shift
  pm run -d --name "$name" --network "$NET" "$IMAGE" "$@" >/dev/null ||
    fail "podman run $name failed: $(tail -3 "$KM_TMP/podman.err")"
  pid=$(pm inspect --format '{{.State.ConmonPid}}' "$name") || fail "podman inspect $name"
  [[ $pid =~ ^[0-9]+$ && $pid != 0 ]] && CONMONS+=("$pid")
}
ip_of() { pm inspect --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"; }
names() { km_cli identity list --json --socket "$KM_TMP/a.sock" | jq -r '.identities[]?.name'; }

# ------------------------------------------------------------------ 1. two containers
t0=$EPOCHREALTIME
run_ctr "$SRV" sh -c 'nc -ll -p 8080 -e echo pong & nc -ll -p 8081 -e echo pong81 & wait'
run_ctr "$CLI" sh -c 'nc -ll -p 8080 -e echo cli-pong & wait'
t1=$EPOCHREALTIME
SRV_IP=$(ip_of "$SRV") CLI_IP=$(ip_of "$CLI")
[[ $SRV_IP == 100.64.1.* && $CLI_IP == 100.64.1.* ]] || fail "1. addresses: srv '$SRV_IP', cli '$CLI_IP'"
names | grep -qx "a/$SRV" || fail "1. keymeshd lists no a/$SRV: $(names | tr '\n' ' ')"
names | grep -qx "a/$CLI" || fail "1. keymeshd lists no a/$CLI"
pm exec "$SRV" ip -4 -o addr show eth0 | grep -q "inet $SRV_IP/32" || fail "1. srv's eth0 lacks $SRV_IP/32"
log "1. podman run x2 ($(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s): srv $SRV_IP, cli $CLI_IP, identities a/$SRV and a/$CLI"

# ------------------------------------------------------------------ 2. allowed
# (The servers may take a moment to start listening.)
wait_for "[[ \$(pm exec $CLI nc -w 2 $SRV_IP 8080 </dev/null) == pong ]]" 10 0.3 ||
  fail "2. cli -> srv tcp/8080 got no pong"
log "2. cli -> srv tcp/8080: pong"

# ------------------------------------------------------------------ 3. denied
out=$(pm exec "$CLI" nc -w 2 "$SRV_IP" 8081 </dev/null) && fail "3. cli -> srv tcp/8081 connected: $out"
[[ -z $out ]] || fail "3. cli -> srv tcp/8081 answered: $out"
out=$(pm exec "$SRV" nc -w 2 "$CLI_IP" 8080 </dev/null) && fail "3. srv -> cli tcp/8080 connected: $out"
[[ -z $out ]] || fail "3. srv -> cli tcp/8080 answered: $out"
grep '"event":"packet_denied"' "$KM_TMP/a-audit.jsonl" | grep -q 'tcp/8081' ||
  fail "3. no packet_denied audit line for tcp/8081"
grep '"event":"packet_denied"' "$KM_TMP/a-audit.jsonl" | grep 'tcp/8080' | grep -q "\"name\":\"a/$CLI\"" ||
  fail "3. no packet_denied audit line for srv -> cli tcp/8080"
log "3. cli -> srv tcp/8081 and srv -> cli tcp/8080: no answer, both audited"

# ------------------------------------------------------------------ 4. removal
CLI_ID=$(pm inspect --format '{{.Id}}' "$CLI")
VETH=$(on a ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/$CLI_ID/eth0" '.[] | select(.ifalias == $t) | .ifname')
[[ -n $VETH ]] || fail "4. no host veth tagged for $CLI"
pm rm -f -t 0 "$CLI" >/dev/null || fail "4. podman rm -f $CLI failed"
names | grep -qx "a/$CLI" && fail "4. a/$CLI still listed after podman rm"
on a ip link show "$VETH" >/dev/null 2>&1 && fail "4. host veth $VETH still there"
names | grep -qx "a/$SRV" || fail "4. a/$SRV went away too"
log "4. podman rm $CLI: identity a/$CLI and veth $VETH gone; a/$SRV stays"
