#!/usr/bin/env bash
# context_sites.sh - context labels asserted by node CAs and matched by `when: from_context`
# (issue 15, section 5). Two sites: onprem (hosts o and d) and cloud (host c). Each host's node
# CA carries its site (`cert sign --kind ca --context site=...`); every identity on the host
# inherits it through its chain, and the remote side reads it from the chain it validated.
#
#   ns ...-o (site onprem)      ns ...-c (site cloud)       ns ...-d (site onprem)
#   km0 100.64.1.1/10           km0 100.64.2.1/10           km0 100.64.3.1/10
#     admin-o 100.64.1.10         admin-c 100.64.2.10         db-1 100.64.3.10
#   ul0 198.18.0.1/24 ------ bridge (ns ...-sw) ------ 198.18.0.2 ------ 198.18.0.3
#
# Policy on o and d: rule office-ssh lets group admin reach group db on icmp and tcp/22 only
# `when: {from_context: {site: onprem}}`. Host c runs a permissive policy (admin may reach db
# on anything), as a host that wants in would: c initiates, and d alone must refuse.
#
# Scenarios:
# 1. `cert show` prints each node CA's context.
# 2. admin-o (onprem) pings db-1 and opens tcp/22: both pass.
# 3. admin-c (cloud) pings db-1: nothing comes back; d writes a path_refused audit line with
#    the reason "rule office-ssh requires from_context site=onprem (admin-c has site=cloud)".
# 4. `keymesh status` on d shows its own context and admin-o's, verified from its chain.
# 5. `keymesh policy check` against d's keymeshd shows the decision and admin-o's context;
#    offline with --ca it denies admin-c with the reason and shows admin-c's context.
KM_DEADLINE=${KM_DEADLINE:-90}
source "$(dirname "$0")/lib.sh"
need ping python3

HOSTS=(o c d)
declare -A N=([o]=1 [c]=2 [d]=3) SITE=([o]=onprem [c]=cloud [d]=onprem)
declare -A WL=([o]=admin-o [c]=admin-c [d]=db-1) GROUP=([o]=admin [c]=admin [d]=db)
for h in "${HOSTS[@]}"; do make_host "$h" "198.18.0.${N[$h]}"; done
link_hosts o c d

pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: office-ssh
    from: { groups: [admin] }
    to: { groups: [db] }
    when: { from_context: { site: onprem } }
    allow: [icmp, tcp/22]
POLICY
cat >"$KM_TMP/policy-c.yaml" <<'POLICY'
rules:
  - name: anything
    from: { groups: [admin] }
    to: { groups: [db] }
    allow: [any]
POLICY
for h in "${HOSTS[@]}"; do
  KM_PKI_PATTERN='*' pki_host "$KM_TMP" "$h" "${N[$h]}" --context "site=${SITE[$h]}"
  pki_leaf "$KM_TMP" "$h" "${WL[$h]}" workload "100.64.${N[$h]}.10/32" "${GROUP[$h]}"
done
for h in "${HOSTS[@]}"; do
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  entries=("${WL[$h]}" --)
  for x in "${HOSTS[@]}"; do [[ $x != "$h" ]] && entries+=("${WL[$x]}@$(host_ip "$x")"); done
  km_cert_finish "$KM_TMP/$h.yaml" "${entries[@]}"
done
sed -i "s|^policy: .*|policy: $KM_TMP/policy-c.yaml|" "$KM_TMP/c.yaml"
for h in "${HOSTS[@]}"; do
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
  on "$h" ip addr add "100.64.${N[$h]}.10/32" dev km0
done

# 1. the node CAs say where they are
for h in "${HOSTS[@]}"; do
  km_cli cert show "$KM_TMP/$h-ca.crt" | grep -Eq "^context: +site=${SITE[$h]}\$" ||
    fail "1. cert show of $h-ca does not print context site=${SITE[$h]}"
done
log "1. node CAs: o and d assert site=onprem, c asserts site=cloud"

# 2. from the onprem site: passes
wait_for "on o ping -c1 -W1 -I 100.64.1.10 100.64.3.10" 10 || fail "2. admin-o cannot ping db-1"
spawn d "$KM_TMP/listen.log" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("100.64.3.10", 22)); s.listen(4)
while True:
    c, _ = s.accept(); c.sendall(b"ssh-ok\n"); c.close()'
got=""
for _ in $(seq 1 20); do
  got=$(on o python3 -c '
import socket
s = socket.create_connection(("100.64.3.10", 22), timeout=1, source_address=("100.64.1.10", 0))
print(s.recv(16).decode().strip())' 2>/dev/null) && break
  sleep 0.2
done
[[ $got == ssh-ok ]] || fail "2. admin-o could not open tcp/22 on db-1"
log "2. admin-o (site=onprem) reaches db-1: ping and tcp/22"

# 3. from the cloud site: refused by d, with the reason
if on c ping -c3 -W1 -I 100.64.2.10 100.64.3.10 >/dev/null 2>&1; then
  fail "3. admin-c (site=cloud) got a ping reply from db-1"
fi
reason='rule office-ssh requires from_context site=onprem (admin-c has site=cloud)'
wait_for "grep '\"event\":\"path_refused\"' '$KM_TMP/d-audit.jsonl' | grep -qF '$reason'" 5 ||
  fail "3. d wrote no path_refused line with the context reason: $(grep path_refused "$KM_TMP/d-audit.jsonl" | tail -2)"
log "3. admin-c (site=cloud) refused by d: $reason"

# 4. status shows the context, local and verified remote
st=$(km_cli status --socket "$KM_TMP/d.sock")
grep -q '^  context: site=onprem (from its CA)$' <<<"$st" || fail "4. d's status shows no local context: $st"
grep -A12 '(admin-o)$' <<<"$st" | grep -q '^  remote context: site=onprem (verified from its chain)$' ||
  fail "4. d's status shows no context for admin-o: $st"
log "4. keymesh status on d: db-1 context site=onprem; admin-o remote context site=onprem"

# 5. policy check, against the daemon and offline
out=$(km_cli policy check --socket "$KM_TMP/d.sock" --from admin-o --to db-1 --port tcp/22) ||
  fail "5. daemon policy check denied admin-o: $out"
[[ $out == *"allow (rule office-ssh)"* && $out == *"context of admin-o: site=onprem"* ]] ||
  fail "5. daemon policy check output: $out"
rc=0
out=$(km_cli policy check --policy "$KM_TMP/policy.yaml" --ca "$KM_TMP/root.crt" \
  --from "$KM_TMP/admin-c.chain" --to "$KM_TMP/db-1.chain" --port tcp/22) || rc=$?
[[ $rc == 1 && $out == *"$reason"* && $out == *"context of admin-c: site=cloud"* ]] ||
  fail "5. offline policy check (exit $rc): $out"
log "5. policy check: allow admin-o (site=onprem); deny admin-c: $reason"
