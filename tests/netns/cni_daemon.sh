#!/usr/bin/env bash
# cni_daemon.sh - keymesh-cni with the real keymeshd: each attachment gets a workload identity
# minted by the host's node CA, and policy decides what passes, also between two containers
# on the same host. The plugin is run the way a runtime runs it (CNI_* environment, conflist
# entry on stdin) in the host namespace.
#
#   ns ...-aweb          ns ...-adb                      ns ...-bdb
#   eth0 100.64.1.x      eth0 100.64.1.y                 eth0 100.64.2.z
#   "a/web" [web]        "a/db" [db]                     "b/db" [db]
#        \ veth           / veth                              | veth
#   ns ...-a: keymeshd, km0 100.64.1.1/10             ns ...-b: keymeshd, km0 100.64.2.1/10
#     node CA a-ca: 100.64.1.0/24, names "a*"           node CA b-ca: 100.64.2.0/24, names "b*"
#   ul0 198.18.0.1 ----------------------- veth ----------------------- ul0 198.18.0.2
#
# Both hosts' policy: group web may reach group db on tcp/5432 and icmp; nothing else. Until
# discovery is wired in, a's static directory lists b/db, with the chain b's keymeshd reports
# for it (`keymesh identity list --json`, certificate_chain), so b is set up first.
#
# Scenarios:
#  1. ADD on b (conf groups [db]) and on a (web with groups [web], db with [db]): results carry
#     addresses from each node CA's /24; `keymesh identity list` shows the three identities
#     with their groups; CHECK passes for each.
#  2. Same host: web -> db tcp/5432 echoes and ping answers; db -> web tcp/5432 and ping fail,
#     and a's audit log has the denial.
#  3. Cross host: web (a) -> db (b) tcp/5432 echoes and ping answers; on the underlay only
#     UDP to port 51820 is seen, no TCP.
#  4. A conf whose identity template does not match the node CA's name pattern: ADD fails with
#     code 101 naming the pattern, and leaves no veth, no rule, no workload.
#  5. keymeshd on a restarted (SIGTERM, start) with web and db attached: same addresses, same
#     fingerprints; CHECK passes; same-host and cross-host traffic work again.
#  6. DEL of a's db removes its veth, /32 route and rule, and its identity; a second DEL
#     succeeds (also with CNI_NETNS="" and no prevResult, as containerd sends it).
#  7. 20 ADDs in parallel from 20 containers: all succeed with 20 distinct addresses; then 20
#     parallel DELs: all succeed, and no veth, rule, route, workload or identity is left.
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need jq ping tcpdump

PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
PROBE="$KM_LIB_DIR/netprobe.py"
NET=kmnet
declare -A N=([a]=1 [b]=2)

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b

# ------------------------------------------------------------------ PKI, policy, configs
pki_root "$KM_TMP"
for h in a b; do pki_host "$KM_TMP" "$h" "${N[$h]}"; done  # node CA names: "$h*"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432, icmp]
POLICY
for h in a b; do km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"; done

# ------------------------------------------------------------------ helpers
source "$KM_LIB_DIR/cni_lib.sh"

probe_stream() {  # probe_stream HOST_OF_CTR CTR_NETNS SRC DST : one second of tcp/5432 echoes
  in_ctr "$2" "$KM_PY" "$PROBE" stream "$3" "$4" 5432 1
}
serve_in() {  # serve_in CTR_NETNS ADDR LOGNAME : tcp/5432 echo server inside a container
  local ns
  ns=$(basename "$1")
  ip netns exec "$ns" "$KM_PY" "$PROBE" serve-tcp "$2" 5432 >"$KM_TMP/$3.log" 2>&1 </dev/null &
  record_pid $! "echo server $3" "$KM_TMP/$3.log"
  wait_for "grep -q LISTENING '$KM_TMP/$3.log'" 10 0.05 || fail "echo server $3 did not start"
}

# ------------------------------------------------------------------ 1. ADD on b, then on a
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
new_ctr BDB
ID_BDB=bdb0000000000000000000000000000000000000000000000000000000000000
cni b ADD "$ID_BDB" "$BDB" "$(conf b db)" db
expect_ok "1. ADD db on b"
RES_BDB=$OUT
IP_BDB=$(addr_of "$OUT")
[[ $IP_BDB == 100.64.2.* ]] || fail "1. db on b got $IP_BDB, not from 100.64.2.0/24"
identity_field b b/db certificate_chain >"$KM_TMP/b-db.chain"
grep -q "BEGIN KEYMESH CERTIFICATE" "$KM_TMP/b-db.chain" ||
  fail "1. keymesh identity list on b gave no certificate_chain for b/db: $(identities b)"
# a's directory: b/db's chain and b's endpoint.
printf 'directory:\n  - { certificate: %s, endpoints: ["%s:51820"] }\n' \
  "$KM_TMP/b-db.chain" "$(host_ip b)" >>"$KM_TMP/a.yaml"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"

new_ctr AWEB
new_ctr ADB
ID_WEB=aweb000000000000000000000000000000000000000000000000000000000000
ID_ADB=adb0000000000000000000000000000000000000000000000000000000000000
cni a ADD "$ID_WEB" "$AWEB" "$(conf a web)" web
expect_ok "1. ADD web on a"
RES_WEB=$OUT
cni a ADD "$ID_ADB" "$ADB" "$(conf a db)" db
expect_ok "1. ADD db on a"
RES_ADB=$OUT
IP_WEB=$(addr_of "$RES_WEB") IP_ADB=$(addr_of "$RES_ADB")
[[ $IP_WEB == 100.64.1.* && $IP_ADB == 100.64.1.* && $IP_WEB != "$IP_ADB" ]] ||
  fail "1. addresses on a: web $IP_WEB, db $IP_ADB"
[[ $(identity_field a a/web groups | jq -c .) == '["web"]' ]] || fail "1. a/web groups: $(identities a)"
[[ $(identity_field a a/db groups | jq -c .) == '["db"]' ]] || fail "1. a/db groups: $(identities a)"
[[ $(identity_field a a/web networks | jq -r '.[0]') == "$IP_WEB/32" ]] || fail "1. a/web networks: $(identities a)"
[[ $(identity_field a a/web kind) == workload ]] || fail "1. a/web kind: $(identities a)"
FP_WEB=$(identity_field a a/web fingerprint) FP_ADB=$(identity_field a a/db fingerprint)
[[ ${#FP_WEB} == 64 && ${#FP_ADB} == 64 ]] || fail "1. fingerprints: $(identities a)"
cni a CHECK "$ID_WEB" "$AWEB" "$(with_prev "$(conf a web)" "$RES_WEB")" web
expect_ok "1. CHECK web"
cni a CHECK "$ID_ADB" "$ADB" "$(with_prev "$(conf a db)" "$RES_ADB")" db
expect_ok "1. CHECK db on a"
cni b CHECK "$ID_BDB" "$BDB" "$(with_prev "$(conf b db)" "$RES_BDB")" db
expect_ok "1. CHECK db on b"
log "1. attached: a/web $IP_WEB [web], a/db $IP_ADB [db], b/db $IP_BDB [db]; CHECK passes"

# ------------------------------------------------------------------ 2. same host
serve_in "$ADB" "$IP_ADB" adb-server
serve_in "$AWEB" "$IP_WEB" aweb-server
serve_in "$BDB" "$IP_BDB" bdb-server
out=$(probe_stream a "$AWEB" "$IP_WEB" "$IP_ADB") || fail "2. web -> db tcp/5432 on a: $out"
in_ctr "$AWEB" ping -c1 -W2 "$IP_ADB" >/dev/null || fail "2. ping web -> db on a"
rc=0; out2=$(in_ctr "$ADB" "$KM_PY" "$PROBE" connect "$IP_ADB" "$IP_WEB" 5432 2) || rc=$?
((rc != 0)) || fail "2. db -> web tcp/5432 connected"
in_ctr "$ADB" ping -c1 -W1 "$IP_WEB" >/dev/null 2>&1 && fail "2. ping db -> web answered"
grep '"event":"packet_denied"' "$KM_TMP/a-audit.jsonl" | grep -q '"name":"a/web"' ||
  fail "2. no packet_denied audit line naming a/web on a"
log "2. same host: web -> db tcp/5432 echoes ($out), ping answers; db -> web refused ($out2), audited"

# ------------------------------------------------------------------ 3. cross host
capture_start a ul0 "$KM_TMP/a-ul0.pcap"
cap=$KM_LAST_PID
wait_for "in_ctr $AWEB ping -c1 -W1 $IP_BDB" 15 || fail "3. ping web (a) -> db (b)"
out=$(probe_stream a "$AWEB" "$IP_WEB" "$IP_BDB") || fail "3. web (a) -> db (b) tcp/5432: $out"
capture_stop "$cap"
n_udp=$(pcap_count "$KM_TMP/a-ul0.pcap" udp port 51820)
n_tcp=$(pcap_count "$KM_TMP/a-ul0.pcap" tcp)
((n_udp > 0)) || fail "3. no UDP 51820 on a's underlay"
[[ $n_tcp == 0 ]] || fail "3. $n_tcp plaintext TCP packets on a's underlay"
log "3. cross host: web -> b/db tcp/5432 echoes ($out), ping answers; underlay: $n_udp UDP/51820, 0 TCP"

# ------------------------------------------------------------------ 4. name pattern
new_ctr BAD
ID_BAD=bad0000000000000000000000000000000000000000000000000000000000000
cni a ADD "$ID_BAD" "$BAD" "$(conf a web 'web-${K8S_POD_NAME}')" rogue
((RC != 0)) || fail "4. ADD with identity web-rogue succeeded under pattern a/*"
[[ $(jq -r .code <<<"$OUT") == 101 ]] || fail "4. code: $OUT"
msg=$(jq -r .msg <<<"$OUT")
[[ $msg == *'"web-rogue"'* && $msg == *'pattern "a*"'* && $msg == *'identity template'* ]] ||
  fail "4. msg does not name identity, pattern and template: $msg"
[[ -z $(veth_of a "$ID_BAD") ]] || fail "4. a veth was left for the refused ADD"
names a | grep -q rogue && fail "4. keymeshd kept an identity for the refused ADD"
in_ctr "$BAD" ip link show eth0 >/dev/null 2>&1 && fail "4. eth0 was left in the container"
log "4. identity outside the node CA's pattern refused: $msg"

# ------------------------------------------------------------------ 5. restart
stop_keymeshd a || fail "5. keymeshd a exited with an error on SIGTERM"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
[[ $(identity_field a a/web fingerprint) == "$FP_WEB" ]] || fail "5. a/web fingerprint changed: $(identities a)"
[[ $(identity_field a a/db fingerprint) == "$FP_ADB" ]] || fail "5. a/db fingerprint changed"
[[ $(identity_field a a/web networks | jq -r '.[0]') == "$IP_WEB/32" ]] || fail "5. a/web address changed"
[[ $(identity_field a a/db networks | jq -r '.[0]') == "$IP_ADB/32" ]] || fail "5. a/db address changed"
cni a CHECK "$ID_WEB" "$AWEB" "$(with_prev "$(conf a web)" "$RES_WEB")" web
expect_ok "5. CHECK web after restart"
cni a CHECK "$ID_ADB" "$ADB" "$(with_prev "$(conf a db)" "$RES_ADB")" db
expect_ok "5. CHECK db after restart"
out=$(probe_stream a "$AWEB" "$IP_WEB" "$IP_ADB") || fail "5. web -> db on a after restart: $out"
wait_for "in_ctr $AWEB ping -c1 -W1 $IP_BDB" 15 || fail "5. ping web (a) -> db (b) after restart"
out2=$(probe_stream a "$AWEB" "$IP_WEB" "$IP_BDB") || fail "5. web -> b/db after restart: $out2"
log "5. after restarting keymeshd on a: same addresses and fingerprints, CHECK passes, traffic ($out, $out2)"

# ------------------------------------------------------------------ 6. DEL
VETH_ADB=$(veth_of a "$ID_ADB")
[[ -n $VETH_ADB ]] || fail "6. no veth for db on a before DEL"
cni a DEL "$ID_ADB" "$ADB" "$(with_prev "$(conf a db)" "$RES_ADB")" db
expect_ok "6. DEL db on a"
on a ip link show "$VETH_ADB" >/dev/null 2>&1 && fail "6. veth $VETH_ADB still there"
[[ -z $(on a ip route show "$IP_ADB/32") ]] || fail "6. route to $IP_ADB still there"
on a ip -j rule show | jq -e --arg v "$VETH_ADB" 'any(.[]; .iif == $v)' >/dev/null &&
  fail "6. rule for $VETH_ADB still there"
[[ -z $(identity_field a a/db name) ]] || fail "6. a/db still in keymesh identity list"
in_ctr "$ADB" ip link show eth0 >/dev/null 2>&1 && fail "6. eth0 still in the container"
cni a DEL "$ID_ADB" "$ADB" "$(conf a db)" db
expect_ok "6. second DEL"
cni a DEL "$ID_ADB" "" "$(conf a db)" db
expect_ok "6. third DEL, CNI_NETNS empty"
log "6. DEL removed veth, route, rule, workload and identity a/db; DEL again succeeds"

# ------------------------------------------------------------------ 7. 20 in parallel
rules_before=$(rules_7300 a)
declare -a P_NS P_ID
for i in $(seq 1 20); do
  new_ctr "P_NS[$i]"
  P_ID[$i]=$(printf 'par%061d' "$i")
done
t0=$EPOCHREALTIME
for i in $(seq 1 20); do
  (cni a ADD "${P_ID[$i]}" "${P_NS[$i]}" "$(conf a batch)" "p$i"
   printf '%s\n' "$OUT" >"$KM_TMP/par-$i.out"; exit "$RC") &
  P_PID[$i]=$!
done
bad=0
for i in $(seq 1 20); do wait "${P_PID[$i]}" || { bad=$((bad + 1)); log "ADD $i: $(cat "$KM_TMP/par-$i.out")"; }; done
t1=$EPOCHREALTIME
((bad == 0)) || fail "7. $bad of 20 parallel ADDs failed"
addrs=$(for i in $(seq 1 20); do addr_of "$(cat "$KM_TMP/par-$i.out")"; done | sort -u)
[[ $(wc -l <<<"$addrs") == 20 ]] || fail "7. addresses not distinct: $addrs"
grep -qv '^100\.64\.1\.' <<<"$addrs" && fail "7. addresses outside 100.64.1.0/24: $addrs"
n=$(names a | grep -c '^a/p[0-9]') || true
[[ $n == 20 ]] || fail "7. keymeshd lists $n of the 20 identities"
for i in 1 20; do
  in_ctr "${P_NS[$i]}" ip -4 -o addr show eth0 | grep -q "$(addr_of "$(cat "$KM_TMP/par-$i.out")")/32" ||
    fail "7. container $i lacks its address"
done
t2=$EPOCHREALTIME
for i in $(seq 1 20); do
  (cni a DEL "${P_ID[$i]}" "${P_NS[$i]}" "$(conf a batch)" "p$i"
   printf '%s\n' "$OUT" >"$KM_TMP/par-del-$i.out"; exit "$RC") &
  P_PID[$i]=$!
done
bad=0
for i in $(seq 1 20); do wait "${P_PID[$i]}" || { bad=$((bad + 1)); log "DEL $i: $(cat "$KM_TMP/par-del-$i.out")"; }; done
t3=$EPOCHREALTIME
((bad == 0)) || fail "7. $bad of 20 parallel DELs failed"
names a | grep -q '^a/p[0-9]' && fail "7. identities left: $(names a | tr '\n' ' ')"
left=$(on a ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/par" '.[] | select((.ifalias // "") | startswith($t)) | .ifname')
[[ -z $left ]] || fail "7. veths left: $left"
[[ $(rules_7300 a) == $((rules_before)) ]] || fail "7. rules 7300: $(rules_7300 a), want $rules_before"
[[ -z $(on a ip -4 route show | grep -F -f <(sed 's/$/ /' <<<"$addrs")) ]] ||
  fail "7. routes left: $(on a ip -4 route show)"
log "7. 20 parallel ADDs ($(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s), 20 distinct addresses; 20 parallel DELs ($(awk -v a="$t3" -v b="$t2" 'BEGIN{printf "%.1f", a-b}') s) left nothing"

# web still works after all that
wait_for "in_ctr $AWEB ping -c1 -W1 $IP_BDB" 15 ||
  fail "7. ping web -> b/db after the batch: $(km_cli status --socket "$KM_TMP/a.sock")"
out=$(probe_stream a "$AWEB" "$IP_WEB" "$IP_BDB") ||
  fail "7. web -> b/db after the batch: $out; $(km_cli status --socket "$KM_TMP/a.sock")"
