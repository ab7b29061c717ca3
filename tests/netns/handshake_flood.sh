#!/usr/bin/env bash
# handshake_flood.sh - handshakes cannot be used to burn the host (issue 15, section 3):
# measured over real UDP while one source floods keymeshd with valid-mac1 initiations.
#
#   ns ...-a 198.18.0.1   ns ...-b 198.18.0.2   ns ...-c 198.18.0.3   ns ...-f 198.18.0.9
#   km0 100.64.1.1        km0 100.64.2.1        km0 100.64.3.1        (no keymeshd)
#   iperf3 client ------> iperf3 server  <----- ping (new peer)       handshake_flood -> b
#   all on one bridge.
#
# f sends FLOOD_RATE (default 100,000) keymesh initiations per second to b's port, every one
# with a valid mac1 for b's host key: half one real initiation replayed, half fresh ones (new
# ephemeral and index, new mac1) that cost a Diffie-Hellman each unless refused before
# (tests/netns/handshake_flood.cpp). While it floods:
#  (a) c, not yet known to b's paths, starts keymeshd and pings b: its handshake completes
#      (first echo answered) within 2 s;
#  (b) the a -> b path keeps >= MIN_RATIO (default 0.5) of the TCP
#      throughput it had unflooded (iperf3, 4 s each, same run);
#  (c) b's audit log grows by fewer than 10 lines per second.
# The numbers are printed (rate reached, handshake time, both throughputs, audit lines/s, b's
# drop counters). If the sender cannot reach FLOOD_RATE on this machine, the rate it reached
# is printed and the assertions hold at that rate; below MIN_RATE (default 20,000/s) the test
# fails, as it would then prove little.
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need ping python3 iperf3
FLOOD_RATE=${FLOOD_RATE:-100000}
MIN_RATE=${MIN_RATE:-20000}

declare -A N=([a]=1 [b]=2 [c]=3 [f]=9)
for h in a b c f; do make_host "$h" "198.18.0.${N[$h]}"; done
link_hosts a b c f
pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - { name: hosts, from: { groups: [node] }, to: { groups: [node] }, allow: [any] }
POLICY
for h in a b c f; do pki_host "$KM_TMP" "$h" "${N[$h]}"; done
for h in a b c; do km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"; done
km_cert_finish "$KM_TMP/a.yaml" -- "b@$(host_ip b)"
km_cert_finish "$KM_TMP/b.yaml" -- "a@$(host_ip a)" "c@$(host_ip c)"
km_cert_finish "$KM_TMP/c.yaml" -- "b@$(host_ip b)"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
wait_ping a 100.64.2.1 15 || fail "a cannot reach b before the flood"

flood=$(binary tests/netns/handshake_flood) || fail "handshake_flood not built"
b_pub=$(km_cli cert show --json "$KM_TMP/b.crt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')

spawn b "$KM_TMP/iperf.log" iperf3 -s -B 100.64.2.1
wait_for "on a bash -c 'exec 3<>/dev/tcp/100.64.2.1/5201' 2>/dev/null" 10 0.2 || fail "iperf3 server did not start"
throughput() {  # throughput LABEL : iperf3 a -> b for 4 s, prints bits/s received
  on a iperf3 -c 100.64.2.1 -B 100.64.1.1 -t 4 -J >"$KM_TMP/iperf-$1.json" 2>&1 ||
    fail "iperf3 ($1) failed: $(tail -3 "$KM_TMP/iperf-$1.json")"
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' \
    "$KM_TMP/iperf-$1.json"
}
quiet=$(throughput quiet)
log "unflooded a -> b: $((quiet / 1000000)) Mbit/s"

cpu() {  # cpu PID : user+system CPU seconds so far
  awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"
}
audit_before=$(wc -l <"$KM_TMP/b-audit.jsonl")
b_cpu0=$(cpu "${KM_DAEMON_PID[b]}")
spawn f "$KM_TMP/flood.log" "$flood" "$KM_TMP/f.chain" "$b_pub" "$(host_ip b):51820" "$FLOOD_RATE" 14
flood_pid=$KM_LAST_PID
flood_start=$(date +%s.%N)
sleep 2  # the flood is in full swing

# (a) a new legitimate peer during the flood
start_keymeshd c "$KM_TMP/c.yaml" "$KM_TMP/c.log"
t0=$(date +%s.%N)
wait_for "on c ping -c1 -W1 100.64.2.1" 10 0.05 || fail "(a) c could not handshake with b during the flood"
hs=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
log "(a) c's first echo from b after $hs s (handshake included)"

# (b) the existing path during the flood
loud=$(throughput flooded)
log "(b) flooded a -> b: $((loud / 1000000)) Mbit/s"

wait "$flood_pid" 2>/dev/null || true
flood_end=$(date +%s.%N)
b_cpu=$(python3 -c "print(f'{100 * ($(cpu "${KM_DAEMON_PID[b]}") - $b_cpu0) / ($flood_end - $flood_start):.0f}')")
audit_after=$(wc -l <"$KM_TMP/b-audit.jsonl")
sent=$(cat "$KM_TMP/flood.log")
rate=$(sed -n 's/.*: \([0-9]*\)\/s$/\1/p' "$KM_TMP/flood.log")
[[ -n $rate ]] || fail "the flood sender did not report: $sent"
drops=$(km_cli status --socket "$KM_TMP/b.sock" --json | python3 -c '
import json,sys; d={x["reason"]:int(x["count"]) for x in json.load(sys.stdin)["drops"]}
print(" ".join(f"{k}={v}" for k, v in sorted(d.items()) if v))')
per_s=$(python3 -c "print(f'{($audit_after - $audit_before) / ($flood_end - $flood_start):.1f}')")
ratio=$(python3 -c "print(f'{$loud / $quiet:.2f}')")
log "flood: $sent (asked $FLOOD_RATE/s); b's drops: $drops"
log "keymeshd on b used $b_cpu % of a core during the flood (traffic included)"
log "(c) b's audit log: $((audit_after - audit_before)) lines in $(python3 -c "print(f'{$flood_end - $flood_start:.1f}')") s = $per_s lines/s"
log "numbers: rate=$rate/s handshake=${hs}s throughput_ratio=$ratio audit_lines_per_s=$per_s b_cpu=$b_cpu%"

((rate >= MIN_RATE)) || fail "the sender reached only $rate/s (below $MIN_RATE/s): the test proves too little here"
python3 -c "import sys; sys.exit(0 if $hs <= 2.0 else 1)" || fail "(a) c's handshake took $hs s (> 2 s)"
# On the 2-core CI box the flood sender itself takes most of one core from iperf3 and both
# keymeshd; what is left is kept because a flood initiation costs keymeshd two table lookups
# (handshake_guard.h, step 0), not a hash over the message (docs/protocol.md, measured).
python3 -c "import sys; sys.exit(0 if $ratio >= ${MIN_RATIO:-0.5} else 1)" ||
  fail "(b) the flooded path kept only ${ratio}x of its throughput (< ${MIN_RATIO:-0.5})"
python3 -c "import sys; sys.exit(0 if $per_s < 10 else 1)" || fail "(c) the audit log grew by $per_s lines/s (>= 10)"
log "PASS"
