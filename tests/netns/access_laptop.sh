#!/usr/bin/env bash
# access_laptop.sh - people as identities (issue 19, section 1): an on-call engineer's laptop
# behind NAT joins as a keymesh host in client mode with a user certificate from an access CA,
# reaches the database on tcp/5432 and nothing else; user certificates the access CA may not
# issue are refused and audited. PKI and d: tests/netns/access_setup.sh.
#
#   laptop l                NAT n                          "internet"
#   198.18.5.2 --lan0-- 198.18.5.1 | ul0 198.18.0.1 ---------------- 198.18.0.10 ul0   d
#   km0 100.64.20.1/10 (user alice, [oncall])                km0 100.64.2.1/10
#   client mode: certificate, trust, directory (db-1)          db-1 100.64.2.10 [db]
#
# Scenarios:
# 1. `cert show` prints the user's kind, subject and groups, and the access CA's limits.
# 2. l (no policy file: the built-in client rule) connects to db-1 tcp/5432 through the NAT;
#    d's audit has path_opened naming alice (kind user, subject, groups oncall) and the rule.
# 3. Nothing else: tcp/22 and ping to db-1 fail; d audits packet_denied naming alice with her
#    subject and "no rule grants tcp/22 from alice to db-1".
# 4. A user certificate in group admin, signed with the access CA's key past its rules
#    (cert_forge), sends a keymesh initiation from l: silence; d audits certificate_rejected
#    "group admin not allowed by CA access (groups: oncall, dba)".
# 5. Expired and too long (13h > 12h) user certificates, and a user minted by the node CA
#    d-ca: silence, audited naming expiry, lifetime and "needs an access CA";
#    `keymesh user issue --lifetime 13h` refuses naming the CA's 12h.
# 6. Client mode hosts nothing: a laptop config with node_ca stops keymeshd with an error.
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need ping python3 iptables

make_host d 198.18.0.10
make_host n 198.18.0.1
make_host l 198.18.5.2
link_hosts d n
behind_nat n l 5
source "$(dirname "$0")/access_setup.sh"
access_start_d

cat >"$KM_TMP/l.yaml" <<EOF
private_key_file: $KM_TMP/alice.key
certificate: $KM_TMP/alice.chain
trust: { roots: [$KM_TMP/root.crt] }
interface: { name: km0, addresses: [100.64.20.1/10], mtu: 1420 }
control_socket: $KM_TMP/l.sock
audit_log: $KM_TMP/l-audit.jsonl
directory:
  - { certificate: $KM_TMP/db-1.chain, endpoints: ["198.18.0.10:51820"] }
EOF
start_keymeshd l "$KM_TMP/l.yaml" "$KM_TMP/l.log"
grep -q 'client mode: user alice (alice@example.com' "$KM_TMP/l.log" ||
  fail "l did not start in client mode"
probe() { local h=$1; shift; on "$h" "$KM_PY" "$PROBE" "$@"; }
audit_has() { grep "\"event\":\"$1\"" "$KM_TMP/d-audit.jsonl" | grep -q -- "$2"; }
ALICE='"name":"alice","fingerprint":"[0-9a-f]*","groups":\["oncall"\],"kind":"user","subject":"alice@example.com"'

# 1. what the certificates say
show=$(km_cli cert show "$KM_TMP/alice.chain")
for want in "kind:         user" "subject:      alice@example.com" "groups:       oncall" \
  "  kinds:      user" "  subjects:   *@example.com" "  lifetime:   at most 12h"; do
  [[ $show == *"$want"* ]] || fail "1. cert show lacks '$want': $show"
done
grep -q 'valid until .* (8h)' "$KM_TMP/alice.issue" || fail "1. user issue: $(cat "$KM_TMP/alice.issue")"
[[ $(stat -c %a "$KM_TMP/alice.key") == 600 ]] || fail "1. alice.key is not 0600"
log "1. cert show: user alice <alice@example.com> [oncall], access CA: kinds user, at most 12h"

# 2. the laptop reaches the database on tcp/5432, through the NAT
wait_for "probe l connect 100.64.20.1 $DB 5432 2" 15 || fail "2. l -> db-1 tcp/5432 did not connect"
wait_for "audit_has path_opened '\"remote\":{$ALICE}.*\"rule\":\"oncall-db\"'" 3 ||
  fail "2. no path_opened naming alice and oncall-db: $(grep path_opened "$KM_TMP/d-audit.jsonl")"
log "2. l -> db-1 tcp/5432 connected through the NAT; d audited path_opened (alice, rule oncall-db)"

# 3. and nothing else
probe l connect 100.64.20.1 "$DB" 22 3 >/dev/null 2>&1 && fail "3. l reached db-1 on tcp/22"
wait_for "audit_has packet_denied '\"remote\":{$ALICE}.*no rule grants tcp/22 from alice to db-1'" 3 ||
  fail "3. no packet_denied naming alice for tcp/22: $(tail -n3 "$KM_TMP/d-audit.jsonl")"
sleep 1.1  # past the per-path audit interval
on l ping -c2 -W1 "$DB" >/dev/null 2>&1 && fail "3. l pinged db-1 (icmp is not granted)"
wait_for "audit_has packet_denied 'no rule grants icmp from alice to db-1'" 3 ||
  fail "3. no packet_denied for icmp"
probe l connect 100.64.20.1 "$DB" 5432 3 >/dev/null || fail "3. tcp/5432 stopped working"
log "3. tcp/22 and icmp refused by d and audited naming alice; tcp/5432 still works"

# 4. a stolen access CA key cannot make an admin
forge=$(binary tests/netns/cert_forge) || fail "cert_forge not built"
hsprobe=$(binary tests/netns/handshake_probe) || fail "handshake_probe not built"
db_pub=$(km_cli cert show --json "$KM_TMP/db-1.crt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
refused() {  # refused NAME WANT: NAME's forged chain gets silence, d audits WANT
  local rc=0 out
  out=$(on l "$hsprobe" "$KM_TMP/$1.chain" "$KM_TMP/$1.key" "$db_pub" 198.18.0.10:51820 2) || rc=$?
  [[ $rc == 1 && $out == silent ]] || fail "$1: d answered (exit $rc): $out"
  wait_for "audit_has certificate_rejected '$2'" 3 ||
    fail "$1: no certificate_rejected '$2': $(grep certificate_rejected "$KM_TMP/d-audit.jsonl" | tail -n2)"
}
"$forge" "$KM_TMP/access.crt" "$KM_TMP/access.key" eve 100.64.20.5/32 oncall,admin \
  "$KM_TMP/eve.chain" "$KM_TMP/eve.key" user eve@example.com -60 3600 >/dev/null || fail "4. forge"
refused eve 'certificate \\"eve\\" ([0-9a-f]*): group admin not allowed by CA access (groups: oncall, dba)'
log "4. forged admin user refused by d: group admin not allowed by CA access (audited)"

# 5. expired, too long, and a user minted by a node CA
"$forge" "$KM_TMP/access.crt" "$KM_TMP/access.key" bob 100.64.20.6/32 oncall \
  "$KM_TMP/bob.chain" "$KM_TMP/bob.key" user bob@example.com -7200 3600 >/dev/null || fail "5. forge"
sleep 1.1  # one audit line per source and second
refused bob 'certificate \\"bob\\" ([0-9a-f]*) expired at'
"$forge" "$KM_TMP/access.crt" "$KM_TMP/access.key" carol 100.64.20.7/32 oncall \
  "$KM_TMP/carol.chain" "$KM_TMP/carol.key" user carol@example.com -60 46800 >/dev/null || fail "5. forge"
sleep 1.1
refused carol 'certificate \\"carol\\" ([0-9a-f]*): lifetime 13h exceeds the maximum 12h'
"$forge" "$KM_TMP/d-ca.crt" "$KM_TMP/d-ca.key" dave 100.64.2.20/32 oncall \
  "$KM_TMP/dave.chain" "$KM_TMP/dave.key" user dave@example.com -60 3600 >/dev/null || fail "5. forge"
sleep 1.1
refused dave 'kind user not allowed by CA d-ca (kinds: any but user; a user certificate needs an access CA'
rc=0
out=$(km_cli user issue --ca "$KM_TMP/access.crt" --ca-key "$KM_TMP/access.key" --name frank \
  --subject frank@example.com --groups oncall --address 100.64.20.8 --lifetime 13h \
  --out "$KM_TMP/frank.chain" --key-out "$KM_TMP/frank.key" 2>&1) || rc=$?
[[ $rc != 0 && $out == *"--lifetime 13h is longer than access CA access allows (at most 12h)"* ]] ||
  fail "5. user issue --lifetime 13h: exit $rc: $out"
[[ ! -e $KM_TMP/frank.key ]] || fail "5. user issue wrote a key although it refused"
log "5. expired, 13h and node-CA users refused and audited; user issue refused 13h: $out"

# 6. client mode hosts nothing
cat >"$KM_TMP/l2.yaml" <<EOF
private_key_file: $KM_TMP/alice.key
certificate: $KM_TMP/alice.chain
trust: { roots: [$KM_TMP/root.crt] }
listen_port: 51821
interface: { name: km1, addresses: [100.64.20.1/10], mtu: 1420 }
control_socket: $KM_TMP/l2.sock
node_ca: { certificate: $KM_TMP/d-ca.crt, key: $KM_TMP/d-ca.key }
EOF
rc=0
out=$(on l timeout 20 "$(binary keymeshd)" --config "$KM_TMP/l2.yaml" 2>&1) || rc=$?
[[ $rc != 0 && $out == *"is a user certificate (client mode): a person's machine hosts no workloads"*"remove node_ca"* ]] ||
  fail "6. keymeshd with a user certificate and node_ca: exit $rc: $out"
log "6. client mode with node_ca refused: ${out##*: }"
daemon_alive d && daemon_alive l || fail "a daemon died"
