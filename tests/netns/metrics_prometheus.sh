#!/usr/bin/env bash
# metrics_prometheus.sh - /metrics, /healthz and /readyz of two keymeshd, scraped by a real
# Prometheus (Debian's package, started here with its own config and storage, listening on
# loopback in its own namespace) and queried through its HTTP API.
#
#   ns ...-a (web host)            ns ...-b (db host)             ns ...-p (Prometheus)
#   km0 100.64.1.1/10              km0 100.64.2.1/10              127.0.0.1:9090 (API)
#     web-1 100.64.1.10 [web]        db-1 100.64.2.10 [db]
#   metrics_listen 198.18.0.1:9830 metrics_listen 198.18.0.2:9830
#   ul0 198.18.0.1 --------------- bridge --------------- 198.18.0.2 ------- 198.18.0.3
#
# Policy on a and b: web may reach db on tcp/5432 and icmp (rule web-to-db).
#
# Scenarios:
# 1. Both daemons answer /healthz 200 and /readyz 200 ("ready"); /metrics has every drop
#    reason named in daemon/drop_reason.h, zeros included, and the process metrics.
# 2. Traffic: web -> db tcp/5432 connects and echoes (granted); web -> db tcp/22 fails
#    (denied on a, the test's policy denial).
# 3. Prometheus scrapes both (up == 1 for both targets) and answers, through /api/v1/query:
#    handshakes completed > 0 on each, tx bytes > 0 on each, the tcp/22 denial as
#    keymesh_policy_denied_total{local="web-1",remote="db-1",scope="packet"} >= 1 on a, the
#    path granted by rule web-to-db, and a certificate expiry for web-1 between 0 and 12 h.
#    The alert rules of deploy/prometheus are loaded and healthy (/api/v1/rules).
# 4. /readyz follows what it reports: km0 down on a -> 503 naming the interface; up -> 200.
# 5. /healthz is served from the daemon's loop: with keymeshd stopped (SIGSTOP) it does not
#    answer within 2 s; after SIGCONT it answers again.
# 6. A metrics_listen address that cannot be bound stops keymeshd with an error naming the key.
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need curl jq python3 prometheus

PROBE="$KM_LIB_DIR/netprobe.py"
ALERTS="$KM_LIB_DIR/../../deploy/prometheus/keymesh-alerts.yml"
[[ -f $ALERTS ]] || fail "no alert rules file $ALERTS"

make_host a 198.18.0.1
make_host b 198.18.0.2
make_host p 198.18.0.3
link_hosts a b p
export KM_PKI_PATTERN="*"
pki_root "$KM_TMP"
declare -A N=([a]=1 [b]=2) W=([a]=web-1 [b]=db-1) G=([a]=web [b]=db)
cat >"$KM_TMP/policy.yaml" <<'YAML'
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432, icmp]
YAML
for h in a b; do
  pki_host "$KM_TMP" "$h" "${N[$h]}"
  pki_leaf "$KM_TMP" "$h" "${W[$h]}" workload "100.64.${N[$h]}.10/32" "${G[$h]}"
done
for h in a b; do
  o=$([[ $h == a ]] && echo b || echo a)
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  echo "metrics_listen: \"$(host_ip "$h"):9830\"" >>"$KM_TMP/$h.yaml"
  km_cert_finish "$KM_TMP/$h.yaml" "${W[$h]}" -- "${W[$o]}@$(host_ip "$o")"
done
for h in a b; do
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
  on "$h" ip addr add "100.64.${N[$h]}.10/32" dev km0
done
WEB=100.64.1.10 DB=100.64.2.10
http() {  # http HOST PATH [CURL ARGS...] : from p, body on stdout, "HTTP <code>" last
  local h=$1 path=$2
  shift 2
  on p curl -s --max-time "${KM_HTTP_TIMEOUT:-5}" -w '\nHTTP %{http_code}\n' "$@" \
    "http://$(host_ip "$h"):9830$path"
}

# 1. health, readiness, every drop reason
for h in a b; do
  out=$(http "$h" /healthz) || fail "1. /healthz on $h did not answer"
  [[ $out == *"HTTP 200"* ]] || fail "1. /healthz on $h: $out"
  wait_for "http $h /readyz | grep -q 'HTTP 200'" 10 ||
    fail "1. /readyz on $h never became 200: $(http "$h" /readyz)"
  http "$h" /readyz | grep -qx ready || fail "1. /readyz body on $h is not 'ready'"
done
http a /metrics >"$KM_TMP/a-metrics.txt"
grep -q '^HTTP 200$' "$KM_TMP/a-metrics.txt" || fail "1. /metrics on a: not 200"
reasons=$(sed -n 's/^ *X([A-Za-z0-9]*, "\([a-z0-9_]*\)").*/\1/p' "$KM_LIB_DIR/../../daemon/drop_reason.h")
[[ $(wc -w <<<"$reasons") -ge 30 ]] || fail "1. could not read the drop reasons from drop_reason.h"
for r in $reasons; do
  grep -q "^keymesh_drops_total{reason=\"$r\"} [0-9]*$" "$KM_TMP/a-metrics.txt" ||
    fail "1. /metrics has no keymesh_drops_total{reason=\"$r\"}"
done
for m in process_resident_memory_bytes process_open_fds process_cpu_seconds_total \
  process_start_time_seconds; do
  grep -q "^$m [0-9.e+]*$" "$KM_TMP/a-metrics.txt" || fail "1. /metrics has no $m"
done
log "1. /healthz and /readyz 200 on a and b; /metrics has all $(wc -w <<<"$reasons") drop reasons and process metrics"

# 2. a granted and a denied flow
spawn b "$KM_TMP/tcp5432.log" "$KM_PY" "$PROBE" serve-tcp "$DB" 5432
spawn b "$KM_TMP/tcp22.log" "$KM_PY" "$PROBE" serve-tcp "$DB" 22
for f in tcp5432 tcp22; do
  wait_for "grep -q LISTENING '$KM_TMP/$f.log'" 10 0.05 || fail "probe server $f did not start"
done
on a "$KM_PY" "$PROBE" connect "$WEB" "$DB" 5432 5 >/dev/null || fail "2. web -> db tcp/5432 did not connect"
on a "$KM_PY" "$PROBE" connect "$WEB" "$DB" 22 2 >/dev/null && fail "2. web -> db tcp/22 connected"
log "2. tcp/5432 granted, tcp/22 denied"

# 3. a real Prometheus scrapes both and answers queries
mkdir -p "$KM_TMP/prom-data"
cat >"$KM_TMP/prometheus.yml" <<YAML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "$ALERTS" ]
scrape_configs:
  - job_name: keymesh
    static_configs:
      - targets: [ "$(host_ip a):9830", "$(host_ip b):9830" ]
YAML
spawn p "$KM_TMP/prometheus.log" prometheus --config.file="$KM_TMP/prometheus.yml" \
  --storage.tsdb.path="$KM_TMP/prom-data" --web.listen-address=127.0.0.1:9090
query() {  # query PROMQL : the result vector as JSON
  on p curl -s --max-time 5 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
    jq -c '.data.result'
}
value() {  # value PROMQL : the single sample's value (empty when none)
  query "$1" | jq -r 'if length == 1 then .[0].value[1] else empty end'
}
wait_for '[[ $(value "count(up{job=\"keymesh\"} == 1)") == 2 ]]' 30 0.5 ||
  fail "3. Prometheus does not see both targets up: $(query 'up')"
A="instance=\"$(host_ip a):9830\"" B="instance=\"$(host_ip b):9830\""
for i in "$A" "$B"; do
  v=$(value "keymesh_handshakes_completed_total{$i}")
  [[ -n $v && $v -ge 1 ]] || fail "3. handshakes completed {$i}: '$v'"
  v=$(value "keymesh_transfer_bytes_total{$i,direction=\"tx\"}")
  [[ -n $v && $v -gt 0 ]] || fail "3. tx bytes {$i}: '$v'"
done
v=$(value "keymesh_policy_denied_total{$A,scope=\"packet\",direction=\"outbound\",local=\"web-1\",remote=\"db-1\"}")
[[ -n $v && $v -ge 1 ]] || fail "3. the tcp/22 denial is not in Prometheus: '$v' ($(query 'keymesh_policy_denied_total'))"
v=$(value "sum(keymesh_policy_decisions_total{decision=\"allowed\",rule=\"web-to-db\"})")
[[ -n $v && $v -ge 2 ]] || fail "3. paths allowed by web-to-db: '$v' (one on each side expected)"
v=$(value "keymesh_certificate_expiry_seconds{$A,identity=\"web-1\"}")
[[ -n $v ]] && "$KM_PY" -c "import sys; sys.exit(0 if 0 < float('$v') <= 12*3600 else 1)" ||
  fail "3. certificate expiry of web-1: '$v' (issued for 12 h)"
rules=$(on p curl -s --max-time 5 http://127.0.0.1:9090/api/v1/rules |
  jq -r '[.data.groups[].rules[] | select(.type == "alerting" and .health == "ok")] | length')
[[ $rules -ge 3 ]] || fail "3. alert rules loaded and healthy: '$rules'"
log "3. Prometheus: both up; handshakes, tx bytes, the tcp/22 denial, rule web-to-db, cert expiry; $rules alert rules ok"

# 4. readiness follows the interface
on a ip link set km0 down
out=$(http a /readyz)
[[ $out == *"HTTP 503"* && $out == *"interface km0 is not up"* ]] || fail "4. /readyz with km0 down: $out"
on a ip link set km0 up
wait_for "http a /readyz | grep -q 'HTTP 200'" 5 || fail "4. /readyz did not recover: $(http a /readyz)"
log "4. /readyz 503 naming km0 while it was down, 200 again after"

# 5. liveness is the loop's
kill -STOP "${KM_DAEMON_PID[a]}"
out=$(KM_HTTP_TIMEOUT=2 http a /healthz) && [[ $out == *"HTTP 200"* ]] && {
  kill -CONT "${KM_DAEMON_PID[a]}"
  fail "5. /healthz answered 200 while keymeshd's loop was stopped"
}
kill -CONT "${KM_DAEMON_PID[a]}"
wait_for "http a /healthz | grep -q 'HTTP 200'" 5 || fail "5. /healthz did not recover after SIGCONT"
log "5. /healthz: no answer while the loop was stopped, 200 after it resumed"

# 6. a configured address that cannot be bound is an error naming the key
sed "s#^metrics_listen: .*#metrics_listen: \"198.18.0.200:9830\"#; s#^control_socket: .*#control_socket: $KM_TMP/a2.sock#; s#^listen_port: .*#listen_port: 51821#; s#name: km0#name: km1#" \
  "$KM_TMP/a.yaml" >"$KM_TMP/a2.yaml"
sed -i "s#^state_dir: .*#state_dir: $KM_TMP/a2-state#" "$KM_TMP/a2.yaml"
out=$(on a timeout 10 "$(binary keymeshd)" --config "$KM_TMP/a2.yaml" 2>&1) &&
  fail "6. keymeshd started with an unbindable metrics_listen"
grep -q "metrics_listen: cannot listen on 198.18.0.200:9830" <<<"$out" ||
  fail "6. the error does not name metrics_listen: $out"
log "6. unbindable metrics_listen: keymeshd refuses to start, naming the key"
log "PASS"
