#!/usr/bin/env bash
# ca_scope.sh - a node CA bounded in the groups it may vouch for (issue 15, section 2): even
# with its key in an attacker's hands, it cannot get a workload in group db accepted anywhere.
#
#   ns ...-a                                   ns ...-b
#   km0 100.64.1.1/10                          km0 100.64.2.1/10
#     a-web 100.64.1.10 [node-a-web]             b-db 100.64.2.10 [db]
#   ul0 198.18.0.1/24 ------ bridge ------ ul0 198.18.0.2/24
#
# One root. a's node CA is signed with --allow-groups 'node-a-*'; b's node CA is unbounded.
# Policy on both: db may reach db on anything; node-a-web may ping db.
#
# Scenarios:
# 1. The CA's bound is visible: `cert show` prints "groups: node-a-*" under its constraints.
# 2. Control: a-web (group node-a-web) pings b-db across the overlay.
# 3. `keymesh cert sign` under a's node CA with --groups db refuses, naming the constraint.
# 4. The compromised node: a workload "a-x" in group db signed with a's node CA key (the
#    issuer's rules skipped, tests/netns/cert_forge.cpp) sends a keymesh initiation to b-db
#    from a: no answer; b counts certificate_rejected and its audit line says
#    "group db not allowed by CA a-ca (groups: node-a-*)".
# 5. The same chain is refused by a's own keymeshd (`keymesh identity add --cert`), with the
#    same words.
KM_DEADLINE=${KM_DEADLINE:-90}
source "$(dirname "$0")/lib.sh"
need ping python3

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b

pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: db-mesh
    from: { groups: [db] }
    to: { groups: [db] }
    allow: [any]
  - name: web-ping
    from: { groups: [node-a-web] }
    to: { groups: [db] }
    allow: [icmp]
POLICY
pki_host "$KM_TMP" a 1 --allow-groups 'node-a-*,node'
pki_host "$KM_TMP" b 2
pki_leaf "$KM_TMP" a a-web workload 100.64.1.10/32 node-a-web
pki_leaf "$KM_TMP" b b-db workload 100.64.2.10/32 db
km_cert_config "$KM_TMP/a.yaml" a 1
km_cert_finish "$KM_TMP/a.yaml" a-web -- "b-db@$(host_ip b)"
km_cert_config "$KM_TMP/b.yaml" b 2
km_cert_finish "$KM_TMP/b.yaml" b-db -- "a-web@$(host_ip a)"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
on a ip addr add 100.64.1.10/32 dev km0
on b ip addr add 100.64.2.10/32 dev km0

# 1. the bound, as `cert show` prints it
km_cli cert show "$KM_TMP/a-ca.crt" | grep -Eq '^  groups: +node-a-\*, node$' ||
  fail "1. cert show does not print the CA's allowed groups: $(km_cli cert show "$KM_TMP/a-ca.crt")"
log "1. a's node CA shows its bound: groups node-a-*, node"

# 2. control: an allowed group works
wait_for "on a ping -c1 -W1 -I 100.64.1.10 100.64.2.10" 10 || fail "2. a-web cannot ping b-db"
log "2. a-web (node-a-web) pings b-db"

# 3. cert sign refuses
rc=0
out=$(km_cli cert sign --ca "$KM_TMP/a-ca.crt" --ca-key "$KM_TMP/a-ca.key" --kind workload \
  --name a-y --networks 100.64.1.12/32 --groups db --key-out "$KM_TMP/a-y.key" \
  --out "$KM_TMP/a-y.crt" 2>&1) || rc=$?
[[ $rc != 0 && $out == *"group db not allowed by CA a-ca (groups: node-a-*, node)"* ]] ||
  fail "3. cert sign did not refuse group db (exit $rc): $out"
log "3. cert sign refused: ${out#*refusing to sign: }"

# 4. the compromised node's forged workload
forge=$(binary tests/netns/cert_forge) || fail "cert_forge not built"
probe=$(binary tests/netns/handshake_probe) || fail "handshake_probe not built"
"$forge" "$KM_TMP/a-ca.crt" "$KM_TMP/a-ca.key" a-x 100.64.1.11/32 db "$KM_TMP/a-x.chain" \
  "$KM_TMP/a-x.key" >/dev/null || fail "4. cert_forge"
bdb_pub=$(km_cli cert show --json "$KM_TMP/b-db.crt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
rc=0
out=$(on a "$probe" "$KM_TMP/a-x.chain" "$KM_TMP/a-x.key" "$bdb_pub" "$(host_ip b):51820" 3) || rc=$?
[[ $rc == 1 && $out == silent ]] || fail "4. b-db answered the forged db workload: $out (exit $rc)"
rejected=$(km_cli status --socket "$KM_TMP/b.sock" --json | python3 -c '
import json,sys; d={x["reason"]:int(x["count"]) for x in json.load(sys.stdin)["drops"]}; print(d["certificate_rejected"])')
((rejected >= 1)) || fail "4. b did not count certificate_rejected"
line=$(grep '"event":"certificate_rejected"' "$KM_TMP/b-audit.jsonl" | tail -1)
[[ $line == *'group db not allowed by CA a-ca (groups: node-a-*, node)'* ]] ||
  fail "4. b's audit line does not name the constraint: $line"
log "4. b refused the forged a-x (certificate_rejected=$rejected); audit: group db not allowed by CA a-ca"

# 5. and a's own keymeshd will not take it either
rc=0
out=$(km_cli identity add --cert "$KM_TMP/a-x.chain" --key "$KM_TMP/a-x.key" \
  --socket "$KM_TMP/a.sock" 2>&1) || rc=$?
[[ $rc != 0 && $out == *"group db not allowed by CA a-ca"* ]] ||
  fail "5. a's keymeshd imported the forged identity (exit $rc): $out"
log "5. a's keymeshd refused to import it: $out"
