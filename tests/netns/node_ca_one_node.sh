#!/usr/bin/env bash
# node_ca_one_node.sh [lighthouse|etcd] - two nodes cannot hand out the same addresses
# (issue 15, section 1; docs/identity.md, "One node CA, one node").
#
#   ns ...-l (lighthouse)      ns ...-a                  ns ...-b
#   km0 100.64.0.1/10          km0 100.64.1.1/10         km0 100.64.2.1/10
#   ul0 198.18.0.10 ------------ bridge ------------ 198.18.0.1 ---------- 198.18.0.2
#   etcd mode: no lighthouse; etcd in ns ...-e at 198.18.0.20:23792 on the same bridge.
#
# Scenarios:
# 1. a's node CA is bound to node a (`cert sign --kind ca --node a`; `cert show` prints
#    "node: a"). keymeshd on b given a's node CA exits at start, and its error names the CA,
#    the node it is bound to and b's own certificate.
# 2. One unbound node CA ("shared-ca", 100.64.5.0/24) on both a and b: a claims it first
#    (lighthouse: in its Register; etcd: create-if-absent key <prefix>/nodeca/<fingerprint>
#    under its lease) and mints. b starts with it: its log says the node CA is in use by the
#    host at 100.64.1.1, and `keymesh identity add` on b fails with that reason, while a
#    still mints. No address of shared-ca is handed out twice.
MODE=${1:-lighthouse}
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need python3
[[ $MODE == lighthouse || $MODE == etcd ]] || fail "mode is lighthouse or etcd, not $MODE"

declare -A N=([l]=0 [a]=1 [b]=2) U=([l]=10 [a]=1 [b]=2)
hosts=(a b)
[[ $MODE == lighthouse ]] && hosts=(l a b)
for h in "${hosts[@]}"; do make_host "$h" "198.18.0.${U[$h]}"; done
EP=http://198.18.0.20:23792
if [[ $MODE == etcd ]]; then
  need etcd etcdctl
  make_host e 198.18.0.20
  link_hosts e a b
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
for h in "${hosts[@]}"; do
  if [[ $h == a ]]; then pki_host "$KM_TMP" a 1 --node a; else pki_host "$KM_TMP" "$h" "${N[$h]}"; fi
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  if [[ $MODE == etcd ]]; then
    echo "discovery: { etcd: { endpoints: [\"$EP\"], lease_ttl_seconds: 10 } }" >>"$KM_TMP/$h.yaml"
  elif [[ $h == l ]]; then
    echo "lighthouse: true" >>"$KM_TMP/$h.yaml"
  else
    echo "lighthouses: [ { address: 100.64.0.1, certificate: $KM_TMP/l.chain, endpoints: [\"198.18.0.10:51820\"] } ]" >>"$KM_TMP/$h.yaml"
  fi
done
[[ $MODE == lighthouse ]] && start_keymeshd l "$KM_TMP/l.yaml" "$KM_TMP/l.log"

# 1. a node CA bound to node a, handed to b
km_cli cert show "$KM_TMP/a-ca.crt" | grep -Eq '^  node: +a$' ||
  fail "1. cert show does not print the binding: $(km_cli cert show "$KM_TMP/a-ca.crt")"
sed "s|node_ca: { certificate: $KM_TMP/b-ca.crt, key: $KM_TMP/b-ca.key|node_ca: { certificate: $KM_TMP/a-ca.crt, key: $KM_TMP/a-ca.key|" \
  "$KM_TMP/b.yaml" >"$KM_TMP/b-wrong.yaml"
grep -q "a-ca.crt" "$KM_TMP/b-wrong.yaml" || fail "1. could not write b's config with a's node CA"
spawn b "$KM_TMP/b-wrong.log" "$(binary keymeshd)" --config "$KM_TMP/b-wrong.yaml"
pid=$KM_LAST_PID
wait_for "! pid_alive $pid" 10 0.1 || fail "1. keymeshd on b runs with a node CA bound to node a"
rc=0
stop_pid "$pid" || rc=$?
[[ $rc != 0 ]] || fail "1. keymeshd on b exited with status 0"
msg=$(grep -m1 'bound to node' "$KM_TMP/b-wrong.log") ||
  fail "1. b's error does not say why: $(tail -3 "$KM_TMP/b-wrong.log")"
[[ $msg == *'"a-ca"'* && $msg == *'bound to node "a"'* && $msg == *'this host is node "b"'* ]] ||
  fail "1. b's error does not name the CA, its node and this host: $msg"
log "1. b refused a's bound node CA (exit $rc): ${msg#*error*] }"

# 2. one unbound node CA on two hosts
km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca --name shared-ca \
  --allowed-networks 100.64.5.0/24 --max-lifetime 48h --lifetime 48h \
  --key-out "$KM_TMP/shared-ca.key" --out "$KM_TMP/shared-ca.crt" >/dev/null || fail "2. shared-ca"
for h in a b; do
  sed -i "s|node_ca: { certificate: $KM_TMP/$h-ca.crt, key: $KM_TMP/$h-ca.key|node_ca: { certificate: $KM_TMP/shared-ca.crt, key: $KM_TMP/shared-ca.key|" \
    "$KM_TMP/$h.yaml"
  grep -q shared-ca.crt "$KM_TMP/$h.yaml" || fail "2. could not give $h the shared node CA"
done
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
# a holds the claim once its first Register (or etcd transaction) went through: wait until
# the lighthouse / etcd knows it, i.e. until a could mint (and does).
wait_for "km_cli identity add a-w1 --group wl --socket $KM_TMP/a.sock >/dev/null 2>&1" 10 0.2 ||
  fail "2. a cannot mint with the shared node CA"
sleep 1  # a's claim reaches the lighthouse / etcd (first Register or txn: well under a second)
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
wait_for "grep -q 'is already in use by another host' '$KM_TMP/b.log'" 10 0.1 ||
  fail "2. b did not notice that a holds the shared node CA (log $KM_TMP/b.log)"
line=$(grep -m1 'is already in use by another host' "$KM_TMP/b.log")
[[ $line == *'"shared-ca"'* && $line == *'100.64.1.1'* ]] ||
  fail "2. b's log line does not name the node CA and its holder: $line"
log "2. b's log: ${line#*] }"
rc=0
out=$(km_cli identity add b-w1 --group wl --socket "$KM_TMP/b.sock" 2>&1) || rc=$?
[[ $rc != 0 && $out == *'is already in use by another host'* && $out == *'100.64.1.1'* ]] ||
  fail "2. b minted with the node CA a holds (exit $rc): $out"
log "2. identity add on b refused: $out"
km_cli identity add a-w2 --group wl --socket "$KM_TMP/a.sock" >/dev/null ||
  fail "2. a can no longer mint"
addrs=$(for h in a b; do km_cli identity list --socket "$KM_TMP/$h.sock" 2>/dev/null; done |
  grep -o '100\.64\.5\.[0-9]*' | sort | uniq -d)
[[ -z $addrs ]] || fail "2. addresses handed out twice: $addrs"
log "2. a still mints; no shared-ca address handed out twice"
log "PASS"
