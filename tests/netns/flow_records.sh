#!/usr/bin/env bash
# flow_records.sh - flow records answer "who talked to the database, when, how much", and
# the audit file survives rotation (mv + SIGHUP, and copytruncate) without losing a line.
#
#   ns ...-a (web host)                     ns ...-b (db host)
#   km0 100.64.1.1/10                       km0 100.64.2.1/10
#     web-1 100.64.1.10 [web]                 db-1 100.64.2.10 [db]
#   ul0 198.18.0.1 ------------------------ 198.18.0.2 ul0
#
# Policy on both: web may reach db on tcp/5432 (rule web-to-db). flow_log is enabled on both
# daemons, into their audit files.
#
# Scenarios:
# 1. web -> db tcp/22 is refused: a's audit has packet_denied naming both identities (with
#    fingerprints), and no flow record exists for port 22 on either host.
# 2. web sends 300000 bytes to db:5432 and db answers 70000 bytes, then both close. Both hosts
#    write flow_started (web-1 -> db-1, port 5432, groups, fingerprints, rule web-to-db) and,
#    after the FIN, flow_ended with end_reason "fin", a duration, and source/destination byte
#    counts that cover what was sent plus no more than 80 bytes of headers per packet.
#    The SIEM query "who talked to db-1 on 5432, when, how much" (jq) answers web-1 with those
#    numbers.
# 3. Rotation by mv + SIGHUP while a client opens a connection every 100 ms: every
#    flow_started line is in the old or the new file (as many as connections were opened),
#    and lines after the SIGHUP go to the new file.
# 4. copytruncate (cp, then truncate to 0) while quiet: the next lines start at offset 0 of the
#    truncated file (no hole of NUL bytes), and old copy + file together hold every line.
# 5. audit_syslog: a's daemon restarted with it, in a private mount namespace whose /dev/log
#    is a socket of the test's: flow and audit lines arrive as "keymeshd[PID]: {json}"
#    messages, and the file keeps being written.
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need jq python3

export KM_PKI_PATTERN="*"
make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b
pki_root "$KM_TMP"
declare -A N=([a]=1 [b]=2) W=([a]=web-1 [b]=db-1) G=([a]=web [b]=db)
printf 'rules:\n  - { name: web-to-db, from: { groups: [web] }, to: { groups: [db] }, allow: [tcp/5432] }\n' \
  >"$KM_TMP/policy.yaml"
for h in a b; do
  pki_host "$KM_TMP" "$h" "${N[$h]}"
  pki_leaf "$KM_TMP" "$h" "${W[$h]}" workload "100.64.${N[$h]}.10/32" "${G[$h]}"
done
for h in a b; do
  o=$([[ $h == a ]] && echo b || echo a)
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  echo "flow_log: { enabled: true }" >>"$KM_TMP/$h.yaml"
  km_cert_finish "$KM_TMP/$h.yaml" "${W[$h]}" -- "${W[$o]}@$(host_ip "$o")"
done
for h in a b; do
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
  on "$h" ip addr add "100.64.${N[$h]}.10/32" dev km0
done
WEB=100.64.1.10 DB=100.64.2.10
AUDIT_A=$KM_TMP/a-audit.jsonl AUDIT_B=$KM_TMP/b-audit.jsonl

# A database stand-in: reads until the client shuts its side, then answers REPLY bytes.
cat >"$KM_TMP/db.py" <<'PY'
import socket, sys, threading
addr, port, reply = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(64); print("LISTENING", flush=True)
def serve(c):
    with c:
        got = 0
        while (b := c.recv(65536)):
            got += len(b)
        c.sendall(b"r" * reply)
        print("received", got, flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat >"$KM_TMP/client.py" <<'PY'
import socket, sys
src, dst, port, send = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = socket.create_connection((dst, port), timeout=5, source_address=(src, 0))
c.sendall(b"q" * send); c.shutdown(socket.SHUT_WR)
got = 0
while (b := c.recv(65536)):
    got += len(b)
c.close(); print(got)
PY
spawn b "$KM_TMP/db.log" "$KM_PY" "$KM_TMP/db.py" "$DB" 5432 70000
wait_for "grep -q LISTENING '$KM_TMP/db.log'" 10 0.05 || fail "db stand-in did not start"
flows() {  # flows FILE... : the flow records as one JSON value per line
  cat "$@" 2>/dev/null | jq -c 'select(.event | startswith("flow_"))'
}

# 1. tcp/22 refused: a decision record, no flow record
on a "$KM_PY" "$KM_LIB_DIR/netprobe.py" connect "$WEB" "$DB" 22 3 >/dev/null &&
  fail "1. web -> db tcp/22 connected"
wait_for "grep -q '\"event\":\"packet_denied\".*no rule grants tcp/22 from web-1 to db-1' '$AUDIT_A'" 5 0.1 ||
  fail "1. no packet_denied line for tcp/22 on a"
denied=$(grep '"event":"packet_denied"' "$AUDIT_A" | grep 'tcp/22' | head -1)
for who in web-1 db-1; do
  fp=$(km_cli cert show --json "$KM_TMP/$who.crt" | jq -r 'if type == "array" then .[0] else . end | .fingerprint')
  [[ -n $fp && $fp != null ]] || fail "1. no fingerprint for $who"
  jq -e --arg n "$who" --arg fp "$fp" '[.local, .remote] | any(.name == $n and .fingerprint == $fp)' \
    <<<"$denied" >/dev/null || fail "1. packet_denied does not name $who with fingerprint $fp: $denied"
done
n22=$(flows "$AUDIT_A" "$AUDIT_B" | jq -s '[.[] | select(.destination.port == 22)] | length')
[[ $n22 == 0 ]] || fail "1. $n22 flow records for tcp/22"
log "1. tcp/22 refused: packet_denied names web-1 and db-1 with fingerprints; no flow record"

# 2. a granted flow: who, when, how much
t_before=$(date -u +%Y-%m-%dT%H:%M:%S)
got=$(on a "$KM_PY" "$KM_TMP/client.py" "$WEB" "$DB" 5432 300000) || fail "2. client failed"
[[ $got == 70000 ]] || fail "2. web received $got bytes, expected 70000"
wait_for "grep -q 'received 300000' '$KM_TMP/db.log'" 5 0.1 || fail "2. db did not receive 300000 bytes"
for f in "$AUDIT_A" "$AUDIT_B"; do
  wait_for "flows '$f' | jq -e 'select(.event == \"flow_ended\" and .destination.port == 5432)' >/dev/null" 20 0.5 ||
    fail "2. no flow_ended for tcp/5432 in $f within 20 s"
done
for f in "$AUDIT_A" "$AUDIT_B"; do
  start=$(flows "$f" | jq -c 'select(.event == "flow_started" and .destination.port == 5432)' | head -1)
  end=$(flows "$f" | jq -c 'select(.event == "flow_ended" and .destination.port == 5432)' | head -1)
  jq -e '.protocol == "tcp" and .source.name == "web-1" and .source.ip == "100.64.1.10"
         and .destination.name == "db-1" and .destination.ip == "100.64.2.10"
         and .source.groups == ["web"] and .destination.groups == ["db"]
         and (.source.fingerprint | length) > 0 and (.destination.fingerprint | length) > 0
         and .rule == "web-to-db" and .end_reason == null' <<<"$start" >/dev/null ||
    fail "2. flow_started in $f lacks what a SIEM needs: $start"
  [[ $(jq -r .flow_id <<<"$start") == $(jq -r .flow_id <<<"$end") ]] ||
    fail "2. flow_started and flow_ended in $f carry different flow ids"
  jq -e '.end_reason == "fin" and .duration_ms >= 0 and .rule == "web-to-db"
         and .source.bytes >= 300000 and .source.bytes <= 300000 + 80 * .source.packets
         and .destination.bytes >= 70000 and .destination.bytes <= 70000 + 80 * .destination.packets
         and .source.packets >= 3 and .destination.packets >= 3' <<<"$end" >/dev/null ||
    fail "2. flow_ended in $f has wrong counts or reason: $end"
  [[ $(jq -r .start <<<"$end") > $t_before ]] || fail "2. flow start $(jq -r .start <<<"$end") before the test's $t_before"
done
# The SIEM question, asked of the db host's records.
answer=$(flows "$AUDIT_B" | jq -r 'select(.event == "flow_ended" and .destination.name == "db-1" and .destination.port == 5432)
                                   | "\(.source.name) \(.start) \(.source.bytes) \(.destination.bytes)"' | head -1)
log "2. who talked to db-1:5432, when, how much: $answer"
[[ $answer == web-1\ * ]] || fail "2. the db host's records do not answer web-1: $answer"

# 3. mv + SIGHUP under a steady stream of new connections
cat >"$KM_TMP/loop.sh" <<SH
n=0
while [[ ! -e $KM_TMP/stop-loop ]]; do
  "$KM_PY" "$KM_TMP/client.py" "$WEB" "$DB" 5432 100 >/dev/null && n=\$((n + 1))
  echo \$n >"$KM_TMP/loop.count"
  sleep 0.1
done
SH
before=$(flows "$AUDIT_A" | jq -s '[.[] | select(.event == "flow_started")] | length')
spawn a "$KM_TMP/loop.log" bash "$KM_TMP/loop.sh"
loop_pid=$KM_LAST_PID
sleep 2
mv "$AUDIT_A" "$AUDIT_A.1"
kill -HUP "${KM_DAEMON_PID[a]}"
sleep 2
touch "$KM_TMP/stop-loop"
wait_for "! kill -0 $loop_pid 2>/dev/null" 10 0.1 || fail "3. client loop did not stop"
opened=$(cat "$KM_TMP/loop.count")
((opened >= 4)) || fail "3. only $opened connections during the rotation"
[[ -s $AUDIT_A ]] || fail "3. nothing was written to the new audit file after mv + SIGHUP"
got=$(on a "$KM_PY" "$KM_TMP/client.py" "$WEB" "$DB" 5432 100) || fail "3. last connect failed"
opened=$((opened + 1))
wait_for "[[ \$(flows '$AUDIT_A.1' '$AUDIT_A' | jq -s '[.[] | select(.event == \"flow_started\")] | length') -ge $((before + opened)) ]]" 5 0.2 || true
total=$(flows "$AUDIT_A.1" "$AUDIT_A" | jq -s '[.[] | select(.event == "flow_started")] | length')
in_new=$(flows "$AUDIT_A" | jq -s '[.[] | select(.event == "flow_started")] | length')
[[ $total == $((before + opened)) ]] ||
  fail "3. $opened connections opened but $((total - before)) flow_started lines in old + new file"
((in_new >= 2)) || fail "3. only $in_new flow_started lines in the new file after the SIGHUP"
tail -c1 "$AUDIT_A.1" | od -An -c | grep -q '\\n' || fail "3. the old file ends with a partial line"
log "3. mv + SIGHUP: $opened connections -> $((total - before)) flow_started lines ($in_new in the new file), none lost"

# 4. copytruncate while quiet
sleep 1.2  # let every pending line of scenario 3 reach the file
cp "$AUDIT_A" "$AUDIT_A.2"
truncate -s 0 "$AUDIT_A"
copied=$(flows "$AUDIT_A.2" | jq -s '[.[] | select(.event == "flow_started")] | length')
for i in 1 2 3; do on a "$KM_PY" "$KM_TMP/client.py" "$WEB" "$DB" 5432 100 >/dev/null || fail "4. connect $i"; done
wait_for "[[ \$(flows '$AUDIT_A' | jq -s '[.[] | select(.event == \"flow_started\")] | length') -ge 3 ]]" 5 0.2 ||
  fail "4. the 3 new flow_started lines did not reach the truncated file"
[[ $(head -c1 "$AUDIT_A") == "{" ]] || fail "4. the truncated file does not start with a line (a hole?): $(head -c16 "$AUDIT_A" | od -An -c)"
nuls=$(tr -cd '\000' <"$AUDIT_A" | wc -c)
[[ $nuls == 0 ]] || fail "4. $nuls NUL bytes in the truncated file"
jq -c . "$AUDIT_A" >/dev/null || fail "4. the truncated file holds a broken line"
now_started=$(flows "$AUDIT_A" | jq -s '[.[] | select(.event == "flow_started")] | length')
log "4. copytruncate: copy holds $copied flow_started lines, the file continues at offset 0 with $now_started"

# 5. syslog: a's keymeshd again, with audit_syslog, in a private mount namespace whose /dev
# is a tmpfs holding the devices keymeshd needs and a /dev/log socket of ours.
stop_keymeshd a
echo "audit_syslog: true" >>"$KM_TMP/a.yaml"
cat >"$KM_TMP/syslogd.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
with open(sys.argv[3], "w") as p: p.write(str(os.getpid()))
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536) + b"\n")
PY
cat >"$KM_TMP/with-syslog.sh" <<SH
set -e
mount --make-rprivate /
D=$KM_TMP/dev
mkdir -p \$D && mount -t tmpfs tmpfs \$D && mkdir -p \$D/net
for f in null zero random urandom; do touch \$D/\$f; mount --bind /dev/\$f \$D/\$f; done
touch \$D/net/tun && mount --bind /dev/net/tun \$D/net/tun
"$KM_PY" "$KM_TMP/syslogd.py" \$D/log "$KM_TMP/syslog.txt" "$KM_TMP/syslogd.pid" &
for i in \$(seq 50); do [[ -S \$D/log ]] && break; sleep 0.1; done
mount --rbind \$D /dev
exec ip netns exec "$(nsname a)" "$(binary keymeshd)" --config "$KM_TMP/a.yaml"
SH
unshare -m bash "$KM_TMP/with-syslog.sh" >"$KM_TMP/a-syslog.log" 2>&1 &
KM_DAEMON_PID[a]=$!
record_pid "$!" "keymeshd on a (syslog)" "$KM_TMP/a-syslog.log"
wait_for "[[ -s $KM_TMP/syslogd.pid ]]" 10 0.1 || fail "5. the syslog listener did not start"
record_pid "$(cat "$KM_TMP/syslogd.pid")" "syslog listener"
wait_for "[[ -S $KM_TMP/a.sock ]] && km_cli status --socket $KM_TMP/a.sock >/dev/null 2>&1" 10 0.2 ||
  fail "5. keymeshd with audit_syslog did not come up"
on a ip addr add "$WEB/32" dev km0  # km0 is new: web-1's address again, as at the start
kill -HUP "${KM_DAEMON_PID[a]}"
wait_for "on a $KM_PY $KM_TMP/client.py $WEB $DB 5432 100 >/dev/null" 15 0.5 || fail "5. connect after restart"
wait_for "grep -q 'keymeshd\\[[0-9]*\\]: {.*\"event\":\"flow_started\"' '$KM_TMP/syslog.txt'" 10 0.2 ||
  fail "5. no flow_started line through syslog: $(tail -c 300 "$KM_TMP/syslog.txt" 2>/dev/null)"
grep -q '"event":"policy_reloaded"' "$KM_TMP/syslog.txt" || fail "5. no policy_reloaded line through syslog"
grep -q '"event":"flow_started"' "$AUDIT_A" || fail "5. the file sink stopped when syslog was added"
log "5. audit_syslog: $(grep -c . "$KM_TMP/syslog.txt") syslog messages ($(grep -m1 -o '^<[0-9]*>' "$KM_TMP/syslog.txt") keymeshd[pid]: JSON), the file still written"
log "all scenarios passed"
