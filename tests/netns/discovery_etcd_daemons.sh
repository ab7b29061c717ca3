#!/usr/bin/env bash
# discovery_etcd_daemons.sh - three keymeshd hosts find each other's workloads through etcd
# instead of a lighthouse.
#
#   ns ...-e (etcd 3.4 from tests/runtimes/etcd.sh, 198.18.0.20:23791)
#   ns ...-a 100.64.1.1/10    ns ...-b 100.64.2.1/10    ns ...-c 100.64.3.1/10
#   ul0 198.18.0.1 --------- bridge --------- 198.18.0.2 --------- 198.18.0.3 (and .20)
#
# Every daemon has `discovery: { etcd: { endpoints: [http://198.18.0.20:23791] } }` and no
# peer list. Workloads are minted at runtime (`keymesh identity add`).
#
# Scenarios:
# 1. One workload per host; every ordered pair pings (6 pairs).
# 2. etcd holds one record per identity under /keymesh/v1 (etcdctl), each with a lease.
# 3. etcd stops: existing paths keep working.
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need ping python3 etcd etcdctl

make_host e 198.18.0.20
declare -A N=([a]=1 [b]=2 [c]=3)
for h in a b c; do make_host "$h" "198.18.0.${N[$h]}"; done
link_hosts e a b c
EP=http://198.18.0.20:23791
spawn e "$KM_TMP/etcd.log" bash "$KM_REPO/tests/runtimes/etcd.sh" "$KM_TMP/etcd" 198.18.0.20 23791 23801
etcd_pid=$KM_LAST_PID
wait_for "on e env ETCDCTL_API=3 etcdctl --endpoints=$EP endpoint health" 20 0.3 || fail "etcd did not start"

pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - { name: mesh, from: { groups: [wl] }, to: { groups: [wl] }, allow: [any] }
POLICY
declare -A W=()
for h in a b c; do
  pki_host "$KM_TMP" "$h" "${N[$h]}"
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  echo "discovery: { etcd: { endpoints: [\"$EP\"], lease_ttl_seconds: 10 } }" >>"$KM_TMP/$h.yaml"
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
  km_cli identity add "$h-w1" --group wl --socket "$KM_TMP/$h.sock" >/dev/null || fail "mint on $h"
  W[$h]=$(km_cli identity list --json --socket "$KM_TMP/$h.sock" | python3 -c "
import json,sys
for i in json.load(sys.stdin)['identities']:
    if i['name'] == '$h-w1': print(i['networks'][0].split('/')[0])")
  on "$h" ip addr add "${W[$h]}/32" dev km0
done

# 1. every pair
for h in a b c; do
  for o in a b c; do
    [[ $o == "$h" ]] && continue
    wait_for "on $h ping -c1 -W1 -I ${W[$h]} ${W[$o]}" 10 || fail "1. $h-w1 cannot reach $o-w1 (${W[$o]})"
  done
done
log "1. all 6 ordered pairs of workloads ping, found through etcd"

# 2. what etcd holds
keys=$(on e env ETCDCTL_API=3 etcdctl --endpoints=$EP get --prefix /keymesh/v1/records/ --keys-only | grep -c . || true)
((keys >= 6)) || fail "2. etcd holds $keys records, want at least 6 (3 hosts + 3 workloads)"
log "2. etcd holds $keys records under /keymesh/v1/records/"

# 3. etcd gone
stop_pid "$etcd_pid" TERM || true
sleep 2
for h in a b c; do
  for o in a b c; do
    [[ $o == "$h" ]] && continue
    on "$h" ping -c1 -W2 -I "${W[$h]}" "${W[$o]}" >/dev/null || fail "3. $h-w1 -> $o-w1 failed with etcd down"
  done
done
log "3. with etcd stopped, every known path kept working"
