#!/usr/bin/env bash
# control_socket.sh - clients hogging keymeshd's control socket do not lock out the CLI or
# the CNI plugin (docs/config.md, "Control socket"): 64 slots, 5 s per request.
#
#   hog.py hold (one process): 200 idle connections --+
#   hog.py trickle (another): 1 byte a second --------+--> $KM_TMP/a.sock (control socket)
#   keymesh status / identity list, keymesh-cni ADD --+        |
#                                                      ns ...-a: keymeshd, km0 100.64.1.1/10,
#   ns ...-c1: eth0 <- veth -------------------------- node CA a-ca (100.64.1.0/24, names "a*")
#
# Scenarios:
# 1. While 200 idle connections are held open (more than the 64 slots) and another client
#    trickles a request in, `keymesh status`, `keymesh identity list` and a CNI ADD each
#    answer within 1 s.
# 2. The daemon closes every idle connection: the oldest are evicted to admit new ones, the
#    rest at the 5 s deadline, none later than 6.5 s after it was opened. The trickling
#    client is closed between 4.5 and 6.5 s, its 40-byte request unfinished.
# 3. `keymesh status` counts them (timed out + evicted = 201) and keymeshd logged them.
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need jq python3

PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
HOG="$KM_LIB_DIR/control_hog.py"
SOCK="$KM_TMP/a.sock"

make_host a 198.18.0.1
pki_root "$KM_TMP"
pki_host "$KM_TMP" a 1
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432]
POLICY
km_cert_config "$KM_TMP/a.yaml" a 1
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"

CTR="km-${KM_TEST}-${KM_RUN}-c1"
ip netns add "$CTR"
KM_EXTRA_NS+=("$CTR")  # lib.sh's cleanup deletes it
ID=c1$(printf "0%.0s" {1..62})  # 64 characters, as runtimes make them

elapsed_since() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN{printf "%.3f", a-b}'; }
within_1s() { awk -v t="$1" 'BEGIN{exit !(t < 1.0)}'; }

# ------------------------------------------------------------------ 1. answers under siege
spawn a "$KM_TMP/hold.log" "$KM_PY" "$HOG" hold "$SOCK" 200 12
HOLD_PID=$KM_LAST_PID
spawn a "$KM_TMP/trickle.log" "$KM_PY" "$HOG" trickle "$SOCK" 12
TRICKLE_PID=$KM_LAST_PID
wait_for "grep -q HOLDING '$KM_TMP/hold.log'" 10 0.05 || fail "1. hog could not open 200 connections"
wait_for "grep -q TRICKLING '$KM_TMP/trickle.log'" 10 0.05 || fail "1. trickling client did not start"
HELD_AT=$EPOCHREALTIME
log "1. 200 idle connections held open, one client trickling"

t0=$EPOCHREALTIME
out=$(timeout 10 "$(binary keymesh)" status --socket "$SOCK" 2>&1) || fail "1. keymesh status failed: $out"
t_status=$(elapsed_since "$t0")
grep -q "^interface: km0" <<<"$out" || fail "1. keymesh status printed: $out"
within_1s "$t_status" || fail "1. keymesh status took ${t_status} s"

t0=$EPOCHREALTIME
out=$(timeout 10 "$(binary keymesh)" identity list --socket "$SOCK" 2>&1) ||
  fail "1. keymesh identity list failed: $out"
t_list=$(elapsed_since "$t0")
grep -q "\ba\b" <<<"$out" || fail "1. keymesh identity list printed: $out"
within_1s "$t_list" || fail "1. keymesh identity list took ${t_list} s"

conf=$(printf '{"cniVersion":"1.0.0","name":"kmnet","type":"keymesh","socket":"%s","identity":"a/web","groups":["web"]}' "$SOCK")
t0=$EPOCHREALTIME
rc=0
res=$(printf '%s' "$conf" | on a timeout 10 env -i PATH="$PATH" CNI_COMMAND=ADD \
  CNI_CONTAINERID="$ID" CNI_NETNS="/run/netns/$CTR" CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
  "$PLUGIN" 2>>"$KM_TMP/plugin.log") || rc=$?
t_add=$(elapsed_since "$t0")
((rc == 0)) || fail "1. CNI ADD exited $rc: $res"
addr=$(jq -r '.ips[0].address' <<<"$res")
[[ $addr == 100.64.1.*/32 ]] || fail "1. CNI ADD gave $res"
within_1s "$t_add" || fail "1. CNI ADD took ${t_add} s"
log "1. under siege: status ${t_status} s, identity list ${t_list} s, CNI ADD ${t_add} s ($addr)"

# ------------------------------------------------------------------ 2. every hog is closed
wait_for "grep -q opened '$KM_TMP/hold.log'" 14 0.1 || fail "2. hold client did not finish"
wait_for "grep -q closed '$KM_TMP/trickle.log'" 14 0.1 || fail "2. trickle client did not finish"
hold=$(grep opened "$KM_TMP/hold.log")
trickle=$(grep closed "$KM_TMP/trickle.log")
[[ $(jq .closed <<<"$hold") == 200 ]] || fail "2. keymeshd closed $(jq .closed <<<"$hold") of 200 idle connections (12 s)"
longest=$(jq '.lifetimes | max' <<<"$hold")
at_deadline=$(jq '[.lifetimes[] | select(. >= 4.5)] | length' <<<"$hold")
awk -v t="$longest" 'BEGIN{exit !(t <= 6.5)}' || fail "2. an idle connection lived ${longest} s"
((at_deadline >= 50)) || fail "2. only $at_deadline idle connections lived to the 5 s deadline: $hold"
[[ $(jq .closed <<<"$trickle") == true ]] || fail "2. the trickling client was never closed: $trickle"
after=$(jq .after <<<"$trickle")
awk -v t="$after" 'BEGIN{exit !(t >= 4.5 && t <= 6.5)}' || fail "2. trickling client closed after ${after} s"
(($(jq .sent <<<"$trickle") < $(jq .size <<<"$trickle"))) || fail "2. the trickled request completed: $trickle"
log "2. 200 idle connections closed ($at_deadline at the deadline, longest ${longest} s); trickler closed after ${after} s having sent $(jq .sent <<<"$trickle") of 40 bytes"

# ------------------------------------------------------------------ 3. counted and logged
cs=$(timeout 10 "$(binary keymesh)" status --json --socket "$SOCK" | jq -c .control_socket) ||
  fail "3. keymesh status --json failed"
timed_out=$(jq -r '.timed_out | tonumber' <<<"$cs")
evicted=$(jq -r '.evicted | tonumber' <<<"$cs")
((timed_out + evicted == 201)) || fail "3. status counts $cs, expected 201 closures"
((timed_out >= 51)) || fail "3. status counts $cs: too few timed out"
[[ $(jq -r .max_open <<<"$cs") == 64 && $(jq -r .request_deadline_ms <<<"$cs") == 5000 ]] ||
  fail "3. status shows limits $cs"
text=$(timeout 10 "$(binary keymesh)" status --socket "$SOCK")
grep -q "^control socket: 1 of 64 connections open, $timed_out timed out (no request within 5000 ms), $evicted evicted" <<<"$text" ||
  fail "3. keymesh status does not show the counters: $text"
# The first closure is logged at once, later ones at most every 10 s (so within 10 s).
wait_for "grep -Eq 'control socket: closed [1-9][0-9]* connection\(s\) without a complete request within 5000 ms' '$KM_TMP/a.log'" 11 0.2 ||
  fail "3. keymeshd did not log the timed-out connections"
log "3. keymesh status: $timed_out timed out, $evicted evicted"
stop_pid "$HOLD_PID" || true
stop_pid "$TRICKLE_PID" || true
