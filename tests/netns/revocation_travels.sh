#!/usr/bin/env bash
# revocation_travels.sh [lighthouse|etcd] - a revocation made on one host only reaches every
# host within a second, stays across SIGHUP and restarts, and a deleted workload's certificate
# is revoked by its node's CA (docs/identity.md "Revocation that travels").
#
#   lighthouse mode:
#   ns ...-l (lighthouse)      ns ...-a                  ns ...-b
#   km0 100.64.0.1/10          km0 100.64.1.1/10         km0 100.64.2.1/10
#   lighthouse: true           lighthouses: [l]          lighthouses: [l]
#   ul0 198.18.0.10 ------------ bridge ------------ 198.18.0.1 ---------- 198.18.0.2
#   etcd mode: the same three hosts with `discovery: { etcd: ... }` and no lighthouse, and
#   ns ...-e running etcd (tests/runtimes/etcd.sh) at 198.18.0.20:23792 on the same bridge.
#
# Workloads are minted at runtime (`keymesh identity add NAME --group wl`).
# Scenarios:
# 1. a-w1 streams to b-w1 (an echo every 20 ms). Its certificate is revoked in l's
#    trust.revocation_list only (a root-signed list, file replaced by rename). The stream
#    stops within 1 s of the rename (the time is printed), on b the path closes, and for 3 s
#    after that no echo gets through: the new handshakes a-w1 sends are refused on b
#    (log "is revoked").
# 2. SIGHUP on b (trust reloaded from b's own files, whose list is empty): a-w1 stays refused.
# 3. b restarts (SIGTERM, start): the list saved in b's state directory keeps a-w1 refused
#    from the first second.
# 4. Deleting a workload revokes its certificate: a-w2 reaches b-w1; `identity remove a-w2` on
#    a makes a's node CA sign a list naming a-w2's certificate, which b and l apply (log
#    "revocation list of <a's node CA> ... 1 revoked") within 1 s.
MODE=${1:-lighthouse}
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need ping python3
[[ $MODE == lighthouse || $MODE == etcd ]] || fail "mode is lighthouse or etcd, not $MODE"

declare -A N=([l]=0 [a]=1 [b]=2) U=([l]=10 [a]=1 [b]=2)
for h in l a b; do make_host "$h" "198.18.0.${U[$h]}"; done
EP=http://198.18.0.20:23792
if [[ $MODE == etcd ]]; then
  need etcd etcdctl
  make_host e 198.18.0.20
  link_hosts e l a b
  spawn e "$KM_TMP/etcd.log" bash "$KM_REPO/tests/runtimes/etcd.sh" "$KM_TMP/etcd" 198.18.0.20 23792 23802
  wait_for "on e env ETCDCTL_API=3 etcdctl --endpoints=$EP endpoint health" 20 0.3 || fail "etcd did not start"
else
  link_hosts l a b
fi
pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - { name: mesh, from: { groups: [wl] }, to: { groups: [wl] }, allow: [any] }
POLICY
for h in l a b; do
  pki_host "$KM_TMP" "$h" "${N[$h]}"
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  if [[ $MODE == etcd ]]; then
    echo "discovery: { etcd: { endpoints: [\"$EP\"], lease_ttl_seconds: 10 } }" >>"$KM_TMP/$h.yaml"
  elif [[ $h == l ]]; then
    echo "lighthouse: true" >>"$KM_TMP/$h.yaml"
  else
    echo "lighthouses: [ { address: 100.64.0.1, certificate: $KM_TMP/l.chain, endpoints: [\"198.18.0.10:51820\"] } ]" >>"$KM_TMP/$h.yaml"
  fi
done
for h in l a b; do start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"; done

field() {  # field HOST NAME KEY : a local identity's field from `identity list --json`
  km_cli identity list --json --socket "$KM_TMP/$1.sock" | python3 -c "
import json,sys
for i in json.load(sys.stdin)['identities']:
    if i['name'] == '$2': print(i['$3'][0].split('/')[0] if '$3' == 'networks' else i['$3'])"
}
mint() {  # mint HOST NAME -> prints the address, adds it to HOST's km0
  km_cli identity add "$2" --group wl --socket "$KM_TMP/$1.sock" >/dev/null || fail "identity add $2 on $1"
  local addr
  addr=$(field "$1" "$2" networks)
  on "$1" ip addr add "$addr/32" dev km0
  echo "$addr"
}
since() { python3 -c "print(f'{$EPOCHREALTIME - $1:.3f}')"; }
# last_reply FILE : unix time of the last echo reply in a `ping -D` log (0 when none)
last_reply() { python3 -c "
import re,sys
t=[float(m.group(1)) for m in re.finditer(r'^\[(\d+\.\d+)\] \d+ bytes from', open('$1').read(), re.M)]
print(t[-1] if t else 0)"; }
replies_after() { python3 -c "
import re
t=[float(m.group(1)) for m in re.finditer(r'^\[(\d+\.\d+)\] \d+ bytes from', open('$1').read(), re.M)]
print(sum(1 for x in t if x > $2))"; }

aw1=$(mint a a-w1)
bw1=$(mint b b-w1)
wait_for "on a ping -c1 -W1 -I $aw1 $bw1" 15 || fail "a-w1 ($aw1) cannot reach b-w1 ($bw1)"
fp=$(field a a-w1 fingerprint)
[[ ${#fp} == 64 ]] || fail "no fingerprint for a-w1: $fp"
log "a-w1 ($aw1, ${fp:0:16}) reaches b-w1 ($bw1) via $MODE"

# 1. revoked on l only, while streaming
spawn a "$KM_TMP/stream.log" ping -D -i 0.02 -W1 -w 12 -I "$aw1" "$bw1"
stream=$KM_LAST_PID
sleep 1.5
km_cli crl sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --revoke "$fp" \
  --add-to "$KM_TMP/l-crl.pem" --out "$KM_TMP/l-crl.new" >/dev/null || fail "crl sign"
mv "$KM_TMP/l-crl.new" "$KM_TMP/l-crl.pem"
t0=$EPOCHREALTIME
sleep 4
last=$(last_reply "$KM_TMP/stream.log")
python3 -c "import sys; sys.exit(0 if $last > $t0 - 0.5 else 1)" ||
  fail "1. the stream was not running when the list changed (last reply $last, change $t0)"
took=$(python3 -c "print(f'{max(0.0, $last - $t0):.3f}')")
python3 -c "import sys; sys.exit(0 if $last - $t0 < 1.0 else 1)" ||
  fail "1. a-w1's stream went on for $took s after the revocation on l"
python3 -c "import sys; sys.exit(0 if $(replies_after "$KM_TMP/stream.log" "$t0 + 1.0") == 0 else 1)" ||
  fail "1. echoes got through again more than 1 s after the revocation"
wait_for "grep -q 'is revoked' '$KM_TMP/b.log'" 5 0.2 || fail "1. b logged no refused handshake from a-w1"
on a ping -c3 -i0.3 -W1 -I "$aw1" "$bw1" >/dev/null 2>&1 && fail "1. a-w1 reaches b-w1 again"
stop_pid "$stream" INT || true
log "1. revoked on l only: a-w1's stream stopped $took s after the list changed; b refuses it"

# 2. SIGHUP on b keeps the list received from discovery
kill -HUP "${KM_DAEMON_PID[b]}"
wait_for "grep -q 'trust reloaded (SIGHUP)' '$KM_TMP/b.log'" 5 0.1 || fail "2. b did not reload"
on a ping -c4 -i0.3 -W1 -I "$aw1" "$bw1" >/dev/null 2>&1 && fail "2. a-w1 reaches b-w1 after SIGHUP on b"
log "2. after SIGHUP on b, a-w1 is still refused"

# 3. b restarts
stop_keymeshd b || true
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log.2"
grep -q "from the state directory" "$KM_TMP/b.log.2" || fail "3. b did not load its saved list"
on b ip addr add "$bw1/32" dev km0 2>/dev/null || true
on a ping -c4 -i0.3 -W1 -I "$aw1" "$bw1" >/dev/null 2>&1 && fail "3. a-w1 reaches b-w1 after b restarted"
log "3. after a restart of b, a-w1 is still refused (list from b's state directory)"

# 4. a deleted workload is revoked by its node CA
aw2=$(mint a a-w2)
wait_for "on a ping -c1 -W1 -I $aw2 $bw1" 15 || fail "4. a-w2 ($aw2) cannot reach b-w1"
on a ip addr del "$aw2/32" dev km0
before_b=$(count_lines "$KM_TMP/b.log.2" "revocation list of .* from .*: 1 revoked")
km_cli identity remove a-w2 --socket "$KM_TMP/a.sock" >/dev/null || fail "4. identity remove a-w2"
t0=$EPOCHREALTIME
wait_for "(( \$(count_lines '$KM_TMP/b.log.2' 'revocation list of .* from .*: 1 revoked') > $before_b ))" 3 0.02 ||
  fail "4. b never applied a's node CA list for a-w2"
took=$(since "$t0")
python3 -c "import sys; sys.exit(0 if $took < 1.0 else 1)" || fail "4. b applied it only after $took s"
grep -q "revocation list of .* from our node CA: 1 revoked" "$KM_TMP/a.log" || fail "4. a's node CA signed no list"
log "4. identity remove a-w2 on a: b applied a's node CA list $took s later"
