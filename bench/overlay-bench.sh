#!/usr/bin/env bash
# overlay-bench.sh - keymesh next to the raw veth, wireguard-go and nebula, measured in one
# run on this machine. What is measured and how to read it: bench/README.md.
#
#   namespace kmb-a-<pid>                                   namespace kmb-b-<pid>
#   iperf3 client, ping                                     iperf3 server
#   overlay A  100.64.N.1/24 (tun)                          overlay B  100.64.N.2/24 (tun)
#      |  veth kmbva 198.18.0.1/24  <================>  veth kmbvb 198.18.0.2/24  |
#
# Each round runs every mode once, in the order given (round 1: all modes, round 2: all
# modes, ...), each in a fresh pair of namespaces. Results go to --out as one JSON line per
# mode per round; the table printed at the end gives median [min-max] per metric and the
# per-round ratios of keymesh (and of any name@path mode) to the other modes.
#
#   sudo bench/overlay-bench.sh [--repeat N] [--out FILE] [--modes LIST] ...
#   bench/overlay-bench.sh --summarize FILE [--run ID]   # the table again, no root needed
#   bench/overlay-bench.sh --self-check                  # the summarizer against canned rows
#
# Only the two namespaces it creates are touched; they have no route anywhere else. Every
# process it starts is recorded and stopped by PID; the namespaces, wireguard-go's UAPI
# sockets and the scratch directory are removed on any exit (trap), also by the watchdog
# that ends a run which takes longer than --max-seconds.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
MEASURE=$HERE/measure.py
SUMMARIZE=$HERE/summarize.py

MODES=raw,wireguard-go,nebula,keymesh
REPEAT=3
OUT=""
TCP_TIME=10
UDP_TIME=10
UDP_RATE=1G
UDP_LEN=1200
PINGS=200
PING_INTERVAL=0.01
MTU=1420
UP_TIMEOUT=20
TAG=""
KEEP_LOGS=""
MAX_SECONDS=""
WIREGUARD_GO=${WIREGUARD_GO:-/usr/bin/wireguard-go}
WG=${WG:-/usr/bin/wg}
NEBULA=${NEBULA:-/usr/bin/nebula}
NEBULA_CERT=${NEBULA_CERT:-/usr/bin/nebula-cert}
KEYMESH_BUILD=${KEYMESH_BUILD_DIR:-$REPO/build}
KEYMESH_SIDE=$REPO/tests/bench/overlay-cmd.sh

usage() {
  cat <<EOF
usage: sudo $0 [options]
  --modes LIST        comma separated, run in this order every round  [$MODES]
                      raw | wireguard-go[@BIN] | nebula[@BIN] | keymesh[@BUILD_DIR]
                      a mode with @ is an extra one under its own name, e.g.
                      wireguard-go@/opt/wg/wireguard-go next to wireguard-go
  --repeat N          rounds  [$REPEAT]
  --out FILE          append the JSON lines here  [./overlay-bench-<time>.jsonl]
  --time S            seconds of each TCP test  [$TCP_TIME]
  --udp-time S        seconds of the UDP test  [$UDP_TIME]
  --udp-rate R        iperf3 -b of the UDP test  [$UDP_RATE]
  --pings N           idle pings, at --ping-interval S  [$PINGS at $PING_INTERVAL]
  --mtu N             tun MTU of every overlay  [$MTU]
  --wireguard-go BIN  binary of mode wireguard-go  [\$WIREGUARD_GO or $WIREGUARD_GO]
  --wg BIN            wg used to configure it  [\$WG or $WG]
  --nebula BIN        binary of mode nebula  [\$NEBULA or $NEBULA]
  --nebula-cert BIN   nebula-cert for it (nebula@BIN uses BIN's directory's nebula-cert
                      when there is one)  [\$NEBULA_CERT or $NEBULA_CERT]
  --keymesh-build DIR build directory of mode keymesh  [\$KEYMESH_BUILD_DIR or $KEYMESH_BUILD]
  --tag TEXT          stored in every row
  --keep-logs DIR     keep each round's logs and configs in DIR
  --max-seconds S     stop the whole run after S seconds  [computed from the above]
  --summarize FILE    print the table of FILE (every run in it, or --run ID) and exit
  --run ID            with --summarize: only this run
  --self-check        check the summarizer on canned rows and exit
EOF
}

# The interpreter itself rather than a wrapper such as a pyenv shim: it runs a few times per
# test, and a shim's start-up is seconds on a loaded machine.
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=python3

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

SUMMARY_FILE="" SUMMARY_RUN=""
while (($#)); do
  case $1 in
    --modes|--repeat|--out|--time|--udp-time|--udp-rate|--pings|--ping-interval|--mtu|--wireguard-go|\
    --wg|--nebula|--nebula-cert|--keymesh-build|--tag|--keep-logs|--max-seconds|--summarize|--run)
      (($# >= 2)) || die "$1 needs a value" ;;
  esac
  case $1 in
    --modes) MODES=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --time) TCP_TIME=$2; shift ;;
    --udp-time) UDP_TIME=$2; shift ;;
    --udp-rate) UDP_RATE=$2; shift ;;
    --pings) PINGS=$2; shift ;;
    --ping-interval) PING_INTERVAL=$2; shift ;;
    --mtu) MTU=$2; shift ;;
    --wireguard-go) WIREGUARD_GO=$2; shift ;;
    --wg) WG=$2; shift ;;
    --nebula) NEBULA=$2; shift ;;
    --nebula-cert) NEBULA_CERT=$2; shift ;;
    --keymesh-build) KEYMESH_BUILD=$2; shift ;;
    --tag) TAG=$2; shift ;;
    --keep-logs) KEEP_LOGS=$2; shift ;;
    --max-seconds) MAX_SECONDS=$2; shift ;;
    --summarize) SUMMARY_FILE=$2; shift ;;
    --run) SUMMARY_RUN=$2; shift ;;
    --self-check) exec "$PYTHON" "$SUMMARIZE" --self-check ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
  shift
done

if [[ -n $SUMMARY_FILE ]]; then
  exec "$PYTHON" "$SUMMARIZE" "$SUMMARY_FILE" ${SUMMARY_RUN:+--run "$SUMMARY_RUN"}
fi

# ---- checks before anything is created
for v in REPEAT TCP_TIME UDP_TIME PINGS MTU UP_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v,,} must be a positive integer, got '${!v}'"
done
[[ $PING_INTERVAL =~ ^[0-9]*\.?[0-9]+$ ]] || die "--ping-interval must be a number of seconds"
[[ -z $MAX_SECONDS || $MAX_SECONDS =~ ^[1-9][0-9]*$ ]] || die "--max-seconds must be a positive integer"
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces): sudo $0"
for tool in ip iperf3 ping python3 timeout flock unshare; do
  command -v "$tool" >/dev/null || die "'$tool' not found (sudo bash scripts/install-deps.sh)"
done

MODE_NAMES=() MODE_BASES=() MODE_BINS=()
IFS=, read -r -a requested <<<"$MODES"
for name in "${requested[@]}"; do
  base=${name%%@*} bin=""
  [[ $name == *@* ]] && bin=${name#*@}
  case $base in
    raw) [[ -z $bin ]] || die "mode raw takes no @" ;;
    wireguard-go) bin=${bin:-$WIREGUARD_GO}; [[ -x $bin ]] || die "$name: $bin is not executable"
                  [[ -x $WG ]] || die "$name: wg not found at $WG (--wg)" ;;
    nebula) bin=${bin:-$NEBULA}; [[ -x $bin ]] || die "$name: $bin is not executable" ;;
    keymesh) bin=${bin:-$KEYMESH_BUILD}
             [[ -x $bin/daemon/keymeshd && -x $bin/tools/keymesh ]] ||
               die "$name: no keymeshd and keymesh in $bin (build them, or scripts/bench.sh does)" ;;
    *) die "unknown mode '$name' (raw, wireguard-go[@BIN], nebula[@BIN], keymesh[@BUILD_DIR])" ;;
  esac
  for seen in "${MODE_NAMES[@]}"; do [[ $seen != "$name" ]] || die "mode '$name' given twice"; done
  MODE_NAMES+=("$name") MODE_BASES+=("$base") MODE_BINS+=("$bin")
done
((${#MODE_NAMES[@]})) || die "--modes is empty"
((${#MODE_NAMES[@]} <= 200)) || die "at most 200 modes"

source "$HERE/overlays.sh"

exec 8>/run/lock/keymesh-overlay-bench.lock || die "cannot open the lock file"
flock -n 8 || die "another overlay-bench.sh is running"

RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
[[ -n $OUT ]] || OUT=./overlay-bench-$(date -u +%Y%m%d-%H%M%S).jsonl
mkdir -p "$(dirname "$OUT")" && : >>"$OUT" || die "cannot write $OUT"
[[ -z $KEEP_LOGS ]] || mkdir -p "$KEEP_LOGS" || die "cannot create $KEEP_LOGS"
NS_A=kmb-a-$$ NS_B=kmb-b-$$
UL_A=198.18.0.1 UL_B=198.18.0.2
TMP_ROOT=$(mktemp -d /tmp/keymesh-bench.XXXXXX) || die "mktemp failed"
HZ=$(getconf CLK_TCK)

# ---- bookkeeping: everything started is recorded so that cleanup stops exactly that
ROUND_PIDS=()    # processes of the current mode and round
WG_SOCKETS=()    # wireguard-go UAPI sockets of the current round
NS_MADE=()
track_pid() { ROUND_PIDS+=("$1"); }

running() {  # PID exists and is not a zombie
  [[ -n $1 && -r /proc/$1/stat ]] || return 1
  local stat
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

stop_pids() {  # SIGTERM, up to 3 s to exit, then SIGKILL; PIDs only
  local p i left
  for p in "$@"; do running "$p" && kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 30; i++)); do
    left=0
    for p in "$@"; do running "$p" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for p in "$@"; do running "$p" && kill -KILL "$p" 2>/dev/null; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}

end_round() {
  local ns p stray=()
  ((${#ROUND_PIDS[@]})) && stop_pids "${ROUND_PIDS[@]}"
  ROUND_PIDS=()
  # Only this run can have started a process inside its own namespaces (a daemon that
  # forked, say); name it and stop it by PID before the namespace goes.
  for ns in "${NS_MADE[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do stray+=("$p"); done
  done
  if ((${#stray[@]})); then
    log "  stopping processes left in the namespaces: ${stray[*]}"
    stop_pids "${stray[@]}"
  fi
  for ns in "${NS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
  NS_MADE=()
  for p in "${WG_SOCKETS[@]}"; do [[ -S $p ]] && rm -f "$p"; done
  WG_SOCKETS=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  end_round
  [[ -n ${WATCHDOG:-} ]] && stop_pids "$WATCHDOG"
  rm -rf "$TMP_ROOT"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "stopped by a signal"; exit 130' INT TERM

# run_bounded SECONDS OUTFILE NS CMD... : CMD inside NS with a time limit, output to
# OUTFILE. It runs in the background and the shell waits for it, so a signal to the harness
# is handled at once rather than when CMD ends.
run_bounded() {
  local limit=$1 outf=$2 ns=$3 rc
  shift 3
  timeout -k 2 "$limit" ip netns exec "$ns" "$@" </dev/null >"$outf" 2>>"$WORK/tools.log" &
  track_pid "$!"
  wait "$!"; rc=$?
  return "$rc"
}

wait_for() {  # SECONDS WHAT CMD... : poll CMD every 0.1 s
  local limit=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "  $what: not within ${limit}s"; return 1; }
    sleep 0.1
  done
}

make_namespaces() {
  ip netns add "$NS_A" && NS_MADE+=("$NS_A") || return 1
  ip netns add "$NS_B" && NS_MADE+=("$NS_B") || return 1
  # The veth is created straight inside the two namespaces: the root namespace never sees it.
  ip link add kmbva netns "$NS_A" mtu 1500 type veth peer name kmbvb netns "$NS_B" mtu 1500 || return 1
  ip -n "$NS_A" addr add "$UL_A/24" dev kmbva && ip -n "$NS_B" addr add "$UL_B/24" dev kmbvb || return 1
  local ns
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up || return 1; done
  ip -n "$NS_A" link set kmbva up && ip -n "$NS_B" link set kmbvb up || return 1
  wait_for 5 "underlay ping" ip netns exec "$NS_A" ping -n -c 1 -W 1 "$UL_B"
}

overlay_up() {  # A reaches B over the overlay, and both overlay processes still run
  local deadline=$((SECONDS + UP_TIMEOUT)) p
  while ((SECONDS < deadline)); do
    for p in $OV_PID_A $OV_PID_B; do
      running "$p" || { log "  overlay process $p exited"; return 1; }
    done
    ip netns exec "$NS_A" ping -n -c 1 -W 1 "$OV_B" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "  no ping over the overlay within ${UP_TIMEOUT}s"
  return 1
}

# ---- readings
cpu_ticks() {  # utime + stime of one process (all its threads), in clock ticks
  local stat f
  [[ -n $1 ]] || { echo 0; return; }
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || { echo 0; return; }
  read -r -a f <<<"${stat##*) }"
  echo $((f[11] + f[12]))   # fields 14 and 15 of proc(5), counted from the state field
}
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
machine_ticks() { awk '/^cpu / { idle = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; print t - idle, t }' /proc/stat; }

ROW=""
num() { printf 'num\t%s\t%s\n' "$1" "$2" >>"$ROW"; }
str() { printf 'str\t%s\t%s\n' "$1" "$2" >>"$ROW"; }
# put PREFIX key=value... : the readings of measure.py, under PREFIX_
put() {
  local prefix=$1 kv
  shift
  for kv in "$@"; do num "${prefix}_${kv%%=*}" "${kv#*=}"; done
}

test_ping() {
  local out=$WORK/ping.txt limit readings
  limit=$(awk -v n="$PINGS" -v i="$PING_INTERVAL" 'BEGIN { printf "%d", n * i + 5 }')
  run_bounded $((limit + 3)) "$out" "$NS_A" ping -n -c "$PINGS" -i "$PING_INTERVAL" -W 1 -w "$limit" "$OV_B"
  readings=$("$PYTHON" "$MEASURE" ping "$out" "$PINGS") || { str ping_error "${readings#error=}"; return 1; }
  put ping $readings
  log "  ping: $(tr '\n' ' ' <<<"$readings")"
}

# TCP over the overlay for TCP_TIME seconds. The overlay processes' CPU ticks and the
# machine's are read right before iperf3 starts and right after it ends.
# With a third argument `load`, pings run along the same path from 1 s after the start to
# 1 s before the end (at --ping-interval), read as ping_load_*: latency under a saturating
# stream. Their CPU is the ping's, not the overlay's, and is tiny next to the stream.
test_tcp() {  # KEY STREAMS [load]
  local key=$1 streams=$2 out=$WORK/$1.json a0 b0 a1 b1 busy0 all0 busy1 all1 readings overlay=()
  local load_pid="" load_n
  a0=$(cpu_ticks "$OV_PID_A"); b0=$(cpu_ticks "$OV_PID_B"); read -r busy0 all0 < <(machine_ticks)
  if [[ ${3:-} == load ]] && ((TCP_TIME > 2)); then
    load_n=$(awk -v t="$TCP_TIME" -v i="$PING_INTERVAL" 'BEGIN { printf "%d", (t - 2) / i }')
    (sleep 1; exec timeout -k 2 $((TCP_TIME + 3)) ip netns exec "$NS_A" \
       ping -n -c "$load_n" -i "$PING_INTERVAL" -W 1 -w $((TCP_TIME - 2)) "$OV_B") \
      </dev/null >"$WORK/ping-load.txt" 2>>"$WORK/tools.log" &
    load_pid=$!
    track_pid "$load_pid"
  fi
  run_bounded $((TCP_TIME + 15)) "$out" "$NS_A" iperf3 -c "$OV_B" -t "$TCP_TIME" -P "$streams" -J --connect-timeout 3000
  a1=$(cpu_ticks "$OV_PID_A"); b1=$(cpu_ticks "$OV_PID_B"); read -r busy1 all1 < <(machine_ticks)
  if [[ -n $load_pid ]]; then
    wait "$load_pid"
    if readings=$("$PYTHON" "$MEASURE" ping "$WORK/ping-load.txt" "$load_n"); then
      put ping_load $readings
      log "  ping under $key: $(tr '\n' ' ' <<<"$readings")"
    else
      str ping_load_error "${readings#error=}"
    fi
  fi
  [[ -n $OV_PID_A ]] && overlay=("$a0" "$a1" "$b0" "$b1")
  readings=$("$PYTHON" "$MEASURE" tcp "$out" "$MTU" "$HZ" "$busy0" "$all0" "$busy1" "$all1" "${overlay[@]}") ||
    { str "${key}_error" "${readings#error=}"; log "  $key: ${readings#error=}"; return 1; }
  put "$key" $readings
  log "  $key: $(tr '\n' ' ' <<<"$readings")"
}

test_udp() {
  local out=$WORK/udp.json readings
  run_bounded $((UDP_TIME + 15)) "$out" "$NS_A" iperf3 -c "$OV_B" -u -b "$UDP_RATE" -l "$UDP_LEN" \
    -w 4M -t "$UDP_TIME" -J --connect-timeout 3000
  readings=$("$PYTHON" "$MEASURE" udp "$out") || { str udp_error "${readings#error=}"; log "  udp: ${readings#error=}"; return 1; }
  str udp_offered "$UDP_RATE"; num udp_len "$UDP_LEN"
  put udp $readings
  log "  udp @$UDP_RATE: $(tr '\n' ' ' <<<"$readings")"
}

# ---- one mode in one round
run_mode() {  # INDEX ROUND
  local i=$1 round=$2 name=${MODE_NAMES[$1]} base=${MODE_BASES[$1]} bin=${MODE_BINS[$1]} failed="" t
  WORK=$TMP_ROOT/round$round-$i
  ROW=$WORK/row.tsv
  mkdir -p "$WORK"
  OV_A=100.64.$((i + 1)).1 OV_B=100.64.$((i + 1)).2 OV_PID_A="" OV_PID_B=""
  log "round $round/$REPEAT: $name"
  str schema keymesh-overlay-bench/1; str run_id "$RUN_ID"; num round "$round"; str mode "$name"
  str base "$base"; str binary "$bin"; str version "${VERSIONS[$i]}"; str tag "$TAG"
  str ts "$(date -u +%Y-%m-%dT%H:%M:%SZ)"; str host "$HOST_LINE"; num mtu "$MTU"
  make_namespaces || failed="namespaces could not be made"
  if [[ -z $failed ]]; then
    "start_${base//-/_}" "$bin" || failed="$name did not start"
  fi
  [[ -n $failed ]] || overlay_up || failed="$name: no path between the two sides"
  if [[ -z $failed ]]; then
    str overlay_a "$OV_A"; str overlay_b "$OV_B"
    if [[ -n $OV_PID_A ]]; then  # the names of the measured processes, to show they are the overlay
      str process_a "$(cat "/proc/$OV_PID_A/comm" 2>/dev/null)"; str process_b "$(cat "/proc/$OV_PID_B/comm" 2>/dev/null)"
    fi
    test_ping
    spawn_in "$NS_B" "$WORK/iperf3-server.log" iperf3 -s -B "$OV_B"
    if wait_for 5 "iperf3 server" bash -c "ip netns exec $NS_B ss -Hltn 'sport = :5201' | grep -q ."; then
      test_tcp tcp1 1 load; sleep 1
      test_tcp tcp4 4; sleep 1
      test_udp
    else
      failed="iperf3 server did not listen"
    fi
    if [[ -n $OV_PID_A ]]; then
      num rss_kb_a "$(peak_rss_kb "$OV_PID_A")"; num rss_kb_b "$(peak_rss_kb "$OV_PID_B")"
    fi
  fi
  if [[ -n $failed ]]; then
    str error "$failed"
    log "  FAILED: $failed"
    for t in "$WORK"/*.log; do [[ -s $t ]] && { log "  --- $t"; tail -5 "$t" >&2; }; done
  fi
  "$PYTHON" "$MEASURE" row "$ROW" >>"$OUT" || log "  could not write the row"
  end_round
  [[ -z $KEEP_LOGS ]] || cp -a "$WORK" "$KEEP_LOGS/$RUN_ID-round$round-$i" 2>/dev/null
  rm -rf "$WORK"
}

VERSIONS=()
for i in "${!MODE_NAMES[@]}"; do VERSIONS+=("$(overlay_version "${MODE_BASES[$i]}" "${MODE_BINS[$i]}")"); done
HOST_LINE="$(nproc) cpus, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), $(iperf3 --version | head -1)"

# A mode takes its three iperf3 tests, the pings, start-up and a few seconds of bookkeeping;
# the limit is twice that, for a loaded machine.
per_mode=$((2 * TCP_TIME + UDP_TIME + $(awk -v n="$PINGS" -v i="$PING_INTERVAL" 'BEGIN { printf "%d", n * i }') + UP_TIMEOUT + 30))
[[ -n $MAX_SECONDS ]] || MAX_SECONDS=$((2 * per_mode * ${#MODE_NAMES[@]} * REPEAT + 60))
(
  sleep "$MAX_SECONDS" &
  nap=$!
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  wait "$nap"
  log "watchdog: ${MAX_SECONDS}s reached, stopping the run"
  kill -TERM $$
) &
WATCHDOG=$!

log "run $RUN_ID: $REPEAT round(s) of ${MODE_NAMES[*]}; rows -> $OUT; limit ${MAX_SECONDS}s"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= REPEAT; round++)); do
  for i in "${!MODE_NAMES[@]}"; do run_mode "$i" "$round"; done
done
echo
"$PYTHON" "$SUMMARIZE" "$OUT" --run "$RUN_ID"
