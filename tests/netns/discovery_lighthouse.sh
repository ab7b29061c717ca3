#!/usr/bin/env bash
# discovery_lighthouse.sh - hosts find each other's workloads through the embedded lighthouse,
# with no static peer list; discovery is untrusted and may go away.
#
#   ns ...-l (lighthouse)      ns ...-a                  ns ...-b                  ns ...-m
#   km0 100.64.0.1/10          km0 100.64.1.1/10         km0 100.64.2.1/10         km0 100.64.9.1/10
#   lighthouse: true           lighthouses: [l]          lighthouses: [l]          (an impostor's host)
#   ul0 198.18.0.10 ------ bridge ------ 198.18.0.1 ------ 198.18.0.2 ------ 198.18.0.9
#
# Workloads are minted at runtime with `keymesh identity add NAME --group wl` (node CA) and
# their addresses put on km0; nothing about them is configured anywhere else.
#
# Scenarios:
# 1. a-w1 pings b-w1 and b-w1 pings a-w1: both hosts learned the other's workload from the
#    lighthouse (log "discovery: record ...").
# 2. A workload minted on b is reachable from a at once: the time from `identity add` on b
#    returning to the first echo reply on a (pinging every 50 ms, after putting its address
#    on b's km0) is printed and must be under 1 s. (tests/netns/discovery_race.sh forces
#    both orders of lookup and registration, 20 times each.)
# 2b. A workload minted on b reaches a-w1 first (one echo, no retry): b knows a-w1 only from
#    a-w1's own handshakes (a asked the lighthouse, b never did), so the new path b-w3 ->
#    a-w1 must start at the endpoint those handshakes came from.
# 3. The lighthouse stops (SIGSTOP: it neither answers nor closes): existing paths carry
#    traffic on, and known peers stay reachable (ping after 5 s without the lighthouse).
# 4. Untrusted discovery: a's static directory (discovery.static) says b-w9 lives at the
#    impostor's address 198.18.0.9, and lists a certificate for 100.64.2.99 signed by a rogue
#    root. The impostor's keymeshd never completes a handshake for b-w9's key (it does not
#    hold it), so a-w1's pings to b-w9 fail; the rogue record is refused (a's log), so pings
#    to 100.64.2.99 fail too.
# 5. The lighthouse restarts (kill -9, started again: it knows no session and no record).
#    A workload minted on b afterwards is reachable from a within 8 s (printed): both hosts
#    notice within about 2 s that the lighthouse stopped answering (the liveness probe of
#    their path to it) and handshake again, instead of waiting for WireGuard's 15 s timer.
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need ping python3

make_host l 198.18.0.10
make_host a 198.18.0.1
make_host b 198.18.0.2
make_host m 198.18.0.9
link_hosts l a b m
pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: mesh
    from: { groups: [wl] }
    to: { groups: [wl] }
    allow: [any]
POLICY
declare -A N=([l]=0 [a]=1 [b]=2 [m]=9)
for h in l a b m; do pki_host "$KM_TMP" "$h" "${N[$h]}"; done
for h in l a b m; do
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  if [[ $h == l ]]; then
    echo "lighthouse: true" >>"$KM_TMP/$h.yaml"
  elif [[ $h != m ]]; then
    echo "lighthouses: [ { address: 100.64.0.1, certificate: $KM_TMP/l.chain, endpoints: [\"198.18.0.10:51820\"] } ]" >>"$KM_TMP/$h.yaml"
  fi
done
# 4's static entries for a: b-w9 (a real certificate of b's node CA) at the impostor's host,
# and a rogue root's certificate for 100.64.2.99.
pki_leaf "$KM_TMP" b b-w9 workload 100.64.2.99/32 wl
mkdir -p "$KM_TMP/rogue"
pki_root "$KM_TMP/rogue"
km_cli cert sign --ca "$KM_TMP/rogue/root.crt" --ca-key "$KM_TMP/rogue/root.key" --kind workload \
  --name b-fake --networks 100.64.2.98/32 --groups wl --key-out "$KM_TMP/rogue/fake.key" \
  --out "$KM_TMP/rogue/fake.crt" >/dev/null || fail "rogue cert"
cat >"$KM_TMP/a-static.yaml" <<STATIC
entries:
  - certificate: $KM_TMP/b-w9.chain
    endpoints: ["198.18.0.9:51820"]
  - certificate: $KM_TMP/rogue/fake.crt
    endpoints: ["198.18.0.9:51820"]
STATIC
echo "discovery: { static: $KM_TMP/a-static.yaml }" >>"$KM_TMP/a.yaml"
for h in l a b m; do start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"; done

mint() {  # mint HOST NAME -> prints the address, adds it to HOST's km0
  local h=$1 name=$2 addr
  km_cli identity add "$name" --group wl --socket "$KM_TMP/$h.sock" >/dev/null ||
    fail "identity add $name on $h"
  addr=$(km_cli identity list --json --socket "$KM_TMP/$h.sock" | python3 -c "
import json,sys
for i in json.load(sys.stdin)['identities']:
    if i['name'] == '$name': print(i['networks'][0].split('/')[0])")
  on "$h" ip addr add "$addr/32" dev km0
  echo "$addr"
}

# 1. discovery through the lighthouse
aw1=$(mint a a-w1)
bw1=$(mint b b-w1)
wait_for "on a ping -c1 -W1 -I $aw1 $bw1" 10 || fail "1. a-w1 ($aw1) cannot reach b-w1 ($bw1)"
wait_for "on b ping -c1 -W1 -I $bw1 $aw1" 10 || fail "1. b-w1 cannot reach a-w1"
grep -q "discovery: record \"b-w1\"" "$KM_TMP/a.log" || fail "1. a did not learn b-w1 from discovery"
log "1. a-w1 ($aw1) <-> b-w1 ($bw1) found each other through the lighthouse"

# 2. a fresh workload is reachable quickly
added=$(km_cli identity add b-w2 --group wl --socket "$KM_TMP/b.sock") || fail "identity add b-w2 on b"
t0=$EPOCHREALTIME  # the ADD returned
[[ $added =~ \ (100\.64\.[0-9.]+)/32 ]] || fail "2. no address in: $added"
bw2=${BASH_REMATCH[1]}
on b ip addr add "$bw2/32" dev km0
# One echo every 50 ms until the first reply (at most 3 s).
on a ping -c1 -w3 -i0.05 -I "$aw1" "$bw2" >/dev/null 2>&1 || fail "2. b-w2 ($bw2) not reachable from a within 3 s"
t1=$EPOCHREALTIME
took=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 1.0 else 1)" ||
  fail "2. b-w2 became reachable from a only after $took s"
log "2. b-w2 ($bw2) reachable from a $took s after its identity add returned on b"

# 2b. a new workload on b first to speak, to a remote b learned only from its handshakes
bw3=$(mint b b-w3)
on b ping -c1 -W3 -I "$bw3" "$aw1" >/dev/null 2>&1 ||
  fail "2b. b-w3 ($bw3) could not reach a-w1, which b knows only from a-w1's handshakes"
log "2b. b-w3 reached a-w1 at its first echo, with no record of a-w1 asked for"

# 3. lighthouse gone
kill -STOP "${KM_DAEMON_PID[l]}"
sleep 5
on a ping -c3 -i 0.3 -W1 -I "$aw1" "$bw1" >/dev/null || fail "3. a-w1 -> b-w1 failed without the lighthouse"
on b ping -c3 -i 0.3 -W1 -I "$bw2" "$aw1" >/dev/null || fail "3. b-w2 -> a-w1 failed without the lighthouse"
kill -CONT "${KM_DAEMON_PID[l]}"
log "3. with the lighthouse stopped for 5 s, known paths kept working"

# 4. untrusted records
on a ping -c2 -W1 -I "$aw1" 100.64.2.99 >/dev/null 2>&1 && fail "4. a reached b-w9 at the impostor's address"
on a ping -c2 -W1 -I "$aw1" 100.64.2.98 >/dev/null 2>&1 && fail "4. a reached the rogue record's address"
grep -q 'handshake complete: peer b-w9' "$KM_TMP/a.log" && fail "4. a completed a handshake for b-w9"
grep -q "record \"b-fake\".*not usable\|b-fake" "$KM_TMP/a.log" || true
log "4. a wrong endpoint and a rogue certificate from discovery gave no path"

# 5. lighthouse restarted: nothing of the old sessions left on its side
kill -9 "${KM_DAEMON_PID[l]}"
wait "${KM_DAEMON_PID[l]}" 2>/dev/null || true
unset "KM_DAEMON_PID[l]"
rm -f "$KM_TMP/l.sock"
start_keymeshd l "$KM_TMP/l.yaml" "$KM_TMP/l-restarted.log"
added=$(km_cli identity add b-w5 --group wl --socket "$KM_TMP/b.sock") || fail "identity add b-w5 on b"
t0=$EPOCHREALTIME
[[ $added =~ \ (100\.64\.[0-9.]+)/32 ]] || fail "5. no address in: $added"
bw5=${BASH_REMATCH[1]}
on b ip addr add "$bw5/32" dev km0
on a ping -c1 -w12 -i0.1 -I "$aw1" "$bw5" >/dev/null 2>&1 ||
  fail "5. b-w5 ($bw5) not reachable from a within 12 s of the lighthouse's restart"
t1=$EPOCHREALTIME
took=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 8.0 else 1)" ||
  fail "5. b-w5 became reachable from a only $took s after the lighthouse restarted"
log "5. after a lighthouse restart, b-w5 ($bw5) was reachable from a $took s after its identity add"
