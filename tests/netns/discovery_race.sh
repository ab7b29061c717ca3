#!/usr/bin/env bash
# discovery_race.sh - a workload minted on host b is reachable from host a within 1 s of its
# `keymesh identity add` returning, whichever reaches the lighthouse first: a's lookup of the
# new address or b's Register of it.
#
#   ns ...-l (lighthouse)      ns ...-a                  ns ...-b
#   km0 100.64.0.1/10          km0 100.64.1.1/10         km0 100.64.2.1/10
#   lighthouse: true           lighthouses: [l]          lighthouses: [l]
#   ul0 198.18.0.10 -------- bridge -------- 198.18.0.1 -------- 198.18.0.2
#
# a-w1 (minted on a) pings b's new workloads with `ping -i 0.05`, so a reply comes within
# 50 ms of the path being there; the time is from `identity add` returning on b to the first
# echo reply on a (ping -D timestamps), and is printed as p50/max per order.
#
# Scenarios (KM_RACE_TRIALS each, default 20):
# 1. Lookup first: a pings the new address (chosen with --address) for 0.2 s before b mints
#    it: a's lookups reach the lighthouse before b's Register and are answered "unknown".
#    The lighthouse remembered the miss and pushes the record when b registers it.
# 2. Registration first: b mints, then a starts pinging 50 ms after `identity add` returned
#    (b's Register was sent before that reply): a's first lookup finds the record.
# Each trial must be under 1 s.
KM_DEADLINE=${KM_DEADLINE:-85}
source "$(dirname "$0")/lib.sh"
need ping python3

TRIALS=${KM_RACE_TRIALS:-20}
ORDERS=${KM_RACE_ORDERS:-1 2}  # one of them alone: KM_RACE_ORDERS=2
LIMIT=1.0

make_host l 198.18.0.10
make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts l a b
pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: mesh
    from: { groups: [wl] }
    to: { groups: [wl] }
    allow: [any]
POLICY
km_lighthouse_configs "$KM_TMP" l:0 a:1 b:2
for h in l a b; do start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"; done

mint() {  # mint HOST NAME ADDRESS : identity with that overlay address, put on HOST's km0
  km_cli identity add "$2" --group wl --address "$3" --socket "$KM_TMP/$1.sock" >/dev/null ||
    fail "identity add $2 ($3) on $1"
}

# Both hosts registered and a path to the lighthouse up: one workload pair that works.
mint a a-w1 100.64.1.10
on a ip addr add 100.64.1.10/32 dev km0
mint b b-w0 100.64.2.10
on b ip addr add 100.64.2.10/32 dev km0
wait_for "on a ping -c1 -W1 -I 100.64.1.10 100.64.2.10" 15 || fail "setup: a-w1 cannot reach b-w0"

# trial ORDER N ADDRESS : TRIAL_TIME = seconds from `identity add` returning to the first reply
trial() {
  local order=$1 n=$2 addr=$3 out="$KM_TMP/ping-$1-$2.txt" t_add ping_pid
  if [[ $order == 1 ]]; then
    spawn a "$out" ping -n -D -c1 -w4 -i0.05 -I 100.64.1.10 "$addr"
    ping_pid=$KM_LAST_PID
    sleep 0.2  # several lookups answered "unknown" by now
    mint b "b-o$order-$n" "$addr"
    t_add=$EPOCHREALTIME
    on b ip addr add "$addr/32" dev km0
  else
    mint b "b-o$order-$n" "$addr"
    t_add=$EPOCHREALTIME
    on b ip addr add "$addr/32" dev km0
    sleep 0.05
    spawn a "$out" ping -n -D -c1 -w4 -i0.05 -I 100.64.1.10 "$addr"
    ping_pid=$KM_LAST_PID
  fi
  wait "$ping_pid" || fail "order $order trial $n: $addr not reachable from a within 4 s"
  # The first "[unix time] 64 bytes from" line (ping -D) minus the time the ADD returned.
  TRIAL_TIME=$(awk -v t="$t_add" '/^\[[0-9.]+\] [0-9]+ bytes from/ {
      gsub(/[][]/, "", $1); printf "%.3f\n", $1 - t; found = 1; exit }
    END { if (!found) exit 1 }' "$out") || fail "order $order trial $n: no echo reply in $out"
}

summary() {  # summary LABEL TIMES... : p50/max line, fails when any is over LIMIT
  local label=$1
  shift
  python3 - "$label" "$LIMIT" "$@" <<'PY'
import statistics, sys
label, limit, times = sys.argv[1], float(sys.argv[2]), [float(t) for t in sys.argv[3:]]
print(f"{label}: {len(times)} trials, p50 {statistics.median(times):.3f} s, "
      f"max {max(times):.3f} s (limit {limit} s); all: {' '.join(f'{t:.2f}' for t in times)}")
sys.exit(0 if max(times) < limit else 1)
PY
}

label=([1]="1. lookup first" [2]="2. registration first")
for order in $ORDERS; do
  times=()
  for ((i = 1; i <= TRIALS; i++)); do
    trial "$order" "$i" "100.64.2.$((50 * order + 50 + i))"
    times+=("$TRIAL_TIME")
  done
  line=$(summary "${label[$order]}" "${times[@]}") || fail "$line"
  log "$line"
done
