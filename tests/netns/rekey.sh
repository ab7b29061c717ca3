#!/usr/bin/env bash
# rekey.sh - sessions are rekeyed on schedule under load without breaking a TCP stream, and
# expired sessions are re-established on demand (shortened `testing:` timers).
#
#   ns km-rekey-<pid>-a                            ns km-rekey-<pid>-b
#   +----------------------------+                 +----------------------------+
#   | km0 100.64.3.1/24 (TUN)    |                 | km0 100.64.3.2/24 (TUN)    |
#   |   keymeshd  udp :51820     |                 |   keymeshd  udp :51820     |
#   | ul0 198.18.0.1/24          |=== veth pair ===| ul0 198.18.0.2/24          |
#   +----------------------------+                 +----------------------------+
#   timers: rekey_after 4 s, reject_after 8 s, rekey_attempt 9 s, rekey_timeout 1 s,
#           keepalive 1 s
#
# Scenarios:
# 1. a ~20 s rate-limited TCP transfer a->b (10 MB at 512 KiB/s): its sha256 matches, and a
#    logs >= 3 new "handshake complete" lines while it runs (and no more than 20: no storm).
# 2. idle past reject_after_time (10 s without traffic), then a ping a->b still gets through
#    (a fresh handshake is made on demand) and a logs one more handshake.
KM_DEADLINE=${KM_DEADLINE:-240}
source "$(dirname "$0")/lib.sh"
need ping sha256sum

KM_TIMERS="rekey_after_time_ms: 4000, reject_after_time_ms: 8000, rekey_attempt_time_ms: 9000, rekey_timeout_ms: 1000, keepalive_timeout_ms: 1000"
km_pair

wait_ping a "$(ov_ip b)" 15 || fail "a cannot ping b"

# 1. rekeying under a long transfer
before=$(count_lines "$KM_TMP/a.log" "handshake complete")
before_b=$(count_lines "$KM_TMP/b.log" "handshake complete")
make_random_file "$KM_TMP/data" 10
t0=$(date +%s)
transfer a b "$(ov_ip b)" "$KM_TMP/data" $((512 * 1024)) 90 5201 || fail "transfer across rekeys failed"
t1=$(date +%s)
during=$(($(count_lines "$KM_TMP/a.log" "handshake complete") - before))
during_b=$(($(count_lines "$KM_TMP/b.log" "handshake complete") - before_b))
log "1. transfer took $((t1 - t0)) s; handshakes during it: a logged $during, b logged $during_b"
((t1 - t0 >= 15)) || fail "transfer finished in $((t1 - t0)) s: rate limit not in effect?"
((during >= 3)) || fail "only $during handshakes completed on a during a $((t1 - t0)) s transfer (rekey after 4 s)"
((during <= 20)) || fail "$during handshakes on a in $((t1 - t0)) s: rekey storm"
((during_b >= 3)) || fail "only $during_b handshakes completed on b during the transfer"

# 2. idle past reject_after_time, then traffic again
sleep 10
before=$(count_lines "$KM_TMP/a.log" "handshake complete")
wait_ping a "$(ov_ip b)" 15 || fail "no ping after the session expired"
on a ping -c 2 -W 2 "$(ov_ip b)" >/dev/null || fail "ping lost after re-handshake"
after=$(count_lines "$KM_TMP/a.log" "handshake complete")
((after > before)) || fail "no new handshake after the old session expired"
log "2. fresh handshake after expiry: ok"

for h in a b; do
  rc=0
  stop_keymeshd "$h" || rc=$?
  [[ $rc == 0 ]] || fail "keymeshd on $h exited $rc on SIGTERM"
done
