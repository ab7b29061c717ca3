#!/usr/bin/env bash
# cni_crash.sh - keymesh-cni when keymeshd is down, restarting or killed mid-request, and GC
# when there is nothing to collect. The plugin runs the way a runtime runs it (CNI_* environment,
# conflist entry on stdin) in the host namespace; the runtime's retry is a second ADD with the
# same CNI_CONTAINERID and CNI_IFNAME (the CNI attachment key).
#
#   ns ...-c1 ... ns ...-cN        (containers: eth0 100.64.1.x/32, default via 169.254.1.1)
#        \ veth km<hash>  /
#   ns ...-a: keymeshd (node CA a-ca: 100.64.1.0/24, names "a*"), km0 100.64.1.1/10,
#             table 7300 default dev km0; cni_fake_daemon and control_drop_proxy.py for 1 and 3
#
# Scenarios (5: DEL while keymeshd is down, at the end):
#  1. A daemon that answers while km0 does not exist yet (keymeshd starting: cni_fake_daemon
#     on its own socket, no TUN): ADD fails with code 11 (try again later), not 100, and leaves
#     no veth, no rule, and no workload (the fake daemon saw the rollback's WorkloadDel). No
#     socket at all: code 11.
#  2. GC with nothing to collect succeeds: ADD c1, c2; GC keeping both; GC keeping c1 (c2 goes);
#     the same GC again; GC with an empty list (c1 goes); the same again. Each exits 0, and
#     afterwards no veth, rule or identity of c1/c2 is left.
#  3. keymeshd did the WorkloadAdd and died before its reply (control_drop_proxy.py): ADD fails
#     with 11 and leaves no veth and no eth0, but keymeshd has stored the workload. The runtime's
#     retry (same container ID and ifname) succeeds; keymeshd lists one identity for it, at
#     the retry's address, the old address is gone from keymeshd and the kernel, CHECK passes.
#  4. 60 ADDs in parallel, keymeshd killed (SIGKILL, by PID) after the first few finished, then
#     started again; every failed ADD failed with code 11 and is retried: all 60 succeed, and
#     the 60 addresses are distinct in the ADD results, in `keymesh identity list`, in the
#     containers and in the host's /32 routes, one each. Then 60 DELs and a GC with an empty
#     list: no veth, no /32 route, no table-7300 rule, no identity is left.
KM_DEADLINE=${KM_DEADLINE:-220}
source "$(dirname "$0")/lib.sh"
need jq

PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
FAKE=$(binary tests/netns/cni_fake_daemon) || fail "cni_fake_daemon is not built"
NET=kmnet
BATCH=60

make_host a 198.18.0.1
pki_root "$KM_TMP"
pki_host "$KM_TMP" a 1  # node CA names: "a*", pool 100.64.1.0/24
printf 'rules: []\n' >"$KM_TMP/policy.yaml"
km_cert_config "$KM_TMP/a.yaml" a 1
source "$KM_LIB_DIR/cni_lib.sh"

code_of() { jq -r '.code // empty' <<<"$1" 2>/dev/null || true; }
gc_conf() {  # gc_conf ID... : a 1.1.0 conf whose cni.dev/valid-attachments lists those IDs
  local list
  list=$(printf '%s\n' "$@" | jq -R 'select(length > 0) | {containerID: ., ifname: "eth0"}' | jq -sc .)
  jq -c --argjson v "$list" '. + {cniVersion: "1.1.0", "cni.dev/valid-attachments": $v}' <<<"$(conf a gc)"
}
gc() {  # gc WHAT ID... : GC keeping IDs; must succeed
  cni a GC "" "" "$(gc_conf "$@")"
  expect_ok "$1"
}
tagged_veths() {  # the host veths tagged for this network
  on a ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/" '.[] | select((.ifalias // "") | startswith($t)) | .ifname'
}
workload_routes() {  # "ADDRESS DEV" for every /32 route through a keymesh veth
  on a ip -j -4 route show | jq -r '.[] | select(.dev | startswith("km") and . != "km0") | "\(.dst) \(.dev)"'
}

# ------------------------------------------------------------------ 1. km0 missing, no socket
spawn a "$KM_TMP/fake.log" "$FAKE" "$KM_TMP/fake.sock" "$KM_TMP/fake-requests.log"
FAKE_PID=$KM_LAST_PID
wait_for "[[ -S $KM_TMP/fake.sock ]]" 10 0.05 || fail "1. cni_fake_daemon did not start"
new_ctr S1
ID_S1=start00000000000000000000000000000000000000000000000000000000001
cni a ADD "$ID_S1" "$S1" "$(conf fake start)" s1
((RC != 0)) || fail "1. ADD succeeded without km0"
[[ $(code_of "$OUT") == 11 ]] || fail "1. ADD without km0: want code 11, got $OUT"
[[ $(jq -r .msg <<<"$OUT") == *km0* ]] || fail "1. the message does not name km0: $OUT"
[[ -z $(tagged_veths) ]] || fail "1. veth left: $(tagged_veths)"
(($(rules_7300 a) == 0)) || fail "1. rule left: $(on a ip rule show)"
in_ctr "$S1" ip link show eth0 >/dev/null 2>&1 && fail "1. eth0 left in the container"
grep -qxF "del $ID_S1/eth0" "$KM_TMP/fake-requests.log" ||
  fail "1. the daemon was not told to release the workload: $(cat "$KM_TMP/fake-requests.log")"
msg1=$(jq -r .msg <<<"$OUT")
stop_pid "$FAKE_PID" || true
cni a ADD "$ID_S1" "$S1" "$(conf nosuch start)" s1
[[ $(code_of "$OUT") == 11 ]] || fail "1. ADD without a socket: want code 11, got $OUT"
log "1. km0 missing: code 11 ($msg1), nothing left; no socket: code 11"

# ------------------------------------------------------------------ 2. GC with nothing to collect
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
new_ctr C1
new_ctr C2
ID_C1=gc000000000000000000000000000000000000000000000000000000000000001
ID_C2=gc000000000000000000000000000000000000000000000000000000000000002
cni a ADD "$ID_C1" "$C1" "$(conf a gc)" c1
expect_ok "2. ADD c1"
cni a ADD "$ID_C2" "$C2" "$(conf a gc)" c2
expect_ok "2. ADD c2"
gc "2. GC keeping c1 and c2 (nothing to collect)" "$ID_C1" "$ID_C2"
gc "2. GC keeping c1" "$ID_C1"
[[ -z $(veth_of a "$ID_C2") ]] || fail "2. GC keeping c1 left c2's veth"
names a | grep -qx a/c2 && fail "2. GC keeping c1 left identity a/c2"
[[ -n $(veth_of a "$ID_C1") ]] && names a | grep -qx a/c1 || fail "2. GC keeping c1 removed c1"
gc "2. the same GC again (nothing to collect)" "$ID_C1"
gc "2. GC with an empty list"
gc "2. GC with an empty list again (nothing to collect)"
[[ -z $(tagged_veths) ]] || fail "2. veths left: $(tagged_veths)"
(($(rules_7300 a) == 0)) || fail "2. rules left: $(on a ip rule show)"
names a | grep -q '^a/c' && fail "2. identities left: $(names a | tr '\n' ' ')"
log "2. GC with nothing to collect succeeds (keeping all, the same GC twice, an empty list twice)"

# ------------------------------------------------------------------ 3. reply lost after the store
spawn a "$KM_TMP/proxy.log" "$KM_PY" "$KM_LIB_DIR/control_drop_proxy.py" "$KM_TMP/proxy.sock" "$KM_TMP/a.sock"
wait_for "grep -q LISTENING '$KM_TMP/proxy.log'" 10 0.05 || fail "3. proxy did not start"
new_ctr L
ID_L=lost0000000000000000000000000000000000000000000000000000000000001
cni a ADD "$ID_L" "$L" "$(conf proxy lost 'a/${K8S_POD_NAME}')" lost
((RC != 0)) || fail "3. ADD through the proxy succeeded"
[[ $(code_of "$OUT") == 11 ]] || fail "3. lost reply: want code 11, got $OUT"
grep -q "dropped" "$KM_TMP/proxy.log" || fail "3. the proxy did not pass the request on"
OLD=$(identity_field a a/lost networks | jq -r '.[0] // empty')
[[ -n $OLD ]] || fail "3. keymeshd did not keep the workload (the scenario needs it): $(identities a)"
[[ -z $(veth_of a "$ID_L") ]] || fail "3. the failed ADD left its veth"
in_ctr "$L" ip link show eth0 >/dev/null 2>&1 && fail "3. the failed ADD left eth0"
cni a ADD "$ID_L" "$L" "$(conf a lost)" lost
expect_ok "3. the runtime's retry"
RES_L=$OUT
NEW=$(addr_of "$RES_L")
[[ $(names a | grep -cx a/lost) == 1 ]] || fail "3. identities a/lost: $(names a | tr '\n' ' ')"
[[ $(identity_field a a/lost networks | jq -c .) == "[\"$NEW/32\"]" ]] ||
  fail "3. keymeshd has a/lost at $(identity_field a a/lost networks), the retry got $NEW"
if [[ $OLD != "$NEW/32" ]]; then
  identities a | jq -e --arg o "$OLD" 'any(.identities[]?; .networks | index($o))' >/dev/null &&
    fail "3. keymeshd still lists $OLD"
  [[ -z $(on a ip route show "$OLD") ]] || fail "3. a route to $OLD is left"
fi
[[ $(workload_routes | grep -c "^$NEW ") == 1 ]] || fail "3. routes to $NEW: $(workload_routes)"
cni a CHECK "$ID_L" "$L" "$(with_prev "$(conf a lost)" "$RES_L")" lost
expect_ok "3. CHECK after the retry"
cni a DEL "$ID_L" "$L" "$(conf a lost)" lost
expect_ok "3. DEL"
log "3. reply lost after keymeshd stored $OLD: ADD code 11, the retry got $NEW/32, one identity, CHECK passes"

# ------------------------------------------------------------------ 4. kill -9 during 60 parallel ADDs
declare -a P_NS P_ID P_PID
for i in $(seq 1 $BATCH); do
  new_ctr "P_NS[$i]"
  P_ID[$i]=$(printf 'crash%059d' "$i")
done
add_batch() {  # add_batch TAG INDEX... : parallel ADDs; output in $KM_TMP/TAG-INDEX.out, status in .rc
  local tag=$1 i
  shift
  for i in "$@"; do
    (cni a ADD "${P_ID[$i]}" "${P_NS[$i]}" "$(conf a batch)" "k$i"
     printf '%s\n' "$OUT" >"$KM_TMP/$tag-$i.out"; echo "$RC" >"$KM_TMP/$tag-$i.rc") &
    P_PID[$i]=$!
  done
}
add_batch first $(seq 1 $BATCH)
wait_for "(( \$(ls $KM_TMP | grep -c '^first-.*\.rc$') >= 5 ))" 30 0.01 ||
  fail "4. fewer than 5 of the ADDs finished in 30 s"
done_before=$(ls "$KM_TMP" | grep -c '^first-.*\.rc$')
stop_pid "${KM_DAEMON_PID[a]}" KILL || true
unset "KM_DAEMON_PID[a]"
for i in $(seq 1 $BATCH); do wait "${P_PID[$i]}" || true; done
declare -a FAILED
for i in $(seq 1 $BATCH); do
  if [[ $(cat "$KM_TMP/first-$i.rc") != 0 ]]; then
    FAILED+=("$i")
    out=$(cat "$KM_TMP/first-$i.out")
    [[ $(code_of "$out") == 11 ]] || fail "4. ADD $i failed with other than code 11: $out"
    jq -r .msg <<<"$out" | sed -E 's/[0-9a-f]{13}|#[0-9]+|\/[^ ]*\.sock/…/g' >>"$KM_TMP/first-msgs"
  fi
done
((${#FAILED[@]} > 0)) || fail "4. all $BATCH ADDs finished before keymeshd was killed; the test proves nothing"
log "4. keymeshd killed after $done_before finished; ${#FAILED[@]} of $BATCH ADDs failed, all with code 11:"
sort "$KM_TMP/first-msgs" | uniq -c | sed 's/^/    /' >&2

start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a-restarted.log"
# The killed keymeshd's socket file is still there: wait until the new one answers.
wait_for "km_cli status --socket $KM_TMP/a.sock" 20 0.1 || fail "4. restarted keymeshd does not answer"
leftover=0
for i in "${FAILED[@]}"; do names a | grep -qx "a/k$i" && leftover=$((leftover + 1)); done
add_batch retry "${FAILED[@]}"
for i in "${FAILED[@]}"; do wait "${P_PID[$i]}" || true; done
for i in $(seq 1 $BATCH); do
  f=first
  [[ -e $KM_TMP/retry-$i.rc ]] && f=retry
  [[ $(cat "$KM_TMP/$f-$i.rc") == 0 ]] || fail "4. retried ADD $i: $(cat "$KM_TMP/$f-$i.out")"
  addr_of "$(cat "$KM_TMP/$f-$i.out")" >"$KM_TMP/addr-$i"
done
results=$(cat "$KM_TMP"/addr-* | sort)
[[ $(uniq <<<"$results" | wc -l) == "$BATCH" ]] || fail "4. ADD results share addresses: $(uniq -d <<<"$results")"
listed=$(identities a | jq -r '.identities[]? | select(.name | startswith("a/k")) | .networks[]' | sed 's|/32$||' | sort)
[[ $listed == "$results" ]] ||
  fail "4. keymesh identity list ($(wc -l <<<"$listed") addresses) differs from the ADD results: $(diff <(echo "$results") <(echo "$listed") | head)"
routed=$(workload_routes | cut -d' ' -f1 | sort)
[[ $routed == "$results" ]] ||
  fail "4. host /32 routes differ from the ADD results: $(diff <(echo "$results") <(echo "$routed") | head)"
for i in $(seq 1 $BATCH); do
  got=$(in_ctr "${P_NS[$i]}" ip -4 -o addr show dev eth0 | awk '{print $4}')
  [[ $got == "$(cat "$KM_TMP/addr-$i")/32" ]] || fail "4. container $i has [$got], its ADD gave $(cat "$KM_TMP/addr-$i")"
done
(($(rules_7300 a) == BATCH)) || fail "4. $(rules_7300 a) table-7300 rules for $BATCH attachments"
log "4. after the restart ($leftover of the failed ADDs were stored by keymeshd) every retry succeeded: $BATCH distinct addresses in results, identity list, containers and routes"

for i in $(seq 1 $BATCH); do
  (cni a DEL "${P_ID[$i]}" "${P_NS[$i]}" "$(conf a batch)" "k$i"; echo "$RC $OUT" >"$KM_TMP/del-$i.rc") &
  P_PID[$i]=$!
done
for i in $(seq 1 $BATCH); do wait "${P_PID[$i]}" || true; done
for i in $(seq 1 $BATCH); do
  [[ $(cut -d' ' -f1 "$KM_TMP/del-$i.rc") == 0 ]] || fail "4. DEL $i: $(cat "$KM_TMP/del-$i.rc")"
done
gc "4. GC with an empty list after the DELs"
[[ -z $(tagged_veths) ]] || fail "4. veths left: $(tagged_veths | tr '\n' ' ')"
[[ -z $(workload_routes) ]] || fail "4. routes left: $(workload_routes | tr '\n' ' ')"
(($(rules_7300 a) == 0)) || fail "4. table-7300 rules left: $(on a ip rule show)"
names a | grep -q '^a/k' && fail "4. identities left: $(names a | grep '^a/k' | tr '\n' ' ')"
log "4. $BATCH DELs and a GC left no veth, route, rule or identity"

# ------------------------------------------------------------------ 5. DEL while keymeshd is down
# kubelet must be able to finish deleting pods on a node whose keymeshd is down: DEL removes the
# plumbing, queues the release and succeeds; keymeshd applies the queue when it is back (the
# identity ends, its certificate is revoked), before its control socket answers anything.
new_ctr Q1
ID_Q1=queued0000000000000000000000000000000000000000000000000000000001
cni a ADD "$ID_Q1" "$Q1" "$(conf a queue)" q1
expect_ok "5. ADD"
names a | grep -qx a/q1 || fail "5. keymeshd does not list a/q1 after its ADD"
stop_pid "${KM_DAEMON_PID[a]}" KILL || true
unset "KM_DAEMON_PID[a]"
cni a DEL "$ID_Q1" "$Q1" "$(conf a queue)" q1
expect_ok "5. DEL with keymeshd killed"
[[ -z $(tagged_veths) ]] || fail "5. DEL with keymeshd down kept the veth: $(tagged_veths)"
(($(rules_7300 a) == 0)) || fail "5. DEL with keymeshd down kept the rule"
queued=$(ls "$KM_TMP/a-state/cni-releases" | grep -c '\.release$' || true)
((queued == 1)) || fail "5. DEL with keymeshd down queued $queued releases, want 1"
# Again, as kubelet repeats DEL: still success, still one record.
cni a DEL "$ID_Q1" "" "$(conf a queue)" q1
expect_ok "5. repeated DEL with keymeshd down"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a-queue.log"
wait_for "km_cli status --socket $KM_TMP/a.sock" 20 0.1 || fail "5. restarted keymeshd does not answer"
# The first answer already reflects the queue: it was applied before the socket served.
names a | grep -qx a/q1 && fail "5. keymeshd came back and still lists a/q1"
[[ -z $(ls "$KM_TMP/a-state/cni-releases" | grep '\.release$') ]] || fail "5. the applied release is still queued"
grep -q "cni release of $ID_Q1/eth0 applied" "$KM_TMP/a-queue.log" ||
  fail "5. keymeshd did not log the applied release"
log "5. DEL with keymeshd killed: exit 0 twice, nothing left in the kernel, 1 queued release; keymeshd back: a/q1 gone at its first answer, queue empty"
