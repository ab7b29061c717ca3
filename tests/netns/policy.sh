#!/usr/bin/env bash
# policy.sh - the web/db scenario: paths and packets only where policy grants them, in real
# kernels, with a schedule crossed on an injected clock and a reload under traffic.
#
#   ns ...-a (web host)          ns ...-b (db host)           ns ...-m (mallory's host)
#   km0 100.64.1.1/10            km0 100.64.2.1/10            km0 100.64.3.1/10
#     web-1 100.64.1.10 [web]      db-1 100.64.2.10 [db]        mallory 100.64.3.10 [other]
#   ul0 198.18.0.1 ------------- bridge ------------- 198.18.0.2 ------------- 198.18.0.3
#
# Policy on a and b: web may reach db on tcp/5432, udp/5353 and icmp, Monday to Friday
# 08:00-18:00 Europe/Berlin. The daemons' wall clock starts at the next Friday 17:59:00 Berlin
# after now (testing.wall_clock_start_unix), so the schedule ends 60 s into the test. The
# certificates are issued now and live 200 h, which covers any Friday of the coming week.
# Mallory's own daemon grants everything; a and b grant mallory nothing.
#
# Scenarios:
# 1. web -> db tcp/5432 connects and echoes; udp/5353 arrives; ping web -> db answers.
# 2. web -> db tcp/22 fails; a's audit log has packet_denied with both identities and the
#    documented reason "no rule grants tcp/22 from web-1 to db-1",
#    and a capture on b's km0 sees no packet for port 22 (nothing reached the db host).
# 3. db may not open anything towards web: db -> web tcp/5432 and ping db -> web fail
#    (audited on b), although the path exists and carries web's flows.
# 4. udp/5354 (not granted) never arrives.
# 5. Responder silence: mallory pings db-1; m sends keymesh initiations to b, b sends nothing
#    at all back to m (capture on b's underlay), counts path_not_granted and audits path_refused.
# 6. Reload under traffic: during a live tcp/5432 echo stream, the policy file loses the tcp
#    grant; within ~1 s the stream breaks, a's audit has policy_reloaded, a new connect
#    fails, while ping (still granted) works. The original policy is then restored.
# 7. `keymesh policy check` against the daemon: allow tcp/5432 naming the rule, deny tcp/22.
# 8. Schedule: at 18:00 Berlin (clock injected) paths close without a reload (audit
#    path_closed on a) and nothing works any more: connect, udp and ping all fail.
KM_DEADLINE=${KM_DEADLINE:-200}
source "$(dirname "$0")/lib.sh"
need ping tcpdump python3

PROBE="$KM_LIB_DIR/netprobe.py"
# The next Friday 17:59:00 Europe/Berlin at least 10 minutes from now (never a fixed date).
START=$("$KM_PY" - <<'PY'
import datetime, zoneinfo
tz = zoneinfo.ZoneInfo("Europe/Berlin")
now = datetime.datetime.now(tz)
day = now.date()
while True:
    t = datetime.datetime.combine(day, datetime.time(17, 59), tz)
    if t.weekday() == 4 and t > now + datetime.timedelta(minutes=10):
        print(int(t.timestamp()))
        break
    day += datetime.timedelta(days=1)
PY
)
export KM_PKI_LIFETIME=240h KM_PKI_LEAF_LIFETIME=200h KM_PKI_PATTERN='*'

make_host a 198.18.0.1
make_host b 198.18.0.2
make_host m 198.18.0.3
link_hosts a b m
pki_root "$KM_TMP"
declare -A N=([a]=1 [b]=2 [m]=3) W=([a]=web-1 [b]=db-1 [m]=mallory) G=([a]=web [b]=db [m]=other)
write_policy() {  # write_policy FILE [without-tcp]
  {
    echo "rules:"
    echo "  - name: web-to-db"
    echo "    from: { groups: [web] }"
    echo "    to: { groups: [db] }"
    if [[ ${2:-} == without-tcp ]]; then echo "    allow: [udp/5353, icmp]"
    else echo "    allow: [tcp/5432, udp/5353, icmp]"; fi
    echo "    schedule: { days: [mon, tue, wed, thu, fri], hours: \"08:00-18:00\", timezone: Europe/Berlin }"
  } >"$1.tmp"
  mv "$1.tmp" "$1"  # atomically, as an editor or config management would
}
write_policy "$KM_TMP/policy.yaml"
printf 'rules:\n  - { name: anything, from: {}, to: {}, allow: [any] }\n' >"$KM_TMP/m-policy.yaml"

for h in a b m; do
  pki_host "$KM_TMP" "$h" "${N[$h]}"
  pki_leaf "$KM_TMP" "$h" "${W[$h]}" workload "100.64.${N[$h]}.10/32" "${G[$h]}"
done
for h in a b m; do
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  echo "testing: { wall_clock_start_unix: $START }" >>"$KM_TMP/$h.yaml"
  entries=("${W[$h]}" --)
  for o in a b m; do [[ $o != "$h" ]] && entries+=("${W[$o]}@$(host_ip "$o")"); done
  km_cert_finish "$KM_TMP/$h.yaml" "${entries[@]}"
done
sed -i "s#^policy: .*#policy: $KM_TMP/m-policy.yaml#" "$KM_TMP/m.yaml"
for h in a b m; do
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
  on "$h" ip addr add "100.64.${N[$h]}.10/32" dev km0
done
WEB=100.64.1.10 DB=100.64.2.10 MAL=100.64.3.10

spawn b "$KM_TMP/tcp5432.log" "$KM_PY" "$PROBE" serve-tcp "$DB" 5432
spawn b "$KM_TMP/tcp22.log" "$KM_PY" "$PROBE" serve-tcp "$DB" 22
spawn a "$KM_TMP/webtcp.log" "$KM_PY" "$PROBE" serve-tcp "$WEB" 5432
spawn b "$KM_TMP/udp.log" "$KM_PY" "$PROBE" serve-udp "$DB" 5353 "$KM_TMP/udp5353.txt"
spawn b "$KM_TMP/udp2.log" "$KM_PY" "$PROBE" serve-udp "$DB" 5354 "$KM_TMP/udp5354.txt"
for f in tcp5432 tcp22 webtcp udp udp2; do
  wait_for "grep -q LISTENING '$KM_TMP/$f.log'" 10 0.05 || fail "probe server $f did not start"
done
probe() { local h=$1; shift; on "$h" "$KM_PY" "$PROBE" "$@"; }

# 1. what is granted works
probe a connect "$WEB" "$DB" 5432 5 >/dev/null || fail "1. web -> db tcp/5432 did not connect"
probe a udp "$WEB" "$DB" 5353 hello-5353
wait_for "grep -q hello-5353 '$KM_TMP/udp5353.txt'" 5 0.1 || fail "1. udp/5353 did not arrive"
on a ping -c2 -W2 -I "$WEB" "$DB" >/dev/null || fail "1. ping web -> db failed"
log "1. web -> db: tcp/5432 connects, udp/5353 arrives, ping answers"

# 2. tcp/22 is refused on a, nothing reaches b
capture_start b km0 "$KM_TMP/b-km0.pcap" tcp port 22
cap=$KM_LAST_PID
out=$(probe a connect "$WEB" "$DB" 22 3) && fail "2. web -> db tcp/22 connected"
capture_stop "$cap"
n22=$(pcap_count "$KM_TMP/b-km0.pcap" tcp port 22)
[[ $n22 == 0 ]] || fail "2. $n22 packets for port 22 reached the db host"
grep '"event":"packet_denied"' "$KM_TMP/a-audit.jsonl" | grep '"name":"db-1"' |
  grep -q '"reason":"no rule grants tcp/22 from web-1 to db-1"' ||
  fail "2. no packet_denied audit line 'no rule grants tcp/22 from web-1 to db-1' on a"
log "2. tcp/22 refused ($out), audited on a, 0 packets reached b's km0"

# 3. db opens nothing towards web
probe b connect "$DB" "$WEB" 5432 3 >/dev/null && fail "3. db -> web tcp/5432 connected"
on b ping -c2 -W1 -I "$DB" "$WEB" >/dev/null 2>&1 && fail "3. ping db -> web was answered"
grep '"event":"packet_denied"' "$KM_TMP/b-audit.jsonl" | grep -q '"name":"web-1"' ||
  fail "3. no packet_denied audit line on b"
log "3. db -> web: tcp/5432 and ping refused (audited on b)"

# 4. udp/5354 never arrives
probe a udp "$WEB" "$DB" 5354 hello-5354
sleep 1
[[ ! -s $KM_TMP/udp5354.txt ]] || fail "4. udp/5354 arrived"
log "4. udp/5354 (not granted) did not arrive"

# 5. the responder stays silent towards mallory
capture_start b ul0 "$KM_TMP/b-ul0.pcap" udp and host "$(host_ip m)"
cap=$KM_LAST_PID
on m ping -c3 -W1 -I "$MAL" "$DB" >/dev/null 2>&1 && fail "5. mallory's ping was answered"
sleep 0.5
capture_stop "$cap"
from_m=$(pcap_count "$KM_TMP/b-ul0.pcap" src host "$(host_ip m)")
to_m=$(pcap_count "$KM_TMP/b-ul0.pcap" dst host "$(host_ip m)")
((from_m >= 1)) || fail "5. no initiation from m reached b (the scenario proves nothing)"
[[ $to_m == 0 ]] || fail "5. b sent $to_m datagrams back to mallory's host"
grep '"event":"path_refused"' "$KM_TMP/b-audit.jsonl" | grep -q '"name":"mallory"' ||
  fail "5. no path_refused audit line naming mallory on b"
log "5. $from_m initiation(s) from mallory's host, 0 datagrams back; path_refused audited"

# 6. reload under traffic
spawn a "$KM_TMP/stream.log" "$KM_PY" "$PROBE" stream "$WEB" "$DB" 5432 20
stream_pid=$KM_LAST_PID
sleep 2
write_policy "$KM_TMP/policy.yaml" without-tcp
t0=$(date +%s.%N)
wait "$stream_pid" && fail "6. the tcp/5432 stream survived the policy reload"
t1=$(date +%s.%N)
grep -q '"event":"policy_reloaded"' "$KM_TMP/a-audit.jsonl" || fail "6. no policy_reloaded audit line"
probe a connect "$WEB" "$DB" 5432 2 >/dev/null && fail "6. a new tcp/5432 connect worked after the reload"
on a ping -c1 -W2 -I "$WEB" "$DB" >/dev/null || fail "6. ping (still granted) failed after the reload"
log "6. reload cut the live stream ($(cat "$KM_TMP/stream.log")) $(python3 -c "print(f'{$t1-$t0:.1f}')") s after the write; ping still works"
write_policy "$KM_TMP/policy.yaml"
wait_for "probe a connect $WEB $DB 5432 1" 10 0.2 || fail "6. tcp/5432 did not come back after restoring the policy"

# 7. policy check against the daemon
out=$(km_cli policy check --from web-1 --to db-1 --port tcp/5432 --socket "$KM_TMP/a.sock") ||
  fail "7. policy check tcp/5432: $out"
[[ $out == *web-to-db* ]] || fail "7. the allow did not name the rule: $out"
rc=0; out=$(km_cli policy check --from web-1 --to db-1 --port tcp/22 --socket "$KM_TMP/a.sock") || rc=$?
[[ $rc == 1 && $out == deny* ]] || fail "7. tcp/22: exit $rc, $out"
log "7. policy check via keymeshd: tcp/5432 allow (web-to-db), tcp/22 deny"

# 8. the schedule ends at 18:00 Berlin
log "8. waiting for 18:00 Berlin on the injected clock"
wait_for "grep -q '\"event\":\"path_closed\".*no longer grants' '$KM_TMP/a-audit.jsonl'" 90 0.5 ||
  fail "8. no path_closed audit line on a at the end of the schedule"
probe a connect "$WEB" "$DB" 5432 2 >/dev/null && fail "8. tcp/5432 still connects after 18:00"
on a ping -c2 -W1 -I "$WEB" "$DB" >/dev/null 2>&1 && fail "8. ping still answered after 18:00"
probe a udp "$WEB" "$DB" 5353 after-hours
sleep 1
grep -q after-hours "$KM_TMP/udp5353.txt" && fail "8. udp/5353 arrived after 18:00"
log "8. at 18:00 the path closed (audited) and tcp, udp and icmp all stopped"
