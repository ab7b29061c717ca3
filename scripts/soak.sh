#!/usr/bin/env bash
# soak.sh - keymeshd under churn for a while (issue 15 §7): `bash scripts/soak.sh [--minutes N]`
# (default 10; as root or via sudo; not part of CI). Inside network namespaces only:
#
#   ns km-soak-<pid>-l             ns km-soak-<pid>-a             ns km-soak-<pid>-b
#   lighthouse 100.64.0.1          node CA 100.64.1.0/24          node CA 100.64.2.0/24
#                                  a-w1 (steady)                  b-w1 (steady)
#                                  a-c<N> (churn)                 b-c<N> (churn)
#   ul0 198.18.0.10 ------------ bridge ------------ 198.18.0.1 ------------ 198.18.0.2
#
# Throughout: a-w1 and b-w1 ping each other five times a second (the granted flows), found
# through the lighthouse. Every second one workload identity is minted (`keymesh identity add`,
# node CA) on a or b in turn, pings the steady workload on the other host once (discovery,
# handshake, policy), and the one minted before it on that host is deleted. Workload
# certificates live 120 s and are renewed at 50 % (every minute, steady ones included);
# the policy is reloaded on a and b every 15 s; the lighthouse is restarted at half time.
# Revocations: every minute (by the clock) a victim workload (a-r<N> or b-r<N>) is minted and
# pings the steady workload on the other host five times a second; 5 s later it is revoked
# (its certificate, in a root-signed list put on the lighthouse only: trust.revocation_list,
# replaced by rename). Its flow must stop within 1 s and stay stopped, while the steady flows go on (their gap check).
#
# Asserts, and prints: RSS and open file descriptors of each keymeshd at the start (after a
# 15 s warm-up) and at the end (flat: at most +8 MiB or +15 % RSS, at most +2 fds); nothing
# left behind (identities, km0 addresses, paths of deleted workloads on their host; paths the
# other host still holds to them are counted, they close when their keys expire); no
# granted flow stopped for more than 2 s (largest gap between ping replies, either direction);
# every revoked flow stopped within 1 s of its revocation (the slowest is printed); every
# churn workload reached the other host's steady workload at its first echo (1 s).
set -euo pipefail

MINUTES=10
KEEP_LOGS=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=1; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "usage: bash $0 [--minutes N] [--keep-logs]" >&2; exit 2 ;;
  esac
done
[[ $MINUTES =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: --minutes takes a positive integer" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
export KEYMESH_BUILD_DIR=${KEYMESH_BUILD_DIR:-$REPO/build}
source "$REPO/scripts/lib/root.sh"
need_root "$@"
for b in daemon/keymeshd tools/keymesh; do
  [[ -x $KEYMESH_BUILD_DIR/$b ]] || { echo "soak.sh: build first ($KEYMESH_BUILD_DIR/$b missing)" >&2; exit 1; }
done

KM_TEST=soak KM_DEADLINE=$((MINUTES * 60 + 240)) KM_KEEP=$KEEP_LOGS
source "$REPO/tests/netns/lib.sh"
need ping python3

DURATION=$((MINUTES * 60))
declare -A N=([l]=0 [a]=1 [b]=2) UL=([l]=198.18.0.10 [a]=198.18.0.1 [b]=198.18.0.2)
for h in l a b; do make_host "$h" "${UL[$h]}"; done
link_hosts l a b
pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: mesh
    from: { groups: [wl] }
    to: { groups: [wl] }
    allow: [any]
POLICY
for h in l a b; do pki_host "$KM_TMP" "$h" "${N[$h]}"; done
for h in l a b; do
  KM_NODE_CA_EXTRA="workload_lifetime_seconds: 120, renew_at_percent: 50" \
    km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  if [[ $h == l ]]; then
    echo "lighthouse: true" >>"$KM_TMP/$h.yaml"
  else
    echo "lighthouses: [ { address: 100.64.0.1, certificate: $KM_TMP/l.chain, endpoints: [\"198.18.0.10:51820\"] } ]" >>"$KM_TMP/$h.yaml"
  fi
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
done

sock() { echo "$KM_TMP/$1.sock"; }
mint() {  # mint HOST NAME -> prints the address, added to HOST's km0
  local h=$1 name=$2 out
  out=$(km_cli identity add "$name" --group wl --socket "$(sock "$h")") || fail "identity add $name on $h: $out"
  [[ $out =~ \ (100\.64\.[0-9.]+)/32 ]] || fail "identity add $name: no address in: $out"
  on "$h" ip addr add "${BASH_REMATCH[1]}/32" dev km0
  echo "${BASH_REMATCH[1]}"
}
unmint() {  # unmint HOST NAME ADDRESS
  km_cli identity remove "$2" --socket "$(sock "$1")" >/dev/null || fail "identity remove $2 on $1"
  on "$1" ip addr del "$3/32" dev km0
}
fingerprint() {  # fingerprint HOST NAME : a local identity's certificate fingerprint
  km_cli identity list --json --socket "$(sock "$1")" | python3 -c "
import json,sys
for i in json.load(sys.stdin)['identities']:
    if i['name'] == '$2': print(i['fingerprint'])"
}
# replies FILE : unix times of the echo replies in a `ping -D` log, one a line
replies() { sed -n 's/^\[\([0-9.]*\)\] [0-9]* bytes from.*/\1/p' "$1"; }
sample() {  # sample HOST -> "RSS_KIB FDS"
  local pid=${KM_DAEMON_PID[$1]}
  echo "$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status") $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
}

aw1=$(mint a a-w1)
bw1=$(mint b b-w1)
wait_for "on a ping -c1 -W1 -I $aw1 $bw1" 15 || fail "a-w1 cannot reach b-w1"
wait_for "on b ping -c1 -W1 -I $bw1 $aw1" 15 || fail "b-w1 cannot reach a-w1"
log "steady pair a-w1 ($aw1) <-> b-w1 ($bw1) up; traffic for ${MINUTES} min"
# ping -D prints the arrival time of every reply; -O reports missed ones.
pings=$((DURATION * 5 + 100))
spawn a "$KM_TMP/ping-ab.log" ping -D -O -n -i 0.2 -W 1 -c "$pings" -I "$aw1" "$bw1"
PING_AB=$KM_LAST_PID
spawn b "$KM_TMP/ping-ba.log" ping -D -O -n -i 0.2 -W 1 -c "$pings" -I "$bw1" "$aw1"
PING_BA=$KM_LAST_PID

sleep 15  # warm-up: first renewals scheduled, paths and discovery caches filled
declare -A START=()
for h in l a b; do START[$h]=$(sample "$h"); done
log "start: $(for h in l a b; do echo -n "$h rss=${START[$h]% *}KiB fds=${START[$h]#* }  "; done)"

declare -A LAST_NAME=() LAST_ADDR=()
problems_rev=() problems_churn=()
t_end=$((SECONDS + DURATION - 15))
t_half=$((SECONDS + (DURATION - 15) / 2))
restarted=0 minted=0 reloads=0 churn_pings_ok=0 i=0
revoked=0 revoke_worst=0 REV_PID="" REV_T0="" rev_next=$((SECONDS + 20)) rev_at=0 rev_check=0
while ((SECONDS < t_end)); do
  tick=$SECONDS
  h=a other=$bw1
  ((i % 2)) && h=b other=$aw1
  name="$h-c$i"
  addr=$(mint "$h" "$name") && [[ -n $addr ]] || fail "minting $name on $h failed"
  minted=$((minted + 1))
  if on "$h" ping -c1 -W1 -I "$addr" "$other" >/dev/null 2>&1; then
    churn_pings_ok=$((churn_pings_ok + 1))
  else
    problems_churn+=("$name ($addr) on $h did not reach $other at its first echo")
  fi
  if [[ -n ${LAST_NAME[$h]:-} ]]; then unmint "$h" "${LAST_NAME[$h]}" "${LAST_ADDR[$h]}"; fi
  LAST_NAME[$h]=$name LAST_ADDR[$h]=$addr
  if ((i % 15 == 14)); then
    for r in a b; do km_cli policy reload --socket "$(sock "$r")" >/dev/null || fail "policy reload on $r"; done
    reloads=$((reloads + 2))
  fi
  # A revocation a minute (by the clock, whatever the churn's pace): a victim is minted and
  # streams; 5 s later it is revoked on the lighthouse; 3 s after that its flow is checked.
  if [[ -z $REV_PID ]] && ((SECONDS >= rev_next)); then
    rh=a rother=$bw1
    ((revoked % 2)) && rh=b rother=$aw1
    rname="$rh-r$revoked"
    raddr=$(mint "$rh" "$rname") && [[ -n $raddr ]] || fail "minting $rname on $rh failed"
    spawn "$rh" "$KM_TMP/ping-$rname.log" ping -D -n -i 0.2 -W 1 -w 60 -I "$raddr" "$rother"
    REV_PID=$KM_LAST_PID rev_at=$((SECONDS + 5)) rev_next=$((SECONDS + 60))
  elif [[ -n $REV_PID && -z $REV_T0 ]] && ((SECONDS >= rev_at)); then
    fp=$(fingerprint "$rh" "$rname")
    [[ ${#fp} == 64 ]] || fail "no fingerprint for $rname: $fp"
    km_cli crl sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --revoke "$fp" \
      --add-to "$KM_TMP/l-crl.pem" --out "$KM_TMP/l-crl.new" >/dev/null || fail "crl sign $rname"
    mv "$KM_TMP/l-crl.new" "$KM_TMP/l-crl.pem"
    REV_T0=$EPOCHREALTIME rev_check=$((SECONDS + 3))
  elif [[ -n $REV_T0 ]] && ((SECONDS >= rev_check)); then
    stop_pid "$REV_PID" INT || true
    r=$(replies "$KM_TMP/ping-$rname.log" | python3 -c "
import sys
t = [float(x) for x in sys.stdin.read().split()]
before = [x for x in t if x <= $REV_T0]
after = [x for x in t if x > $REV_T0]
late = [x for x in after if x > $REV_T0 + 1.0]
print(len(before), f'{(max(after) - $REV_T0) if after else 0:.3f}', len(late))")
    read -r rb rlast rlate <<<"$r"
    ((rb > 0)) || problems_rev+=("$rname never reached the other host before its revocation")
    ((rlate == 0)) || problems_rev+=("$rname's flow went on $rlast s after its revocation ($rlate late replies)")
    python3 -c "import sys; sys.exit(0 if $rlast > $revoke_worst else 1)" && revoke_worst=$rlast
    echo "   revocation of $rname: $rb replies before, last one ${rlast} s after, $rlate later than 1 s"
    unmint "$rh" "$rname" "$raddr"
    revoked=$((revoked + 1)) REV_PID="" REV_T0=""
  fi
  if ((!restarted && SECONDS >= t_half)); then
    stop_keymeshd l || fail "lighthouse exited with an error"
    rm -f "$(sock l)"
    start_keymeshd l "$KM_TMP/l.yaml" "$KM_TMP/l-restarted.log"
    restarted=1
    log "lighthouse restarted"
  fi
  i=$((i + 1))
  ((SECONDS > tick)) || sleep 1
done
if [[ -n $REV_PID ]]; then  # a victim minted but the run ended before its check
  stop_pid "$REV_PID" INT || true
  unmint "$rh" "$rname" "$raddr"
fi
for h in a b; do [[ -n ${LAST_NAME[$h]:-} ]] && unmint "$h" "${LAST_NAME[$h]}" "${LAST_ADDR[$h]}"; done
sleep 3  # closes and withdrawals settle
declare -A END=()
for h in l a b; do END[$h]=$(sample "$h"); done
stop_pid "$PING_AB" INT || true
stop_pid "$PING_BA" INT || true

# ---- figures and assertions
problems=("${problems_rev[@]}" "${problems_churn[@]}")
echo "== soak: ${MINUTES} min, $minted workloads minted and deleted ($churn_pings_ok reached the other host at once), $reloads policy reloads, lighthouse restarted: $restarted"
for h in l a b; do
  read -r rs fs <<<"${START[$h]}"
  read -r re fe <<<"${END[$h]}"
  printf '   keymeshd %s: RSS %6d -> %6d KiB (%+d), open fds %3d -> %3d\n' "$h" "$rs" "$re" $((re - rs)) "$fs" "$fe"
  limit=$((rs * 115 / 100)); ((limit < rs + 8192)) && limit=$((rs + 8192))
  ((re <= limit)) || problems+=("keymeshd $h RSS grew from $rs to $re KiB")
  ((fe <= fs + 2)) || problems+=("keymeshd $h open fds grew from $fs to $fe")
done
echo "   revocations: $revoked workload certificates revoked on the lighthouse; the slowest flow stopped ${revoke_worst} s after its revocation"
((revoked >= MINUTES - 1)) || problems+=("only $revoked revocations in $MINUTES min")
renewals=$(cat "$KM_TMP"/a.log "$KM_TMP"/b.log | grep -c "renewed: certificate" || true)
echo "   certificate renewals logged on a and b: $renewals"
((renewals >= 2 * MINUTES - 2)) || problems+=("only $renewals renewals in $MINUTES min (two steady workloads renewing every minute)")
for dir in ab ba; do
  gap=$(python3 - "$KM_TMP/ping-$dir.log" <<'PY'
import re, sys
times = [float(m.group(1)) for line in open(sys.argv[1])
         for m in [re.match(r"\[(\d+\.\d+)\] \d+ bytes from", line)] if m]
gaps = [b - a for a, b in zip(times, times[1:])]
print(f"{max(gaps) if gaps else 999:.2f} {len(times)}")
PY
)
  read -r g n <<<"$gap"
  echo "   steady flow ${dir:0:1} -> ${dir:1:1}: $n replies, largest gap between replies ${g} s"
  python3 -c "import sys; sys.exit(0 if $g <= 2.0 else 1)" || problems+=("flow $dir stopped for $g s")
done
for h in a b; do
  ids=$(km_cli identity list --json --socket "$(sock "$h")" |
    python3 -c 'import json,sys; print(" ".join(sorted(i["name"] for i in json.load(sys.stdin)["identities"])))')
  echo "   identities left on $h: $ids"
  [[ $(wc -w <<<"$ids") -eq 2 ]] || problems+=("identities left on $h: $ids")
  addrs=$(on "$h" ip -4 -o addr show dev km0 | awk '{print $4}' | sort | tr '\n' ' ')
  echo "   km0 addresses on $h: $addrs"
  [[ $(wc -w <<<"$addrs") -eq 2 ]] || problems+=("km0 addresses left on $h: $addrs")
  paths=$(timeout 5 "$(binary keymesh)" status --json --socket "$(sock "$h")" |
    python3 -c 'import json,sys
d = json.load(sys.stdin)
ps = d.get("peers", [])
print(len(ps), sum(1 for p in ps if "-c" in p.get("local_identity", "")),
      sum(1 for p in ps if "-c" in p.get("name", "") and "-c" not in p.get("local_identity", "")))')
  read -r np own_churn remote_churn <<<"$paths"
  echo "   paths on $h: $np ($own_churn of its deleted workloads; $remote_churn to the other host's deleted ones, closed when their keys expire)"
  ((own_churn == 0)) || problems+=("$own_churn paths of deleted workloads left on $h")
done

if ((${#problems[@]})); then
  printf '   PROBLEM: %s\n' "${problems[@]}"
  fail "soak: ${#problems[@]} problem(s)"
fi
echo "== soak passed"
